"""The generator and discriminator: fused vs reference ops, truncation, style mixing, noise modes, gradients."""

import pytest
import torch

from stylegan.networks import Discriminator, Generator, set_impl, set_low_precision

TINY = dict(channel_base=256, channel_max=16)


def tiny_generator(resolution=16, variant="stylegan2", c_dim=0, **synthesis):
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=resolution, img_channels=3, variant=variant,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs={**TINY, **synthesis})
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or "noise_weight" in name:
                p.normal_()  # 0 at initialization: make the noise visible
        G.mapping.w_avg.normal_()
    return G


def tiny_discriminator(resolution=16, c_dim=0, **kwargs):
    torch.manual_seed(1)
    return Discriminator(c_dim=c_dim, img_resolution=resolution, img_channels=3, **TINY, **kwargs)


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def both_impls(net, fn):
    out = []
    for impl in ("fused", "ref"):
        set_impl(net, impl)
        torch.manual_seed(2)
        out.append(fn(net))
    return out


@pytest.mark.parametrize("resolution", [4, 8, 32])
@pytest.mark.parametrize("variant,architecture", [("stylegan2", "skip"), ("stylegan2", "orig"),
                                                  ("stylegan2", "resnet"), ("stylegan", None)])
def test_generator_fused_matches_reference(resolution, variant, architecture, device):
    kwargs = dict(architecture=architecture) if architecture else {}
    G = tiny_generator(resolution, variant, **kwargs).to(device).eval()
    z = torch.randn(3, 8, device=device)
    fused, ref = both_impls(G, lambda g: g(z, noise_mode="const"))
    assert fused.shape == (3, 3, resolution, resolution)
    assert relative_error(fused, ref) < 1e-5


@pytest.mark.parametrize("resolution", [4, 8, 32])
@pytest.mark.parametrize("architecture", ["resnet", "skip", "orig"])
def test_discriminator_fused_matches_reference(resolution, architecture, device):
    D = tiny_discriminator(resolution, c_dim=3, architecture=architecture).to(device)
    img = torch.randn(4, 3, resolution, resolution, device=device)
    c = torch.eye(3, device=device)[[0, 2, 1, 0]]
    fused, ref = both_impls(D, lambda d: d(img, c))
    assert fused.shape == (4, 1)
    assert relative_error(fused, ref) < 1e-5


def test_training_mode_uses_the_unfused_modulation_and_agrees(device):
    G = tiny_generator().to(device)
    z = torch.randn(2, 8, device=device)
    ws = G.mapping(z, None, update_w_avg=False)
    fused = G.synthesis(ws, noise_mode="const", fused_modconv=True)
    unfused = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    assert relative_error(unfused, fused) < 1e-5


def test_truncation(device):
    G = tiny_generator().to(device).eval()
    z = torch.randn(5, 8, device=device)
    ws = G.mapping(z, None, truncation_psi=0)
    torch.testing.assert_close(ws, G.mapping.w_avg.expand_as(ws))
    full = G.mapping(z, None)
    cut = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, :3], G.mapping.w_avg.lerp(full[:, :3], 0.5))
    torch.testing.assert_close(cut[:, 3:], full[:, 3:])
    with pytest.raises(ValueError, match="truncation_cutoff"):
        G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=G.num_ws + 1)


def test_w_avg_is_tracked_in_training_only(device):
    G = tiny_generator().to(device)
    before = G.mapping.w_avg.clone()
    G.eval()(torch.randn(4, 8, device=device))
    torch.testing.assert_close(G.mapping.w_avg, before)
    G.train()
    ws = G.mapping(torch.randn(4, 8, device=device), None)
    torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].detach().mean(0).lerp(before, G.mapping.w_avg_beta))


@pytest.mark.parametrize("variant", ["stylegan2", "stylegan"])
def test_style_mixing_changes_only_the_targeted_layers(variant, device):
    """Each layer's style comes from its own w: mixing ws from another latent at layers >= k changes the styles of
    exactly those layers."""
    G = tiny_generator(variant=variant).to(device).eval()
    a = G.mapping(torch.randn(2, 8, device=device), None)
    b = G.mapping(torch.randn(2, 8, device=device), None)
    k = 3
    mixed = torch.cat([a[:, :k], b[:, k:]], dim=1)
    affines = [m for name, m in G.synthesis.named_modules() if name.endswith("affine")]

    def styles(ws):
        seen = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append(out.detach())) for m in affines]
        G.synthesis(ws, noise_mode="const")
        for h in hooks:
            h.remove()
        return seen

    s_a, s_b, s_mixed = styles(a), styles(b), styles(mixed)
    assert len(s_mixed) == len(affines)
    # Which w each affine layer received follows its position in the ws (ToRGB shares the next conv's w).
    for i, (sa, sb, sm) in enumerate(zip(s_a, s_b, s_mixed)):
        assert torch.equal(sm, sa) or torch.equal(sm, sb), f"layer {i} saw neither latent"
    assert any(torch.equal(sm, sa) for sa, sm in zip(s_a, s_mixed))
    assert any(torch.equal(sm, sb) for sb, sm in zip(s_b, s_mixed))
    assert torch.equal(s_mixed[0], s_a[0]) and torch.equal(s_mixed[-1], s_b[-1])


