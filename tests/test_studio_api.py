"""The studio server's API (stylegan.studio.server) through FastAPI's test client, with the real worker processes:
frames, the command line that reproduces them, layer views, dissection, directions, projection, stale frames, bad
input and a worker that dies."""

import asyncio
import base64
import io
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import tiny_generator  # noqa: E402
from stylegan import save_network  # noqa: E402
from stylegan.studio.__main__ import main as studio_main  # noqa: E402
from stylegan.studio.processes import LatestOnly, Stale  # noqa: E402
from stylegan.studio.server import HINT, Studio, candidates, create_app  # noqa: E402
from stylegan.tools.generate import main as generate_main  # noqa: E402


def pixels(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("studio") / "G.safetensors"
    save_network(tiny_generator(resolution=32), path)
    return path


@pytest.fixture(scope="module")
def client(network_file):
    studio = Studio(device="cpu", folder=network_file.parent)
    with TestClient(create_app(studio), raise_server_exceptions=False) as client:
        assert client.post("/api/open", json={"path": str(network_file)}).status_code == 200
        yield client
    studio.close()


def render(client, **state):
    reply = client.post("/api/render", json=state)
    assert reply.status_code == 200, reply.text
    return reply.json()


def reproduce(reply, tmp_path, client=None, state=None):
    """The image the reply's command line writes (with the exported w.npz when it names one)."""
    args = shlex.split(reply["command"])
    assert args[:3] == ["python", "-m", "stylegan.generate"]
    if "--ws" in args:
        w_file = tmp_path / "w.npz"
        w_file.write_bytes(client.post("/api/export_w", json=state).content)
        args[args.index("--ws") + 1] = str(w_file)
    args[args.index("--outdir") + 1] = str(tmp_path / "out")
    assert generate_main(args[3:] + ["--device", "cpu"]) == 0
    return np.asarray(Image.open(next((tmp_path / "out").glob("*.png"))))


def test_status_offers_runs_and_files_or_says_how_to_make_one(tmp_path, network_file):
    assert candidates(tmp_path) == []
    studio = Studio(device="cpu", folder=tmp_path)
    try:
        assert studio.status() == dict(network=None, candidates=[], hint=HINT)
        snapshot = tmp_path / "runs" / "00001-shapes" / "snapshot-000000001000"
        snapshot.mkdir(parents=True)
        (tmp_path / "G.pkl").write_bytes(b"")
        found = studio.status()["candidates"]
        assert [f["path"] for f in found] == [str(snapshot.parent), str(tmp_path / "G.pkl")]
        assert "newest run" in found[0]["label"] and studio.status()["hint"] == ""
        with TestClient(create_app(studio)) as client:
            assert client.get("/").status_code == 200 and "<html" in client.get("/").text.lower()
            assert client.post("/api/render", json={}).json() == {"error": "no network is open: open one first"}
    finally:
        studio.close()


def test_info_describes_the_network(client):
    info = client.get("/api/status").json()["network"]
    assert (info["architecture"], info["resolution"], info["num_ws"], info["c_dim"]) == ("stylegan2", 32, 8, 0)
    assert info["ws_resolutions"] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert sorted(sum(info["groups"].values(), [])) == list(range(8))
    assert {"name": "b8.conv0", "resolution": 8, "channels": 32} in info["layers"]
    assert info["truncatable"] and info["has_noise"] and not info["transformable"]


@pytest.mark.parametrize("state", [
    dict(latent=dict(x=7, y=0), psi=0.6, cutoff=3),
    dict(latent=dict(x=2, y=1), noise_mode="none"),
    dict(latent=dict(x=5, y=0), noise_strength=3.5, noise_mode="const"),
])
def test_a_seed_frame_is_what_its_command_line_writes(client, tmp_path, state):
    reply = render(client, request=4, **state)
    assert reply["request"] == 4 and reply["render_ms"] > 0 and "--seeds" in reply["command"]
    assert (reply["width"], reply["height"]) == (32, 32)
    np.testing.assert_array_equal(pixels(reply["image"]), reproduce(reply, tmp_path))


def test_mixed_edited_frames_are_what_the_exported_ws_give(client, tmp_path):
    directions = client.post("/api/directions", json={"method": "ganspace", "count": 3}).json()
    assert directions["count"] == 3 and directions["has_stddev"]
    state = dict(latent=dict(x=3.25, y=0.5, space="w"), psi=0.8, mix=dict(seed=11, layers=[4, 7]),
                 edits=[dict(set=directions["id"], index=1, strength=2.0, layers=[0, 3])])
    reply = render(client, **state)
    assert "--ws w.npz" in reply["command"]
    np.testing.assert_array_equal(pixels(reply["image"]), reproduce(reply, tmp_path, client, state))
    plain = render(client, **{**state, "edits": []})
    assert np.abs(pixels(plain["image"]).astype(int) - pixels(reply["image"])).mean() > 1  # the edit shows


def test_the_seed_plane_blends_neighbouring_seeds(client):
    w = lambda x, y, space: np.load(io.BytesIO(client.post("/api/export_w", json=dict(
        latent=dict(x=x, y=y, space=space))).content))["w"]
    np.testing.assert_allclose(w(4.25, 0, "w"), 0.75 * w(4, 0, "w") + 0.25 * w(5, 0, "w"), atol=1e-5)
    np.testing.assert_array_equal(w(1, 1, "z"), w(101, 0, "z"))  # seed(x, y) = x + 100 y
    assert not np.allclose(w(4.25, 0, "z"), w(4.25, 0, "w"))


def test_layer_views_and_dissection(client):
    one = render(client, view=dict(layer="b8.conv0", mode="channel", channel=5))
    assert one["layer"]["channels"] == 32 and pixels(one["image"]).shape == (8, 8)
    other = render(client, view=dict(layer="b8.conv0", mode="channel", channel=6))
    assert not np.array_equal(pixels(one["image"]), pixels(other["image"]))
    means = [m for _, m in one["layer"]["top_channels"]]
    assert len(means) == 8 and means == sorted(means, reverse=True)
    grid = render(client, view=dict(layer="b8.conv0", mode="grid"))
    assert pixels(grid["image"]).shape == (6 * 8, 6 * 8)  # 32 channels in a 6x6 grid of 8x8 maps

    top = one["layer"]["top_channels"][0][0]
    reply = client.post("/api/dissect", json=dict(state={}, layer="b8.conv0", channel=top, samples=20, top=3)).json()
    scores = [item["score"] for item in reply["items"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    best = reply["items"][0]
    view = render(client, latent=dict(x=best["seed"], y=0), view=dict(layer="b8.conv0", mode="channel", channel=top))
    assert dict(view["layer"]["top_channels"]).get(top, None) in (None, pytest.approx(best["score"], abs=1e-4))
    assert pixels(best["image"]).shape == (32, 32, 3) and pixels(best["heatmap"]).shape == (32, 32, 3)


def test_directions_from_a_file_and_sefa(client, tmp_path):
    from stylegan.tools.edit import save_directions

    path = tmp_path / "dirs.npz"
    save_directions(path, torch.eye(16)[:2], "supervised", "G", layers=np.array([2, 5]))
    reply = client.post("/api/directions_upload?filename=dirs.npz", content=path.read_bytes()).json()
    assert (reply["count"], reply["layers"], reply["has_stddev"]) == (2, [2, 5], False)
    sefa = client.post("/api/directions", json={"method": "sefa", "count": 2}).json()
    assert sefa["count"] == 2 and render(client, edits=[dict(set=sefa["id"], index=0, strength=1, layers=None)])
    bad = client.post("/api/directions_upload?filename=x.npz", content=b"not an npz")
    assert bad.status_code == 400 and "x.npz" in bad.json()["error"]


@pytest.mark.parametrize("state, message", [
    (dict(psi="a lot"), "psi: expected a finite number"),
    (dict(cutoff=99), "cutoff: expected an integer in [0, 8]"),
    (dict(noise_mode="loud"), "noise_mode: must be one of"),
    (dict(latent=dict(x=float("1e300"))), "x: expected a finite number"),
    (dict(mix=dict(seed=1, layers=[5, 2])), "mix.layers: the range [5, 2] runs backwards"),
    (dict(edits=[dict(set="nope", index=0, strength=1)]), "edits.set: no direction set 'nope'"),
    (dict(view=dict(layer="b99.conv")), "view.layer: this network has no layer"),
    (dict(view=dict(layer="b4.conv1", channel=1000)), "view.channel: the layer b4.conv1 has 32 channels"),
    (dict(translate=[0.5, 0]), "translate/rotate: only StyleGAN3 networks"),
    (dict(class_idx=1), "class_idx: this network is unconditional"),
    (dict(projection="p999"), "projection: no projection 'p999'"),
    ([1, 2], "the view state must be a JSON object"),
])
def test_nonsense_parameters_are_one_line_naming_the_field(client, state, message):
    reply = client.post("/api/render", json=state)
    assert reply.status_code == 400 and message in reply.json()["error"]
    assert render(client)["image"]  # and the server goes on serving


def test_bad_uploads_and_networks_keep_the_open_network(client, tmp_path):
    for request, message in [
        (("/api/open", dict(json={"path": str(tmp_path / "missing.pkl")})), "no such file"),
        (("/api/open_upload?filename=notes.txt", dict(content=b"hello")), "expected a .pkl or .safetensors file"),
        (("/api/open_upload?filename=G.pkl", dict(content=b"garbage")), "is not a readable network file"),
        (("/api/open_upload?filename=G.pkl", dict(content=b"")), "the upload is empty"),
        (("/api/project?filename=a.png", dict(content=b"garbage")), "a.png is not an image"),
        (("/api/project?filename=a.png&steps=lots", dict(content=b"x")), "steps: expected an integer"),
        (("/api/render", dict(content=b"{not json")), "the request body is not JSON"),
    ]:
        url, kwargs = request
        reply = client.post(url, **kwargs)
        assert reply.status_code == 400 and message in reply.json()["error"], reply.text
    assert client.get("/api/status").json()["network"]["resolution"] == 32
    assert client.get("/api/project/p999").status_code == 404


def test_projection_runs_in_its_own_process_and_its_w_renders(client, tmp_path):
    target = tiny_generator(resolution=32)(torch.randn(1, 16), noise_mode="const")
    buffer = io.BytesIO()
    Image.fromarray(((target[0].permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).byte().numpy()).save(buffer, "PNG")
    job = client.post("/api/project?steps=12&w_plus=1&filename=t.png", content=buffer.getvalue()).json()["job"]
    busy = client.post("/api/project?steps=12&filename=t.png", content=buffer.getvalue())
    assert busy.status_code == 400 and "already running" in busy.json()["error"]
    assert render(client)["image"]  # frames go on while it projects
    deadline = time.monotonic() + 120
    while not (status := client.get(f"/api/project/{job}").json())["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["error"] is None and status["step"] == 12 and np.isfinite(status["dist"])
    assert pixels(status["target"]).shape == (32, 32, 3) and pixels(status["image"]).shape == (32, 32, 3)
    projected = render(client, projection=job)
    np.testing.assert_array_equal(pixels(projected["image"]), pixels(status["image"]))
    np.testing.assert_array_equal(pixels(projected["image"]),
                                  reproduce(projected, tmp_path, client, {"projection": job}))


def test_stale_frames_are_dropped_not_queued():
    async def scenario():
        frames, started = LatestOnly(), []

        async def job(name):
            started.append(name)
            await asyncio.sleep(0.05)
            return name

        first = asyncio.ensure_future(frames.run(lambda: job("first")))
        await asyncio.sleep(0.01)  # first is rendering; second and third wait, third replaces second
        second = asyncio.ensure_future(frames.run(lambda: job("second")))
        await asyncio.sleep(0)
        third = asyncio.ensure_future(frames.run(lambda: job("third")))
        results = await asyncio.gather(first, second, third, return_exceptions=True)
        return started, results

    started, results = asyncio.run(scenario())
    assert started == ["first", "third"]
    assert results[0] == "first" and isinstance(results[1], Stale) and results[2] == "third"


def test_stylegan3_frames_translate_and_rotate(tmp_path):
    path = tmp_path / "G3.safetensors"
    save_network(tiny_generator("stylegan3-t"), path)
    studio = Studio(device="cpu", folder=tmp_path)
    try:
        with TestClient(create_app(studio)) as client:
            info = client.post("/api/open", json={"path": str(path)}).json()
            assert info["transformable"] and not info["has_noise"]
            plain = render(client, latent=dict(x=1, y=0))
            moved = render(client, latent=dict(x=1, y=0), translate=[0.25, 0], rotate=30.0)
            assert "--translate=0.25,0" in moved["command"] and "--rotate=30.0" in moved["command"]
            assert np.abs(pixels(plain["image"]).astype(int) - pixels(moved["image"])).mean() > 1
            np.testing.assert_array_equal(pixels(moved["image"]), reproduce(moved, tmp_path))
    finally:
        studio.close()


def _descendants(pid: int) -> set:
    children = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children |= {int(c) for c in (task / "children").read_text().split()}
    return children | {d for c in children for d in _descendants(c)}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from /proc")
def test_sigterm_stops_the_server_and_its_worker_processes(network_file):
    server = subprocess.Popen([sys.executable, "-m", "stylegan.studio", "--network", str(network_file), "--port", "0",
                               "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        while "serving http://" not in (line := server.stdout.readline()):
            lines.append(line)
            assert line, "".join(lines)
        workers = _descendants(server.pid)
        assert workers  # the network's process (and multiprocessing's resource tracker)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 143
        deadline = time.monotonic() + 10
        while (alive := [pid for pid in workers if Path(f"/proc/{pid}").exists()
                         and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, "worker processes outlived the server"
    finally:
        server.kill()


def test_command_line_errors(tmp_path, capsys):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        assert studio_main(["--port", str(busy.getsockname()[1]), "--no-browser"]) == 2
    finally:
        busy.close()
    assert "error: --port: cannot listen on 127.0.0.1" in capsys.readouterr().err
    assert studio_main(["--port", "70000"]) == 2
    assert "--port: expected 0..65535" in capsys.readouterr().err
    assert studio_main(["--network", str(tmp_path / "none.pkl"), "--port", "0", "--no-browser"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_worker_that_dies_is_started_again(client):  # last: the restarted worker has lost the direction sets
    before = render(client, latent=dict(x=9, y=0))["image"]
    client_studio_pool = client.app.state.studio.network._pool
    for pid in list(client_studio_pool._processes):
        os.kill(pid, signal.SIGKILL)
    reply = client.post("/api/render", json=dict(latent=dict(x=9, y=0)))
    assert reply.status_code == 500 and "started again" in reply.json()["error"]
    assert render(client, latent=dict(x=9, y=0))["image"] == before
