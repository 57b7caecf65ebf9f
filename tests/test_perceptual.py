"""stylegan.perceptual: the VGG16 module loads torchvision's state-dict layout, the LPIPS-style distance and the
fallback are differentiable distances, and the weights are found (or their absence announced) as documented."""

import warnings

import pytest
import torch

from stylegan.perceptual import (ENV_VAR, WEIGHTS_NAME, LPIPSDistance, PyramidDistance, VGG16Features,
                                 default_weights_path, load_distance, load_vgg16)

# torchvision's vgg16().features: the convolutions sit at these indices of the Sequential.
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
TINY_WIDTHS = (4, 4, 8, 8, 8)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No VGG16 weights anywhere: an empty home directory, no environment variable."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(ENV_VAR, raising=False)


def tiny_state_dict(seed=1):
    """A random tiny VGG16 in torchvision's layout, with the classifier keys a real file also holds."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in VGG16Features(TINY_WIDTHS).features.state_dict().items()}
    state["classifier.0.weight"] = torch.randn(10, 8)
    state["classifier.0.bias"] = torch.randn(10)
    return state


@pytest.fixture
def tiny_weights(tmp_path):
    path = tmp_path / "tiny-vgg16.pth"
    torch.save(tiny_state_dict(), path)
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
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    taps = model(x)
    assert [t.shape[1] for t in taps] == [4, 4, 8, 8, 8]
    assert [t.shape[2] for t in taps] == [32, 16, 8, 4, 2]


def test_bad_state_dicts(tmp_path):
    missing = tiny_state_dict()
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
    with pytest.raises(FileNotFoundError, match="--lpips: no such file"):
        load_distance(tmp_path / "absent.pth")


@pytest.mark.parametrize("kind", ["lpips", "pyramid"])
def test_distance_properties(kind, tiny_weights):
    distance = LPIPSDistance(load_vgg16(tiny_weights)) if kind == "lpips" else PyramidDistance()
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


def test_fallback_warns_once(no_weights):
    with pytest.warns(UserWarning) as record:
        distance = load_distance()
    assert len(record) == 1
    message = str(record[0].message)
    assert str(default_weights_path()) in message and ENV_VAR in message and "--lpips" in message
    assert isinstance(distance, PyramidDistance) and distance.name == "pixel-pyramid"


def test_weights_found_by_env_var_and_default_path(no_weights, tiny_weights, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setenv(ENV_VAR, str(tiny_weights))
        assert isinstance(load_distance(), LPIPSDistance)
        monkeypatch.delenv(ENV_VAR)
        default = default_weights_path()
        assert default.name == WEIGHTS_NAME and ".cache/stylegan" in str(default)
        default.parent.mkdir(parents=True)
        default.write_bytes(tiny_weights.read_bytes())
        assert isinstance(load_distance(), LPIPSDistance)
    monkeypatch.setenv(ENV_VAR, str(tiny_weights.parent / "absent.pth"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        load_distance()
