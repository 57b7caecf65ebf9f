"""bias_act: bias, activation, gain and clamp in one pass over memory."""

from typing import Optional, Tuple

import torch

from . import _extension, reference
from ._checks import check_float, check_int, check_same_device, check_tensor
from .activations import ACTIVATIONS

_ops = torch.ops.stylegan_ops


def bias_act(x: torch.Tensor, b: Optional[torch.Tensor] = None, dim: int = 1, act: str = "linear",
             alpha: Optional[float] = None, gain: Optional[float] = None, clamp: Optional[float] = None, *,
             impl: str = "auto") -> torch.Tensor:
    """Computes ``clamp(act(x + b) * gain)``, with ``b`` broadcast along dimension ``dim`` of ``x``.

    Args:
        x: tensor of any shape; float16, bfloat16, float32 or float64.
        b: 1-D bias of length ``x.shape[dim]`` with the dtype and device of ``x``, or None.
        dim: the dimension of ``x`` that ``b`` runs along.
        act: one of ``stylegan_ops.ACTIVATIONS``: linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish.
        alpha: the negative slope of lrelu (default 0.2); the other activations take none.
        gain: output scale; default sqrt(2) for relu, lrelu and swish, 1 otherwise.
        clamp: clamp the output to [-clamp, clamp]; None disables it.
        impl: one of ``stylegan_ops.IMPLS``: 'auto' (fused kernel when available, else the reference after one
            warning), 'fused' or 'ref'.

    Differentiable with respect to ``x`` and ``b`` to second order (third order for linear, relu and lrelu and
    beyond, since their derivative is piecewise constant).
    """
    op = "bias_act"
    check_tensor(op, "x", x)
    alpha, gain, clamp = resolve_activation(op, act, alpha, gain, clamp)
    dim = check_int(op, "dim", dim)
    if b is not None:
        check_tensor(op, "b", b, dtypes=(x.dtype,), ndim=1)
        check_same_device(op, "b", b, x)
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(f"{op}: dim={dim} is out of range for x with {x.ndim} dimensions")
        dim %= x.ndim
        if b.shape[0] != x.shape[dim]:
            raise ValueError(f"{op}: b has {b.shape[0]} elements but x.shape[{dim}] is {x.shape[dim]}")
    else:
        dim = 0
    if _extension.use_fused(op, impl, x.device):
        return _ops.bias_act(x, b, dim, act, alpha, gain, clamp)
    return reference.bias_act(x, b, dim, act, alpha, gain, clamp)


