"""Perceptual path length (stylegan.metrics.ppl): closed forms with a linear generator, the image preparation, the
percentile filter, the choice of distance (LPIPS, its uncalibrated VGG16 layers or the pixel fallback, each named in
the metric), and a real network left unchanged."""

import math
import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from weight_files import empty_cache, lpips_state_dict, vgg16_state_dict

from stylegan.metrics import compute_metrics, perceptual_path_length, pixel_distance
from stylegan.metrics.features import TF32_SWITCHES, tf32_settings
from stylegan.perceptual import LPIPSDistance
from stylegan.latents import slerp
from stylegan.metrics.ppl import _prepare, filtered_mean, path_length_samples, resolve_distance

DIM = 768   # = 3 x 16 x 16 pixels


class LinearGenerator(torch.nn.Module):
    """mapping: z scaled to norm sqrt(DIM) (the mapping network's normalization), one w; synthesis: w as the image.
    For latents at angle theta, a w-space step of epsilon moves the image by epsilon * |w1 - w0|, so the sample's
    value is |w1 - w0|^2 / DIM = 2 (1 - cos theta); a z-space (slerp) step turns w by epsilon * theta, giving
    theta^2. For high-dimensional Gaussian latents theta is close to pi / 2."""

    z_dim = w_dim = DIM
    c_dim = 0
    img_resolution = 16
    img_channels = 3

    def __init__(self, image=None):
        super().__init__()
        self.mapping = lambda z, c: (z * z.square().mean(dim=1, keepdim=True).rsqrt())[:, None, :]
        self.synthesis = self._synthesis
        self.image = image

    def _synthesis(self, ws, noise_mode="random"):
        assert noise_mode == "const"
        images = ws[:, 0].reshape(-1, 3, 16, 16)
        return images if self.image is None else images * 0 + self.image


@pytest.fixture
def no_perceptual(tmp_path, monkeypatch):
    """As if no weights were installed and none could be downloaded."""
    empty_cache(tmp_path, monkeypatch)


@pytest.fixture
def weights(no_perceptual, monkeypatch, tmp_path):
    """set(names): STYLEGAN_VGG16 and, with 'lpips' among the names, STYLEGAN_LPIPS name small weight files."""
    def install(names):
        for name, state, var in (("vgg", vgg16_state_dict((2, 2, 2, 2, 2)), "STYLEGAN_VGG16"),
                                 ("lpips", lpips_state_dict((2, 2, 2, 2, 2)), "STYLEGAN_LPIPS")):
            if name in names:
                torch.save(state, tmp_path / f"{name}.pth")
                monkeypatch.setenv(var, str(tmp_path / f"{name}.pth"))
    return install


