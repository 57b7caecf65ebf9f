"""bias_act, fused vs reference vs torch.compile(reference): forward and forward+backward at StyleGAN layer sizes."""

import pytest
import torch

from conftest import IMPLS, synchronize, with_impl
from stylegan_ops import bias_act

# (name, shape, memory format): a 64x64 synthesis layer, the same in channels_last, and a 4x4 layer.
CASES = [
    ("16x512x64x64", (16, 512, 64, 64), torch.contiguous_format),
    ("16x512x64x64 channels_last", (16, 512, 64, 64), torch.channels_last),
    ("64x512x4x4", (64, 512, 4, 4), torch.contiguous_format),
]


def inputs(shape, memory_format, device, requires_grad=False):
    x = torch.randn(shape, device=device).to(memory_format=memory_format).requires_grad_(requires_grad)
    b = torch.randn(shape[1], device=device, requires_grad=requires_grad)
    return x, b


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,shape,memory_format", CASES, ids=[c[0] for c in CASES])
def test_forward(measure, device, impl, name, shape, memory_format):
    x, b = inputs(shape, memory_format, device)
    op = with_impl(bias_act, impl)

    def run():
        y = op(x, b, act="lrelu", clamp=256)
        synchronize(device)
        return y

    measure(run, group=f"bias_act lrelu fwd {name} {device}", impl=impl, device=device,
            bytes_moved=2 * x.numel() * x.element_size())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,shape,memory_format", CASES, ids=[c[0] for c in CASES])
def test_forward_backward(measure, device, impl, name, shape, memory_format):
    x, b = inputs(shape, memory_format, device, requires_grad=True)
    dy = torch.randn_like(x)
    op = with_impl(bias_act, impl)

    def run():
        y = op(x, b, act="lrelu", clamp=256)
        grads = torch.autograd.grad(y, (x, b), dy)
        synchronize(device)
        return grads

    # forward: read x, write y; backward: read dy and y, write dx; bias gradient: read dx.
    measure(run, group=f"bias_act lrelu fwd+bwd {name} {device}", impl=impl, device=device,
            bytes_moved=6 * x.numel() * x.element_size())
