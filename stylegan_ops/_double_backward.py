"""Second-order gradients of ops whose first-order backward is a fused kernel, by differentiating the backward of the
op's pure-PyTorch reference with torch.func (so the result is itself differentiable)."""

from typing import Callable, Sequence

import torch


def vjp_of_backward(forward: Callable, primals: Sequence[torch.Tensor], wrt: Sequence[int], grad_out: torch.Tensor,
                    cotangents: Sequence) -> tuple:
    """The gradients, with respect to grad_out and each of `primals`, of

        sum_i <cotangents[i], d forward(*primals) / d primals[wrt[i]] applied to grad_out>,

    i.e. the vector-Jacobian product of the first-order backward (the gradients with respect to primals[wrt[i]])
    with the cotangents. None cotangents count as zeros. Returns (grad of grad_out, grads of each primal)."""

    def backward(grad, *args):
        _, pullback = torch.func.vjp(lambda *selected: forward(*_replace(args, wrt, selected)),
                                     *[args[i] for i in wrt])
        return pullback(grad)

    cotangents = tuple(torch.zeros_like(primals[i]) if c is None else c for i, c in zip(wrt, cotangents))
    _, pullback = torch.func.vjp(backward, grad_out, *primals)
    grads = pullback(cotangents)
    return grads[0], grads[1:]


def _replace(args, positions, values):
    out = list(args)
    for i, v in zip(positions, values):
        out[i] = v
    return out
