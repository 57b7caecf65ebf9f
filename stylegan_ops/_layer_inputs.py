"""What StyleGAN adds to a layer's [N, C, H, W] activations before its activation function: noise [N, 1, H, W] times
a noise_strength (one value or one per channel), and a bias b [C]. Argument checks and the gradients of these inputs,
shared by noise_bias_act and style_epilogue."""

from typing import Optional

import torch

from ._checks import check_same_device, check_tensor
from ._layout import output_memory_format


def check_layer_inputs(op: str, x: torch.Tensor, noise, noise_strength, b) -> None:
    """The Python side of the checks in csrc/noise_bias_act_impl.h (check_layer_inputs), with errors for users."""
    check_tensor(op, "x", x, ndim=4)
    for name, t in (("noise", noise), ("noise_strength", noise_strength), ("b", b)):
        if t is not None:
            check_tensor(op, name, t, dtypes=(x.dtype,))
            check_same_device(op, name, t, x)
    n, c, h, w = x.shape
    if noise is not None:
        if tuple(noise.shape) != (n, 1, h, w):
            raise ValueError(f"{op}: noise must have shape [{n}, 1, {h}, {w}] (one noise image per sample, shared by "
                             f"all channels), got {list(noise.shape)}")
        if noise_strength is None:
            raise ValueError(f"{op}: noise_strength is required with noise")
    if noise_strength is not None:
        if noise is None:
            raise ValueError(f"{op}: noise_strength is given without noise")
        if noise_strength.ndim > 1 or noise_strength.numel() not in (1, c):
            raise ValueError(f"{op}: noise_strength must hold one value or one per channel ({c}), got shape "
                             f"{list(noise_strength.shape)}")
    if b is not None and tuple(b.shape) != (c,):
        raise ValueError(f"{op}: b must have shape [{c}], got {list(b.shape)}")


def layer_input_grads(grad_s: torch.Tensor, noise: Optional[torch.Tensor], noise_strength: Optional[torch.Tensor],
                      needs_noise: bool, needs_strength: bool, needs_b: bool):
    """Gradients of noise, noise_strength and b from the gradient of s = x + noise_strength * noise + b (None where
    not needed), as differentiable PyTorch ops. The per-channel contractions are matrix products over views of grad_s
    in its own layout (einsum and matmul pick far slower plans for them on the CPU)."""
    grad_b = grad_s.sum((0, 2, 3)) if needs_b else None
    grad_noise = grad_strength = None
    if noise is None or not (needs_noise or needs_strength):
        return grad_noise, grad_strength, grad_b
    n, c, h, w = grad_s.shape
    if noise_strength.numel() == 1:
        summed = grad_s.sum(1, keepdim=True)
        if needs_noise:
            grad_noise = summed * noise_strength.reshape([])
        if needs_strength:
            grad_strength = (summed * noise).sum().reshape(noise_strength.shape)
    elif output_memory_format(grad_s) == torch.channels_last:
        pixels = grad_s.permute(0, 2, 3, 1).reshape(n * h * w, c)  # a view: channels innermost
        if needs_noise:
            grad_noise = torch.matmul(pixels, noise_strength).reshape(n, 1, h, w)
        if needs_strength:
            grad_strength = torch.matmul(noise.reshape(n * h * w), pixels)
    else:  # bmm, not matmul: matmul copies all of grad_s for a 1-D operand that requires grad (30 ms at 16x512x32x32)
        planes = grad_s.reshape(n, c, h * w)
        if needs_noise:
            grad_noise = torch.bmm(noise_strength.expand(n, 1, c), planes).reshape(n, 1, h, w)
        if needs_strength:
            grad_strength = torch.bmm(noise.reshape(n, 1, h * w), planes.transpose(1, 2)).sum((0, 1))
    return grad_noise, grad_strength, grad_b
