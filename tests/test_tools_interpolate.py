"""stylegan.tools.interpolate (stylegan interpolate, python -m stylegan.interpolate) and its Python API, on tiny
networks."""

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from helpers import read_png as png
from helpers import with_defaults
from PIL import Image

from stylegan import save_network
from stylegan.images import to_uint8
from stylegan.latents import ws_from_seeds, z_from_seed
from stylegan.tools import generate, interpolate, video


def angle(a, b):
    return torch.arccos((a.double() @ b.double() / (a.double().norm() * b.double().norm())).clamp(-1, 1)).item()


def assert_on_the_arc(a, b, x, t):
    """x is at fraction t of the great circle from a's direction to b's, its length lerped."""
    omega = angle(a, b)
    assert angle(a, x) == pytest.approx(t * omega, abs=1e-5)
    assert angle(x, b) == pytest.approx((1 - t) * omega, abs=1e-5)
    assert x.double().norm().item() == pytest.approx((1 - t) * a.double().norm() + t * b.double().norm(), rel=1e-5)


def test_slerp():
    a, b = torch.randn(16), 3 * torch.randn(16)
    torch.testing.assert_close(interpolate.slerp(a, b, 0), a)
    torch.testing.assert_close(interpolate.slerp(a, b, 1), b)
    for t in (0.1, 0.5, 0.8):
        assert_on_the_arc(a, b, interpolate.slerp(a, b, t), t)
    # Degenerate directions (parallel, a zero vector) fall back to a lerp.
    torch.testing.assert_close(interpolate.slerp(a, 2 * a, 0.5), 1.5 * a)
    torch.testing.assert_close(interpolate.slerp(torch.zeros(16), b, 0.25), 0.25 * b)
    # Along the last dimension, row by row.
    pair = interpolate.slerp(torch.stack([a, b]), torch.stack([b, a]), 0.3)
    torch.testing.assert_close(pair[1], interpolate.slerp(b, a, 0.3))


def test_z_path_passes_through_the_seeds_on_great_circles():
    G = tiny_generator()
    keys = interpolate.seed_keys(G, [1, 5, 9])
    path = interpolate.latent_path(keys, 4)
    assert path.shape == (2 * 4 + 1, G.z_dim)
    for index, seed in [(0, 1), (4, 5), (8, 9)]:
        assert torch.equal(path[index], z_from_seed(G, seed)[0])
    for i in range(1, 4):
        assert_on_the_arc(path[0], path[4], path[i], i / 4)
        assert_on_the_arc(path[4], path[8], path[4 + i], i / 4)
    looped = interpolate.latent_path(keys, 4, loop=True)
    assert looped.shape == (3 * 4 + 1, G.z_dim)
    assert torch.equal(looped[-1], looped[0]) and torch.equal(looped[:9], path)


def test_w_path_is_linear():
    G = tiny_generator()
    keys = interpolate.seed_keys(G, [2, 3], space="w", truncation_psi=0.7)
    assert torch.equal(keys, ws_from_seeds(G, [2, 3], truncation_psi=0.7))
    path = interpolate.latent_path(keys, 4, space="w")
    assert path.shape == (5, G.num_ws, G.w_dim)
    assert torch.equal(path[0], keys[0]) and torch.equal(path[4], keys[1])
    torch.testing.assert_close(path[2], (keys[0] + keys[1]) / 2)


@pytest.mark.parametrize("space", ["z", "w"])
def test_random_walk_starts_at_the_seed(space):
    G = tiny_generator()
    keys = interpolate.random_walk_keys(G, 7, steps=3, step_size=0.5, space=space)
    start = z_from_seed(G, 7) if space == "z" else ws_from_seeds(G, [7])
    assert keys.shape == (4,) + start.shape[1:]
    assert torch.equal(keys[0], start[0])
    target = torch.from_numpy(np.random.RandomState(7).randn(4, G.z_dim)[1:2]).float()
    if space == "z":
        torch.testing.assert_close(keys[1], interpolate.slerp(keys[0], target[0], 0.5))
    else:
        torch.testing.assert_close(keys[1], (keys[0] + G.mapping(target, None)[0]) / 2)
    assert torch.equal(keys, interpolate.random_walk_keys(G, 7, steps=3, step_size=0.5, space=space))


def test_frames_api_matches_generate():
    G = tiny_generator()
    frames = interpolate.interpolate_frames(G, [1, 2], frames_per_transition=3, truncation_psi=0.6)
    assert frames.shape == (4, 3, 16, 16)
    assert torch.equal(frames[[0, 3]], generate.generate_images(G, [1, 2], truncation_psi=0.6))
    walk = interpolate.interpolate_frames(G, [4], frames_per_transition=2, random_walk_steps=2, space="w")
    assert walk.shape == (5, 3, 16, 16)
    assert torch.equal(walk[0], generate.generate_images(G, [4])[0])


