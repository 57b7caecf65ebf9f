"""filtered_lrelu: StyleGAN3's bias, upsample, FIR filter, leaky ReLU, clamp, FIR filter and downsample in one op.

The fused kernels never hold the upsampled image whole (the CPU kernel streams it row by row, the CUDA kernel keeps
tiles on chip). For the backward they keep 2 bits per element of that image (was the activation's input negative,
was the output clamped?) and run the same pipeline backwards with those bits in place of the activation
(`filtered_lrelu_signed`, linear in its input): so gradients of any order are again filtered_lrelu_signed ops."""

import math
from typing import Optional, Sequence

import torch

from . import _extension, reference
from ._checks import KERNEL_DTYPES, check_float, check_int, check_same_device, check_tensor
from ._layout import output_memory_format
from .upfirdn2d import Padding, parse_padding

_ops = torch.ops.stylegan_ops


def _filter(op: str, name: str, f, x: torch.Tensor) -> torch.Tensor:
    if f is None:
        return torch.ones([1, 1], dtype=torch.float32, device=x.device)
    check_tensor(op, name, f, dtypes=KERNEL_DTYPES)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"{op}: {name} must be a non-empty 1-D (separable) or 2-D filter, got shape {list(f.shape)}")
    check_same_device(op, name, f, x)
    if f.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"{op}: {name} requires grad, but no gradient with respect to the filters is computed; "
                         f"pass {name}.detach()")
    return f


def filtered_lrelu(x: torch.Tensor, fu: Optional[torch.Tensor] = None, fd: Optional[torch.Tensor] = None,
                   b: Optional[torch.Tensor] = None, up: int = 1, down: int = 1, padding: Padding = 0,
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: Optional[float] = None,
                   flip_filter: bool = False, *, impl: str = "auto") -> torch.Tensor:
    """StyleGAN3's layer nonlinearity on ``x`` [N, C, H, W] (NVIDIA's semantics and defaults):

    1. add the per-channel bias ``b`` [C]; 2. upsample by ``up``, inserting zeros; 3. pad by ``padding`` (an int,
    (x, y) or (x0, x1, y0, y1), on the upsampled image; negative crops); 4. convolve with ``fu``, gain ``up**2``;
    5. multiply by ``gain``; 6. leaky ReLU with ``slope``; 7. clamp to [-clamp, clamp]; 8. convolve with ``fd``;
    9. keep every ``down``-th pixel.

    ``fu`` and ``fd`` are 1-D (separable) or 2-D filters, None meaning the identity; a true convolution unless
    ``flip_filter``. Output size per axis: ``(in * up + pad0 + pad1 - (fu_taps - 1) - (fd_taps - 1) + down - 1) //
    down``. Differentiable to any order with respect to ``x`` and ``b``, not the filters.
    """
    op = "filtered_lrelu"
    check_tensor(op, "x", x, ndim=4)
    fu, fd = _filter(op, "fu", fu, x), _filter(op, "fd", fd, x)
    if b is not None:
        check_tensor(op, "b", b, ndim=1)
        if b.shape[0] != x.shape[1] or b.dtype != x.dtype:
            raise ValueError(f"{op}: b must be [{x.shape[1]}] of x's dtype {x.dtype}, got {list(b.shape)} {b.dtype}")
        check_same_device(op, "b", b, x)
    up, down = check_int(op, "up", up, minimum=1), check_int(op, "down", down, minimum=1)
    pad = parse_padding(op, padding)
    gain = check_float(op, "gain", gain)
    if gain <= 0:
        raise ValueError(f"{op}: gain must be > 0, got {gain}")
    slope = check_float(op, "slope", slope, minimum=0)
    clamp = check_float(op, "clamp", clamp, minimum=0, allow_none=True)
    out_h, out_w = reference.filtered_lrelu_output_size(x.shape[2:], fu, fd, up, down, pad)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{op}: padding {pad} leaves no output for x of shape {list(x.shape)}, up={up}, down={down}, "
                         f"fu {list(fu.shape)} and fd {list(fd.shape)}")
    if _extension.use_fused(op, impl, x.device):
        write_signs = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))
        y, _ = _ops.filtered_lrelu(x, fu, fd, b, up, down, list(pad), gain, slope, clamp, bool(flip_filter),
                                   write_signs)
        return y
    return reference.filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, bool(flip_filter))