def resolve_activation(op: str, act: str, alpha: Optional[float], gain: Optional[float],
                       clamp: Optional[float]) -> Tuple[float, float, Optional[float]]:
    """Checks act and fills in its default alpha and gain: (alpha, gain, clamp) as the ops take them."""
    if act not in ACTIVATIONS:
        raise ValueError(f"{op}: act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    spec = ACTIVATIONS[act]
    if spec.default_alpha is None and alpha is not None:
        raise ValueError(f"{op}: alpha is not a parameter of act={act!r} (only of lrelu)")
    alpha = check_float(op, "alpha", spec.default_alpha if alpha is None else alpha, minimum=0.0) if act == "lrelu" \
        else 0.0
    gain = check_float(op, "gain", spec.default_gain if gain is None else gain)
    clamp = check_float(op, "clamp", clamp, minimum=0.0, allow_none=True)
    return alpha, gain, clamp


def _sum_to_bias(grad_x: torch.Tensor, dim: int) -> torch.Tensor:
    others = [d for d in range(grad_x.ndim) if d != dim]
    return grad_x.sum(others) if others else grad_x  # sum([]) would sum over every dimension


def saved_reference(act: str, clamp: Optional[float], x: torch.Tensor, output: torch.Tensor) -> Optional[torch.Tensor]:
    """What the backward of an activation keeps: the output for linear, relu and lrelu (their derivative follows from
    it, and the next layer keeps it anyway), nothing for linear without clamp (its derivative is the constant gain),
    the input for the others."""
    if not ACTIVATIONS[act].grad_from_output:
        return x
    return None if act == "linear" and clamp is None else output


def activation_grad(grad: torch.Tensor, ref: Optional[torch.Tensor], b: Optional[torch.Tensor], dim: int, act: str,
                    alpha: float, gain: float, clamp: Optional[float]) -> torch.Tensor:
    """The gradient with respect to the activation's input x + b, from the reference saved_reference kept."""
    if not ACTIVATIONS[act].grad_from_output:
        return _ops.bias_act_grad_from_input(grad, ref, b, dim, act, alpha, gain, clamp, 1)
    if ref is None:
        return grad * gain
    return _ops.bias_act_grad_from_output(grad, ref, act, alpha, gain, clamp)


def _bias_act_setup(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp = inputs
    ctx.args = (dim, act, alpha, gain, clamp)
    # The bias only enters the smooth activations' backward (with x); the others need neither.
    ctx.save_for_backward(saved_reference(act, clamp, x, output), None if ACTIVATIONS[act].grad_from_output else b)


def _bias_act_backward(ctx, grad):
    dim, act, alpha, gain, clamp = ctx.args
    ref, b = ctx.saved_tensors
    grad_x = activation_grad(grad, ref, b, dim, act, alpha, gain, clamp)
    grad_b = _sum_to_bias(grad_x, dim) if ctx.needs_input_grad[1] else None
    return grad_x, grad_b, None, None, None, None, None


def _grad_from_output_setup(ctx, inputs, output):
    _, y, act, alpha, gain, clamp = inputs
    ctx.args = (act, alpha, gain, clamp)
    ctx.save_for_backward(y)


def _grad_from_output_backward(ctx, grad_grad_x):
    # The op is linear in `grad` with a slope that is piecewise constant in y: nothing flows to y.
    (y,) = ctx.saved_tensors
    return _ops.bias_act_grad_from_output(grad_grad_x, y, *ctx.args), None, None, None, None, None


def _grad_from_input_setup(ctx, inputs, output):
    grad, x, b, dim, act, alpha, gain, clamp, order = inputs
    ctx.args = (dim, act, alpha, gain, clamp)
    ctx.order = order
    ctx.save_for_backward(grad, x, b)


def _grad_from_input_backward(ctx, grad_out):
    dim, act, alpha, gain, clamp = ctx.args
    if ctx.order >= 2:
        raise RuntimeError(f"stylegan_ops: gradients of third order are not supported through the {act!r} "
                           "activation; use impl='ref' for them")
    grad, x, b = ctx.saved_tensors
    d_grad = d_x = d_b = None
    if ctx.needs_input_grad[0]:
        d_grad = _ops.bias_act_grad_from_input(grad_out, x, b, dim, act, alpha, gain, clamp, 1)
    if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
        d_x = _ops.bias_act_grad_from_input(grad_out * grad, x, b, dim, act, alpha, gain, clamp, 2)
        if ctx.needs_input_grad[2]:
            d_b = _sum_to_bias(d_x, dim)
        if not ctx.needs_input_grad[1]:
            d_x = None
    return d_grad, d_x, d_b, None, None, None, None, None, None


if _extension.REGISTERED:
    torch.library.register_autograd("stylegan_ops::bias_act", _bias_act_backward, setup_context=_bias_act_setup)
    torch.library.register_autograd("stylegan_ops::bias_act_grad_from_output", _grad_from_output_backward,
                                    setup_context=_grad_from_output_setup)
    torch.library.register_autograd("stylegan_ops::bias_act_grad_from_input", _grad_from_input_backward,
                                    setup_context=_grad_from_input_setup)

    @torch.library.register_fake("stylegan_ops::bias_act")
    def _bias_act_fake(x, b, dim, act, alpha, gain, clamp):
        return torch.empty_like(x)

    @torch.library.register_fake("stylegan_ops::bias_act_grad_from_output")
    def _grad_from_output_fake(grad, y, act, alpha, gain, clamp):
        return torch.empty_like(y)

    @torch.library.register_fake("stylegan_ops::bias_act_grad_from_input")
    def _grad_from_input_fake(grad, x, b, dim, act, alpha, gain, clamp, order):
        return torch.empty_like(x)