def test_writes_the_video_and_the_frames(tiny_network_file, tmp_path):
    out = tmp_path / "new"
    assert interpolate.main(["--network", tiny_network_file, "--seeds", "1,2", "--loop", "--frames-per-transition", "3",
                             "--frames", "--fps", "10", "--outdir", out]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["frames", "walk.mp4"]
    frames = sorted((out / "frames").iterdir())
    assert [p.name for p in frames] == [f"frame{i:04d}.png" for i in range(7)]
    np.testing.assert_array_equal(png(frames[-1]), png(frames[0]))
    expected = to_uint8(generate.generate_images(tiny_generator(), [1, 2]))
    np.testing.assert_array_equal(png(frames[0]), expected[0])
    np.testing.assert_array_equal(png(frames[3]), expected[1])
    assert (out / "walk.mp4").read_bytes()[4:8] == b"ftyp"
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    assert imageio_ffmpeg.count_frames_and_secs(str(out / "walk.mp4")) == (7, pytest.approx(0.7, abs=0.05))



def test_frames_of_an_earlier_longer_walk_are_removed(tiny_network_file, tmp_path):
    argv = ["--network", tiny_network_file, "--seeds", "1,2", "--frames", "--outdir", tmp_path]
    assert interpolate.main(argv + ["--frames-per-transition", "5", "--loop"]) == 0
    assert len(list((tmp_path / "frames").glob("frame*.png"))) == 11
    for name in ("notes.txt", "frame_best.png", "frame0003.jpg"):  # not ours: they stay
        (tmp_path / "frames" / name).write_text("mine")
    assert interpolate.main(argv + ["--frames-per-transition", "2"]) == 0
    expected = to_uint8(interpolate.interpolate_frames(tiny_generator(), [1, 2], frames_per_transition=2))
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "frame0000.png", "frame0001.png", "frame0002.png", "frame0003.jpg", "frame_best.png", "notes.txt"]
    for i, image in enumerate(expected):
        np.testing.assert_array_equal(png(tmp_path / "frames" / f"frame{i:04d}.png"), image)

def test_gif_when_ffmpeg_is_missing(tiny_network_file, tmp_path, monkeypatch):
    monkeypatch.setattr(video, "ffmpeg_binary", lambda: None)
    with pytest.warns(UserWarning, match="imageio-ffmpeg"):
        assert interpolate.main(["--network", tiny_network_file, "--seeds", "3", "--random-walk", "--steps", "2",
                                 "--space", "w", "--frames-per-transition", "3", "--outdir", tmp_path]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.gif"]
    expected = interpolate.interpolate_frames(tiny_generator(), [3], frames_per_transition=3, random_walk_steps=2,
                                              space="w")
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.size == (16, 16) and gif.n_frames == len(expected) == 7
        gif.seek(0)
        first = np.asarray(gif.convert("RGB")).astype(int)
    # GIF frames are palettized: close to the frame, not equal.
    assert np.abs(first - to_uint8(expected[0]).astype(int)).mean() < 12


def test_stylegan_v1_network(tmp_path):
    G = tiny_generator(variant="stylegan")
    save_network(G, tmp_path / "v1.safetensors")
    assert interpolate.main(["--network", tmp_path / "v1.safetensors", "--seeds", "1,2", "--frames-per-transition", "2",
                             "--frames", "--space", "w", "--outdir", tmp_path / "out"]) == 0
    frames = sorted((tmp_path / "out" / "frames").iterdir())
    assert len(frames) == 3
    expected = to_uint8(interpolate.interpolate_frames(G, [1, 2], frames_per_transition=2, space="w"))
    for frame, image in zip(frames, expected):
        np.testing.assert_array_equal(png(frame), image)


def test_conditional_network(tmp_path, capsys):
    G = tiny_generator(c_dim=3)
    save_network(G, tmp_path / "conditional-G.safetensors")
    argv = ["--network", tmp_path / "conditional-G.safetensors", "--seeds", "1,2", "--frames-per-transition", "2",
            "--frames", "--outdir", tmp_path / "out"]
    assert interpolate.main(argv) == 2
    assert "--class" in capsys.readouterr().err
    assert interpolate.main(argv + ["--class", "0"]) == 0
    expected = to_uint8(generate.generate_images(G, [2], class_idx=0))
    np.testing.assert_array_equal(png(tmp_path / "out" / "frames" / "frame0002.png"), expected[0])


@pytest.mark.parametrize("argv, name", [
    (["--seeds", "3-1"], "--seeds"),
    (["--seeds", "a"], "--seeds"),
    (["--seeds", ""], "--seeds"),
    (["--seeds", "1"], "--seeds"),
    (["--seeds", "1,2", "--random-walk"], "--seeds"),
    (["--steps", "3"], "--steps"),
    (["--step-size", "0.3"], "--step-size"),
    (["--seeds", "1", "--random-walk", "--steps", "0"], "--steps"),
    (["--seeds", "1", "--random-walk", "--step-size", "1.5"], "--step-size"),
    (["--frames-per-transition", "0"], "--frames-per-transition"),
    (["--fps", "0"], "--fps"),
    (["--fps", "inf"], "--fps"),
    (["--space", "x"], "--space"),
])
def test_bad_arguments_exit_2_naming_the_argument(tiny_network_file, tmp_path, capsys, argv, name):
    argv = with_defaults(argv, {"--network": tiny_network_file, "--seeds": "1,2", "--outdir": tmp_path / "out"})
    assert interpolate.main(argv) == 2
    assert name in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_truncation_psi_0_gives_a_still_video():
    G = tiny_generator()
    frames = interpolate.interpolate_frames(G, [1, 2], frames_per_transition=2, truncation_psi=0)
    assert all(torch.equal(frame, frames[0]) for frame in frames)
    assert torch.equal(frames[0], generate.generate_images(G, [5], truncation_psi=0)[0])

