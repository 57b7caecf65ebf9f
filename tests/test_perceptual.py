"""stylegan.perceptual: the VGG16 module loads torchvision's state-dict layout, the LPIPS distance matches a direct
computation of LPIPS with the same weights, the distances are differentiable, and the weights are found (or their
absence announced) as documented."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from weight_files import TINY_WIDTHS, empty_cache, lpips_state_dict, vgg16_state_dict

from stylegan.perceptual import (ENV_VAR, LPIPS_WEIGHTS, VGG16_WEIGHTS, LPIPSDistance, PyramidDistance,
                                 VGG16Features, default_weights_path, load_distance, load_lpips, load_lpips_weights,
                                 load_vgg16)

# torchvision's vgg16().features: the convolutions of each stage sit at these indices of the Sequential.
TORCHVISION_STAGES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
TORCHVISION_CONVS = sum(TORCHVISION_STAGES, ())


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No weight files, and none can be downloaded: the cache directory (empty)."""
    return empty_cache(tmp_path, monkeypatch)


@pytest.fixture
def tiny_weights(tmp_path):
    path = tmp_path / "tiny-vgg16.pth"
    torch.save(vgg16_state_dict(), path)
    return path


@pytest.fixture
def tiny_lpips(tmp_path):
    path = tmp_path / "tiny-lpips.pth"
    torch.save(lpips_state_dict(), path)
    return path


def test_keys_and_shapes_match_torchvision():
    model = VGG16Features()
    expected = {f"features.{i}.{p}" for i in TORCHVISION_CONVS for p in ("weight", "bias")}
    assert set(model.state_dict()) == expected
    state = model.state_dict()
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.10.weight"].shape == (256, 128, 3, 3)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)


def test_loads_a_saved_state_dict(tiny_weights):
    state = torch.load(tiny_weights, weights_only=True)
    model = load_vgg16(tiny_weights)
    assert model.widths == TINY_WIDTHS
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    taps = model(x)
    assert [t.shape[1] for t in taps] == [4, 4, 8, 8, 8]
    assert [t.shape[2] for t in taps] == [32, 16, 8, 4, 2]


def test_bad_state_dicts(tmp_path, no_weights):
    missing = vgg16_state_dict()
    del missing["features.26.weight"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing \['features.26.weight'\]"):
        load_vgg16(tmp_path / "missing.pth", "--lpips")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"--lpips \(.*other.pth\): not a VGG16 state dict"):
        load_vgg16(tmp_path / "other.pth", "--lpips")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="--lpips: cannot read"):
        load_vgg16(tmp_path / "junk.pth", "--lpips")
    with pytest.raises(FileNotFoundError, match="--lpips: VGG16 weights not found at .*absent.pth"):
        load_distance(tmp_path / "absent.pth")
    with pytest.raises(FileNotFoundError, match="--lpips-weights: LPIPS weights not found at .*absent.pth"):
        load_distance(None, tmp_path / "absent.pth")  # an error even where VGG16 is missing too
    torch.save({"lin0.model.1.weight": torch.ones(1, 4, 1, 1)}, tmp_path / "lin.pth")
    with pytest.raises(ValueError, match=r"--lpips-weights \(.*lin.pth\): not LPIPS's linear layers \(expected "
                                         r"lin0.model.1.weight, .*, lin4.model.1.weight, each \[1, C, 1, 1\]\)"):
        load_lpips_weights(tmp_path / "lin.pth", "--lpips-weights")
    torch.save(lpips_state_dict(widths=(4, 4, 8, 8, 16)), tmp_path / "wide.pth")
    with pytest.raises(ValueError, match=r"LPIPS weights for channel widths \[4, 4, 8, 8, 16\] do not fit VGG16 "
                                         r"features of widths \[4, 4, 8, 8, 8\]"):
        LPIPSDistance(VGG16Features(TINY_WIDTHS), load_lpips_weights(tmp_path / "wide.pth"))


@pytest.mark.parametrize("kind", ["lpips", "vgg", "pyramid"])
def test_distance_properties(kind, tiny_weights, tiny_lpips):
    vgg, weights = load_vgg16(tiny_weights), load_lpips_weights(tiny_lpips)
    distance = PyramidDistance() if kind == "pyramid" else LPIPSDistance(vgg, weights if kind == "lpips" else None)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    y = torch.rand(3, 3, 32, 32) * 2 - 1
    d = distance(x, y)
    assert d.shape == (3,) and torch.all(d > 0)
    torch.testing.assert_close(distance(x, x), torch.zeros(3))
    torch.testing.assert_close(distance(y, x), d)
    # A fixed target's features, computed once, broadcast over a batch.
    target = distance.features(x[:1])
    torch.testing.assert_close(distance.compare(target, distance.features(y)), distance(x[:1].expand(3, -1, -1, -1), y))
    # A closer image is closer, and the distance is differentiable.
    near = (x + 0.05 * torch.randn_like(x)).requires_grad_(True)
    assert torch.all(distance(x, near) < d)
    distance(x, near).sum().backward()
    assert near.grad is not None and near.grad.abs().sum() > 0


