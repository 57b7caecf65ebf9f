"""adain and style_epilogue: instance normalization with a per-plane style_scale and style_bias, alone (adain) or after
StyleGAN's noise + bias + lrelu (style_epilogue, the whole StyleGAN layer tail in one op)."""

import math
from typing import Optional

import torch

from . import _extension, reference
from ._checks import check_float, check_same_device, check_tensor
from ._deprecation import renamed_keywords
from ._double_backward import vjp_of_backward
from ._layer_inputs import check_layer_inputs
from ._layout import output_memory_format

_ops = torch.ops.stylegan_ops


def _check_styles(op: str, x: torch.Tensor, style_scale, style_bias) -> None:
    for name, t in (("style_scale", style_scale), ("style_bias", style_bias)):
        check_tensor(op, name, t, dtypes=(x.dtype,))
        check_same_device(op, name, t, x)
        if tuple(t.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{op}: {name} must have shape [{x.shape[0]}, {x.shape[1]}] (one value per sample and "
                             f"channel), got {list(t.shape)}")


def _check_eps(op: str, eps) -> float:
    eps = check_float(op, "eps", eps)
    if eps <= 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    return eps


@renamed_keywords(scale="style_scale", bias="style_bias")
def adain(x: torch.Tensor, style_scale: torch.Tensor, style_bias: torch.Tensor, eps: float = 1e-8, *,
          impl: str = "auto") -> torch.Tensor:
    """Adaptive instance normalization: each (n, c) plane of ``x`` ([N, C, H, W]) normalized to zero mean and unit
    variance over H, W (``eps`` inside the square root), then ``x_norm * style_scale + style_bias`` with both of shape
    [N, C] (StyleGAN passes ``1 + style scale``). Statistics in float32 (float64 for float64 x). Differentiable with
    respect to x, style_scale and style_bias to second order. (The keywords ``scale`` and ``bias`` still work,
    deprecated.)"""
    op = "adain"
    check_tensor(op, "x", x, ndim=4)
    _check_styles(op, x, style_scale, style_bias)
    eps = _check_eps(op, eps)
    if _extension.use_fused(op, impl, x.device):
        return _ops.adain(x, style_scale, style_bias, eps)[0]
    return reference.adain(x, style_scale, style_bias, eps)


@renamed_keywords(noise_weight="noise_strength", scale="style_scale", bias="style_bias")
def style_epilogue(x: torch.Tensor, noise: Optional[torch.Tensor], noise_strength: Optional[torch.Tensor],
                   b: Optional[torch.Tensor], style_scale: torch.Tensor, style_bias: torch.Tensor, alpha: float = 0.2,
                   gain: float = math.sqrt(2), eps: float = 1e-8, *, impl: str = "auto") -> torch.Tensor:
    """The StyleGAN (v1) layer tail:
    ``adain(lrelu(x + noise_strength * noise + b, alpha) * gain, style_scale, style_bias, eps)``.

    ``noise`` is [N, 1, H, W] or None, ``noise_strength`` one value or one per channel [C] (required with noise),
    ``b`` [C] or None, ``style_scale`` and ``style_bias`` [N, C]. The fused op reads x twice (statistics, output) and
    writes once. Differentiable with respect to every tensor to second order. (The keywords ``noise_weight``,
    ``scale`` and ``bias`` still work, deprecated.)"""
    op = "style_epilogue"
    check_layer_inputs(op, x, noise, noise_strength, b)
    _check_styles(op, x, style_scale, style_bias)
    alpha = check_float(op, "alpha", alpha, minimum=0.0)
    gain = check_float(op, "gain", gain)
    eps = _check_eps(op, eps)
    if _extension.use_fused(op, impl, x.device):
        return _ops.style_epilogue(x, noise, noise_strength, b, style_scale, style_bias, alpha, gain, eps)[0]
    return reference.style_epilogue(x, noise, noise_strength, b, style_scale, style_bias, alpha, gain, eps)


def _adain_backward_setup(ctx, inputs, output):
    grad, x, style_scale, _, _, eps = inputs
    ctx.eps = eps
    ctx.save_for_backward(grad, x, style_scale)


def _adain_backward_backward(ctx, grad_grad_x, grad_grad_style_scale, grad_grad_style_bias):
    grad, x, style_scale = ctx.saved_tensors
    eps = ctx.eps
    primals = [x, style_scale, torch.zeros_like(style_scale)]  # the backward does not depend on the style bias
    d_grad, (d_x, d_style_scale, _) = vjp_of_backward(lambda x, s, b: reference.adain(x, s, b, eps), primals,
                                                      [0, 1, 2], grad,
                                                      [grad_grad_x, grad_grad_style_scale, grad_grad_style_bias])
    return d_grad, d_x, d_style_scale, None, None, None


def _style_epilogue_backward_setup(ctx, inputs, output):
    grad, x, noise, noise_strength, b, style_scale, _, _, alpha, gain, eps = inputs
    ctx.mark_non_differentiable(output[3])  # used only where no second derivative is asked for
    ctx.args = (alpha, gain, eps)
    ctx.save_for_backward(grad, x, noise, noise_strength, b, style_scale)


def _style_epilogue_backward_backward(ctx, grad_grad_x, grad_grad_style_scale, grad_grad_style_bias, _grad_sums):
    grad, x, noise, noise_strength, b, style_scale = ctx.saved_tensors
    alpha, gain, eps = ctx.args
    # The reference's inputs in order (the style bias does not enter the backward); the absent optional ones stay
    # None.
    values = [x, noise, noise_strength, b, style_scale, torch.zeros_like(style_scale)]
    present = [i for i, v in enumerate(values) if v is not None]

    def forward(*tensors):
        full = list(values)
        for i, t in zip(present, tensors):
            full[i] = t
        return reference.style_epilogue(*full, alpha, gain, eps)

    wrt = [present.index(i) for i in (0, 4, 5)]  # x, style_scale, style_bias
    d_grad, d_present = vjp_of_backward(forward, [values[i] for i in present], wrt, grad,
                                        [grad_grad_x, grad_grad_style_scale, grad_grad_style_bias])
    d = [None] * len(values)
    for i, g in zip(present, d_present):
        d[i] = g
    return d_grad, d[0], d[1], d[2], d[3], d[4], None, None, None, None, None


def _planes(x: torch.Tensor, dtype: torch.dtype):
    return x.new_empty(x.shape[:2], dtype=dtype)


def _statistics_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 statistics, float64 for float64 x: the kernels' accumulation type (accumulation_type, csrc/layout.h)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


if _extension.REGISTERED:
    # adain's and style_epilogue's own autograd is in C++ (csrc/autograd.cpp); their backward ops' (the second
    # derivatives) is here.
    torch.library.register_autograd("stylegan_ops::adain_backward", _adain_backward_backward,
                                    setup_context=_adain_backward_setup)
    torch.library.register_autograd("stylegan_ops::style_epilogue_backward", _style_epilogue_backward_backward,
                                    setup_context=_style_epilogue_backward_setup)

    def _forward_fake(x):
        y = torch.empty_like(x, memory_format=output_memory_format(x))
        return y, _planes(x, _statistics_dtype(x)), _planes(x, _statistics_dtype(x))

    def _backward_fake(x):
        return torch.empty_like(x, memory_format=output_memory_format(x)), _planes(x, x.dtype), _planes(x, x.dtype)

    @torch.library.register_fake("stylegan_ops::adain")
    def _adain_fake(x, style_scale, style_bias, eps):
        return _forward_fake(x)

    @torch.library.register_fake("stylegan_ops::adain_backward")
    def _adain_backward_fake(grad, x, style_scale, mean, rstd, eps):
        return _backward_fake(x)

    @torch.library.register_fake("stylegan_ops::style_epilogue")
    def _style_epilogue_fake(x, noise, noise_strength, b, style_scale, style_bias, alpha, gain, eps):
        return _forward_fake(x)

    @torch.library.register_fake("stylegan_ops::style_epilogue_backward")
    def _style_epilogue_backward_fake(grad, x, noise, noise_strength, b, style_scale, mean, rstd, alpha, gain, eps):
        return (*_backward_fake(x), x.new_empty((*x.shape[:2], 2), dtype=_statistics_dtype(x)))
