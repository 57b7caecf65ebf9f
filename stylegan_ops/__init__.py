"""stylegan_ops: fused CPU/CUDA kernels for StyleGAN, with a pure-PyTorch reference path for every op.

Each op takes ``impl``, one of ``IMPLS`` ('auto', 'fused', 'ref'); ``check_impl`` checks such a choice. The compiled
kernels come from ``pip install --no-build-isolation .``; without them the ops run the reference path after one
warning, ``unavailable_reason(device_type)`` says why, and so does ``python -m stylegan_ops.info``.
"""

from ._extension import IMPLS, check_impl, unavailable_reason
from .activations import ACTIVATIONS
from .adain import adain, style_epilogue
from .bias_act import bias_act
from .conv2d_resample import conv2d_resample
from .conv3x3 import conv3x3
from .filtered_lrelu import filtered_lrelu
from .noise_bias_act import noise_bias_act
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

# The ops with fused kernels, by their name in torch.ops.stylegan_ops.
OPS = ("bias_act", "upfirdn2d", "noise_bias_act", "adain", "style_epilogue", "conv3x3", "filtered_lrelu",
       "filtered_lrelu_signed")

__all__ = ["ACTIVATIONS", "IMPLS", "OPS", "adain", "bias_act", "check_impl", "conv2d_resample", "conv3x3",
           "downsample2d", "filter2d", "filtered_lrelu", "noise_bias_act", "setup_filter", "style_epilogue", "unavailable_reason",
           "upfirdn2d", "upsample2d"]
