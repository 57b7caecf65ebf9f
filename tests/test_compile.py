"""torch.compile(fullgraph=True) over a module built from the ops: it must trace them (fake kernels) and agree with
eager mode, forward and backward."""

import torch

from stylegan_ops import adain, bias_act, downsample2d, noise_bias_act, setup_filter, style_epilogue, upsample2d
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
