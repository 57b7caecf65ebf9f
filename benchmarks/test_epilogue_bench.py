"""The fused layer epilogues against their reference compositions and torch.compile of those, forward and
forward+backward, at StyleGAN sizes (a 1024x1024 plane on GPU only)."""

import pytest
import torch

from conftest import IMPLS, synchronize, with_impl
from stylegan_ops import adain, noise_bias_act, style_epilogue

SHAPES = [(16, 512, 8, 8), (16, 512, 32, 32), (4, 64, 256, 256)]
if torch.cuda.is_available():
    SHAPES.append((2, 32, 1024, 1024))


def layer_inputs(shape, device, requires_grad):
    n, c, h, w = shape

    def t(*s):
        return torch.randn(s, device=device, requires_grad=requires_grad)

    # One noise strength (StyleGAN2's) or one per channel (StyleGAN's).
    return dict(x=t(n, c, h, w), noise=t(n, 1, h, w), noise_strength=t(), channel_strengths=t(c), b=t(c),
                style_scale=t(n, c), style_bias=t(n, c))


# op: (function, its arguments from layer_inputs' tensors)
OPS = {
    "noise_bias_act": (noise_bias_act, lambda v: ((v["x"], v["noise"], v["noise_strength"], v["b"]), dict(clamp=256))),
    "adain": (adain, lambda v: ((v["x"], v["style_scale"], v["style_bias"]), {})),
    "style_epilogue": (style_epilogue, lambda v: ((v["x"], v["noise"], v["channel_strengths"], v["b"],
                                                   v["style_scale"], v["style_bias"]), {})),
}


def call(op, impl, v):
    """A function running `op` (fused, reference or compiled reference) on the inputs v."""
    fn, arguments = OPS[op]
    fn, (args, kwargs) = with_impl(fn, impl), arguments(v)
    return lambda: fn(*args, **kwargs)


def name(shape):
    return "x".join(map(str, shape))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=name)
@pytest.mark.parametrize("op", list(OPS))
def test_forward(measure, device, impl, shape, op):
    if shape[2] >= 1024 and device == "cpu":
        pytest.skip("1024x1024 planes are measured on GPU only")
    v = layer_inputs(shape, device, requires_grad=False)
    forward = call(op, impl, v)

    def run():
        y = forward()
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
    dy = torch.randn_like(call(op, "ref", v)())  # laid out like the output, as autograd would pass it
    forward = call(op, impl, v)

    def run():
        grads = torch.autograd.grad(forward(), inputs, dy, allow_unused=True)
        synchronize(device)
        return grads

    # At least: forward (read x, write y) and backward (read dy and x or y, write dx).
    measure(run, group=f"{op} fwd+bwd {name(shape)} {device}", impl=impl, device=device,
            bytes_moved=5 * v["x"].numel() * v["x"].element_size())
