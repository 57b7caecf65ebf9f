"""conv2d_resample: a convolution with FIR upsampling before it and downsampling after it (StyleGAN's resampling
convolution), computed in the cheapest equivalent order on upfirdn2d, conv3x3 and torch's convolutions."""

from typing import Optional

import torch
import torch.nn.functional as F

from ._checks import check_int, check_tensor
from ._extension import check_impl
from .conv3x3 import conv3x3
from .upfirdn2d import (Padding, add_padding, check_filter, downsampling_padding, parse_padding, upfirdn2d,
                        upsampling_padding)


def _conv2d(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding=0, groups: int = 1, transpose: bool = False,
            flip_weight: bool = True, impl: str = "auto") -> torch.Tensor:
    """conv2d (a correlation; padding an int or (y, x)) or conv_transpose2d; flip_weight=False flips the kernel (a
    true convolution). The 3x3 'same' convolutions run conv3x3 (with `impl`), the others torch's."""
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    same = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if stride == 1 and groups == 1 and w.shape[2:] == (3, 3) and same == (1, 1):
        return conv3x3(x, w, impl=impl)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor] = None, up: int = 1, down: int = 1,
                    padding: Padding = 0, groups: int = 1, flip_weight: bool = True,
                    impl: str = "auto") -> torch.Tensor:
    """conv2d of x [N, C, H, W] with w [K, C / groups, kh, kw] (padding as for upfirdn2d: int, (x, y) or
    (x0, x1, y0, y1)) with FIR upsampling by `up` before it and downsampling by `down` after it, both with the filter
    f (see setup_filter; None is [[1]]), keeping the image centred as upsample2d and downsample2d do.

    Computed in the cheapest equivalent order: a 1x1 kernel is applied at the lower resolution; downsampling uses a
    strided convolution after filtering; upsampling a transposed strided convolution before filtering.
    flip_weight=False makes it a true convolution (the kernel flipped). `impl` (one of IMPLS) goes to every op."""
    op = "conv2d_resample"
    check_tensor(op, "x", x, ndim=4)
    check_tensor(op, "w", w, ndim=4)
    f = check_filter(op, f, x)
    up, down = check_int(op, "up", up, minimum=1), check_int(op, "down", down, minimum=1)
    check_impl(op, impl)
    out_channels, in_per_group, kh, kw = w.shape
    pad = parse_padding(op, padding)
    if up > 1:
        pad = add_padding(pad, upsampling_padding(f, (up, up)))
    if down > 1:
        pad = add_padding(pad, downsampling_padding(f, (down, down)))
    px0, px1, py0, py1 = pad

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=pad, impl=impl)
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up ** 2, impl=impl)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=pad, impl=impl)
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        # A transposed convolution with stride `up` inserts the zeros and applies the kernel at once; the FIR filter
        # follows. Its weight is laid out [in, out / groups, kh, kw].
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv2d(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2, impl=impl)
        if down > 1:
            x = upfirdn2d(x, f, down=down, impl=impl)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight, impl=impl)
    x = upfirdn2d(x, None, padding=pad, impl=impl)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    return upfirdn2d(x, f, down=down, impl=impl) if down > 1 else x
