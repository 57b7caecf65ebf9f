"""torch.compile(fullgraph=True) over a module built from the ops: it must trace them (fake kernels) and agree with
eager mode, forward and backward; with dynamic=True too, where shapes and float arguments become symbolic."""

import torch
from torch._dynamo.testing import CompileCounterWithBackend

from stylegan_ops import (adain, bias_act, downsample2d, filtered_lrelu, noise_bias_act, setup_filter, style_epilogue,
                          upsample2d)
from helpers import assert_matches


class Block(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("f", setup_filter([1, 3, 3, 1]))
        self.bias = torch.nn.Parameter(torch.randn(channels))
        self.strength = torch.nn.Parameter(torch.tensor(0.1))
        self.weight = torch.nn.Parameter(torch.randn(channels))

    def forward(self, x, noise, styles):
        x = upsample2d(x, self.f)
        x = noise_bias_act(x, noise, self.strength, self.bias, clamp=256)
        x = bias_act(x, act="swish")
        x = adain(x, 1 + styles, styles)
        x = style_epilogue(x, noise, self.weight, self.bias, 1 + styles, styles)
        return downsample2d(x, self.f)


def test_compile_fullgraph_matches_eager(device):
    block = Block(4).to(device)
    x = torch.randn(2, 4, 8, 8, device=device, requires_grad=True)
    noise = torch.randn(2, 1, 16, 16, device=device)
    styles = torch.randn(2, 4, device=device, requires_grad=True)
    compiled = torch.compile(block, fullgraph=True)
    outs = []
    for fn in (block, compiled):
        y = fn(x, noise, styles)
        (grad,) = torch.autograd.grad(y.square().sum(), x)
        outs.append((y, grad))
    assert_matches(outs[1][0], outs[0][0])
    assert_matches(outs[1][1], outs[0][1], rtol=1e-4, atol=1e-5)


def layer_with_float_arguments(x, noise, styles, f, gain, slope, clamp):
    """The ops whose argument checks read floats, each given floats that dynamo traces as symbols."""
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    x = noise_bias_act(x, noise, torch.tensor(0.5), None, gain=gain, clamp=clamp)
    x = adain(x, 1 + styles, styles, eps=slope * 1e-6)
    return filtered_lrelu(x, f, f, up=2, down=2, padding=2, gain=gain, slope=slope, clamp=clamp)


def test_compile_dynamic_fullgraph_traces_float_arguments():
    # The ops' schemas take floats, so dynamo specialises on the float values (a new set recompiles) but keeps the
    # shapes symbolic: the second size of the first floats compiles nothing new.
    f = setup_filter([1, 3, 3, 1])
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(layer_with_float_arguments, fullgraph=True, dynamic=True, backend=counter)
    for size, floats in ((8, (1.5, 0.2, 4.0)), (12, (1.5, 0.2, 4.0)), (10, (0.7, 0.1, 2.5))):
        x = torch.randn(2, 3, size, size, requires_grad=True)
        args = (x, torch.randn(2, 1, size, size), torch.randn(2, 3), f, *floats)
        outs = []
        for fn in (layer_with_float_arguments, compiled):
            y = fn(*args)
            outs.append((y, *torch.autograd.grad(y.square().sum(), x)))
        for actual, expected in zip(outs[1], outs[0]):
            assert_matches(actual, expected, rtol=1e-4, atol=1e-5)
        if size == 8:
            compiled_for_first_size = counter.frame_count
        elif size == 12:
            assert counter.frame_count == compiled_for_first_size
