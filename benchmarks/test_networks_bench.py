"""Whole networks on the fused ops against the same networks on the reference ops, and against torch.compile of the
reference ('compiled', compiled before timing): the StyleGAN2 generator's forward (batch 8, channel_base 16384).
Training steps: test_training_bench.py."""

import pytest
import torch

from conftest import synchronize
from stylegan.networks import Generator, set_impl

IMPLS = ["fused", "ref", "compiled"]
CONFIG = dict(channel_base=16384, channel_max=512)


def generator(resolution, device):
    torch.manual_seed(0)
    return Generator(512, 0, 512, resolution, 3, synthesis_kwargs=CONFIG).to(device)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("resolution", [64, 256])
def test_generator_forward(measure, device, impl, resolution):
    G = set_impl(generator(resolution, device).eval(), "ref" if impl == "compiled" else impl)
    if impl == "compiled":
        G = torch.compile(G)
    z = torch.randn(8, 512, device=device)
    with torch.no_grad():
        G(z, noise_mode="const")  # warm-up (and, compiled, the compilation)

    def run():
        with torch.no_grad():
            img = G(z, noise_mode="const")
        synchronize(device)
        return img

    measure(run, group=f"G forward {resolution}x{resolution} batch 8 {device}", impl=impl, device=device)