def test_grayscale_and_large_images(tiny_weights):
    distance = LPIPSDistance(load_vgg16(tiny_weights))
    gray = torch.rand(1, 1, 16, 16) * 2 - 1
    torch.testing.assert_close(distance(gray, gray.repeat(1, 3, 1, 1)), torch.zeros(1))
    big = torch.rand(1, 3, 512, 512) * 2 - 1
    assert [t.shape[2] for t in distance.vgg(big)] == [256, 128, 64, 32, 16]


def direct_lpips(x, y, vgg_state, lpips_state):
    """LPIPS v0.1 as the lpips package computes it, written out: its ScalingLayer, torchvision's VGG16 layers from the
    raw state dict up to relu5_3 (taps after the last ReLU of each stage), normalize_tensor (eps 1e-10), the squared
    differences through its 1x1 linear layers, spatial_average, summed over the five layers."""
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def taps(images):
        h, out = (images - shift) / scale, []
        for stage, convs in enumerate(TORCHVISION_STAGES):
            if stage:
                h = F.max_pool2d(h, 2, 2)
            for i in convs:
                h = F.relu(F.conv2d(h, vgg_state[f"features.{i}.weight"], vgg_state[f"features.{i}.bias"], padding=1))
            out.append(h)
        return out

    total = 0
    for k, (a, b) in enumerate(zip(taps(x), taps(y))):
        a = a / (a.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
        total = total + F.conv2d((a - b) ** 2, lpips_state[f"lin{k}.model.1.weight"]).mean(dim=(2, 3))
    return total.flatten()


def test_lpips_matches_a_direct_computation_with_the_same_weights(tmp_path):
    """The weights read back from files in the published layouts."""
    widths = (8, 16, 32, 64, 64)
    vgg_state, lpips_state = vgg16_state_dict(widths), lpips_state_dict(widths)
    torch.save(vgg_state, tmp_path / "vgg16.pth")
    torch.save(lpips_state, tmp_path / "lpips.pth")
    distance = load_lpips(tmp_path / "vgg16.pth", tmp_path / "lpips.pth")
    assert distance.kind == "lpips" and distance.name == "lpips-vgg16"
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(distance(x, y), direct_lpips(x, y, vgg_state, lpips_state))
        ones = {k: torch.ones_like(v) for k, v in lpips_state.items()}   # the uncalibrated distance
        torch.testing.assert_close(LPIPSDistance(distance.vgg)(x, y), direct_lpips(x, y, vgg_state, ones))


def test_fallbacks_warn_once_saying_which_file_goes_where(no_weights, tiny_weights, tiny_lpips):
    with pytest.warns(UserWarning) as record:
        distance = load_distance()
    assert len(record) == 1 and isinstance(distance, PyramidDistance) and distance.name == "pixel-pyramid"
    message = str(record[0].message)
    assert f"put it at {default_weights_path()}, or pass --lpips PATH, or set {ENV_VAR}=PATH" in message
    assert VGG16_WEIGHTS.url in message and "STYLEGAN_OFFLINE=1" in message and "pixel/pyramid fallback" in message
    with pytest.warns(UserWarning) as record:
        distance = load_distance(tiny_weights)
    assert len(record) == 1 and distance.kind == "vgg" and distance.name == "vgg16-uncalibrated"
    message = str(record[0].message)
    assert f"get {LPIPS_WEIGHTS.filename} from {LPIPS_WEIGHTS.url} and put it at " \
           f"{no_weights / LPIPS_WEIGHTS.filename}, or pass --lpips-weights PATH, or set STYLEGAN_LPIPS=PATH" in message
    assert "every VGG16 channel 1" in message


def test_weights_found_by_env_var_and_default_path(no_weights, tiny_weights, tiny_lpips, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setenv(ENV_VAR, str(tiny_weights))
        monkeypatch.setenv(LPIPS_WEIGHTS.env_var, str(tiny_lpips))
        assert load_distance().kind == "lpips"
        monkeypatch.delenv(ENV_VAR)
        monkeypatch.delenv(LPIPS_WEIGHTS.env_var)
        assert default_weights_path() == no_weights / VGG16_WEIGHTS.filename
        no_weights.mkdir()
        default_weights_path().write_bytes(tiny_weights.read_bytes())
        (no_weights / LPIPS_WEIGHTS.filename).write_bytes(tiny_lpips.read_bytes())
        assert load_distance().kind == "lpips"
    monkeypatch.setenv(ENV_VAR, str(tiny_weights.parent / "absent.pth"))
    with pytest.raises(FileNotFoundError, match=rf"^\${ENV_VAR}: VGG16 weights not found at .*absent.pth$"):
        load_distance()
