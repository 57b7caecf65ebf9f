"""stylegan.augment: the ADA augmentation pipeline, its presets, and the p controller."""

import math

import pytest
import torch

from stylegan.augment import MULTIPLIERS, PRESETS, AdaController, AugmentPipe, make_augment_pipe, warp_affine
from stylegan.augment.pipe import _Draws

OFF = {name: 0 for name in MULTIPLIERS}


def only(name: str, p: float = 1.0, **kwargs) -> AugmentPipe:
    """A pipe with one transform at multiplier 1 and every other one off."""
    return AugmentPipe(p, **{**OFF, name: 1}, **kwargs)


def images(n=4, c=3, h=8, w=8, dtype=torch.float32):
    return (torch.rand(n, c, h, w, dtype=torch.float64) * 2 - 1).to(dtype)


def band_limited(n, size, cutoff):
    """Random RGB images whose spectrum is zero at and above `cutoff` cycles per pixel, peak amplitude 1."""
    spectrum = torch.randn(n, 3, size, size, dtype=torch.complex128)
    freq = torch.fft.fftfreq(size, dtype=torch.float64)
    spectrum = spectrum * ((freq.abs()[:, None] < cutoff) & (freq.abs()[None, :] < cutoff))
    x = torch.fft.ifft2(spectrum).real
    return x / x.abs().amax(dim=(1, 2, 3), keepdim=True)


def rotation(theta: float, n: int) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64).expand(n, 3, 3)


# --------------------------------------------------------------------------------------------------------------
# Each transform alone.


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", MULTIPLIERS)
def test_each_transform_keeps_shape_and_dtype(name, dtype, device):
    x = images(2, 3, 8, 10, dtype=dtype).to(device)
    y = only(name).to(device)(x, torch.Generator(device).manual_seed(0))
    assert y.shape == x.shape and y.dtype == dtype and y.isfinite().all()
    assert not torch.equal(y, x)  # with p = 1 and two images, each transform changes something


@pytest.mark.parametrize("preset", ["bgc", "bgcfnc"])
def test_identity_at_p_zero(preset):
    x = images()
    pipe = make_augment_pipe(preset, 0.0)
    assert pipe(x) is x
    pipe.p.copy_(torch.tensor(0.3))
    assert not torch.equal(pipe(x), x)
    pipe.p.zero_()
    assert pipe(x) is x


def test_p_one_changes_every_image():
    x = images(8)
    y = make_augment_pipe("bgc", 1.0)(x)
    assert ((y - x).flatten(1).abs().amax(1) > 1e-3).all()


def test_deterministic_under_seed_and_generator(device):
    x = images().to(device)
    pipe = make_augment_pipe("bgcfnc", 0.7).to(device)
    a, b = pipe(x, torch.Generator(device).manual_seed(5)), pipe(x, torch.Generator(device).manual_seed(5))
    assert torch.equal(a, b)
    torch.manual_seed(3)
    c = pipe(x)
    torch.manual_seed(3)
    assert torch.equal(pipe(x), c)
    assert not torch.equal(pipe(x, torch.Generator(device).manual_seed(6)), a)
    assert torch.equal(pipe(x, torch.Generator().manual_seed(5)), pipe(x, torch.Generator().manual_seed(5)))


def test_xflip_flips_exactly():
    x = images(16, 3, 6, 7)
    y = only("xflip")(x)
    flipped = [torch.equal(y[i], x[i].flip(2)) for i in range(16)]
    same = [torch.equal(y[i], x[i]) for i in range(16)]
    assert all(f != s for f, s in zip(flipped, same)) and any(flipped) and any(same)


def test_rotate90_permutes_pixels():
    x = images(16, 3, 6, 6)
    y = only("rotate90")(x)
    turns = [[k for k in range(4) if torch.equal(y[i], torch.rot90(x[i], k, (1, 2)))] for i in range(16)]
    assert all(len(t) == 1 for t in turns)
    assert len({t[0] for t in turns}) >= 3
    x = images(4, 3, 6, 8)  # non-square: the same pixels, some mirrored in at the sides
    y = only("rotate90")(x)
    assert y.shape == x.shape and set(y.unique().tolist()) <= set(x.unique().tolist())


