"""stylegan.tools.project (stylegan project): the projector reduces its loss and moves towards the true w on an image
the network made itself; the command writes its files in the formats the generate and edit tools read; bad input."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_generator
from weight_files import empty_cache, lpips_state_dict, vgg16_state_dict
from stylegan.images import save_png
from stylegan.latents import z_from_seed
from stylegan.perceptual import PyramidDistance
from stylegan.tools import edit
from stylegan.tools import project as projector


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No weight files, and none can be downloaded."""
    empty_cache(tmp_path, monkeypatch)


def own_image(G, seed=5):
    """The true w [1, num_ws, w_dim] of a seed and its image, quantized as a PNG would be."""
    w = G.mapping(z_from_seed(G, seed), None)
    image = G.synthesis(w, noise_mode="const")
    return w, ((image + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1


@pytest.fixture
def target_file(tmp_path):
    _, image = own_image(tiny_generator())
    path = tmp_path / "target.png"
    save_png(image[0], path)
    return path


@pytest.mark.parametrize("w_plus", [False, True])
def test_projection_approaches_the_true_w(w_plus):
    G = tiny_generator()
    noise_before = {k: v.clone() for k, v in G.synthesis.named_buffers() if k.endswith("noise_const")}
    w_true, target = own_image(G)
    result = projector.project(G, target, num_steps=50, w_plus=w_plus, distance=PyramidDistance(), w_avg_samples=1000)
    assert result.ws.shape == (50, G.num_ws, G.w_dim)
    assert result.dist[-1] < 0.4 * result.dist[0]
    assert result.loss[-1] < 0.4 * result.loss[0]
    w = result.ws[-1]
    if not w_plus:  # one w for all layers, closer to the true w than the starting point (the mean w) was
        assert torch.equal(w, w[:1].expand_as(w))
        start = projector.w_statistics(G, 1000)[0]
        assert (w[0] - w_true[0, 0]).norm() < 0.75 * (start - w_true[0, 0]).norm()
    for name, buf in G.synthesis.named_buffers():  # the caller's network is left alone
        if name.endswith("noise_const"):
            assert torch.equal(buf, noise_before[name])


def test_schedule_and_noise_regularization():
    assert projector.learning_rate(0.0) == 0.0
    assert projector.learning_rate(0.5) == pytest.approx(0.1)
    assert projector.learning_rate(1.0) == pytest.approx(0.0)
    assert 0 < projector.learning_rate(0.9) < 0.1 and 0 < projector.learning_rate(0.02) < 0.1
    torch.manual_seed(0)
    white = [torch.randn(64, 64), torch.randn(16, 16)]
    smooth = [torch.nn.functional.interpolate(torch.randn(1, 1, 8, 8), size=64, mode="bilinear")[0, 0]]
    assert projector.noise_regularization(white) < 0.05 < 0.5 < projector.noise_regularization(smooth)


def test_command_writes_projection(tiny_network_file, target_file, tmp_path, no_weights, capsys):
    outdir = tmp_path / "out" / "proj"
    with pytest.warns(UserWarning) as record:
        assert projector.main(["--network", str(tiny_network_file), "--target", str(target_file), "--outdir",
                             str(outdir), "--steps", "30", "--w-avg-samples", "500"]) == 0
    announced = [r for r in record if issubclass(r.category, UserWarning)]
    assert len(announced) == 1 and "VGG16" in str(announced[0].message)
    assert "pixel-pyramid distance" in capsys.readouterr().out
    G = tiny_generator()
    with np.load(outdir / "projected_w.npz") as f:
        assert f.files == ["w"]
        w = f["w"]
    assert w.shape == (1, G.num_ws, G.w_dim) and w.dtype == np.float32
    for name in ("proj.png", "target.png"):
        assert Image.open(outdir / name).size == (16, 16)
    assert np.array_equal(np.asarray(Image.open(outdir / "target.png")), np.asarray(Image.open(target_file)))
    assert (outdir / "proj.mp4").read_bytes()[4:8] == b"ftyp"  # the progress video is written by default

    # The projected w feeds stylegan.edit: a zero edit renders proj.png again.
    directions = tmp_path / "dirs.npz"
    assert edit.main(["sefa", "--network", str(tiny_network_file), "--components", "2", "--out",
                      str(directions)]) == 0
    assert edit.main(["apply", "--network", str(tiny_network_file), "--directions", str(directions), "--component",
                      "0", "--strength", "0", "--ws", str(outdir / "projected_w.npz"), "--outdir",
                      str(tmp_path / "edited")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "edited" / "proj00.png")),
                          np.asarray(Image.open(outdir / "proj.png")))
    with np.load(tmp_path / "edited" / "edited_w.npz") as f:
        np.testing.assert_array_equal(f["w"], w)


def test_command_with_vgg_weights(tiny_network_file, target_file, tmp_path, no_weights, capsys):
    for name, state in (("vgg.pth", vgg16_state_dict()), ("lin.pth", lpips_state_dict())):
        torch.save(state, tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert projector.main(["--network", str(tiny_network_file), "--target", str(target_file), "--outdir",
                             str(tmp_path / "out"), "--steps", "5", "--w-avg-samples", "100", "--w-plus",
                             "--lpips", str(tmp_path / "vgg.pth"), "--lpips-weights", str(tmp_path / "lin.pth"),
                             "--no-save-video"]) == 0
    assert "lpips-vgg16 distance" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["proj.png", "projected_w.npz", "target.png"]
    with np.load(tmp_path / "out" / "projected_w.npz") as f:
        assert f["w"].shape == (1, 6, 16)


@pytest.mark.parametrize("change, message", [
    ({"--target": "absent.png"}, "--target: no such file"),
    ({"--steps": "0"}, "--steps: must be at least 1"),
    ({"--w-avg-samples": "1"}, "--w-avg-samples"),
    ({"--lpips": "absent.pth"}, "--lpips: VGG16 weights not found at"),
    ({"--lpips-weights": "absent.pth"}, "--lpips-weights: LPIPS weights not found at"),
])
def test_bad_arguments(change, message, tiny_network_file, target_file, tmp_path, capsys, no_weights):
    args = {"--network": str(tiny_network_file), "--target": str(target_file), "--outdir": str(tmp_path / "o"),
            "--steps": "2"}
    args.update({k: str(tmp_path / v) if v.startswith("absent") else v for k, v in change.items()})
    assert projector.main([x for kv in args.items() for x in kv]) == 2
    assert message in capsys.readouterr().err


def test_unreadable_target(tiny_network_file, tmp_path, capsys):
    (tmp_path / "t.png").write_bytes(b"not an image")
    assert projector.main(["--network", str(tiny_network_file), "--target", str(tmp_path / "t.png"), "--outdir",
                         str(tmp_path / "o")]) == 2
    assert "--target: cannot read the image" in capsys.readouterr().err
