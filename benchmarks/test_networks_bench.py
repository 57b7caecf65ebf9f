"""Whole networks on the fused ops against the same networks on the reference ops, and against torch.compile of the
reference ('compiled', compiled before timing): the StyleGAN2 generator's forward (batch 8, channel_base 16384) and
the StyleGAN3-T generator's (NVIDIA's defaults, 256x256, batch 4). Training steps: test_training_bench.py."""

import pytest
import torch

from conftest import synchronize
from stylegan.networks import Generator, set_impl

IMPLS = ["fused", "ref", "compiled"]
CONFIG = dict(channel_base=16384, channel_max=512)


def generator(resolution, device, variant="stylegan2"):
    torch.manual_seed(0)
    return Generator(512, 0, 512, resolution, 3, variant=variant,
                     synthesis_kwargs=CONFIG if variant == "stylegan2" else {}).to(device)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("variant, resolution, batch", [("stylegan2", 64, 8), ("stylegan2", 256, 8),
                                                        ("stylegan3-t", 256, 4)])
def test_generator_forward(measure, device, impl, variant, resolution, batch):
    G = set_impl(generator(resolution, device, variant).eval(), "ref" if impl == "compiled" else impl)
    if impl == "compiled":
        G = torch.compile(G)
    z = torch.randn(batch, 512, device=device)
    with torch.no_grad():
        G(z, noise_mode="const")  # warm-up (and, compiled, the compilation)

    def run():
        with torch.no_grad():
            img = G(z, noise_mode="const")
        synchronize(device)
        return img

    name = "G" if variant == "stylegan2" else f"{variant} G"
    measure(run, group=f"{name} forward {resolution}x{resolution} batch {batch} {device}", impl=impl, device=device)