def _mirror(i, size):
    i = i % (2 * (size - 1))
    return torch.where(i >= size, 2 * (size - 1) - i, i)


def test_integer_translation_shifts_with_mirrored_borders():
    n, h, w = 8, 6, 7
    x = images(n, 3, h, w)
    y = only("xint", xint_max=0.5)(x)
    rows, cols = torch.arange(h), torch.arange(w)
    shifts = []
    for i in range(n):
        found = [(dy, dx) for dy in range(-3, 4) for dx in range(-4, 5)
                 if torch.equal(y[i], x[i][:, _mirror(rows - dy, h)][:, :, _mirror(cols - dx, w)])]
        assert found, i
        shifts.append(found[0])
    assert len(set(shifts)) > 1


def test_brightness_adds_one_offset_per_image():
    x = images(8)
    diff = (only("brightness")(x.double()) - x.double()).flatten(1)
    torch.testing.assert_close(diff, diff[:, :1].expand_as(diff))
    assert diff[:, 0].abs().max() > 0.05 and diff[:, 0].unique().numel() > 1
    assert (only("brightness")(x).mean((1, 2, 3)) != x.mean((1, 2, 3))).all()


def test_contrast_scales_each_image():
    x = images(8).double()
    ratio = (only("contrast")(x) / x).flatten(1)
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    assert (ratio > 0).all() and ratio[:, 0].unique().numel() > 1


def test_lumaflip_reflects_through_the_colour_plane():
    x = images(16).double()
    y = only("lumaflip")(x)
    flipped = x - 2 * x.mean(1, keepdim=True)  # gray component negated, colour kept
    kinds = [torch.allclose(y[i], flipped[i]) for i in range(16)]
    assert all(k or torch.equal(y[i], x[i]) for i, k in enumerate(kinds)) and any(kinds) and not all(kinds)


@pytest.mark.parametrize("name", ["hue", "saturation"])
def test_hue_and_saturation_keep_gray_and_luma(name):
    x = images(8).double()
    y = only(name)(x)
    torch.testing.assert_close(y.mean(1), x.mean(1))  # the gray component stays
    gray = x.mean(1, keepdim=True).expand_as(x)
    torch.testing.assert_close(only(name)(gray), gray)
    chroma_x, chroma_y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    ratio = chroma_y.norm(dim=1) / chroma_x.norm(dim=1)  # per pixel
    if name == "hue":  # a rotation about the gray axis keeps the colour's length
        torch.testing.assert_close(ratio, torch.ones_like(ratio))
    else:  # saturation scales it by one factor per image
        torch.testing.assert_close(ratio, ratio[:, :1, :1].expand_as(ratio))
        assert ratio[:, 0, 0].unique().numel() > 1


def test_gray_images_take_the_colour_of_a_gray_pixel():
    """Brightness, contrast and luma flip on one channel equal their RGB versions on gray, averaged."""
    x = images(8, 1)
    for name in ("brightness", "contrast", "lumaflip"):
        gray = only(name)(x, torch.Generator().manual_seed(1))
        rgb = only(name)(x.expand(-1, 3, -1, -1), torch.Generator().manual_seed(1))
        torch.testing.assert_close(gray, rgb.mean(1, keepdim=True))
    y = make_augment_pipe("color", 1.0)(x)  # hue and saturation leave gray alone
    assert y.shape == x.shape and not torch.equal(y, x)


def test_channel_counts():
    x = images(2, 4)
    assert make_augment_pipe("bg", 1.0)(x).shape == x.shape
    with pytest.raises(ValueError, match="images must have 1 .* or 3 .* channels"):
        make_augment_pipe("bgc", 1.0)(x)


