"""What StyleGAN adds to a layer's [N, C, H, W] activations before its activation function: noise [N, 1, H, W] times
a noise_strength (one value or one per channel), and a bias b [C]. Their argument checks, shared by
noise_bias_act and style_epilogue (the gradients of these inputs: layer_input_grads in csrc/autograd.cpp)."""

import torch

from ._checks import check_same_device, check_tensor


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