def test_slerp_moves_along_the_great_circle_at_constant_speed():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g, dtype=torch.float64)
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    angle = torch.acos((ua * ub).sum(1))
    torch.testing.assert_close(slerp(ua, ub, torch.zeros(5, 1, dtype=torch.float64)), ua)
    torch.testing.assert_close(slerp(ua, ub, torch.ones(5, 1, dtype=torch.float64)), ub)
    t = torch.rand(5, 1, generator=g, dtype=torch.float64)
    mid = slerp(ua, ub, t)
    torch.testing.assert_close(mid.norm(dim=1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(torch.acos((ua * mid).sum(1)), t[:, 0] * angle)
    torch.testing.assert_close(torch.acos((mid * ub).sum(1)), (1 - t[:, 0]) * angle)


def test_linear_generator_closed_forms(no_perceptual):
    G = LinearGenerator()
    kwargs = dict(num_samples=100, distance=pixel_distance, seed=1)
    w_end = path_length_samples(G, space="w", sampling="end", **kwargs)
    # The same latents in every run (t is drawn even for 'end'), so the samples can be compared one by one.
    theta = np.arccos(1 - w_end / 2)
    np.testing.assert_allclose(path_length_samples(G, space="w", sampling="full", **kwargs), w_end, rtol=1e-2)
    np.testing.assert_allclose(path_length_samples(G, space="z", sampling="end", **kwargs), theta ** 2, rtol=1e-2)
    np.testing.assert_allclose(path_length_samples(G, space="z", sampling="full", **kwargs), theta ** 2, rtol=1e-2)
    assert perceptual_path_length(G, space="w", **kwargs) == pytest.approx(2, rel=0.03)
    assert perceptual_path_length(G, space="z", sampling="full", **kwargs) == pytest.approx(math.pi ** 2 / 4,
                                                                                              rel=0.03)


def test_epsilon_and_batch_size_do_not_matter_for_a_linear_generator():
    G = LinearGenerator()
    base = path_length_samples(G, 6, distance=pixel_distance, batch_size=2)
    np.testing.assert_allclose(path_length_samples(G, 6, epsilon=1e-2, distance=pixel_distance, batch_size=2), base,
                               rtol=1e-3)
    # Other batches draw the latents in another order, so compare the filtered means loosely.
    assert perceptual_path_length(G, 64, distance=pixel_distance, batch_size=5) == pytest.approx(2, rel=0.05)


def test_crop_and_the_images_the_distance_sees():
    coords = torch.arange(256.0).view(1, 1, 16, 16).expand(1, 3, 16, 16) / 256
    seen = []

    def recording_distance(img0, img1):
        seen.append(img0)
        return torch.zeros(img0.shape[0])

    G = LinearGenerator(image=coords)
    assert perceptual_path_length(G, 3, crop=True, distance=recording_distance) == 0
    assert [tuple(x.shape) for x in seen] == [(2, 3, 8, 8), (1, 3, 8, 8)]
    torch.testing.assert_close(seen[0][0], coords[0, :, 6:14, 4:12])      # rows 3/8..7/8, columns 2/8..6/8


def test_prepare_downsamples_large_images_and_makes_rgb():
    x = torch.randn(2, 1, 512, 512)
    out = _prepare(x, crop=False)
    assert out.shape == (2, 3, 256, 256)
    torch.testing.assert_close(out[:, :1], torch.nn.functional.avg_pool2d(x, 2))
    torch.testing.assert_close(out[:, 2], out[:, 0])
    assert _prepare(torch.randn(2, 3, 64, 64), crop=True).shape == (2, 3, 32, 32)
    # The downsampling factor comes from the cropped height (StyleGAN's TensorFlow metric): 1024 -> 512 crop -> 256.
    assert _prepare(torch.randn(1, 3, 1024, 1024), crop=True).shape == (1, 3, 256, 256)


def test_filtered_mean_drops_the_outer_percentiles():
    values = np.arange(1.0, 201.0)          # 1st percentile (lower): 2; 99th (higher): 199
    assert filtered_mean(values) == pytest.approx(np.arange(2.0, 200.0).mean())
    # Outliers beyond the percentiles are dropped (in 1000 values: 10 at each end at most).
    assert filtered_mean(np.concatenate([np.full(5, -1e9), np.full(990, 3.0), np.full(5, 1e9)])) == 3.0
    assert filtered_mean([5.0]) == 5.0
    with pytest.raises(ValueError, match="non-empty"):
        filtered_mean([])


def test_distance_choice(no_perceptual, weights):
    with pytest.warns(UserWarning, match="no VGG16 weights") as record:
        assert resolve_distance(None) == (pixel_distance, "pixel")
    assert "put it at" in str(record[0].message)
    weights({"vgg"})
    with pytest.warns(UserWarning, match="LPIPS weights not found: get lpips-v0.1-vgg.pth from https://"):
        distance, kind = resolve_distance(None)
    assert kind == "vgg" and isinstance(distance, LPIPSDistance) and distance.kind == "vgg"
    weights({"vgg", "lpips"})
    distance, kind = resolve_distance(None)
    assert kind == "lpips" and isinstance(distance, LPIPSDistance) and distance.kind == "lpips"
    custom = lambda a, b: a.sum()  # noqa: E731
    assert resolve_distance(custom) == (custom, "custom")
    assert resolve_distance(pixel_distance) == (pixel_distance, "pixel")
    with pytest.raises(TypeError, match="distance must be a callable"):
        resolve_distance("lpips")


@pytest.mark.parametrize("installed, name, expected", [({"vgg", "lpips"}, "ppl2_wend", "ppl2_lpips_wend_4"),
                                                       ({"vgg"}, "ppl_zend", "ppl_vgg_zend_4")])
def test_runner_names_the_distance(installed, name, expected, weights):
    """Published PPLs measure with LPIPS's learned channel weights; without them every channel weighs 1 (warned)."""
    weights(installed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = compute_metrics(tiny_generator(resolution=32), None, [name], num_gen=4)
    assert list(results) == [expected]
    assert sum("LPIPS weights not found" in str(w.message) for w in caught) == ("lpips" not in installed)


def allow_tf32(monkeypatch):
    """Lets CUDA use TF32 (every switch on) until the test ends."""
    for owner, name, full in TF32_SWITCHES:
        monkeypatch.setattr(owner, name, "tf32" if isinstance(full, str) else True)


def test_runs_without_tf32(monkeypatch):
    """TF32's 10-bit mantissa would swamp the 1e-4 steps: off inside (mapping, synthesis, distance), then restored."""
    allow_tf32(monkeypatch)
    before, seen = tf32_settings(), []

    def record(*_):
        seen.append(tf32_settings())

    def recording_distance(img0, img1):
        record()
        return pixel_distance(img0, img1)

    G = tiny_generator()
    for module in (G.mapping, G.synthesis):
        module.register_forward_pre_hook(record)
    perceptual_path_length(G, 4, space="z", distance=recording_distance)
    assert seen == [[full for *_, full in TF32_SWITCHES]] * 6 and tf32_settings() == before != seen[0]


def test_runner_names_the_pixel_fallback_apart(monkeypatch, no_perceptual):
    G = LinearGenerator()
    with pytest.warns(UserWarning, match="no VGG16 weights"):
        pixel = compute_metrics(G, None, ["ppl2_wend"], num_gen=20)
    assert list(pixel) == ["ppl2_pixel_wend_20"] and pixel["ppl2_pixel_wend_20"] == pytest.approx(2, rel=0.1)
    assert compute_metrics(G, None, ["ppl_zfull"], num_gen=20, distance=pixel_distance) == \
        {"ppl_pixel_zfull_20": pytest.approx(2.47, rel=0.1)}


def test_real_network_is_left_unchanged_and_results_reproducible():
    G = tiny_generator().train()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    kwargs = dict(num_samples=6, distance=pixel_distance)
    first = perceptual_path_length(G, seed=3, **kwargs)
    assert first > 0 and perceptual_path_length(G, seed=3, **kwargs) == first
    assert perceptual_path_length(G, seed=4, **kwargs) != first
    assert perceptual_path_length(tiny_generator("stylegan"), **kwargs) > 0
    assert G.training and all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_conditional_generator_needs_labels():
    G = tiny_generator(c_dim=3)
    with pytest.raises(ValueError, match="conditional .* give labels"):
        perceptual_path_length(G, 2, distance=pixel_distance)
    labels = lambda n: torch.eye(3)[torch.arange(n) % 3]  # noqa: E731
    assert perceptual_path_length(G, 4, distance=pixel_distance, labels=labels) > 0


@pytest.mark.parametrize("kwargs,match", [
    (dict(space="x"), "space must be one of"),
    (dict(sampling="middle"), "sampling must be one of"),
    (dict(epsilon=0), "epsilon must be positive"),
    (dict(num_samples=0), "num_samples must be a positive int"),
    (dict(batch_size=1.5), "batch_size must be a positive int"),
])
def test_bad_arguments_raise(kwargs, match):
    args = dict(num_samples=2, distance=pixel_distance)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        perceptual_path_length(LinearGenerator(), **args)
