"""StyleGAN3 (alias-free, configurations T and R): NVIDIA's structure and names, the same images as NVIDIA's code
from the same weights, and the magnitude EMAs.

tests/data/stylegan3_nvidia_outputs.safetensors holds two small random generators made by NVIDIA's StyleGAN3 code
(16x16, z_dim = w_dim = 8, T and R), their state dicts (NVIDIA's parameter names), magnitude EMAs and w_avg set to
random values, the latents z, and the images NVIDIA's code made from them: psi 1, psi 0.7, and with the input
transform `transform` (the inverse of a 20 degree rotation and a translation). Written once with NVIDIA's code run
locally; that code is not part of this repository."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from stylegan.networks import Generator, set_impl
from stylegan.networks.synthesis_alias_free import AliasFreeSynthesisNetwork, design_lowpass_filter
from helpers import assert_matches

NVIDIA_OUTPUTS = Path(__file__).parent / "data" / "stylegan3_nvidia_outputs.safetensors"


def nvidia_generator(variant: str):
    """(our Generator with the NVIDIA-made weights, {name: tensor} of that variant's file entries)."""
    with safe_open(NVIDIA_OUTPUTS, "pt") as f:
        kwargs = json.loads(f.metadata()[variant])
        entries = {k: f.get_tensor(k) for k in f.keys()}
    G = Generator(8, 0, 8, 16, 3, variant=variant, synthesis_kwargs=kwargs)
    prefix = f"{variant}/"
    G.load_state_dict({k[len(prefix):]: v for k, v in entries.items()
                       if k.startswith(prefix) and not k.startswith(prefix + "images")})
    return G.eval(), entries


@pytest.mark.parametrize("impl", ["ref", "fused"])
@pytest.mark.parametrize("variant", ["stylegan3-t", "stylegan3-r"])
def test_same_images_as_nvidia_from_the_same_weights(variant, impl):
    G, entries = nvidia_generator(variant)
    set_impl(G, impl)
    z = entries["z"]
    with torch.no_grad():
        assert_matches(G(z), entries[f"{variant}/images"], rtol=0, atol=2e-4)
        assert_matches(G(z, truncation_psi=0.7), entries[f"{variant}/images_psi0.7"], rtol=0, atol=2e-4)
        G.synthesis.input.transform.copy_(entries["transform"])
        assert_matches(G(z), entries[f"{variant}/images_transformed"], rtol=0, atol=2e-4)
        assert (G(z) - entries[f"{variant}/images"]).abs().max() > 1e-2  # the transform changes the images


@pytest.mark.parametrize("variant, channels, radial", [("stylegan3-t", (512, 323, 203, 128, 81, 51, 32), False),
                                                       ("stylegan3-r", (1024, 645, 406, 256, 161, 102, 64), True)])
def test_structure_and_names_at_1024_match_nvidia(variant, channels, radial):
    G = Generator(512, 0, 512, 1024, 3, variant=variant)
    s = G.synthesis
    c = channels
    assert s.layer_names == [f"L0_36_{c[0]}", f"L1_36_{c[0]}", f"L2_52_{c[0]}", f"L3_52_{c[0]}", f"L4_84_{c[0]}",
                             f"L5_148_{c[0]}", f"L6_148_{c[0]}", f"L7_276_{c[1]}", f"L8_276_{c[2]}",
                             f"L9_532_{c[3]}", f"L10_1044_{c[4]}", f"L11_1044_{c[5]}", f"L12_1044_{c[6]}",
                             f"L13_1024_{c[6]}", "L14_1024_3"]
    assert G.num_ws == 16 and G.mapping.num_layers == 2
    assert [name for name in s.layer_names if getattr(s, name).use_fp16] == s.layer_names[5:]
    first, second = s.L0_36_512 if variant == "stylegan3-t" else s.L0_36_1024, getattr(s, s.layer_names[2])
    assert first.weight.shape[2:] == ((3, 3) if variant == "stylegan3-t" else (1, 1))
    assert first.up_filter.shape == (12,) and second.up_filter.shape == (24,)
    assert first.down_filter.shape == ((12, 12) if radial else (12,))
    assert first.padding == ([11, 10, 11, 10] if radial else [9, 8, 9, 8])
    last = getattr(s, s.layer_names[-2])  # critically sampled: never radial
    assert last.down_filter is None or last.down_filter.ndim == 1
    assert getattr(s, "L14_1024_3").up_filter is None and getattr(s, "L14_1024_3").down_filter is None
    assert [n for n, _ in s.input.named_buffers()] == ["transform", "freqs", "phases"]


def test_lowpass_filters():
    f = design_lowpass_filter(12, cutoff=2, width=2, fs=16)
    assert f.shape == (12,) and torch.allclose(f.sum(), torch.tensor(1.0)) and torch.equal(f, f.flip(0))
    r = design_lowpass_filter(12, cutoff=2, width=2, fs=16, radial=True)
    assert r.shape == (12, 12) and torch.allclose(r.sum(), torch.tensor(1.0)) and torch.equal(r, r.t())
    assert design_lowpass_filter(1, 2, 2, 16) is None
    with pytest.raises(ValueError, match="numtaps"):
        design_lowpass_filter(0, 2, 2, 16)


def test_magnitude_emas_update_only_when_asked():
    G, entries = nvidia_generator("stylegan3-t")
    ws = G.mapping(entries["z"], None)
    before = {n: b.clone() for n, b in G.named_buffers() if n.endswith("magnitude_ema")}
    G.synthesis(ws)
    assert all(torch.equal(b, before[n]) for n, b in G.named_buffers() if n.endswith("magnitude_ema"))
    G.synthesis(ws, update_emas=True)
    layer = getattr(G.synthesis, G.synthesis.layer_names[0])
    x = G.synthesis.input(ws[:, 0])
    expected = x.square().mean().lerp(before[f"synthesis.{G.synthesis.layer_names[0]}.magnitude_ema"], 0.999)
    assert torch.allclose(layer.magnitude_ema, expected)


def test_gradients_flow_to_ws_and_every_parameter():
    G, entries = nvidia_generator("stylegan3-r")
    ws = G.mapping(entries["z"], None).detach().requires_grad_(True)
    G.synthesis(ws).square().sum().backward()
    # w 0 acts through the input's affine, whose weight starts at zero (the identity transform for every w).
    assert ws.grad[:, 0].eq(0).all() and ws.grad[:, 1:].abs().sum(dim=(0, 2)).gt(0).all()
    assert [n for n, p in G.synthesis.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_critical"):
        AliasFreeSynthesisNetwork(8, 16, 3, num_layers=2, num_critical=2)
    with pytest.raises(ValueError, match="variant"):
        Generator(8, 0, 8, 16, 3, variant="stylegan3-x")
    G, _ = nvidia_generator("stylegan3-t")
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.zeros(1, 3, 8))
