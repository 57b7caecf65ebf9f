"""The edges of the kernels' work decomposition, on every backend (CPU kernels, the emulated CUDA kernels, CUDA).

Shapes are chosen around the CUDA kernels' tiles, vectors, lanes and chunks (csrc/cuda/*.cu): one past a tile,
vector tails, misaligned storage, channel counts that wrap a vector, planes that span several chunks, more planes or
items than the grid has blocks (the emulated device has 2 multiprocessors and a grid of at most 3 along z, so the
grid-stride loops wrap), and every tiled configuration of upfirdn2d. The CPU kernels must agree as well.
"""

import pytest
import torch

from stylegan_ops import adain, bias_act, noise_bias_act, style_epilogue, upfirdn2d
from helpers import assert_matches

# upfirdn2d's tiled configurations: (up, down) the same on both axes, filters up to 4 and 8 taps (2-D), separable
# passes up to 8 and 16 taps, and tiles of 32x32, 64x32 and 16x16 (2-D), 128x8 (rows) and 32x32 (columns).
RESAMPLING = [(1, 1), (2, 1), (1, 2), (4, 1), (1, 4)]
FILTERS = {"2d-4": (4, 4), "2d-3x2": (3, 2), "2d-8": (8, 8), "2d-5x7": (5, 7), "sep-8": (8,), "sep-12": (12,),
           "sep-16": (16,)}
TILES = {(1, 1): (32, 32), (2, 1): (64, 32), (1, 2): (32, 32), (4, 1): (64, 32), (1, 4): (16, 16)}


