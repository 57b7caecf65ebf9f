"""What StyleGAN adds to a layer's [N, C, H, W] activations before its activation function: noise [N, 1, H, W] times
a strength (one value or one per channel), and a bias [C]. Argument checks and the gradients of these inputs, shared
by noise_bias_act and style_epilogue."""

from typing import Optional

import torch

from ._checks import check_same_device, check_tensor


def check_layer_inputs(op: str, x: torch.Tensor, noise, strength_name: str, strength, b) -> None:
    check_tensor(op, "x", x, ndim=4)
    for name, t in (("noise", noise), (strength_name, strength), ("b", b)):
        if t is not None:
            check_tensor(op, name, t, dtypes=(x.dtype,))
            check_same_device(op, name, t, x)
    n, c, h, w = x.shape
    if noise is not None:
        if tuple(noise.shape) != (n, 1, h, w):
            raise ValueError(f"{op}: noise must have shape [{n}, 1, {h}, {w}] (one noise image per sample, shared by "
                             f"all channels), got {list(noise.shape)}")
        if strength is None:
            raise ValueError(f"{op}: {strength_name} is required with noise")
    if strength is not None:
        if noise is None:
            raise ValueError(f"{op}: {strength_name} is given without noise")
        if strength.ndim > 1 or strength.numel() not in (1, c):
            raise ValueError(f"{op}: {strength_name} must hold one value or one per channel ({c}), got shape "
                             f"{list(strength.shape)}")
    if b is not None and tuple(b.shape) != (c,):
        raise ValueError(f"{op}: b must have shape [{c}], got {list(b.shape)}")


def layer_input_grads(grad_s: torch.Tensor, noise: Optional[torch.Tensor], strength: Optional[torch.Tensor],
                      needs_noise: bool, needs_strength: bool, needs_b: bool):
    """Gradients of noise, strength and b from the gradient of s = x + strength * noise + b (None where not needed),
    as differentiable PyTorch ops."""
    grad_b = grad_s.sum((0, 2, 3)) if needs_b else None
    grad_noise = grad_strength = None
    if noise is not None and (needs_noise or needs_strength):
        if strength.numel() == 1:
            summed = grad_s.sum(1, keepdim=True)
            grad_noise = summed * strength.reshape([]) if needs_noise else None
            grad_strength = (summed * noise).sum().reshape(strength.shape) if needs_strength else None
        else:
            grad_noise = torch.einsum("nchw,c->nhw", grad_s, strength).unsqueeze(1) if needs_noise else None
            grad_strength = torch.einsum("nchw,nhw->c", grad_s, noise[:, 0]) if needs_strength else None
    return grad_noise, grad_strength, grad_b
