"""The FID's Inception-v3 (stylegan.metrics.inception): the layout of pytorch-fid's weight file, strict loading, where
the weights are looked for, one forward pass, and bad input."""

import pytest
import torch
import torch.nn.functional as F

from stylegan.metrics import inception
from stylegan.metrics.features import TF32_SWITCHES, tf32_settings
from stylegan.metrics.inception import WEIGHTS_FILE, WEIGHTS_URL, InceptionV3, load_inception, resolve_weights

# Keys of pt_inception-2015-12-05-6726825d.pth (torchvision's Inception3 with 1008 classes and no aux classifier, as
# pytorch-fid builds it) and their shapes.
KNOWN_KEYS = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_2b_3x3.conv.weight": (64, 32, 3, 3),
    "Conv2d_3b_1x1.conv.weight": (80, 64, 1, 1),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch_pool.conv.weight": (64, 288, 1, 1),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "Mixed_7c.branch_pool.bn.bias": (192,),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}
NUM_CONVS = 94      # 5 stem + 3 x 7 (A) + 4 (B) + 4 x 10 (C) + 6 (D) + 2 x 9 (E)


def _file_like_state(seed=0, counters=True):
    """A random state dict laid out as the published file: the module's keys plus the 1008-class classifier."""
    g = torch.Generator().manual_seed(seed)
    state = {k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone())
             for k, v in InceptionV3().state_dict().items() if counters or not k.endswith("num_batches_tracked")}
    state["fc.weight"] = torch.randn(1008, 2048, generator=g)
    state["fc.bias"] = torch.randn(1008, generator=g)
    return state


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_FILE
    torch.save(_file_like_state(), path)
    return path


def test_layout_matches_the_published_file(weights_file):
    saved = torch.load(weights_file, weights_only=True)
    for key, shape in KNOWN_KEYS.items():
        assert tuple(saved[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in saved)
    assert sum(k.endswith(".conv.weight") for k in saved) == NUM_CONVS
    assert len(saved) == NUM_CONVS * 6 + 2      # conv weight, 4 batch-norm tensors and its counter; fc
    assert not any(k.endswith(".conv.bias") for k in saved)
    module = InceptionV3()
    assert set(module.state_dict()) == set(saved) - {"fc.weight", "fc.bias"}
    assert all(m.eps == 1e-3 for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_load_is_strict_and_exact(weights_file):
    with pytest.warns(UserWarning, match="SHA-256"):       # random weights are not the published file
        module = load_inception(weights_file)
    saved = torch.load(weights_file, weights_only=True)
    for key, value in module.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert module.cache_key.startswith(f"{WEIGHTS_FILE}-sha256-") and not module.training


def test_load_without_batch_counters(tmp_path):
    path = tmp_path / "old.pth"
    torch.save(_file_like_state(counters=False), path)
    with pytest.warns(UserWarning, match="SHA-256"):
        load_inception(path)


@pytest.mark.parametrize("change,match", [
    (lambda s: s.pop("Mixed_7c.branch_pool.conv.weight"), "missing: Mixed_7c.branch_pool.conv.weight"),
    (lambda s: s.update({"AuxLogits.fc.weight": torch.zeros(1008, 768)}), "unexpected: AuxLogits.fc.weight"),
    (lambda s: s.update({"Mixed_6b.branch7x7_2.conv.weight": torch.zeros(128, 128, 7, 1)}),
     "wrong shape: Mixed_6b.branch7x7_2.conv.weight"),
    (lambda s: s.update({"fc.weight": torch.zeros(1000, 2048)}), r"fc.weight should have shape \[1008, 2048\]"),
])
def test_load_rejects_other_state_dicts(tmp_path, change, match):
    state = _file_like_state()
    change(state)
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=f"--inception: .*{match}"):
        load_inception(path)


def test_load_rejects_files_that_are_no_state_dict(tmp_path):
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="--inception: cannot read"):
        load_inception(tmp_path / "garbage.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_inception(tmp_path / "list.pth")


def test_weights_are_looked_for_in_order(tmp_path, monkeypatch, weights_file):
    monkeypatch.delenv(inception.ENV_VAR, raising=False)
    monkeypatch.setattr(inception, "DEFAULT_WEIGHTS_PATH", tmp_path / "default" / WEIGHTS_FILE)
    with pytest.raises(FileNotFoundError) as error:
        resolve_weights()
    message = str(error.value)
    assert "--inception" in message and WEIGHTS_URL in message and str(tmp_path / "default" / WEIGHTS_FILE) in message
    assert inception.ENV_VAR in message
    with pytest.raises(FileNotFoundError, match=f"not found at {tmp_path / 'nope.pth'}"):
        resolve_weights(tmp_path / "nope.pth")
    monkeypatch.setenv(inception.ENV_VAR, str(weights_file))
    assert resolve_weights() == weights_file
    assert resolve_weights(weights_file) == weights_file
    monkeypatch.delenv(inception.ENV_VAR)
    inception.DEFAULT_WEIGHTS_PATH.parent.mkdir()
    inception.DEFAULT_WEIGHTS_PATH.write_bytes(b"")
    assert resolve_weights() == inception.DEFAULT_WEIGHTS_PATH


def test_forward_gives_pooled_features():
    module = InceptionV3()
    features = module(torch.randint(0, 256, (1, 3, 37, 64), dtype=torch.uint8))   # any size: resized to 299x299
    assert features.shape == (1, 2048) and features.dtype == torch.float32
    assert torch.isfinite(features).all() and (features >= 0).all()     # means of ReLU outputs


def test_tensorflow_pooling_quirks():
    module = InceptionV3()
    assert [module.Mixed_7b.pool, module.Mixed_7c.pool] == ["avg", "max"]
    # Average pooling leaves out the zero padding: a constant image stays constant up to its borders.
    ones = torch.ones(1, 2, 5, 5)
    torch.testing.assert_close(inception._avg_pool_inside(ones), ones)


@pytest.mark.parametrize("images", [torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32, dtype=torch.uint8),
                                    torch.zeros(3, 32, 32, dtype=torch.uint8)])
def test_bad_images_raise(images):
    with pytest.raises(ValueError, match=r"uint8 \[N, 3, H, W\]"):
        InceptionV3()(images)


def test_input_is_pytorch_fids_pipeline():
    """pytorch-fid feeds the network F.interpolate(x, 299, bilinear, align_corners=False) * 2 - 1 of images x in
    [0, 1]: the published weights give the published FIDs only from that input."""
    module = InceptionV3()
    seen = []
    module.Conv2d_1a_3x3.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    images = torch.randint(0, 256, (2, 3, 40, 56), dtype=torch.uint8)
    module(images)
    expected = F.interpolate(images.float() / 255, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    torch.testing.assert_close(seen[0], expected, atol=1e-6, rtol=0)


def allow_tf32(monkeypatch):
    """Lets CUDA use TF32 (every switch on) until the test ends."""
    for owner, name, full in TF32_SWITCHES:
        monkeypatch.setattr(owner, name, "tf32" if isinstance(full, str) else True)


def test_convolutions_run_without_tf32(monkeypatch):
    """As NVIDIA's metrics: TF32 (torch's default for cuDNN convolutions) is off inside, restored afterwards."""
    allow_tf32(monkeypatch)
    before = tf32_settings()
    module = InceptionV3()
    seen = []
    for layer in (module.Conv2d_1a_3x3, module.Mixed_7c):
        layer.register_forward_pre_hook(lambda *_: seen.append(tf32_settings()))
    module(torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8))
    assert seen == [[full for *_, full in TF32_SWITCHES]] * 2 and tf32_settings() == before != seen[0]

