"""Whole networks on the fused ops against the same networks on the reference ops: the StyleGAN2 generator's
forward (batch 8, channel_base 16384) and a generator + discriminator training step."""

import pytest
import torch

from conftest import synchronize
from stylegan.networks import Discriminator, Generator, set_impl

IMPLS = ["fused", "ref"]
CONFIG = dict(channel_base=16384, channel_max=512)


def generator(resolution, device):
    torch.manual_seed(0)
    return Generator(512, 0, 512, resolution, 3, synthesis_kwargs=CONFIG).to(device)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("resolution", [64, 256])
def test_generator_forward(measure, device, impl, resolution):
    G = set_impl(generator(resolution, device).eval(), impl)
    z = torch.randn(8, 512, device=device)

    def run():
        with torch.no_grad():
            img = G(z, noise_mode="const")
        synchronize(device)
        return img

    measure(run, group=f"G forward {resolution}x{resolution} batch 8 {device}", impl=impl, device=device)


@pytest.mark.parametrize("impl", IMPLS)
def test_training_step(measure, device, impl):
    resolution = 64
    G = set_impl(generator(resolution, device).train(), impl)
    torch.manual_seed(1)
    D = set_impl(Discriminator(0, resolution, 3, **CONFIG).to(device), impl)
    z = torch.randn(8, 512, device=device)

    def run():
        # The non-saturating generator and discriminator losses, forward and backward through both networks.
        loss = torch.nn.functional.softplus(-D(G(z))).mean() + torch.nn.functional.softplus(D(G(z).detach())).mean()
        loss.backward()
        synchronize(device)

    measure(run, group=f"G+D step {resolution}x{resolution} batch 8 {device}", impl=impl, device=device)
