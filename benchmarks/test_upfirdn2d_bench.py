"""upsample2d and downsample2d with the [1, 3, 3, 1] filter, fused vs reference vs
torch.compile(reference): forward and forward+backward."""

import pytest
import torch

from conftest import IMPLS, synchronize, with_impl
from stylegan_ops import downsample2d, setup_filter, upsample2d

SHAPE = (8, 256, 128, 128)
RESAMPLERS = {"upsample2d": (upsample2d, 4.0), "downsample2d": (downsample2d, 0.25)}  # fn, output/input size


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("resampler", list(RESAMPLERS))
def test_forward(measure, device, impl, memory_format, resampler):
    fn, ratio = RESAMPLERS[resampler]
    x = torch.randn(SHAPE, device=device).to(memory_format=memory_format)
    f = setup_filter([1, 3, 3, 1], device=device)
    op = with_impl(fn, impl)

    def run():
        y = op(x, f)
        synchronize(device)
        return y

    layout = "nhwc" if memory_format == torch.channels_last else "nchw"
    measure(run, group=f"{resampler} [1,3,3,1] fwd {'x'.join(map(str, SHAPE))} {layout} {device}", impl=impl,
            device=device, bytes_moved=int((1 + ratio) * x.numel() * x.element_size()))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("resampler", list(RESAMPLERS))
def test_forward_backward(measure, device, impl, resampler):
    fn, ratio = RESAMPLERS[resampler]
    x = torch.randn(SHAPE, device=device, requires_grad=True)
    f = setup_filter([1, 3, 3, 1], device=device)
    dy = torch.randn_like(fn(x.detach(), f, impl="ref"))
    op = with_impl(fn, impl)

    def run():
        (grad,) = torch.autograd.grad(op(x, f), x, dy)
        synchronize(device)
        return grad

    # forward: read x, write y; backward: read dy, write dx.
    measure(run, group=f"{resampler} [1,3,3,1] fwd+bwd {'x'.join(map(str, SHAPE))} nchw {device}", impl=impl,
            device=device, bytes_moved=int(2 * (1 + ratio) * x.numel() * x.element_size()))
