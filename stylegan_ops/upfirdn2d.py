"""upfirdn2d: upsample, pad, FIR-filter and downsample 2-D images in one op, and the resampling helpers on it."""

from typing import List, Optional, Sequence, Tuple, Union

import torch

from . import _extension, reference
from ._checks import KERNEL_DTYPES, check_float, check_int, check_same_device, check_tensor
from ._layout import output_memory_format

_ops = torch.ops.stylegan_ops

IntPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int]]


def _pair(op: str, name: str, v: IntPair) -> Tuple[int, int]:
    values = [v, v] if not isinstance(v, (list, tuple)) else list(v)
    if len(values) != 2:
        raise ValueError(f"{op}: {name} must be an int or (x, y), got {v!r}")
    return tuple(_below_int32(op, name, check_int(op, name, e, minimum=1)) for e in values)


def _below_int32(op: str, name: str, v: int) -> int:
    # The kernels take factors and padding as 32-bit ints.
    if abs(v) >= 2 ** 31:
        raise ValueError(f"{op}: {name} must be below 2^31 in magnitude, got {v}")
    return v


def parse_padding(op: str, padding: Padding) -> Tuple[int, int, int, int]:
    """(x0, x1, y0, y1) from an int, (x, y) or (x0, x1, y0, y1)."""
    values = [padding] if not isinstance(padding, (list, tuple)) else list(padding)
    values = [_below_int32(op, "padding", check_int(op, "padding", e)) for e in values]
    if len(values) == 1:
        return values[0], values[0], values[0], values[0]
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    if len(values) == 4:
        return tuple(values)
    raise ValueError(f"{op}: padding must be an int, (x, y) or (x0, x1, y0, y1), got {padding!r}")


def check_filter(op: str, f, x: torch.Tensor) -> torch.Tensor:
    """f checked against x; None becomes the 1x1 filter [[1]]."""
    if f is None:
        return torch.ones([1, 1], dtype=torch.float32, device=x.device)
    check_tensor(op, "f", f, dtypes=KERNEL_DTYPES)
    if f.ndim not in (1, 2):
        raise ValueError(f"{op}: f must be 1-D (separable) or 2-D, got shape {list(f.shape)}")
    if f.numel() == 0:
        raise ValueError(f"{op}: f must not be empty")
    check_same_device(op, "f", f, x)
    if f.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"{op}: f requires grad, but no gradient with respect to the filter is computed; "
                         "pass f.detach()")
    return f


def upfirdn2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntPair = 1, down: IntPair = 1, padding: Padding = 0,
              flip_filter: bool = False, gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """Upsamples, pads, filters and downsamples each channel of ``x`` ([N, C, H, W]).

    1. Upsample by inserting ``up - 1`` zeros after each pixel along each axis.
    2. Pad by ``padding`` = (x0, x1, y0, y1); negative values crop.
    3. Convolve with the FIR filter ``f`` (a true convolution: the filter is flipped unless ``flip_filter``); a 1-D
       ``f`` is the separable filter f ⊗ f. The result is scaled by ``gain``.
    4. Keep every ``down``-th pixel.

    ``up`` and ``down`` take an int or (x, y); ``padding`` an int, (x, y) or (x0, x1, y0, y1). Output size along an
    axis: ``(in * up + pad0 + pad1 - taps) // down + 1``. ``f`` None means a 1x1 filter of one. Differentiable with
    respect to ``x`` to any order (the gradient is again an upfirdn2d), not with respect to ``f``.
    """
    op = "upfirdn2d"
    check_tensor(op, "x", x, ndim=4)
    f = check_filter(op, f, x)
    up, down, pad = _pair(op, "up", up), _pair(op, "down", down), parse_padding(op, padding)
    gain = check_float(op, "gain", gain)
    fw, fh = reference.filter_size(f)
    out_h, out_w = reference.upfirdn2d_output_size(x.shape[2:], f, up, down, pad)
    if out_w < 1 or out_h < 1:
        raise ValueError(f"{op}: padding {pad} leaves no output for x of shape {list(x.shape)}, up={up} and a "
                         f"{fh}x{fw} filter")
    if _extension.use_fused(op, impl, x.device):
        return _ops.upfirdn2d(x, f, list(up), list(down), list(pad), bool(flip_filter), gain)
    return reference.upfirdn2d(x, f, up, down, pad, bool(flip_filter), gain)


def _upfirdn2d_setup(ctx, inputs, output):
    x, f, up, down, padding, flip_filter, gain = inputs
    ctx.save_for_backward(f)
    ctx.args = (x.shape[2], x.shape[3], up, down, padding, flip_filter, gain)


def _upfirdn2d_backward(ctx, grad):
    # The adjoint of upfirdn2d: up and down swap, the filter flips, and the padding makes the sizes meet.
    (f,) = ctx.saved_tensors
    in_h, in_w, (up_x, up_y), (down_x, down_y), (px0, px1, py0, py1), flip_filter, gain = ctx.args
    fw, fh = reference.filter_size(f)
    out_h, out_w = grad.shape[2], grad.shape[3]
    padding = [fw - px0 - 1, in_w * up_x - out_w * down_x + px0 - up_x + 1,
               fh - py0 - 1, in_h * up_y - out_h * down_y + py0 - up_y + 1]
    grad_x = _ops.upfirdn2d(grad, f, [down_x, down_y], [up_x, up_y], padding, not flip_filter, gain)
    return grad_x, None, None, None, None, None, None