def transposed_args(in_size: Sequence[int], out_size: Sequence[int], fu: torch.Tensor, fd: torch.Tensor, up: int,
                    down: int, padding: Sequence[int], gain: float, flip_filter: bool, sign_offset: Sequence[int]):
    """The arguments (fu, fd, up, down, padding, gain, flip_filter, sign_offset) of the filtered_lrelu_signed op
    that is the transpose (the gradient) of one with these, mapping an out_size (H, W) image back to in_size: up
    and down and the filters swap, the filters flip, the gain takes up**2 / down**2 and the sign offset moves to
    the transpose's buffer."""
    (fu_w, fu_h), (fd_w, fd_h) = reference.filter_size(fu), reference.filter_size(fd)
    px0, _, py0, _ = padding
    pad = [fu_w - 1 + fd_w - 1 - px0, in_size[1] * up - out_size[1] * down + px0 - up + 1,
           fu_h - 1 + fd_h - 1 - py0, in_size[0] * up - out_size[0] * down + py0 - up + 1]
    offset = [sign_offset[0] - (fu_w - 1) + px0, sign_offset[1] - (fu_h - 1) + py0]
    return fd, fu, down, up, pad, gain * up ** 2 / down ** 2, not flip_filter, offset


def _forward_setup(ctx, inputs, output):
    x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, write_signs = inputs
    ctx.save_for_backward(fu, fd, output[1])
    ctx.args = (tuple(x.shape[2:]), up, down, padding, gain, slope, flip_filter, b is not None, write_signs)


def _forward_backward(ctx, grad, _grad_signs):
    fu, fd, signs = ctx.saved_tensors
    in_size, up, down, padding, gain, slope, flip_filter, has_bias, kept_signs = ctx.args
    if not kept_signs:
        raise RuntimeError("filtered_lrelu: backward through a call made without gradients enabled for x or b "
                           "(no signs were kept)")
    fu_t, fd_t, up_t, down_t, pad_t, gain_t, flip_t, offset = transposed_args(
        in_size, grad.shape[2:], fu, fd, up, down, padding, gain, flip_filter, (0, 0))
    grad_x = _ops.filtered_lrelu_signed(grad, fu_t, fd_t, signs, up_t, down_t, pad_t, gain_t, slope, flip_t, offset)
    grad_b = grad_x.sum(dim=(0, 2, 3)) if has_bias and ctx.needs_input_grad[3] else None
    return grad_x, None, None, grad_b, None, None, None, None, None, None, None, None


def _signed_setup(ctx, inputs, output):
    x, fu, fd, signs, up, down, padding, gain, slope, flip_filter, sign_offset = inputs
    ctx.save_for_backward(fu, fd, signs)
    ctx.args = (tuple(x.shape[2:]), up, down, padding, gain, slope, flip_filter, sign_offset)


def _signed_backward(ctx, grad):
    fu, fd, signs = ctx.saved_tensors
    in_size, up, down, padding, gain, slope, flip_filter, sign_offset = ctx.args
    fu_t, fd_t, up_t, down_t, pad_t, gain_t, flip_t, offset = transposed_args(
        in_size, grad.shape[2:], fu, fd, up, down, padding, gain, flip_filter, sign_offset)
    grad_x = _ops.filtered_lrelu_signed(grad, fu_t, fd_t, signs, up_t, down_t, pad_t, gain_t, slope, flip_t, offset)
    return grad_x, None, None, None, None, None, None, None, None, None, None


if _extension.REGISTERED:
    torch.library.register_autograd("stylegan_ops::filtered_lrelu", _forward_backward, setup_context=_forward_setup)
    torch.library.register_autograd("stylegan_ops::filtered_lrelu_signed", _signed_backward,
                                    setup_context=_signed_setup)

    def _fake_output(x, fu, fd, up, down, padding):
        out_h, out_w = reference.filtered_lrelu_output_size(x.shape[2:], fu, fd, up, down, padding)
        return torch.empty([x.shape[0], x.shape[1], out_h, out_w], dtype=x.dtype, device=x.device,
                           memory_format=output_memory_format(x))

    @torch.library.register_fake("stylegan_ops::filtered_lrelu")
    def _filtered_lrelu_fake(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, write_signs):
        if not write_signs:
            return _fake_output(x, fu, fd, up, down, padding), x.new_empty([0], dtype=torch.uint8)
        buf_h, buf_w = reference.filtered_lrelu_buffer_size(x.shape[2:], fu, up, padding)
        signs = x.new_empty([x.shape[0], x.shape[1], buf_h, (buf_w + 3) // 4], dtype=torch.uint8)
        return _fake_output(x, fu, fd, up, down, padding), signs

    @torch.library.register_fake("stylegan_ops::filtered_lrelu_signed")
    def _filtered_lrelu_signed_fake(x, fu, fd, signs, up, down, padding, gain, slope, flip_filter, sign_offset):
        return _fake_output(x, fu, fd, up, down, padding)
