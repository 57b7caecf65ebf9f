"""Building blocks shared by the networks: equalized-learning-rate layers, convolution with FIR resampling and
modulated convolution, all on stylegan_ops.

Parameter names and shapes follow NVIDIA's StyleGAN2-ADA networks, so that their published weights load by name.
"""

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

import stylegan_ops
from stylegan_ops import ACTIVATIONS, _extension, bias_act, upfirdn2d


LOW_PRECISION_DTYPES = (torch.float16, torch.bfloat16)


class OpsModule(torch.nn.Module):
    """A module whose forward runs stylegan_ops with `self.impl` ('auto', 'fused' or 'ref'); set it for a whole
    network with set_impl. Blocks built with use_fp16 run in `self.low_precision` (float16 unless
    set_low_precision chose bfloat16)."""

    impl = "auto"
    low_precision = torch.float16

    def fused_cpu_channels_last(self, device: torch.device) -> bool:
        """Whether this module's activations go channels_last because its fused ops run on the CPU, where the
        kernels (conv3x3's tile transforms, upfirdn2d) are fastest with channels innermost."""
        return device.type == "cpu" and self.impl != "ref" and _extension.unavailable_reason("cpu") is None


def set_impl(module: torch.nn.Module, impl: str) -> torch.nn.Module:
    """Makes every OpsModule in `module` run its ops with `impl` ('auto', 'fused' or 'ref'); returns module."""
    if impl not in ("auto", "fused", "ref"):
        raise ValueError(f"impl must be 'auto', 'fused' or 'ref', got {impl!r}")
    for m in module.modules():
        if isinstance(m, OpsModule):
            m.impl = impl
    return module


def set_low_precision(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Makes the low-precision blocks (use_fp16, the top num_fp16_res resolutions) of `module` compute in `dtype`,
    torch.float16 or torch.bfloat16; returns module. Not saved with the network: a run setting, like impl."""
    if dtype not in LOW_PRECISION_DTYPES:
        raise ValueError(f"dtype must be one of {LOW_PRECISION_DTYPES}, got {dtype!r}")
    for m in module.modules():
        if isinstance(m, OpsModule):
            m.low_precision = dtype
    return module


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x divided by the root mean square of its entries along `dim`."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(OpsModule):
    """y = act(x @ (weight * lr_multiplier / sqrt(in))^T + bias * lr_multiplier): weights stored as N(0, 1) /
    lr_multiplier and scaled at run time (equalized learning rate)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation, impl=self.impl)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


def _conv2d(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding=0, groups: int = 1, transpose: bool = False,
            flip_weight: bool = True, impl: str = "auto") -> torch.Tensor:
    """conv2d (a correlation) or conv_transpose2d; flip_weight=False flips the kernel (a true convolution). The
    3x3 'same' convolutions run stylegan_ops.conv3x3 (with `impl`), the others torch's."""
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    if stride == 1 and groups == 1 and w.shape[2:] == (3, 3) and list(_padding4(padding)) == [1, 1, 1, 1]:
        return stylegan_ops.conv3x3(x, w, impl=impl)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _padding4(padding) -> list:
    if isinstance(padding, int):
        return [padding] * 4
    if len(padding) == 2:
        return [padding[0], padding[0], padding[1], padding[1]]
    return list(padding)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: Optional[torch.Tensor] = None, up: int = 1, down: int = 1,
                    padding=0, groups: int = 1, flip_weight: bool = True, impl: str = "auto") -> torch.Tensor:
    """conv2d of x with w (padding as for upfirdn2d: int, (x, y) or (x0, x1, y0, y1)) with FIR upsampling by `up`
    before it and downsampling by `down` after it, both with the filter f, keeping the image centred.

    Computed in the cheapest equivalent order: a 1x1 kernel is applied at the lower resolution; downsampling uses a
    strided convolution after filtering; upsampling a transposed strided convolution before filtering."""
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = (f.shape[-1], f.shape[0]) if f is not None else (1, 1)
    px0, px1, py0, py1 = _padding4(padding)
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], impl=impl)
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, impl=impl)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], impl=impl)
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        # A transposed convolution with stride `up` inserts the zeros and applies the kernel at once; the FIR filter
        # follows. Its weight is laid out [in, out / groups, kh, kw].
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv2d(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2, impl=impl)
        if down > 1:
            x = upfirdn2d(x, f, down=down, impl=impl)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight, impl=impl)
    x = upfirdn2d(x, None, padding=[px0, px1, py0, py1], impl=impl)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    return upfirdn2d(x, f, down=down, impl=impl) if down > 1 else x


class Conv2dLayer(OpsModule):
    """Equalized-learning-rate convolution with optional FIR up/downsampling, bias, activation and clamp."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 channels_last: bool = False, trainable: bool = True):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", stylegan_ops.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = ACTIVATIONS[activation].default_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format)
        bias_value = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(bias_value) if bias else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_value)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        x = conv2d_resample(x, w.to(x.dtype), self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1), impl=self.impl)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp, impl=self.impl)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, up: int = 1, down: int = 1,
                     padding: int = 0, resample_filter: Optional[torch.Tensor] = None, demodulate: bool = True,
                     flip_weight: bool = True, fused_modconv: bool = True, impl: str = "auto") -> torch.Tensor:
    """StyleGAN2's modulated convolution: the weight [O, I, k, k] scaled per sample by styles [N, I] over its input
    channels, then (demodulate) each output channel divided by the norm of its modulated weights (+1e-8 inside the
    square root).

    fused_modconv computes it as one grouped convolution over the batch with per-sample weights; otherwise the input
    is scaled by the styles, convolved with the shared weight, and the output scaled by the demodulation
    coefficients (computed from the squared weights and styles, never building per-sample weights): cheaper for
    training, and on the CPU."""
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Pre-normalize so that the float16 products cannot overflow; demodulation cancels the scale.
        weight = weight * (1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3],
                                                                             keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    if not fused_modconv:
        # The demodulation coefficients without the per-sample weights: sum_i s_i^2 sum_k w_oik^2.
        dcoefs = None
        if demodulate:
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight, impl=impl)
        return x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1) if demodulate else x
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), resample_filter, up=up, down=down, padding=padding, groups=batch,
                        flip_weight=flip_weight, impl=impl)
    return x.reshape(batch, -1, *x.shape[2:])
