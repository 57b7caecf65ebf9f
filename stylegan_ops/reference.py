"""Pure-PyTorch reference implementations of the ops: slow and obvious, the oracle of the tests and the fallback when
the compiled kernels are unavailable. They take arguments already checked and resolved by the public functions."""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .activations import ACTIVATIONS


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor], dim: int, act: str, alpha: float, gain: float,
             clamp: Optional[float]) -> torch.Tensor:
    """clamp(act(x + b) * gain), one PyTorch op per step."""
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = ACTIVATIONS[act].fn(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def filter_size(f: torch.Tensor):
    """(width, height) of an upfirdn2d filter; a 1-D filter is separable, as tall as it is wide."""
    return f.shape[-1], f.shape[0]


def upfirdn2d_output_size(size: Sequence[int], f: torch.Tensor, up: Sequence[int], down: Sequence[int],
                          padding: Sequence[int]):
    """(height, width) of upfirdn2d's output for an input of `size` (H, W): along each axis
    (in * up + pad0 + pad1 - taps) // down + 1. The kernels' front end computes it too (csrc/upfirdn2d_impl.h)."""
    fw, fh = filter_size(f)
    height = (size[0] * up[1] + padding[2] + padding[3] - fh) // down[1] + 1
    width = (size[1] * up[0] + padding[0] + padding[1] - fw) // down[0] + 1
    return height, width


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: Sequence[int], down: Sequence[int], padding: Sequence[int],
              flip_filter: bool, gain: float) -> torch.Tensor:
    """Upsample by zero insertion, pad or crop, convolve each channel with f, keep every down-th pixel."""
    up_x, up_y = up
    down_x, down_y = down
    pad_x0, pad_x1, pad_y0, pad_y1 = padding
    n, c, h, w = x.shape
    if x.numel() == 0:  # zeros (the grouped convolution below would take no channels), still in x's autograd graph
        return x.new_zeros([n, c, *upfirdn2d_output_size((h, w), f, up, down, padding)]) + x.sum()

    # Insert up-1 zeros after every pixel.
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up_x - 1, 0, 0, 0, up_y - 1])
    x = x.reshape(n, c, h * up_y, w * up_x)

    # Pad with zeros, then crop where the padding is negative.
    x = F.pad(x, [max(pad_x0, 0), max(pad_x1, 0), max(pad_y0, 0), max(pad_y1, 0)])
    x = x[:, :, max(-pad_y0, 0):x.shape[2] - max(-pad_y1, 0), max(-pad_x0, 0):x.shape[3] - max(-pad_x1, 0)]

    # A true convolution: conv2d correlates, so flip the filter unless asked not to. The gain scales the output
    # once: the whole filter when 2-D, the row pass when separable.
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    scaled = (f.to(torch.promote_types(f.dtype, x.dtype)) * gain).to(x.dtype)  # in float64 for float64 x
    if f.ndim == 2:
        x = F.conv2d(x, scaled[None, None].expand(c, 1, -1, -1), groups=c)
    else:
        x = F.conv2d(x, scaled[None, None, None, :].expand(c, 1, 1, -1), groups=c)
        x = F.conv2d(x, f.to(x.dtype)[None, None, :, None].expand(c, 1, -1, 1), groups=c)

    return x[:, :, ::down_y, ::down_x]


def per_channel(v: torch.Tensor) -> torch.Tensor:
    """A noise_strength of one value or one per channel, shaped to broadcast over [N, C, H, W]."""
    return v.reshape([]) if v.numel() == 1 else v.reshape(1, -1, 1, 1)


def noise_bias_act(x: torch.Tensor, noise: Optional[torch.Tensor], noise_strength: Optional[torch.Tensor],
                   b: Optional[torch.Tensor], act: str, alpha: float, gain: float,
                   clamp: Optional[float]) -> torch.Tensor:
    """clamp(act(x + noise_strength * noise + b) * gain) on [N, C, H, W], noise [N, 1, H, W]."""
    if noise is not None:
        x = x + noise * per_channel(noise_strength)
    return bias_act(x, b, 1, act, alpha, gain, clamp)


