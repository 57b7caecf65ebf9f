"""The tools on tiny StyleGAN3 networks: generate --translate / --rotate (NVIDIA's convention, refused on networks
without an input transform), style mixing, editing directions, interpolation and projection (w only: no noise maps)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_generator
from stylegan import save_network
from stylegan.images import to_uint8
from stylegan.latents import z_from_seed
from stylegan.networks.w_inputs import noise_buffers
from stylegan.perceptual import PyramidDistance
from stylegan.tools import edit, generate, interpolate, project, style_mixing
from stylegan.transforms import image_transform, input_transform


@pytest.fixture(scope="module")
def G3():
    return tiny_generator("stylegan3-t")


@pytest.fixture(scope="module")
def sg3_network_file(tmp_path_factory, G3):
    path = tmp_path_factory.mktemp("networks") / "tiny-G3.safetensors"
    save_network(G3, path)
    return path


def read_png(path):
    return np.asarray(Image.open(path)).astype(np.int16)


def generate_one(network, outdir, *flags):
    assert generate.main(["--network", network, "--seeds", "3", "--outdir", outdir, *flags]) == 0
    return read_png(outdir / "seed0003.png")


def test_image_transform_closed_form():
    m = image_transform(rotate=90)
    assert torch.allclose(m, torch.tensor([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.linalg.inv(m) @ torch.tensor([1.0, 0, 1], dtype=torch.float64),
                          torch.tensor([0.0, 1, 1], dtype=torch.float64), atol=1e-12)
    x, y, angle = 0.3, -1.25, 37.0
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    expected = torch.tensor([[c, s, x], [-s, c, y], [0, 0, 1]], dtype=torch.float64)
    assert torch.allclose(image_transform((x, y), angle), expected, atol=1e-12)
    assert torch.equal(image_transform(), torch.eye(3, dtype=torch.float64))


def test_input_transform_holds_the_inverse_and_restores(G3):
    before = G3.synthesis.input.transform.clone()
    with input_transform(G3, (0.5, -0.25), None):
        assert torch.allclose(G3.synthesis.input.transform,
                              torch.tensor([[1, 0, -0.5], [0, 1, 0.25], [0, 0, 1]]), atol=1e-7)
    with input_transform(G3, None, 30.0):
        assert torch.allclose(G3.synthesis.input.transform, torch.linalg.inv(image_transform(rotate=30)).float())
    assert torch.equal(G3.synthesis.input.transform, before)


def test_translate_and_rotate_move_the_image_as_nvidia_defines():
    G = tiny_generator("stylegan3-t", resolution=32)
    plain = generate.generate_images(G, [3])[0]

    def similarity(image, reference):
        a, b = image[:, 8:24, 8:24].flatten(), reference[:, 8:24, 8:24].flatten()
        return torch.corrcoef(torch.stack([a, b]))[0, 1].item()

    right = generate.generate_images(G, [3], translate=(0.125, 0))[0]  # 4 of 32 pixels to the right
    assert similarity(right, plain.roll(4, dims=2)) > 0.95 > similarity(right, plain.roll(-4, dims=2))
    down = generate.generate_images(G, [3], translate=(0, 0.125))[0]
    assert similarity(down, plain.roll(4, dims=1)) > 0.95 > similarity(down, plain.roll(-4, dims=1))
    turned = generate.generate_images(G, [3], rotate=90)[0]  # counterclockwise as displayed
    assert similarity(turned, plain.rot90(1, dims=[1, 2])) > 0.8 > similarity(turned, plain.rot90(-1, dims=[1, 2]))


def test_generate_translate_rotate_command(G3, sg3_network_file, tmp_path):
    plain = generate_one(sg3_network_file, tmp_path / "plain")
    assert np.array_equal(generate_one(sg3_network_file, tmp_path / "zero", "--translate", "0,0", "--rotate", "0"),
                          plain)
    moved = generate_one(sg3_network_file, tmp_path / "moved", "--translate", "0.3,-0.2", "--rotate", "30")
    assert np.abs(moved - plain).mean() > 1
    expected = to_uint8(generate.generate_images(G3, [3], translate=(0.3, -0.2), rotate=30))[0]
    assert np.array_equal(moved, expected)


@pytest.mark.parametrize("flags, named", [(["--translate", "1,0"], "--translate"), (["--rotate", "10"], "--rotate")])
def test_flags_refused_without_an_input_transform(tiny_network_file, tmp_path, capsys, flags, named):
    out = tmp_path / "out"
    assert generate.main(["--network", tiny_network_file, "--seeds", "1", "--outdir", out, *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err and "StyleGAN3" in err
    assert not out.exists()


@pytest.mark.parametrize("flags, named", [(["--translate", "1"], "--translate"),
                                          (["--translate", "a,b"], "--translate"),
                                          (["--translate", "nan,0"], "--translate"), (["--rotate", "inf"], "--rotate")])
def test_bad_translate_rotate_values(sg3_network_file, tmp_path, capsys, flags, named):
    assert generate.main(["--network", sg3_network_file, "--seeds", "1", "--outdir", tmp_path / "o", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err


def test_style_mixing(G3):
    styles = style_mixing.preset_styles(G3, "coarse")
    assert styles
    images = style_mixing.style_mixing_images(G3, [1, 2], [3], [0, 1, 2, 3])
    assert set(images) == {(1, 1), (2, 2), (3, 3), (1, 3), (2, 3)}
    assert all(image.shape == (3, 16, 16) for image in images.values())
    assert not torch.equal(images[(1, 3)], images[(1, 1)]) and not torch.equal(images[(1, 3)], images[(3, 3)])


def test_editing_directions(G3):
    directions, eigenvalues = edit.sefa_directions(G3, num_components=4)
    assert directions.shape == (4, G3.w_dim) and torch.isfinite(directions).all()
    assert torch.allclose(directions @ directions.t(), torch.eye(4), atol=1e-5)
    assert (eigenvalues[:-1] >= eigenvalues[1:]).all()
    with pytest.raises(ValueError, match="--layers"):  # the untrained input affine is all zeros
        edit.sefa_directions(G3, layers=[0])
    pcs, stddev, mean = edit.ganspace_directions(G3, num_samples=200, num_components=3)
    assert pcs.shape == (3, G3.w_dim) and stddev.shape == (3,) and mean.shape == (G3.w_dim,)
    ws = G3.mapping(torch.randn(2, G3.z_dim), None)
    strips = edit.render_strips(G3, ws, directions[:2], [-2, 0, 2], scales=None)
    assert strips.shape == (2, 2, 3, 3, 16, 16)
    assert not torch.equal(strips[:, :, 0], strips[:, :, 2])


def test_interpolate(G3):
    frames = interpolate.interpolate_frames(G3, [1, 2], frames_per_transition=3)
    assert frames.shape == (4, 3, 16, 16) and torch.isfinite(frames).all()


def test_projection_optimises_w_only(G3):
    assert noise_buffers(G3.synthesis.w_inputs()) == []
    state = {k: v.clone() for k, v in G3.state_dict().items()}
    target = G3.synthesis(G3.mapping(z_from_seed(G3, 5), None))
    result = project.project(G3, target, num_steps=8, distance=PyramidDistance(), w_avg_samples=200)
    assert result.ws.shape == (8, G3.num_ws, G3.w_dim) and torch.isfinite(result.ws).all()
    assert result.dist[-1] < result.dist[0]
    assert torch.equal(result.loss, result.dist)  # no noise regularization term
    assert all(torch.equal(v, state[k]) for k, v in G3.state_dict().items())