def test_filter_with_no_band_gains_is_the_identity():
    """The four octave bands add up to a unit impulse."""
    x = images(2, 3, 12, 12).double()
    y = only("imgfilter", imgfilter_bands=(0, 0, 0, 0))(x)
    torch.testing.assert_close(y, x)
    y = only("imgfilter", imgfilter_bands=(0, 0, 0, 1))(x)  # the finest band alone
    assert not torch.allclose(y, x)
    torch.testing.assert_close(y.mean((2, 3)), x.mean((2, 3)), atol=0.1, rtol=0)


def test_noise_adds_gaussian_noise():
    x = images(64, 3, 16, 16).double()
    diff = only("noise", noise_std=0.2)(x) - x
    std = diff.flatten(1).std(1)
    assert std.max() > 0.05 and 0.1 < std.mean() < 0.25  # E|N(0, 0.2)| = 0.16
    torch.testing.assert_close(only("noise", noise_std=0)(x), x)


def test_cutout_zeroes_one_rectangle():
    x = images(16, 3, 16, 16) + 3  # no zeros of its own
    y = only("cutout", cutout_size=0.25)(x)
    for i in range(16):
        zero = (y[i] == 0).all(0)
        assert torch.equal(y[i][:, ~zero], x[i][:, ~zero])
        if zero.any():
            rows, cols = zero.any(1).nonzero(), zero.any(0).nonzero()
            assert zero[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
            assert rows.numel() <= 4 and cols.numel() <= 4


# --------------------------------------------------------------------------------------------------------------
# The geometric resampling does not leak.


def test_warp_identity_and_integer_translation_are_exact():
    x = band_limited(2, 24, 0.5)
    torch.testing.assert_close(warp_affine(x, torch.eye(3, dtype=torch.float64).expand(2, 3, 3)), x)
    shift = torch.tensor([[1, 0, -3], [0, 1, 2], [0, 0, 1]], dtype=torch.float64).expand(2, 3, 3)
    y = warp_affine(x, shift)  # output (x, y) shows input (x - 3, y + 2)
    torch.testing.assert_close(y[..., :-2, 3:], x[..., 2:, :-3])
    half = warp_affine(x.half(), shift)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.double(), y, atol=2e-3, rtol=0)


def test_general_rotation_by_quarter_turns_matches_rot90():
    """The general path (filtered resampling) turns a band-limited image as the exact blit does, away from the
    borders, up to about 1% RMS: sym6 is not quite linear-phase, which a turn shows as a few hundredths of a pixel."""
    x = band_limited(2, 32, 0.2)
    for k in (1, 2, 3):
        y = warp_affine(x, rotation(k * math.pi / 2, 2))
        err = (y - torch.rot90(x, k, (2, 3)))[..., 6:-6, 6:-6]
        assert err.abs().max() < 0.08 and err.square().mean().sqrt() < 0.02, k


def test_general_rotation_round_trip_neither_blurs_nor_aliases():
    """Rotating there and back restores a band-limited image far better than plain bilinear sampling does."""
    x = band_limited(2, 32, 0.2)
    y = warp_affine(warp_affine(x, rotation(0.6, 2)), rotation(-0.6, 2))

    def bilinear(img, theta):
        grid = torch.nn.functional.affine_grid(rotation(theta, 2)[:, :2], list(img.shape), align_corners=False)
        return torch.nn.functional.grid_sample(img, grid, align_corners=False)

    plain = bilinear(bilinear(x, 0.6), -0.6)
    rms = [(z - x)[..., 8:-8, 8:-8].square().mean().sqrt() for z in (y, plain)]
    assert rms[0] < 0.02 and rms[0] < rms[1] / 3, rms


# --------------------------------------------------------------------------------------------------------------
# Gradients.


def test_gradcheck_through_the_whole_pipeline(device):
    x = images(1, 3, 6, 6, dtype=torch.float64).to(device).requires_grad_(True)
    pipe = make_augment_pipe("bgcfnc", 0.9).to(device)
    assert torch.autograd.gradcheck(lambda t: pipe(t, torch.Generator().manual_seed(2)), (x,))


