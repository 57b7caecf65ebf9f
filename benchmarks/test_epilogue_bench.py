"""The fused layer epilogues against their reference compositions, forward and forward+backward, at StyleGAN sizes
(a 1024x1024 plane on GPU only)."""

import pytest
import torch

from conftest import synchronize
from stylegan_ops import adain, noise_bias_act, style_epilogue

SHAPES = [(16, 512, 8, 8), (16, 512, 32, 32), (4, 64, 256, 256)]
if torch.cuda.is_available():
    SHAPES.append((2, 32, 1024, 1024))
IMPLS = ["fused", "ref"]


def layer_inputs(shape, device, requires_grad):
    n, c, h, w = shape

    def t(*s):
        return torch.randn(s, device=device, requires_grad=requires_grad)

    # One noise strength (StyleGAN2's) or one per channel (StyleGAN's).
    return dict(x=t(n, c, h, w), noise=t(n, 1, h, w), noise_strength=t(), channel_strengths=t(c), b=t(c),
                style_scale=t(n, c), style_bias=t(n, c))


OPS = {
    "noise_bias_act": lambda v, impl: noise_bias_act(v["x"], v["noise"], v["noise_strength"], v["b"], clamp=256,
                                                     impl=impl),
    "adain": lambda v, impl: adain(v["x"], v["style_scale"], v["style_bias"], impl=impl),
    "style_epilogue": lambda v, impl: style_epilogue(v["x"], v["noise"], v["channel_strengths"], v["b"],
                                                     v["style_scale"], v["style_bias"], impl=impl),
}


def name(shape):
    return "x".join(map(str, shape))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=name)
@pytest.mark.parametrize("op", list(OPS))
def test_forward(measure, device, impl, shape, op):
    if shape[2] >= 1024 and device == "cpu":
        pytest.skip("1024x1024 planes are measured on GPU only")
    v = layer_inputs(shape, device, requires_grad=False)

    def run():
        y = OPS[op](v, impl)
        synchronize(device)
        return y

    # At least: read x once, write y (noise, bias and styles are 1/C of that or less).
    measure(run, group=f"{op} fwd {name(shape)} {device}", impl=impl, device=device,
            bytes_moved=2 * v["x"].numel() * v["x"].element_size())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=name)
@pytest.mark.parametrize("op", list(OPS))
def test_forward_backward(measure, device, impl, shape, op):
    if shape[2] >= 1024 and device == "cpu":
        pytest.skip("1024x1024 planes are measured on GPU only")
    v = layer_inputs(shape, device, requires_grad=True)
    inputs = [t for t in v.values() if t.requires_grad]
    dy = torch.randn_like(OPS[op](v, "ref"))  # laid out like the output, as autograd would pass it

    def run():
        grads = torch.autograd.grad(OPS[op](v, impl), inputs, dy, allow_unused=True)
        synchronize(device)
        return grads

    # At least: forward (read x, write y) and backward (read dy and x or y, write dx).
    measure(run, group=f"{op} fwd+bwd {name(shape)} {device}", impl=impl, device=device,
            bytes_moved=5 * v["x"].numel() * v["x"].element_size())
