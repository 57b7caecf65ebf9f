"""noise_bias_act: StyleGAN2's layer epilogue, noise + bias + activation (+ gain, clamp), in one pass over memory."""

from typing import Optional

import torch

from . import _extension, reference
from ._deprecation import renamed_keywords
from ._layer_inputs import check_layer_inputs
from ._layout import output_memory_format
from .bias_act import resolve_activation

_ops = torch.ops.stylegan_ops


@renamed_keywords(strength="noise_strength")
def noise_bias_act(x: torch.Tensor, noise: Optional[torch.Tensor] = None, noise_strength: Optional[torch.Tensor] = None,
                   b: Optional[torch.Tensor] = None, act: str = "lrelu", alpha: Optional[float] = None,
                   gain: Optional[float] = None, clamp: Optional[float] = None, *, impl: str = "auto") -> torch.Tensor:
    """Computes ``clamp(act(x + noise_strength * noise + b) * gain)`` on ``x`` of shape [N, C, H, W].

    Args:
        x: the layer's activations, float16, bfloat16, float32 or float64.
        noise: [N, 1, H, W], shared by all channels (expand a [1, 1, H, W] buffer to share it over the batch), or
            None.
        noise_strength: one value (StyleGAN2) or one per channel [C] (StyleGAN); required with noise. (The keyword
            ``strength`` still works, deprecated.)
        b: bias [C], or None.
        act, alpha, gain, clamp: as for ``bias_act`` (default act lrelu, alpha 0.2, gain sqrt(2)).
        impl: one of ``stylegan_ops.IMPLS``.

    noise, noise_strength and b have the dtype and device of x. Differentiable with respect to x, noise,
    noise_strength and b to second order.
    """
    op = "noise_bias_act"
    check_layer_inputs(op, x, noise, noise_strength, b)
    alpha, gain, clamp = resolve_activation(op, act, alpha, gain, clamp)
    if _extension.use_fused(op, impl, x.device):
        return _ops.noise_bias_act(x, noise, noise_strength, b, act, alpha, gain, clamp)
    return reference.noise_bias_act(x, noise, noise_strength, b, act, alpha, gain, clamp)


if _extension.REGISTERED:  # its autograd is in C++ (csrc/autograd.cpp)
    @torch.library.register_fake("stylegan_ops::noise_bias_act")
    def _fake(x, noise, noise_strength, b, act, alpha, gain, clamp):
        return torch.empty_like(x, memory_format=output_memory_format(x))