def input_size(out, up, down, taps, pad):
    """The input extent that gives `out` output pixels (or one more) with this resampling and padding."""
    return max(1, -(-((out - 1) * down + taps - 2 * pad) // up))


@pytest.mark.parametrize("up,down", RESAMPLING, ids=str)
@pytest.mark.parametrize("filt", sorted(FILTERS))
def test_upfirdn2d_tiles_and_their_edges(up, down, filt, device):
    f_shape = FILTERS[filt]
    taps_w = f_shape[-1]
    taps_h = f_shape[0]
    tile_w, tile_h = TILES[(up, down)]
    if len(f_shape) == 1:
        tile_w, tile_h = 128, 32  # the row pass's tile width, the column pass's tile height
    pad = (taps_w // 2, (taps_w - 1) // 2, taps_h // 2 + 1, taps_h // 2 - 1)
    # One output pixel past a tile in each direction, seven planes (more than the grid's 3 along z).
    w = input_size(tile_w + 1, up, down, taps_w, pad[0])
    h = input_size(tile_h + 1, up, down, taps_h, pad[2])
    x = torch.randn(1, 7, h, w, dtype=torch.float64, device=device)
    f = torch.randn(f_shape, dtype=torch.float64, device=device)
    for flip in (False, True):
        kwargs = dict(up=up, down=down, padding=pad, flip_filter=flip, gain=1.5)
        assert_matches(upfirdn2d(x, f, impl="fused", **kwargs), upfirdn2d(x, f, impl="ref", **kwargs))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("up,down,taps", [(3, 1, 4), (1, 3, 4), (2, 1, 17), ((1, 2), (2, 1), 4)], ids=str)
def test_upfirdn2d_generic_kernel(layout, up, down, taps, device):
    # No tiled configuration: channels_last, up or down 3, more than 16 taps, different resampling per axis.
    x = torch.randn(2, 5, 11, 13, dtype=torch.float64, device=device)
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
    f = torch.randn(taps, taps, dtype=torch.float64, device=device)
    kwargs = dict(up=up, down=down, padding=(taps // 2, taps // 2 - 1, taps // 2, -1))
    assert_matches(upfirdn2d(x, f, impl="fused", **kwargs), upfirdn2d(x, f, impl="ref", **kwargs))


def elementwise_inputs(numel_extra, dtype, device, misaligned):
    """[N, C, H, W] with C = 7 (wraps every vector width) and numel a few past a multiple of 8, in storage that is
    16-byte aligned or not."""
    shape = (3, 7, 40, 40 + numel_extra)
    numel = torch.Size(shape).numel()
    storage = torch.randn(numel + 1, dtype=dtype, device=device)
    x = (storage[1:] if misaligned else storage[:-1]).view(shape)
    assert (x.data_ptr() % 16 != 0) == misaligned
    return x


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@pytest.mark.parametrize("misaligned", [False, True], ids=["aligned", "misaligned"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_bias_act_vectors_and_grid_wrap(dtype, misaligned, layout, device):
    # 33,600+ elements: the emulated grid (32 blocks of 256 threads) wraps for every vector width.
    x = elementwise_inputs(1, dtype, device, misaligned)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    tol = {} if dtype != torch.float16 else dict(atol=2e-3, rtol=2e-3)
    for act, dim in (("lrelu", 1), ("swish", 3), ("linear", -1)):
        bias = torch.randn(x.shape[dim], dtype=dtype, device=device)
        # Without clamp in float16, where values within an ulp of the bound may round either way.
        kwargs = dict(dim=dim, act=act, clamp=0.9 if dtype != torch.float16 else None)
        dy = torch.randn_like(x)
        results = {}
        for impl, t in (("fused", dtype), ("ref", torch.float64)):
            xt = x.to(t).requires_grad_(True)
            y = bias_act(xt, bias.to(t), impl=impl, **kwargs)
            results[impl] = [v.to(dtype) for v in (y, *torch.autograd.grad(y, xt, dy.to(t)))]
        for fused, ref in zip(results["fused"], results["ref"]):
            assert_matches(fused, ref, **tol)


@pytest.mark.parametrize("misaligned", [False, True], ids=["aligned", "misaligned"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_noise_bias_act_vectors_and_grid_wrap(misaligned, layout, device):
    x = elementwise_inputs(3, torch.float32, device, misaligned)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    noise = torch.randn(n, 1, h, w, device=device)
    strength, b = torch.randn(c, device=device), torch.randn(c, device=device)
    assert_matches(noise_bias_act(x, noise, strength, b, act="lrelu", clamp=1.1, impl="fused"),
                   noise_bias_act(x, noise, strength, b, act="lrelu", clamp=1.1, impl="ref"))


# Plane sizes around the adain kernels' lanes (32..256 per plane, a power of two) and chunks (lanes x 16
# pixels): one plane per lane and less, a block of 8 planes, a plane that needs two and three chunks, vector tails.
PLANES = [(1, 1), (4, 8), (5, 7), (8, 4), (16, 16), (16, 17), (64, 64), (64, 65), (96, 96)]


@pytest.mark.parametrize("hw", PLANES, ids=str)
@pytest.mark.parametrize("channels", [3, 33])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_adain_lanes_chunks_and_items(hw, channels, layout, device):
    # batch 3 x 33 channels: groups of planes that do not fill the last block, and more block items than blocks.
    x = torch.randn(3, channels, *hw, dtype=torch.float64, device=device) * 2 + 0.5
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    scale = torch.randn(3, channels, dtype=torch.float64, device=device)
    bias = torch.randn(3, channels, dtype=torch.float64, device=device)
    noise = torch.randn(3, 1, *hw, dtype=torch.float64, device=device)
    strength = torch.randn(channels, dtype=torch.float64, device=device)
    b = torch.randn(channels, dtype=torch.float64, device=device)
    dy = torch.randn_like(x)
    for op, extra in ((adain, ()), (style_epilogue, (noise, strength, b))):
        results = {}
        for impl in ("fused", "ref"):
            inputs = [t.detach().requires_grad_(True) for t in (x, scale, bias)]
            if op is adain:
                y = adain(inputs[0], inputs[1], inputs[2], impl=impl)
            else:
                y = style_epilogue(inputs[0], *extra, inputs[1], inputs[2], alpha=0.2, gain=1.4, impl=impl)
            results[impl] = (y, *torch.autograd.grad(y, inputs, dy))
        for fused, ref in zip(results["fused"], results["ref"]):
            assert_matches(fused, ref)
