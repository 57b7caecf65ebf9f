"""The progressive discriminator (ProGAN / StyleGAN v1 growing): reading lower resolutions, fading a new block in,
gradients, fused vs reference ops, checkpoints, bad arguments."""

import math

import pytest
import torch
import torch.nn.functional as F

from stylegan import load_network, save_network
from stylegan.networks import Discriminator
from test_networks import both_impls, relative_error

SMALL = dict(channel_base=256, channel_max=32)
RESOLUTIONS = [4, 8, 16, 32]


def progressive_discriminator(resolution=32, c_dim=0, architecture="resnet", **kwargs):
    torch.manual_seed(1)
    return Discriminator(c_dim=c_dim, img_resolution=resolution, img_channels=3, architecture=architecture,
                         progressive=True, **SMALL, **kwargs)


def images_and_labels(resolution, c_dim, device, n=4):
    img = torch.randn(n, 3, resolution, resolution, device=device)
    c = torch.eye(c_dim, device=device)[torch.arange(n) % c_dim] if c_dim else None
    return img, c


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
@pytest.mark.parametrize("c_dim", [0, 3])
def test_scores_at_every_resolution_and_alpha(architecture, c_dim, device):
    D = progressive_discriminator(c_dim=c_dim, architecture=architecture).to(device)
    for resolution in RESOLUTIONS:
        img, c = images_and_labels(resolution, c_dim, device)
        for alpha in (0.0, 0.3, 1.0):
            out = D(img, c, resolution=resolution, alpha=alpha)
            assert out.shape == (4, 1) and out.dtype == torch.float32
            assert torch.isfinite(out).all()
    img, c = images_and_labels(32, c_dim, device)
    assert torch.equal(D(img, c), D(img, c, resolution=32, alpha=1.0))
    img, c = images_and_labels(4, c_dim, device)
    assert torch.equal(D(img, c, resolution=4, alpha=0.3), D(img, c, resolution=4))  # nothing below 4x4 to fade


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_alpha_zero_is_the_half_resolution_network_on_the_pooled_image(architecture, resolution, device):
    D = progressive_discriminator(c_dim=2, architecture=architecture).to(device)
    img, c = images_and_labels(resolution, 2, device)
    faded = D(img, c, resolution=resolution, alpha=0.0)
    lower = D(F.avg_pool2d(img, 2), c, resolution=resolution // 2)
    torch.testing.assert_close(faded, lower, rtol=0, atol=0)


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_alpha_one_ignores_the_old_path(resolution, device):
    D = progressive_discriminator(c_dim=2).to(device)
    img, c = images_and_labels(resolution, 2, device)
    full, half = D(img, c, resolution=resolution), D(img, c, resolution=resolution, alpha=0.5)
    with torch.no_grad():
        old = getattr(D, f"b{resolution // 2}").fromrgb
        old.weight.normal_()
        old.bias.normal_()
    torch.testing.assert_close(D(img, c, resolution=resolution, alpha=1.0), full, rtol=0, atol=0)
    assert not torch.allclose(D(img, c, resolution=resolution, alpha=0.5), half)


@pytest.mark.parametrize("resolution", [8, 32])
def test_fading_is_linear_in_the_features_and_continuous_in_alpha(resolution, device):
    """The features entering the resolution/2 stage are lerp(old, new, alpha); the scores follow continuously."""
    D = progressive_discriminator().to(device)
    img, _ = images_and_labels(resolution, 0, device)
    seen = []
    hook = getattr(D, f"b{resolution // 2}").register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    alphas = [0.0, 0.25, 0.5, 1.0]
    scores = [D(img, resolution=resolution, alpha=a) for a in alphas]
    hook.remove()
    old, new = seen[0], seen[-1]
    for alpha, features in zip(alphas, seen):
        torch.testing.assert_close(features, old + alpha * (new - old))
    spread = (scores[0] - scores[-1]).abs().max()
    assert spread > 0
    for alpha in (0.25, 0.5):
        step = (D(img, resolution=resolution, alpha=alpha + 1e-4) - D(img, resolution=resolution, alpha=alpha))
        assert step.abs().max() < 1e-2 * spread


def test_gradients_and_r1_at_a_faded_resolution(device):
    D = progressive_discriminator(c_dim=2).to(device)
    img, c = images_and_labels(16, 2, device)
    img.requires_grad_(True)
    scores = D(img, c, resolution=16, alpha=0.5)
    (grad,) = torch.autograd.grad(scores.sum(), img, create_graph=True)
    (grad.square().sum() + scores.square().sum()).backward()
    unused = ("b32.", "b4.fromrgb.")  # above the resolution; the epilogue reads no image at 16x16
    for name, p in D.named_parameters():
        if name.startswith(unused):
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    D.zero_grad(set_to_none=True)
    D(img.detach(), c, resolution=16).sum().backward()
    assert D.b8.fromrgb.weight.grad is None and D.b16.fromrgb.weight.grad is not None


@pytest.mark.parametrize("architecture", ["orig", "resnet"])
def test_fused_matches_reference(architecture, device):
    D = progressive_discriminator(c_dim=3, architecture=architecture).to(device)
    for resolution in RESOLUTIONS:
        img, c = images_and_labels(resolution, 3, device)
        fused, ref = both_impls(D, lambda d: d(img, c, resolution=resolution, alpha=0.4))
        assert relative_error(fused, ref) < 1e-5, resolution


def test_float16_blocks(device):
    D = progressive_discriminator(num_fp16_res=2, conv_clamp=256,
                                  block_kwargs=dict(fp16_channels_last=True)).to(device)
    assert D.b32.use_fp16 and D.b16.use_fp16 and not D.b8.use_fp16
    for resolution in (32, 16):  # old path in float16, then in float32
        img, _ = images_and_labels(resolution, 0, device)
        low = D(img, resolution=resolution, alpha=0.5, force_fp32=False)
        assert low.dtype == torch.float32
        assert relative_error(low, D(img, resolution=resolution, alpha=0.5, force_fp32=True)) < 2e-2
        torch.testing.assert_close(D(img, resolution=resolution, alpha=0.0, force_fp32=False),
                                   D(F.avg_pool2d(img, 2), resolution=resolution // 2, force_fp32=False),
                                   rtol=0, atol=0)


def test_checkpoint_keeps_progressive(tmp_path):
    D = progressive_discriminator(16, c_dim=2, architecture="orig")
    assert D.init_kwargs["progressive"] is True
    assert "progressive" not in Discriminator(c_dim=0, img_resolution=16, img_channels=3, **SMALL).init_kwargs
    save_network(D, tmp_path / "D.safetensors")
    loaded = load_network(tmp_path / "D.safetensors")
    assert loaded.progressive and loaded.init_kwargs == D.init_kwargs
    img, c = images_and_labels(8, 2, "cpu")
    torch.testing.assert_close(loaded(img, c, resolution=8, alpha=0.3), D(img, c, resolution=8, alpha=0.3),
                               rtol=0, atol=0)


class TestBadArguments:
    def test_resolution(self):
        D = progressive_discriminator(16)
        for bad in (12, 2, 32, 0):
            with pytest.raises(ValueError, match=r"resolution must be one of \[4, 8, 16\]"):
                D(torch.randn(4, 3, 16, 16), resolution=bad)

    def test_alpha(self):
        D = progressive_discriminator(16)
        for bad in (-0.1, 1.5, math.nan):
            with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
                D(torch.randn(4, 3, 8, 8), resolution=8, alpha=bad)

    def test_image_size(self):
        D = progressive_discriminator(16)
        with pytest.raises(ValueError, match=r"img must have shape \[N, 3, 8, 8\]"):
            D(torch.randn(4, 3, 16, 16), resolution=8)
        with pytest.raises(ValueError, match=r"img must have shape \[N, 3, 16, 16\]"):
            D(torch.randn(4, 3, 8, 8))

    def test_skip_architecture(self):
        with pytest.raises(ValueError, match="progressive=True does not combine with architecture='skip'"):
            progressive_discriminator(16, architecture="skip")

    def test_growing_a_non_progressive_discriminator(self):
        D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, **SMALL)
        img = torch.randn(4, 3, 16, 16)
        assert torch.equal(D(img, resolution=16, alpha=1.0), D(img))
        with pytest.raises(ValueError, match="resolution 8: .*progressive=True"):
            D(torch.randn(4, 3, 8, 8), resolution=8)
        with pytest.raises(ValueError, match="alpha 0.5: .*progressive=True"):
            D(img, alpha=0.5)
