"""conv3x3, fused (Winograd F(4x4, 3x3) on the CPU, cuDNN on CUDA) vs reference (torch's conv2d): forward and
forward + backward at the sizes of the default 32x32 run's layers (64 channels; batch 32) and at a wider layer."""

import pytest
import torch

from conftest import IMPLS, synchronize, with_impl
from stylegan_ops import conv3x3

# (name, x shape, memory format)
CASES = [
    ("32x64x32x32 channels_last", (32, 64, 32, 32), torch.channels_last),
    ("32x64x32x32", (32, 64, 32, 32), torch.contiguous_format),
    ("32x64x16x16 channels_last", (32, 64, 16, 16), torch.channels_last),
    ("8x256x32x32 channels_last", (8, 256, 32, 32), torch.channels_last),
]


def inputs(shape, memory_format, device, requires_grad=False):
    x = torch.randn(shape, device=device).to(memory_format=memory_format).requires_grad_(requires_grad)
    w = (torch.randn(shape[1], shape[1], 3, 3, device=device) / (3 * shape[1] ** 0.5)).requires_grad_(requires_grad)
    return x, w


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,shape,memory_format", CASES, ids=[c[0] for c in CASES])
def test_forward(measure, device, impl, name, shape, memory_format):
    x, w = inputs(shape, memory_format, device)
    op = with_impl(conv3x3, impl)

    def run():
        y = op(x, w)
        synchronize(device)
        return y

    measure(run, group=f"conv3x3 fwd {name} {device}", impl=impl, device=device)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,shape,memory_format", CASES, ids=[c[0] for c in CASES])
def test_forward_backward(measure, device, impl, name, shape, memory_format):
    x, w = inputs(shape, memory_format, device, requires_grad=True)
    dy = torch.randn(shape, device=device).to(memory_format=memory_format)
    op = with_impl(conv3x3, impl)

    def run():
        torch.autograd.grad(op(x, w), (x, w), dy)
        synchronize(device)

    measure(run, group=f"conv3x3 fwd+bwd {name} {device}", impl=impl, device=device)
