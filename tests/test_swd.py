"""The sliced Wasserstein distance on Laplacian pyramids (stylegan.metrics.swd): the pyramid against an obvious
reference, the descriptors, the distance's properties on synthetic image distributions, and bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan.metrics import (SWDAccumulator, laplacian_pyramid, patch_descriptors, reconstruct_laplacian_pyramid,
                              sliced_wasserstein_distance)

RES = 32
# Smaller than the defaults (128 descriptors per image, 4 x 128 directions), so that the tests stay fast.
FAST = dict(descriptors_per_image=32, num_projections=32, num_repeats=2)


def smooth_images(n, generator, res=RES, base=8):
    """Smooth random colour fields in [-1, 1]: bicubic upsampling of base x base Gaussian noise, squashed by tanh."""
    z = torch.randn(n, 3, base, base, generator=generator)
    return torch.tanh(F.interpolate(z, size=(res, res), mode="bicubic", align_corners=False))


def noise_images(n, generator, res=RES):
    return torch.rand(n, 3, res, res, generator=generator) * 2 - 1


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


# ----------------------------------------------------------------------------------------------------------------
# Laplacian pyramid.

_BINOMIAL_5X5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _reference_blur(x, gain):
    """Obvious 5x5 convolution with mirror padding (numpy 'reflect' = scipy.ndimage 'mirror'), x [N, C, H, W]."""
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    h, w = x.shape[2:]
    out = np.zeros_like(x)
    for dy in range(5):
        for dx in range(5):
            out += gain * _BINOMIAL_5X5[dy, dx] * padded[:, :, dy:dy + h, dx:dx + w]
    return out


def _reference_pyramid(x, num_levels):
    levels = [x]
    for _ in range(num_levels - 1):
        coarser = _reference_blur(levels[-1], 1.0)[:, :, ::2, ::2]
        stuffed = np.zeros_like(levels[-1])
        stuffed[:, :, ::2, ::2] = coarser
        levels[-1] = levels[-1] - _reference_blur(stuffed, 4.0)
        levels.append(coarser)
    return levels


@pytest.mark.parametrize("res,min_resolution", [(16, 16), (32, 16), (64, 16), (32, 4)])
def test_pyramid_matches_reference(res, min_resolution, gen):
    x = torch.randn(3, 2, res, res, generator=gen, dtype=torch.float64)
    levels = laplacian_pyramid(x, min_resolution=min_resolution)
    expected = _reference_pyramid(x.numpy(), int(np.log2(res // min_resolution)) + 1)
    assert [lv.shape[-1] for lv in levels] == [e.shape[-1] for e in expected]
    for level, ref in zip(levels, expected):
        assert level.dtype == torch.float64
        np.testing.assert_allclose(level.numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_pyramid_reconstructs_image(dtype, atol, gen):
    x = torch.randn(4, 3, 64, 64, generator=gen, dtype=dtype)
    levels = laplacian_pyramid(x)
    assert [lv.shape[-1] for lv in levels] == [64, 32, 16]
    torch.testing.assert_close(reconstruct_laplacian_pyramid(levels), x, rtol=0, atol=atol)


def test_pyramid_of_constant_and_of_non_contiguous_images(gen):
    constant = torch.full((2, 3, 32, 32), 0.3)
    detail, coarsest = laplacian_pyramid(constant)
    torch.testing.assert_close(detail, torch.zeros_like(detail), rtol=0, atol=1e-6)
    torch.testing.assert_close(coarsest, torch.full_like(coarsest, 0.3))
    x = torch.randn(2, 3, 32, 32, generator=gen)
    for got, want in zip(laplacian_pyramid(x.to(memory_format=torch.channels_last)), laplacian_pyramid(x)):
        torch.testing.assert_close(got, want)


# ----------------------------------------------------------------------------------------------------------------
# Descriptors.

def test_patch_descriptors_are_patches_inside_the_image(gen):
    n, c, h, w, k = 3, 2, 16, 12, 500
    # Each pixel holds its own coordinates, so a descriptor tells where it was cut from.
    nn, cc, yy, xx = torch.meshgrid(*(torch.arange(s) for s in (n, c, h, w)), indexing="ij")
    level = (nn * 1_000_000 + cc * 10_000 + yy * 100 + xx).double()
    desc = patch_descriptors(level, k, gen)
    assert desc.shape == (n * k, c * 49)
    patches = desc.view(n, k, c, 7, 7)
    centres = set()
    for i in range(n):
        for j in range(k):
            top_left = int(patches[i, j, 0, 0, 0].item()) - i * 1_000_000
            y0, x0 = divmod(top_left, 100)
            assert 0 <= y0 <= h - 7 and 0 <= x0 <= w - 7
            torch.testing.assert_close(patches[i, j], level[i, :, y0:y0 + 7, x0:x0 + 7], rtol=0, atol=0)
            centres.add((y0, x0))
    assert len(centres) == (h - 6) * (w - 6)        # every position is reachable, none outside


def test_patch_descriptors_reproducible():
    level = torch.randn(4, 3, 16, 16)
    first = patch_descriptors(level, 8, torch.Generator().manual_seed(5))
    assert torch.equal(first, patch_descriptors(level, 8, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, patch_descriptors(level, 8, torch.Generator().manual_seed(6)))


# ----------------------------------------------------------------------------------------------------------------
# The distance.

def test_identical_sets_give_zero(gen):
    a = smooth_images(8, gen, res=64)
    result = sliced_wasserstein_distance(a, a.clone())
    assert list(result["swd_levels"]) == [64, 32, 16]
    assert result["swd_mean"] == 0.0 and all(v == 0.0 for v in result["swd_levels"].values())


def test_same_distribution_small_other_distribution_large(gen):
    kwargs = dict(descriptors_per_image=32, num_projections=64, num_repeats=2)
    a, a2 = smooth_images(64, gen), smooth_images(64, gen)
    same = sliced_wasserstein_distance(a, a2, **kwargs)
    others = [sliced_wasserstein_distance(a, noise_images(64, gen), **kwargs),
              sliced_wasserstein_distance(a, smooth_images(64, gen, base=4), **kwargs)]
    for other in others:
        assert other["swd_mean"] > 1.5 * same["swd_mean"], (same, other)
        for res in same["swd_levels"]:
            assert other["swd_levels"][res] > same["swd_levels"][res], (same, other)


def test_decreases_along_interpolation_towards_the_data(gen):
    a, noise = smooth_images(32, gen), noise_images(32, gen)
    results = [sliced_wasserstein_distance(a, torch.lerp(noise, a, t), **FAST) for t in (0.0, 0.5, 0.9, 1.0)]
    for res in results[0]["swd_levels"]:
        values = [r["swd_levels"][res] for r in results]
        assert all(x > y for x, y in zip(values, values[1:])) and values[-1] == 0, (res, values)


def test_symmetric_and_deterministic(gen):
    a, b = smooth_images(16, gen), noise_images(16, gen)
    ab = sliced_wasserstein_distance(a, b, seed=3, **FAST)
    assert sliced_wasserstein_distance(b, a, seed=3, **FAST) == ab
    assert sliced_wasserstein_distance(a, b, seed=3, **FAST) == ab
    other_seed = sliced_wasserstein_distance(a, b, seed=4, **FAST)
    assert other_seed != ab
    assert other_seed["swd_mean"] == pytest.approx(ab["swd_mean"], rel=0.2)


def test_unequal_sizes_are_symmetric(gen):
    a, b = smooth_images(24, gen), smooth_images(16, gen)
    assert sliced_wasserstein_distance(a, b, **FAST) == sliced_wasserstein_distance(b, a, **FAST)
    # A set against a larger set containing it: close, not zero (a random subset of the descriptors is compared).
    subset = sliced_wasserstein_distance(a[:16], a, **FAST)["swd_mean"]
    assert 0 < subset < sliced_wasserstein_distance(a[:16], b, **FAST)["swd_mean"]


def test_uint8_and_float_give_the_same_result(gen):
    a8 = torch.randint(0, 256, (12, 3, 32, 32), generator=gen, dtype=torch.uint8)
    b8 = (smooth_images(12, gen) * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)
    from_uint8 = sliced_wasserstein_distance(a8, b8, **FAST)
    as_float = [x.double() / 127.5 - 1 for x in (a8, b8)]
    for got in (sliced_wasserstein_distance(*as_float, **FAST), sliced_wasserstein_distance(a8, as_float[1], **FAST),
                sliced_wasserstein_distance(a8.numpy(), as_float[1].float().numpy(), **FAST)):
        assert got["swd_mean"] == pytest.approx(from_uint8["swd_mean"], rel=1e-4)
        for res, value in from_uint8["swd_levels"].items():
            assert got["swd_levels"][res] == pytest.approx(value, rel=1e-4)


def test_accumulator_matches_whole_sets_in_any_batches(gen):
    a, b = smooth_images(25, gen), noise_images(17, gen)
    expected = sliced_wasserstein_distance(a, b, descriptors_per_image=16, num_projections=32, seed=7)
    acc = SWDAccumulator(descriptors_per_image=16, seed=7)
    for batch in b.split(5):
        acc.add_b(batch)
    for batch in a.split(7):
        acc.add_a(batch)
    assert (acc.num_images_a, acc.num_images_b, acc.resolutions) == (25, 17, [32, 16])
    assert acc.compute(num_projections=32) == expected
    assert acc.compute(num_projections=32) == expected      # compute() leaves the sets as they were
    # New fakes against the same reals: reset_b() starts b's patch positions again from the seed.
    acc.reset_b()
    acc.add_b(b)
    assert acc.compute(num_projections=32) == expected
    acc.reset_b()
    acc.add_b(a)
    assert acc.compute(num_projections=32)["swd_mean"] == 0.0


def test_gradients_and_low_precision_inputs_are_accepted(gen):
    a = smooth_images(8, gen).requires_grad_()
    b = smooth_images(8, gen)
    expected = sliced_wasserstein_distance(a.detach(), b, **FAST)
    assert sliced_wasserstein_distance(a, b, **FAST) == expected
    half = sliced_wasserstein_distance(a.detach().to(torch.bfloat16), b.half(), **FAST)
    assert half["swd_mean"] == pytest.approx(expected["swd_mean"], rel=0.05)


def test_device_matches_cpu(device, gen):
    a, b = smooth_images(8, gen), noise_images(8, gen)
    expected = sliced_wasserstein_distance(a, b, **FAST)
    got = sliced_wasserstein_distance(a.to(device), b.to(device), **FAST)
    assert got["swd_mean"] == pytest.approx(expected["swd_mean"], rel=1e-3)


# ----------------------------------------------------------------------------------------------------------------
# Bad input.

_GOOD = torch.zeros(2, 3, 32, 32)


@pytest.mark.parametrize("images_b", [torch.zeros(2, 1, 32, 32), torch.zeros(2, 3, 64, 64)])
def test_mismatched_sets_raise(images_b):
    with pytest.raises(ValueError, match="images_b.*do not match images_a"):
        sliced_wasserstein_distance(_GOOD, images_b)
    with pytest.raises(ValueError, match="images_b.*do not match images_a"):
        sliced_wasserstein_distance(images_b, _GOOD)


@pytest.mark.parametrize("images,error,match", [
    (torch.zeros(2, 3, 24, 24), ValueError, "power-of-two"),
    (torch.zeros(2, 3, 8, 8), ValueError, ">= 16"),
    (torch.zeros(2, 3, 32, 16), ValueError, "square"),
    (torch.zeros(0, 3, 32, 32), ValueError, "is empty"),
    (torch.zeros(3, 32, 32), ValueError, r"must have shape \[N, C, H, W\]"),
    (torch.full((2, 3, 32, 32), 1.01), ValueError, r"\[-1, 1\]"),
    (torch.full((2, 3, 32, 32), 255.0), ValueError, r"\[-1, 1\]"),
    (torch.full((2, 3, 32, 32), float("nan")), ValueError, "NaN"),
    (torch.full((2, 3, 32, 32), float("inf")), ValueError, "infinite"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.int64), TypeError, "uint8"),
    ([[0.0]], TypeError, "must be a torch.Tensor"),
])
def test_bad_images_raise(images, error, match):
    with pytest.raises(error, match="images_b.*" + match):
        sliced_wasserstein_distance(_GOOD, images)
    with pytest.raises(error, match="images_a.*" + match):
        sliced_wasserstein_distance(images, _GOOD)


@pytest.mark.parametrize("kwargs,match", [
    (dict(descriptors_per_image=0), "descriptors_per_image"),
    (dict(num_projections=0), "num_projections"),
    (dict(num_repeats=1.5), "num_repeats"),
    (dict(seed=-1), "seed"),
])
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sliced_wasserstein_distance(_GOOD, _GOOD, **kwargs)


def test_accumulator_bad_use_raises():
    acc = SWDAccumulator()
    acc.add_a(_GOOD)
    with pytest.raises(ValueError, match="images_b is empty.*add_b"):
        acc.compute()
    with pytest.raises(ValueError, match="images_b.*do not match"):
        acc.add_b(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="images_a.*do not match"):
        acc.add_a(torch.zeros(2, 4, 32, 32))


def test_pyramid_and_descriptor_bad_input_raise():
    with pytest.raises(ValueError, match="min_resolution"):
        laplacian_pyramid(_GOOD, min_resolution=12)
    with pytest.raises(ValueError, match="images must be square"):
        laplacian_pyramid(torch.zeros(1, 3, 8, 8), min_resolution=16)
    with pytest.raises(ValueError, match="level must be at least 7x7"):
        patch_descriptors(torch.zeros(1, 3, 4, 4), 2)
    with pytest.raises(ValueError, match="num_per_image"):
        patch_descriptors(torch.zeros(1, 3, 16, 16), 0)