@pytest.mark.parametrize("variant", ["stylegan2", "stylegan"])
def test_noise_modes(variant, device):
    G = tiny_generator(variant=variant).to(device).eval()
    z = torch.randn(2, 8, device=device)
    assert torch.equal(G(z, noise_mode="const"), G(z, noise_mode="const"))
    assert torch.equal(G(z, noise_mode="none"), G(z, noise_mode="none"))
    assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
    assert not torch.equal(G(z, noise_mode="const"), G(z, noise_mode="none"))
    with pytest.raises(ValueError, match="noise_mode must be one of"):
        G(z, noise_mode="fixed")


@pytest.mark.parametrize("variant", ["stylegan2", "stylegan"])
def test_gradients_reach_every_parameter(variant, device):
    G = tiny_generator(variant=variant, c_dim=2).to(device).train()
    D = tiny_discriminator(c_dim=2).to(device).train()
    z, c = torch.randn(4, 8, device=device), torch.eye(2, device=device)[[0, 1, 1, 0]]
    D(G(z, c), c).square().sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            if variant == "stylegan" and "_torgb" in name and f"b{G.img_resolution}_torgb" not in name:
                continue  # the lower resolutions' ToRGB only take part while growing (test_progressive_growing)
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            if p.numel() > 1 or "noise" in name:
                assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_float16_blocks_stay_close_to_float32(device):
    G = tiny_generator(32, num_fp16_res=2, conv_clamp=256).to(device).eval()
    D = tiny_discriminator(32, num_fp16_res=2, conv_clamp=256).to(device)
    z = torch.randn(2, 8, device=device)
    img32 = G(z, noise_mode="const", force_fp32=True)
    img16 = G(z, noise_mode="const", force_fp32=False)
    assert img16.dtype == torch.float32
    assert relative_error(img16, img32) < 2e-2
    assert relative_error(D(img32, force_fp32=False), D(img32, force_fp32=True)) < 2e-2


def test_bfloat16_blocks_by_set_low_precision(device):
    G = tiny_generator(32, num_fp16_res=2, conv_clamp=256).to(device).eval()
    D = tiny_discriminator(32, num_fp16_res=2, conv_clamp=256).to(device)
    for net in (G, D):
        set_low_precision(net, torch.bfloat16)
    dtypes = {}
    G.synthesis.b32.conv1.register_forward_hook(lambda m, i, o: dtypes.update(G=o.dtype))
    D.b32.conv0.register_forward_hook(lambda m, i, o: dtypes.update(D=o.dtype))
    z = torch.randn(2, 8, device=device)
    img32 = G(z, noise_mode="const", force_fp32=True)
    img16 = G(z, noise_mode="const", force_fp32=False)
    assert img16.dtype == torch.float32 and dtypes["G"] == torch.bfloat16
    assert relative_error(img16, img32) < 5e-2  # bfloat16 keeps 8 bits of mantissa
    score16 = D(img32, force_fp32=False)
    assert dtypes["D"] == torch.bfloat16
    assert relative_error(score16, D(img32, force_fp32=True)) < 5e-2
    with pytest.raises(ValueError, match="dtype must be one of"):
        set_low_precision(G, torch.float64)


def test_progressive_growing_fades_in(device):
    G = tiny_generator(16, variant="stylegan").to(device).eval()
    ws = G.mapping(torch.randn(2, 8, device=device), None)
    full = G.synthesis(ws, noise_mode="const", resolution=8, alpha=1.0)
    assert full.shape == (2, 3, 8, 8)
    low = G.synthesis(ws, noise_mode="const", resolution=4)
    faded = G.synthesis(ws, noise_mode="const", resolution=8, alpha=0.0)
    torch.testing.assert_close(faded, torch.nn.functional.interpolate(low, scale_factor=2, mode="nearest"))
    half = G.synthesis(ws, noise_mode="const", resolution=8, alpha=0.5)
    torch.testing.assert_close(half, (full + faded) / 2)


def test_large_and_small_resolutions_build():
    for resolution in (4, 1024):
        G = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=resolution, img_channels=1,
                      synthesis_kwargs=dict(channel_base=resolution * 2, channel_max=2))
        assert G.num_ws == 2 * len(G.synthesis.block_resolutions)
        assert G.synthesis.block_resolutions[-1] == resolution


class TestBadInput:
    def test_resolution(self):
        for bad in (3, 48, 2):
            with pytest.raises(ValueError, match="img_resolution must be a power of two"):
                Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=bad, img_channels=3)
            with pytest.raises(ValueError, match="img_resolution must be a power of two"):
                Discriminator(c_dim=0, img_resolution=bad, img_channels=3)

    def test_variant(self):
        with pytest.raises(ValueError, match="variant must be one of"):
            Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3, variant="stylegan3")

    def test_latents_and_labels(self):
        G = tiny_generator(c_dim=2)
        with pytest.raises(ValueError, match=r"z must be a tensor of shape \[N, 8\]"):
            G(torch.randn(2, 5), torch.zeros(2, 2))
        with pytest.raises(ValueError, match=r"c must be a tensor of shape \[N, 2\]"):
            G(torch.randn(2, 8))

    def test_ws_shape(self):
        G = tiny_generator()
        with pytest.raises(ValueError, match="ws must have shape"):
            G.synthesis(torch.randn(2, G.num_ws + 1, 8))

    def test_image_shape_and_minibatch_group(self):
        D = tiny_discriminator()
        with pytest.raises(ValueError, match="img must have shape"):
            D(torch.randn(2, 3, 8, 8))
        with pytest.raises(ValueError, match="multiple of the group size"):
            D(torch.randn(6, 3, 16, 16))

    def test_impl(self):
        with pytest.raises(ValueError, match="impl must be"):
            set_impl(tiny_generator(), "cuda")
