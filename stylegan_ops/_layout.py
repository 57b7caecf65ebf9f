"""Memory-layout rules the Python side shares with the kernels."""

import torch


def output_memory_format(x: torch.Tensor) -> torch.memory_format:
    """The memory format of the [N, C, H, W] result of upfirdn2d, noise_bias_act, adain and style_epilogue:
    channels_last exactly when x is channels_last and not also contiguous. The C++ side applies the same rule
    (csrc/layout.h); the fake kernels use this one."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
