"""filtered_lrelu on StyleGAN3-sized layers: fused vs reference vs torch.compile(reference), forward and
forward+backward. The issue's target layer: 8x128x52x52, up 2 and down 2 with 12-tap separable filters; also up 4
(24 and 12 taps) and a critically sampled output layer."""

import math

import pytest
import torch

from conftest import IMPLS, synchronize, with_impl
from stylegan_ops import filtered_lrelu, setup_filter

# name: (x shape, up, down, fu taps, fd taps)
LAYERS = {
    "up2 down2 12 taps": ((8, 128, 52, 52), 2, 2, 12, 12),
    "up4 down2 24/12 taps": ((4, 64, 36, 36), 4, 2, 24, 12),
    "critical up2 down2 12 taps": ((2, 32, 138, 138), 2, 2, 12, 12),
}


def make_call(name, device, requires_grad=False):
    shape, up, down, fu_taps, fd_taps = LAYERS[name]
    lowpass = lambda taps: setup_filter(torch.hann_window(taps + 2, periodic=False)[1:-1], separable=True,
                                        device=device)
    fu, fd = lowpass(fu_taps), lowpass(fd_taps)
    pad = fu_taps + fd_taps - 2 + up - 1
    x = torch.randn(shape, device=device, requires_grad=requires_grad)
    b = torch.zeros(shape[1], device=device, requires_grad=requires_grad)
    kwargs = dict(up=up, down=down, padding=[pad // 2, pad - pad // 2] * 2, gain=math.sqrt(2), clamp=256.0)
    return x, fu, fd, b, kwargs


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward(measure, device, impl, layer):
    x, fu, fd, b, kwargs = make_call(layer, device)
    fn = with_impl(filtered_lrelu, impl)

    def run():
        with torch.no_grad():
            y = fn(x, fu, fd, b, **kwargs)
        synchronize(device)
        return y

    measure(run, group=f"filtered_lrelu {layer} fwd {'x'.join(map(str, x.shape))} {device}", impl=impl, device=device)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward_backward(measure, device, impl, layer):
    x, fu, fd, b, kwargs = make_call(layer, device, requires_grad=True)
    fn = with_impl(filtered_lrelu, impl)
    dy = torch.randn_like(filtered_lrelu(x.detach(), fu, fd, b.detach(), impl="ref", **kwargs))

    def run():
        grads = torch.autograd.grad(fn(x, fu, fd, b, **kwargs), [x, b], dy)
        synchronize(device)
        return grads

    measure(run, group=f"filtered_lrelu {layer} fwd+bwd {'x'.join(map(str, x.shape))} {device}", impl=impl,
            device=device)