def test_gradgradcheck_through_the_geometric_path():
    x = images(1, 1, 5, 5, dtype=torch.float64).requires_grad_(True)
    pipe = make_augment_pipe("bg", 1.0)
    assert torch.autograd.gradgradcheck(lambda t: pipe(t, torch.Generator().manual_seed(4)), (x,))


def test_r1_through_augmentation():
    """d/dθ of ||∂D(aug(x))/∂x||² for a tiny conv D exists, is finite and matches central differences."""
    torch.manual_seed(1)
    weight = (torch.randn(4, 3, 3, 3, dtype=torch.float64) * 0.3).requires_grad_(True)
    head = torch.randn(4, dtype=torch.float64)
    x = images(2, 3, 8, 8, dtype=torch.float64)
    pipe = make_augment_pipe("bgc", 1.0)

    def penalty(w):
        real = x.clone().requires_grad_(True)
        features = torch.nn.functional.softplus(torch.nn.functional.conv2d(pipe(real, torch.Generator()
                                                                                .manual_seed(7)), w))
        logits = (features.mean((2, 3)) * head).sum(1)
        grad, = torch.autograd.grad(logits.sum(), real, create_graph=True)
        return grad.square().sum()

    grad_w, = torch.autograd.grad(penalty(weight), weight)
    assert grad_w.isfinite().all() and grad_w.abs().max() > 0
    direction = torch.randn_like(weight)
    eps = 1e-5
    with torch.no_grad():
        w = weight.detach()
    numeric = (penalty(w + eps * direction) - penalty(w - eps * direction)) / (2 * eps)
    torch.testing.assert_close((grad_w * direction).sum(), numeric.detach(), rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------------------------------------------
# Presets, state, bad input.


def test_presets():
    assert {"blit", "geom", "color", "bg", "bgc", "filter", "noise", "cutout", "bgcfnc"} <= set(PRESETS)
    for preset, names in PRESETS.items():
        pipe = make_augment_pipe(preset, 0.25)
        assert float(pipe.p) == 0.25
        assert {name for name in MULTIPLIERS if getattr(pipe, name) > 0} == set(names)
    assert set(PRESETS["bgc"]) == {name for name in MULTIPLIERS if getattr(AugmentPipe(), name) > 0}


def test_p_is_a_saved_buffer():
    pipe = make_augment_pipe("bgc", 0.3)
    assert list(pipe.state_dict()) == ["p"]
    other = make_augment_pipe("bgc")
    other.load_state_dict(pipe.state_dict())
    assert float(other.p) == pytest.approx(0.3)


def test_bad_input():
    with pytest.raises(ValueError, match="^p must be"):
        AugmentPipe(-0.1)
    with pytest.raises(ValueError, match="scale_std"):
        AugmentPipe(scale_std=-1)
    with pytest.raises(ValueError, match="imgfilter_bands"):
        AugmentPipe(imgfilter_bands=(1, 1))
    with pytest.raises(ValueError, match="imgfilter_bands"):
        AugmentPipe(imgfilter_bands=1)
    with pytest.raises(ValueError, match="preset"):
        make_augment_pipe("bgcx", 0.5)
    pipe = make_augment_pipe("bgc", 0.5)
    with pytest.raises(ValueError, match="images"):
        pipe(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="images"):
        pipe(torch.zeros(1, 3, 8, 8, dtype=torch.int64))
    pipe.p.fill_(-1)
    with pytest.raises(ValueError, match="^p must be"):
        pipe(images())
    with pytest.raises(ValueError, match="inverse"):
        warp_affine(images(), torch.eye(3).expand(3, 3, 3))
    with pytest.raises(ValueError, match="images"):
        warp_affine(images()[0], torch.eye(3).expand(4, 3, 3))


# --------------------------------------------------------------------------------------------------------------
# The ADA controller.


def test_controller_raises_p_when_d_overfits_and_lowers_it_to_zero():
    pipe = make_augment_pipe("bgc", 0.0)
    ada = AdaController(pipe, target=0.6, interval=4, kimg=1)
    for step in range(1, 9):
        ada.accumulate(torch.rand(32, 1) + 0.1)  # D sure that every real is real
        assert ada.step(32) == (step % 4 == 0)
    assert ada.rt == 1.0 and ada.p == pytest.approx(2 * 128 / 1000)
    for _ in range(4):
        ada.accumulate(-torch.rand(32, 1) - 0.1)
        ada.step(32)
    assert ada.rt == -1.0 and ada.p == pytest.approx(128 / 1000)
    for _ in range(12):
        ada.accumulate(-torch.ones(32))
        ada.step(32)
    assert ada.p == 0.0  # clamped


def test_controller_holds_p_at_target_and_without_signs():
    pipe = make_augment_pipe("bgc", 0.5)
    ada = AdaController(pipe, target=0.5, interval=2, kimg=1)
    for _ in range(2):
        ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0]))  # r_t = 0.5
        ada.step(4)
    assert ada.rt == 0.5 and ada.p == 0.5
    assert ada.step(4) is False and ada.step(4) is True and ada.p == 0.5  # nothing accumulated: no change
    ada.accumulate(torch.tensor([float("nan"), 1.0]))
    assert ada.step(4) is False and ada.step(4) is True and ada.p == 0.5  # a diverged D: no change


