"""torch.compile(fullgraph=True) over a module built from the ops: it must trace them (fake kernels) and agree with
eager mode, forward and backward."""

import pytest
import torch

from stylegan_ops import bias_act, downsample2d, setup_filter, upsample2d
from helpers import assert_matches


class Block(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.register_buffer("f", setup_filter([1, 3, 3, 1]))
        self.bias = torch.nn.Parameter(torch.randn(channels))

    def forward(self, x):
        x = upsample2d(x, self.f)
        x = bias_act(x, self.bias, act="lrelu", clamp=256)
        x = bias_act(x, act="swish")
        return downsample2d(x, self.f)


@pytest.mark.slow
def test_compile_fullgraph_matches_eager(device):
    block = Block(4).to(device)
    x = torch.randn(2, 4, 8, 8, device=device, requires_grad=True)
    compiled = torch.compile(block, fullgraph=True)
    outs = []
    for fn in (block, compiled):
        y = fn(x)
        (grad,) = torch.autograd.grad(y.square().sum(), x)
        outs.append((y, grad))
    assert_matches(outs[1][0], outs[0][0])
    assert_matches(outs[1][1], outs[0][1], rtol=1e-4, atol=1e-5)