def adain(x: torch.Tensor, style_scale: torch.Tensor, style_bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Each (n, c) plane normalized to zero mean and unit (biased) variance, then scaled and shifted per plane."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    centered = x - mean
    var = centered.square().mean(dim=(2, 3), keepdim=True)
    return centered * torch.rsqrt(var + eps) * style_scale[:, :, None, None] + style_bias[:, :, None, None]


def style_epilogue(x: torch.Tensor, noise: Optional[torch.Tensor], noise_strength: Optional[torch.Tensor],
                   b: Optional[torch.Tensor], style_scale: torch.Tensor, style_bias: torch.Tensor, alpha: float,
                   gain: float, eps: float) -> torch.Tensor:
    """StyleGAN's layer tail: adain(lrelu(x + noise_strength * noise + b, alpha) * gain, style_scale, style_bias)."""
    return adain(noise_bias_act(x, noise, noise_strength, b, "lrelu", alpha, gain, None), style_scale, style_bias,
                 eps)


def conv3x3(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """3x3 correlation, zero padding 1, stride 1: torch's conv2d. An empty x, which conv2d refuses, gives zeros that
    stay in the autograd graph of x and w: the output has elements only when neither has channels, so the sums add
    exactly 0."""
    if x.numel() == 0:
        return x.new_zeros([x.shape[0], w.shape[0], x.shape[2], x.shape[3]]) + (x.sum() + w.sum())
    return F.conv2d(x, w, padding=1)


def conv3x3_weight_grad(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The gradient of conv3x3(x, w) with respect to w, given its output's gradient: [K, C, 3, 3]."""
    w = x.new_empty([grad.shape[1], x.shape[1], 3, 3])
    return torch.ops.aten.convolution_backward(grad, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                               [False, True, False])[1]


def filtered_lrelu_buffer_size(size: Sequence[int], fu: torch.Tensor, up: int, padding: Sequence[int]):
    """(height, width) of filtered_lrelu's buffer (upsampled, padded, filtered by fu): in * up + pad0 + pad1 -
    (taps - 1) per axis. The kernels' front end computes it too (csrc/common/filtered_lrelu.h)."""
    fw, fh = filter_size(fu)
    return size[0] * up + padding[2] + padding[3] - (fh - 1), size[1] * up + padding[0] + padding[1] - (fw - 1)


def filtered_lrelu_output_size(size: Sequence[int], fu: torch.Tensor, fd: torch.Tensor, up: int, down: int,
                               padding: Sequence[int]):
    """(height, width) of filtered_lrelu's output: (buffer - (fd_taps - 1) + down - 1) // down per axis."""
    fw, fh = filter_size(fd)
    buf_h, buf_w = filtered_lrelu_buffer_size(size, fu, up, padding)
    return (buf_h - (fh - 1) + down - 1) // down, (buf_w - (fw - 1) + down - 1) // down


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor, fd: torch.Tensor, b: Optional[torch.Tensor], up: int,
                   down: int, padding: Sequence[int], gain: float, slope: float, clamp: Optional[float],
                   flip_filter: bool) -> torch.Tensor:
    """NVIDIA's chain of ops: bias, upfirdn2d up (gain up**2), lrelu * gain and clamp, upfirdn2d down."""
    x = bias_act(x, b, 1, "linear", 0.0, 1.0, None)
    x = upfirdn2d(x, fu, (up, up), (1, 1), padding, flip_filter, up ** 2)
    x = bias_act(x, None, 1, "lrelu", slope, gain, clamp)
    return upfirdn2d(x, fd, (1, 1), (down, down), (0, 0, 0, 0), flip_filter, 1.0)


def filtered_lrelu_signed(x: torch.Tensor, fu: torch.Tensor, fd: torch.Tensor, signs: torch.Tensor, up: int,
                          down: int, padding: Sequence[int], gain: float, slope: float, flip_filter: bool,
                          sign_offset: Sequence[int]) -> torch.Tensor:
    """The linear op of filtered_lrelu's gradients: upfirdn2d up, times the derivative the forward's activation had
    (gain, gain * slope where its input was not positive, 0 where it clamped or outside the stored signs), upfirdn2d
    down. signs: [N, C, H, ceil(W / 4)] uint8, 2 bits per element (csrc/common/filtered_lrelu.h)."""
    t = upfirdn2d(x, fu, (up, up), (1, 1), padding, flip_filter, up ** 2)
    shifts = torch.arange(4, device=signs.device, dtype=torch.uint8) * 2
    codes = ((signs.unsqueeze(-1) >> shifts) & 3).flatten(-2)  # [N, C, H, 4 * row bytes]
    rows = torch.arange(t.shape[2], device=t.device) + sign_offset[1]
    cols = torch.arange(t.shape[3], device=t.device) + sign_offset[0]
    inside = ((rows >= 0) & (rows < codes.shape[2]))[:, None] & ((cols >= 0) & (cols < codes.shape[3]))[None, :]
    codes = codes[:, :, rows.clamp(0, max(codes.shape[2] - 1, 0))][:, :, :, cols.clamp(0, max(codes.shape[3] - 1, 0))]
    codes = torch.where(inside, codes, torch.full_like(codes, 3))
    multiplier = torch.where(codes & 2 != 0, t.new_tensor(0.0),
                             torch.where(codes & 1 != 0, t.new_tensor(gain * slope), t.new_tensor(gain)))
    return upfirdn2d(t * multiplier.to(t.dtype), fd, (1, 1), (down, down), (0, 0, 0, 0), flip_filter, 1.0)