if _extension.REGISTERED:
    torch.library.register_autograd("stylegan_ops::upfirdn2d", _upfirdn2d_backward, setup_context=_upfirdn2d_setup)

    @torch.library.register_fake("stylegan_ops::upfirdn2d")
    def _upfirdn2d_fake(x, f, up, down, padding, flip_filter, gain):
        out_h, out_w = reference.upfirdn2d_output_size(x.shape[2:], f, up, down, padding)
        return torch.empty([x.shape[0], x.shape[1], out_h, out_w], dtype=x.dtype, device=x.device,
                           memory_format=output_memory_format(x))


def setup_filter(f, *, device: Optional[torch.device] = None, normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: Optional[bool] = None) -> torch.Tensor:
    """Turns a list or tensor of taps into a float32 filter for upfirdn2d.

    A 1-D filter stays 1-D (separable) when ``separable`` is True, or when None and it has 8 or more taps; otherwise
    it becomes the 2-D outer product f ⊗ f. ``normalize`` scales the taps to sum to 1, ``flip_filter`` flips them, and
    the filter is scaled by ``gain ** (ndim / 2)`` so that filtering scales the image by ``gain``. None gives [[1]].
    """
    op = "setup_filter"
    if f is None:
        f = 1
    # Built on the CPU (or where a tensor given lives), also inside a `torch.device` context such as 'meta'.
    f = torch.as_tensor(f, dtype=torch.float32, device=f.device if isinstance(f, torch.Tensor) else "cpu")
    if f.ndim == 0:
        f = f[None]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"{op}: f must be a non-empty 1-D or 2-D list or tensor, got shape {list(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError(f"{op}: separable={separable} needs a 1-D filter, got shape {list(f.shape)}")
    if normalize:
        total = f.sum()
        if total == 0:
            raise ValueError(f"{op}: cannot normalize a filter whose taps sum to zero; pass normalize=False")
        f = f / total
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    gain = check_float(op, "gain", gain)
    if f.ndim == 1 and gain < 0:
        raise ValueError(f"{op}: gain must be >= 0 for a separable filter (each pass takes its square root), "
                         f"got {gain}; pass gain to upfirdn2d instead")
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device) if device is not None else f


def upsampling_padding(f: torch.Tensor, up: Tuple[int, int]) -> List[int]:
    """The padding (x0, x1, y0, y1) that keeps the image centred when upsampling by up = (x, y) with f; up (1, 1)
    filters in place (filter2d)."""
    fw, fh = reference.filter_size(f)
    return [(fw + up[0] - 1) // 2, (fw - up[0]) // 2, (fh + up[1] - 1) // 2, (fh - up[1]) // 2]


def downsampling_padding(f: torch.Tensor, down: Tuple[int, int]) -> List[int]:
    """The padding (x0, x1, y0, y1) that keeps the image centred when downsampling by down = (x, y) after f."""
    fw, fh = reference.filter_size(f)
    return [(fw - down[0] + 1) // 2, (fw - down[0]) // 2, (fh - down[1] + 1) // 2, (fh - down[1]) // 2]


def add_padding(a: Sequence[int], b: Sequence[int]) -> List[int]:
    """Two paddings (x0, x1, y0, y1) applied one after the other."""
    return [p + q for p, q in zip(a, b)]


def upsample2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntPair = 2, padding: Padding = 0,
               flip_filter: bool = False, gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """Upsamples ``x`` by ``up`` with the filter ``f`` (see setup_filter), keeping the image centred; the output is
    ``up`` times larger (plus ``padding``). The filter gain is multiplied by up_x * up_y to preserve brightness."""
    check_tensor("upsample2d", "x", x, ndim=4)
    f = check_filter("upsample2d", f, x)
    up = _pair("upsample2d", "up", up)
    padding = add_padding(parse_padding("upsample2d", padding), upsampling_padding(f, up))
    return upfirdn2d(x, f, up=up, padding=padding, flip_filter=flip_filter, gain=gain * up[0] * up[1], impl=impl)


def downsample2d(x: torch.Tensor, f: Optional[torch.Tensor], down: IntPair = 2, padding: Padding = 0,
                 flip_filter: bool = False, gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """Downsamples ``x`` by ``down`` after filtering with ``f`` (see setup_filter), keeping the image centred."""
    check_tensor("downsample2d", "x", x, ndim=4)
    f = check_filter("downsample2d", f, x)
    down = _pair("downsample2d", "down", down)
    padding = add_padding(parse_padding("downsample2d", padding), downsampling_padding(f, down))
    return upfirdn2d(x, f, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl=impl)


def filter2d(x: torch.Tensor, f: Optional[torch.Tensor], padding: Padding = 0, flip_filter: bool = False,
             gain: float = 1, *, impl: str = "auto") -> torch.Tensor:
    """Filters ``x`` with ``f``, keeping its size (plus ``padding``)."""
    check_tensor("filter2d", "x", x, ndim=4)
    f = check_filter("filter2d", f, x)
    padding = add_padding(parse_padding("filter2d", padding), upsampling_padding(f, (1, 1)))
    return upfirdn2d(x, f, padding=padding, flip_filter=flip_filter, gain=gain, impl=impl)
