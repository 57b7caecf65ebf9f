"""conv3x3: the 3x3 convolution (stride 1, zero padding 1) that most StyleGAN layers run, on the CPU by Winograd's
F(4x4, 3x3) algorithm (csrc/cpu/conv3x3.cpp), with gradients of any order."""

import torch

from . import _extension, reference
from ._checks import check_same_device, check_tensor
from ._layout import output_memory_format

_ops = torch.ops.stylegan_ops


def conv3x3(x: torch.Tensor, w: torch.Tensor, *, impl: str = "auto") -> torch.Tensor:
    """``torch.nn.functional.conv2d(x, w, padding=1)`` for x [N, C, H, W] and w [K, C, 3, 3]: a correlation with
    zero padding 1 and stride 1, giving [N, K, H, W] (channels_last when x is).

    The fused CPU kernel computes it by Winograd's minimal filtering F(4x4, 3x3): 36 matrix products of the
    transformed tiles with the transformed weights instead of the 144 multiply-adds per channel pair and tile of the
    direct form. In float32 it differs from the direct convolution by about 1e-5 of the output's magnitude. Images
    smaller than 16x16 run the direct convolution (at::conv2d); on CUDA the op runs cuDNN's. 'ref' is
    ``torch.nn.functional.conv2d``. Differentiable with respect to x and w to any order.
    """
    op = "conv3x3"
    check_tensor(op, "x", x, ndim=4)
    check_tensor(op, "w", w, ndim=4)
    check_same_device(op, "w", w, x)
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: w must have the dtype of x ({x.dtype}), got {w.dtype}")
    if w.shape[1:] != (x.shape[1], 3, 3):
        raise ValueError(f"{op}: w must have shape [K, {x.shape[1]}, 3, 3] for x of shape {list(x.shape)}, got "
                         f"{list(w.shape)}")
    if _extension.use_fused(op, impl, x.device):
        return _ops.conv3x3(x, w)
    return reference.conv3x3(x, w)


def _flipped(w: torch.Tensor) -> torch.Tensor:
    """The weight whose conv3x3 is the adjoint of w's: input and output channels swapped, the kernel rotated."""
    return w.transpose(0, 1).flip([2, 3])


def _conv3x3_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _conv3x3_backward(ctx, grad):
    x, w = ctx.saved_tensors
    grad_x = _ops.conv3x3(grad, _flipped(w)) if ctx.needs_input_grad[0] else None
    grad_w = _ops.conv3x3_weight_grad(grad, x) if ctx.needs_input_grad[1] else None
    return grad_x, grad_w


def _weight_grad_backward(ctx, grad_grad_w):
    # conv3x3_weight_grad(g, x) is linear in g and in x: <G, dw> differentiates to conv3x3(x, G) for g and to
    # conv3x3(g, flipped G) for x.
    g, x = ctx.saved_tensors
    grad_g = _ops.conv3x3(x, grad_grad_w) if ctx.needs_input_grad[0] else None
    grad_x = _ops.conv3x3(g, _flipped(grad_grad_w)) if ctx.needs_input_grad[1] else None
    return grad_g, grad_x


if _extension.REGISTERED:
    torch.library.register_autograd("stylegan_ops::conv3x3", _conv3x3_backward, setup_context=_conv3x3_setup)
    torch.library.register_autograd("stylegan_ops::conv3x3_weight_grad", _weight_grad_backward,
                                    setup_context=_conv3x3_setup)

    @torch.library.register_fake("stylegan_ops::conv3x3")
    def _conv3x3_fake(x, w):
        return x.new_empty([x.shape[0], w.shape[0], x.shape[2], x.shape[3]]).contiguous(
            memory_format=output_memory_format(x))

    @torch.library.register_fake("stylegan_ops::conv3x3_weight_grad")
    def _weight_grad_fake(grad, x):
        return x.new_empty([grad.shape[1], x.shape[1], 3, 3])