def test_controller_averages_over_ranks():
    pipe = make_augment_pipe("bgc", 0.0)
    other_rank = torch.tensor([-6.0, 10.0], dtype=torch.float64)  # the other rank's sum of signs and count
    ada = AdaController(pipe, target=0.6, interval=1, kimg=1, average=lambda t: (t + other_rank) / 2)
    ada.accumulate(torch.ones(10))
    ada.step(20)
    assert ada.rt == pytest.approx(4 / 20) and ada.p == 0.0


def test_controller_state_round_trip():
    def run(ada, steps):
        for i in range(steps):
            ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0 if i % 3 else 1.0]))
            ada.step(8)

    first = AdaController(make_augment_pipe("bgc"), interval=3, kimg=0.1)
    run(first, 5)
    state = first.state_dict()
    resumed = AdaController(make_augment_pipe("bgc"), interval=3, kimg=0.1)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state and float(resumed.pipe.p) == first.p
    run(first, 7)
    run(resumed, 7)
    assert resumed.state_dict() == first.state_dict() and first.p > 0


def test_controller_bad_input():
    pipe = make_augment_pipe("bgc")
    for target in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="target"):
            AdaController(pipe, target=target)
    with pytest.raises(ValueError, match="interval"):
        AdaController(pipe, interval=0)
    with pytest.raises(ValueError, match="kimg"):
        AdaController(pipe, kimg=0)
    with pytest.raises(ValueError, match="pipe"):
        AdaController(torch.nn.Identity())
    ada = AdaController(pipe)
    with pytest.raises(ValueError, match="batch_size"):
        ada.step(0)
    with pytest.raises(ValueError, match="state"):
        ada.load_state_dict({"p": 0.1})
    with pytest.raises(ValueError, match="p"):
        ada.load_state_dict({**ada.state_dict(), "p": -1.0})


# --------------------------------------------------------------------------------------------------------------
# The random draws: NVIDIA's probabilities and distributions.

N_DRAWS, P_DRAWS = 40000, 0.6


def _geometry_of(name, **kwargs):
    """The [N, 3, 3] inverse maps of one geometric transform alone, for N_DRAWS images 4 high, 8 wide."""
    pipe = only(name, P_DRAWS, **kwargs)
    draws = _Draws(N_DRAWS, torch.Generator().manual_seed(1), torch.device("cpu"), torch.float64)
    return pipe._geometry(torch.empty(N_DRAWS, 1, 4, 8, dtype=torch.float64), draws, P_DRAWS)


def _colour_of(name, pixel, **kwargs):
    """One colour transform alone applied to N_DRAWS copies of one RGB pixel, [N, 3]."""
    pipe = only(name, P_DRAWS, **kwargs)
    draws = _Draws(N_DRAWS, torch.Generator().manual_seed(2), torch.device("cpu"), torch.float64)
    x = torch.tensor(pixel, dtype=torch.float64).view(1, 3, 1, 1).expand(N_DRAWS, 3, 1, 1)
    return pipe._color(x, draws, P_DRAWS).view(N_DRAWS, 3)


