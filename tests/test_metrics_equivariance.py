"""StyleGAN3's equivariance metrics (stylegan.metrics.equivariance): the image-space translations against closed
forms, a generator that is equivariant by construction against one that ignores its input transform, a tiny random
StyleGAN3 network, the refusal of other networks, and the names through the runner and the command line."""

import json
import math

import pytest
import torch
from conftest import tiny_generator

from stylegan import save_network
from stylegan.metrics import compute_metrics, equivariance_psnr, parse_metric
from stylegan.metrics.__main__ import main
from stylegan.metrics.equivariance import fractional_rotation, fractional_translation, integer_translation, \
    pseudo_rotation
from stylegan.metrics.runner import MetricSpec

RESOLUTION = 32


def pixel_coordinates(size: int) -> torch.Tensor:
    """[size, size, 2] float64 (x, y) of the pixel centres in image units: the image spans [-0.5, 0.5], y down."""
    c = (torch.arange(size, dtype=torch.float64) + 0.5) / size - 0.5
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x, y], dim=-1)


def waves(coords: torch.Tensor, freqs: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """Sum over k of cos(2 pi (freqs[k] . coords) + phases[n, c, k]) / K: [N, C, H, W] for coords [H, W, 2]."""
    angle = coords @ freqs.t()  # [H, W, K]
    return torch.cos(2 * math.pi * angle[None, None] + phases[:, :, None, None, :]).mean(-1)


class WaveSynthesis(torch.nn.Module):
    """Renders band-limited waves (frequencies up to 0.1 cycles per pixel) of the pixel coordinates mapped by
    input.transform, in float64: exactly equivariant to translations and rotations. equivariant=False ignores the
    transform."""

    def __init__(self, equivariant: bool):
        super().__init__()
        self.equivariant = equivariant
        self.input = torch.nn.Module()
        self.input.register_buffer("transform", torch.eye(3))
        angles = torch.rand(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 * math.pi
        radii = torch.linspace(0.03, 0.1, 6, dtype=torch.float64) * RESOLUTION
        self.register_buffer("freqs", torch.stack([radii * angles.cos(), radii * angles.sin()], dim=1))

    def forward(self, ws, noise_mode="const", force_fp32=True):
        coords = pixel_coordinates(RESOLUTION)
        if self.equivariant:
            m = self.input.transform.double()
            coords = coords @ m[:2, :2].t() + m[:2, 2]
        phases = ws[:, 0].double().reshape(len(ws), 3, -1) * math.pi
        return waves(coords, self.freqs, phases).float()


class Mapping(torch.nn.Module):
    def forward(self, z, c, truncation_psi=1):
        return z[:, None]


class WaveGenerator(torch.nn.Module):
    z_dim, c_dim, img_resolution, img_channels = 18, 0, RESOLUTION, 3

    def __init__(self, equivariant: bool = True):
        super().__init__()
        self.mapping, self.synthesis = Mapping(), WaveSynthesis(equivariant)


@pytest.mark.parametrize("shift", [(0.1, -0.07), (-0.125, 0.0), (0.04, 0.125)])
def test_integer_translation_is_a_roll_on_the_valid_region(shift):
    x = torch.randn(2, 3, 24, 20)
    moved, mask = integer_translation(x, *shift)
    dx, dy = round(shift[0] * 20), round(shift[1] * 24)
    rolled = torch.roll(x, (dy, dx), dims=(2, 3))
    assert mask.sum() == 2 * 3 * (24 - abs(dy)) * (20 - abs(dx))
    assert torch.equal(moved[mask == 1], rolled[mask == 1])
    assert torch.equal(moved[mask == 0], torch.zeros_like(moved[mask == 0]))


@pytest.mark.parametrize("shift", [(0.1234, -0.0571), (-0.125, 0.01), (0.0, 0.0)])
def test_fractional_translation_of_a_band_limited_wave(shift):
    freqs = torch.tensor([[2.5, -1.5], [-1.0, 3.0]], dtype=torch.float64)
    phases = torch.rand(1, 2, 2, dtype=torch.float64) * 6
    coords = pixel_coordinates(RESOLUTION)
    moved, mask = fractional_translation(waves(coords, freqs, phases).float(), *shift)
    expected = waves(coords - torch.tensor(shift, dtype=torch.float64), freqs, phases).float()
    assert (moved - expected)[mask == 1].abs().max() < 0.015  # Lanczos-3 error at up to 0.1 cycles per pixel
    if shift != (0.0, 0.0):
        backwards = waves(coords + torch.tensor(shift, dtype=torch.float64), freqs, phases).float()
        assert (moved - backwards)[mask == 1].abs().max() > 0.2


@pytest.mark.parametrize("pixels", [(2.3, -2.3), (-3.0, 4.0), (0.5, 0.0)])
def test_fractional_translation_mask_and_whole_pixel_shifts(pixels):
    x = torch.randn(1, 2, 16, 20)
    tx, ty = pixels[0] / 20, pixels[1] / 16
    moved, mask = fractional_translation(x, tx, ty)
    # Valid: every source pixel j - floor(shift) - m, m = -2 .. 3, lies inside the image (3 taps each way).
    for axis, size, p in ((3, 20, pixels[0]), (2, 16, pixels[1])):
        j = torch.arange(size)
        valid = (j - math.floor(p) - 3 >= 0) & (j - math.floor(p) + 2 < size)
        along = mask[0, 0].amax(dim=0 if axis == 3 else 1)
        assert torch.equal(along.bool(), valid)
    if pixels[0] == int(pixels[0]) and pixels[1] == int(pixels[1]):
        shifted, _ = integer_translation(x, tx, ty)
        torch.testing.assert_close(moved[mask == 1], shifted[mask == 1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("angle", [0.4, -2.0])
def test_fractional_rotation_of_a_band_limited_wave(angle):
    freqs = torch.tensor([[2.5, -1.5], [-1.0, 3.0]], dtype=torch.float64)
    phases = torch.rand(1, 1, 2, dtype=torch.float64) * 6
    coords = pixel_coordinates(RESOLUTION)
    rotated, mask = fractional_rotation(waves(coords, freqs, phases).float(), angle)
    cos, sin = math.cos(angle), math.sin(angle)
    inverse = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)  # a point q came from inverse @ q
    expected = waves(coords @ inverse.t(), freqs, phases).float()
    assert mask.sum() > 50
    assert (rotated - expected)[mask == 1].abs().max() < 0.01


@pytest.mark.parametrize("rotate", [fractional_rotation, pseudo_rotation])
def test_rotations_remove_what_the_rotated_grid_cannot_hold(rotate):
    """A diagonal wave of 0.4 cycles per pixel along both axes fits the pixel grid, but at 0.57 cycles per pixel
    along one axis of the grid turned by 45 degrees, it does not: the band limit of either rotation removes most of it
    there, and little without rotation."""
    pixels = torch.arange(RESOLUTION, dtype=torch.float32)
    y, x = torch.meshgrid(pixels, pixels, indexing="ij")
    wave = torch.cos(2 * math.pi * 0.4 * (x + y) + 0.3)[None, None]

    def amplitude(angle):
        image, mask = rotate(wave, angle)
        return image[mask == 1].square().mean().sqrt() * math.sqrt(2)
    assert amplitude(0.0) > 0.9
    assert amplitude(math.pi / 4) < 0.3 and amplitude(-math.pi / 4) < 0.3


def test_equivariant_generator_scores_the_maximum_and_an_invariant_one_low():
    good = equivariance_psnr(WaveGenerator(True), num_samples=16, seed=3)
    bad = equivariance_psnr(WaveGenerator(False), num_samples=16, seed=3)
    assert good["int"] == math.inf
    assert good["frac"] > 50 and good["rot"] > 40, good
    assert all(value < 20 for value in bad.values()), bad


def test_tiny_stylegan3_network_gives_finite_psnrs_and_is_left_as_it_was():
    G = tiny_generator("stylegan3-t").train()
    transform = torch.tensor([[1.0, 0.0, 0.1], [0.0, 1.0, -0.2], [0.0, 0.0, 1.0]])
    G.synthesis.input.transform.copy_(transform)
    psnr = equivariance_psnr(G, num_samples=8, seed=1)
    assert set(psnr) == {"int", "frac", "rot"}
    assert all(math.isfinite(value) and 0 < value < 100 for value in psnr.values()), psnr
    assert equivariance_psnr(G, num_samples=8, seed=1) == psnr  # reproducible for a seed
    assert torch.equal(G.synthesis.input.transform, transform) and G.training


def test_networks_without_an_input_transform_are_refused():
    G = tiny_generator("stylegan2")
    with pytest.raises(ValueError, match="need a StyleGAN3 network"):
        equivariance_psnr(G, num_samples=4)
    with pytest.raises(ValueError, match="need a StyleGAN3 network"):
        compute_metrics(G, None, ["fid50k_full", "eqr50k"])


def test_bad_arguments_raise():
    G = WaveGenerator()
    for kwargs in (dict(kinds=["shear"]), dict(kinds=[]), dict(kinds=["int", "int"]), dict(num_samples=0),
                   dict(batch_size=1.5)):
        with pytest.raises(ValueError):
            equivariance_psnr(G, **kwargs)


def test_names_and_counts():
    assert parse_metric("eqt50k_int") == MetricSpec("eq", 50_000, transform="int")
    assert parse_metric("eqt1k_frac") == MetricSpec("eq", 1000, transform="frac")
    assert parse_metric("eqr200") == MetricSpec("eq", 200, transform="rot")
    assert parse_metric("eqr50k", num_gen=2000).name == "eqr2k"
    assert [parse_metric(n).name for n in ("eqt1k_int", "eqt250_frac", "eqr50k")] == ["eqt1k_int", "eqt250_frac",
                                                                                      "eqr50k"]
    for bad in ("eqt50k", "eqr50k_int", "eqt50k_rot", "eq50k"):
        with pytest.raises(ValueError, match="unknown metric"):
            parse_metric(bad)


def test_runner_without_a_dataset():
    results = compute_metrics(WaveGenerator(), None, ["eqt8_int", "eqt8_frac", "eqr8"])
    assert set(results) == {"eqt8_int", "eqt8_frac", "eqr8"}
    assert results["eqt8_int"] == math.inf and results["eqr8"] > 40


def test_command_line(tmp_path, capsys):
    path = tmp_path / "G.safetensors"
    save_network(tiny_generator("stylegan3-r"), path)
    assert main(["--network", str(path), "--metrics", "eqt4_frac", "--device", "cpu"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["metric"] == "eqt4_frac" and math.isfinite(record["results"]["eqt4_frac"])
    assert (tmp_path / "metric-eqt4_frac.jsonl").exists()
