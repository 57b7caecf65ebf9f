"""python -m stylegan.metrics on a tiny saved network and small datasets, with the random test features: the jsonl
files, where they go, and bad arguments (exit status 2, the argument named)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_generator
from PIL import Image

from stylegan import save_network
from stylegan.metrics import inception
from stylegan.metrics.__main__ import main

FAST = ["--features", "random-test", "--max-size", "16", "--num-gen", "16", "--device", "cpu"]


@pytest.fixture
def network(tiny_network_file, tmp_path):
    """The tiny network in a folder of its own (jsonl files land next to it)."""
    (tmp_path / "net").mkdir()
    return shutil.copy(tiny_network_file, tmp_path / "net" / "G.safetensors")


@pytest.fixture(autouse=True)
def no_perceptual(monkeypatch):
    monkeypatch.delenv("STYLEGAN_VGG16", raising=False)
    monkeypatch.setattr("stylegan.perceptual.default_weights_path", lambda: Path("/nonexistent/vgg16.pth"))


def run(capsys, *argv):
    """(exit status, stdout, stderr) of the CLI."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def write_pngs(folder, n, size, mode="RGB"):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i}.png")
    return folder


def test_all_metrics_next_to_the_network(capsys, network, tmp_path):
    with pytest.warns(UserWarning, match="no VGG16 weights"):
        status, out, err = run(capsys, "--network", network, "--metrics", "fid,kid50k,pr,ppl,swd", "--cache-dir",
                               tmp_path / "cache", *FAST)
    assert status == 0, err
    names = ["fid16_full_random", "kid16_random", "pr16_k3_full_random", "ppl2_pixel_wend_16", "swd16"]
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["metric"] for r in records] == names
    for name, record in zip(names, records):
        saved = [json.loads(line) for line in (network.parent / f"metric-{name}.jsonl").read_text().splitlines()]
        assert saved == [record] and record["snapshot"] == "G.safetensors"
        assert all(key.startswith(name) and np.isfinite(v) for key, v in record["results"].items())
    assert "ppl wend (batches) 8/8" in err and list((tmp_path / "cache").glob("*.npz"))


def test_run_directory_and_outdir(capsys, tmp_path):
    run_dir = tmp_path / "run"
    for nimg in (8, 64):
        (run_dir / f"snapshot-{nimg:09d}").mkdir(parents=True)
        save_network(tiny_generator(), run_dir / f"snapshot-{nimg:09d}" / "G_ema.safetensors")
    status, _, err = run(capsys, "--network", run_dir, "--metrics", "swd", *FAST)
    assert status == 0, err
    record = json.loads((run_dir / "metric-swd16.jsonl").read_text())
    assert record["snapshot"] == "snapshot-000000064"           # the newest snapshot, relative to the run
    status, _, err = run(capsys, "--network", run_dir / "snapshot-000000008", "--metrics", "swd", "--outdir",
                         tmp_path / "out", *FAST)
    assert status == 0, err
    record = json.loads((tmp_path / "out" / "metric-swd16.jsonl").read_text())
    assert record["snapshot"] == str((run_dir / "snapshot-000000008").resolve())


def test_image_folder_resized_to_the_network(capsys, network, tmp_path):
    folder = write_pngs(tmp_path / "images", 4, 32)
    status, _, err = run(capsys, "--network", network, "--data", folder, "--metrics", "fid", *FAST)
    assert status == 2 and "--data: the network has img_resolution=16 but the dataset needs 32; pass --resolution 16" \
        in err
    status, out, err = run(capsys, "--network", network, "--data", folder, "--resolution", 16, "--metrics", "fid",
                           "--no-cache", "--workers", 1, *FAST)
    assert status == 0, err
    assert json.loads(out)["num_real"] == 4


@pytest.mark.parametrize("args,message", [
    (["--metrics", "fid,nope"], "--metrics: unknown metric 'nope'; known: fid50k_full, kid50k_full"),
    (["--metrics", " , "], "--metrics: no metric given"),
    (["--metrics", "fid", "--num-gen", "1"], "--num-gen must be >= 2"),
    (["--metrics", "fid", "--batch", "0"], "--batch must be >= 1"),
    (["--metrics", "fid", "--seed", "-1"], "--seed must be >= 0"),
    (["--metrics", "fid", "--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N"),
    (["--metrics", "fid", "--data", "/no/such/data"], "--data: dataset path /no/such/data does not exist"),
])
def test_bad_arguments(capsys, network, args, message):
    status, _, err = run(capsys, "--network", network, *args)
    assert status == 2 and message in err


def test_missing_network_and_weights(capsys, network, tmp_path, monkeypatch):
    status, _, err = run(capsys, "--network", tmp_path / "nothing.pkl", "--metrics", "fid")
    assert status == 2 and "--network: no such file or directory" in err
    status, _, err = run(capsys, "--network", network, "--metrics", "fid", "--inception", tmp_path / "nope.pth",
                         "--max-size", "4", "--device", "cpu")
    assert status == 2 and f"--inception: Inception weights not found at {tmp_path / 'nope.pth'}" in err
    monkeypatch.delenv(inception.ENV_VAR, raising=False)
    monkeypatch.setattr(inception, "DEFAULT_WEIGHTS_PATH", tmp_path / "cache" / inception.WEIGHTS_FILE)
    status, _, err = run(capsys, "--network", network, "--metrics", "kid", "--max-size", "4", "--device", "cpu")
    assert status == 2 and f"put it at {tmp_path / 'cache' / inception.WEIGHTS_FILE}" in err
    assert inception.WEIGHTS_URL in err


def test_channel_mismatch(capsys, network, tmp_path):
    folder = write_pngs(tmp_path / "gray", 3, 16, mode="L")
    status, _, err = run(capsys, "--network", network, "--data", folder, "--metrics", "swd", *FAST)
    assert status == 2 and "--data: the network has img_channels=3 but the dataset needs 1" in err


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stylegan.metrics", "--network", tmp_path, "--metrics", "bad"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--metrics: unknown metric 'bad'" in result.stderr


def test_an_nvidia_pickle_is_measured_like_our_file(capsys, network, tmp_path, stand_ins):
    from nvidia_format import nvidia_kwargs, record_of, write_pickle

    G = tiny_generator()
    pickle_path = tmp_path / "net" / "network-snapshot.pkl"
    write_pickle(pickle_path, {"G_ema": record_of(G, "Generator", nvidia_kwargs(G))})
    values = []
    for path in (network, pickle_path):
        status, out, err = run(capsys, "--network", path, "--metrics", "swd", *FAST)
        assert status == 0, err
        values.append(json.loads(out.splitlines()[-1])["results"])
    assert values[0] == values[1]  # the same weights give the same images, whichever file they came from