def _check_fraction(applied, expected):
    assert applied.double().mean().item() == pytest.approx(expected, abs=0.015)


def _check_log2_normal(values, std):
    """values: the factors of the transformed images; log2 of them N(0, std^2)."""
    logs = torch.log2(values)
    assert logs.mean().item() == pytest.approx(0, abs=0.03 * std) and logs.std().item() == pytest.approx(std, rel=0.03)


def test_geometric_draws():
    scale = _geometry_of("scale", scale_std=0.3)[:, 0, 0]  # 1 / s
    _check_fraction(scale != 1, P_DRAWS)
    _check_log2_normal(scale[scale != 1], 0.3)
    aniso = _geometry_of("aniso", aniso_std=0.4)
    torch.testing.assert_close(aniso[:, 0, 0] * aniso[:, 1, 1], torch.ones(N_DRAWS, dtype=torch.float64))
    _check_fraction(aniso[:, 0, 0] != 1, P_DRAWS)
    _check_log2_normal(aniso[:, 1, 1][aniso[:, 1, 1] != 1], 0.4)
    shift = _geometry_of("xfrac", xfrac_std=0.1)[:, :2, 2] / torch.tensor([8.0, 4.0], dtype=torch.float64)
    moved = shift[:, 0] != 0
    _check_fraction(moved, P_DRAWS)
    assert (shift[moved].std(0) / 0.1).tolist() == pytest.approx([1, 1], rel=0.03)
    # Rotation: before and after the anisotropic scaling, each with probability 1 - sqrt(1 - p), so that the image
    # turns with probability p; each angle uniform in +-rotate_max half turns.
    rotation = _geometry_of("rotate", rotate_max=0.5)
    angle = torch.atan2(rotation[:, 1, 0], rotation[:, 0, 0])
    turned = angle.abs() > 1e-12
    _check_fraction(turned, P_DRAWS)
    # One rotation stays within +-pi/2; the sum of two (probability q^2) does 3/4 of the time.
    q = 1 - math.sqrt(1 - P_DRAWS)
    _check_fraction(turned & (angle.abs() < math.pi / 2), 2 * q * (1 - q) + 0.75 * q * q)


def test_colour_draws():
    brightness = _colour_of("brightness", [0, 0, 0], brightness_std=0.3)[:, 0]  # the offset b
    _check_fraction(brightness != 0, P_DRAWS)
    assert brightness[brightness != 0].std().item() == pytest.approx(0.3, rel=0.03)
    contrast = _colour_of("contrast", [1, 1, 1], contrast_std=0.5)[:, 0]
    _check_fraction(contrast != 1, P_DRAWS)
    _check_log2_normal(contrast[contrast != 1], 0.5)
    flipped = _colour_of("lumaflip", [1, 1, 1])[:, 0] < 0
    _check_fraction(flipped, P_DRAWS / 2)  # chosen with probability p, then flipped or not with equal odds
    # Saturation scales the colour part (orthogonal to gray) by a log2-normal factor.
    saturation = _colour_of("saturation", [1, -1, 0], saturation_std=1)[:, 0]
    _check_fraction((saturation - 1).abs() > 1e-12, P_DRAWS)
    _check_log2_normal(saturation[(saturation - 1).abs() > 1e-12], 1)
    # Hue turns the colour part about the gray axis by an angle uniform in +-hue_max half turns.
    chroma = torch.tensor([1, -1, 0], dtype=torch.float64)
    turned = _colour_of("hue", chroma.tolist(), hue_max=0.25)
    cos = (turned @ chroma / chroma.square().sum()).clamp(-1, 1)
    angle = torch.acos(cos)
    _check_fraction(angle > 1e-6, P_DRAWS)
    assert angle.max().item() == pytest.approx(math.pi / 4, abs=1e-3)
    assert angle[angle > 1e-6].mean().item() == pytest.approx(math.pi / 8, rel=0.03)
