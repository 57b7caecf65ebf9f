"""Building blocks shared by the networks: equalized-learning-rate layers, convolution with FIR resampling
(stylegan_ops.conv2d_resample, re-exported here) and modulated convolution, all on stylegan_ops.

Parameter names and shapes follow NVIDIA's StyleGAN2-ADA networks, so that their published weights load by name.
"""

import math
from typing import Optional, Sequence

import torch

import stylegan_ops
from stylegan_ops import ACTIVATIONS, bias_act, check_impl, conv2d_resample, unavailable_reason


LOW_PRECISION_DTYPES = (torch.float16, torch.bfloat16)


class OpsModule(torch.nn.Module):
    """A module whose forward runs stylegan_ops with `self.impl` (one of stylegan_ops.IMPLS); set it for a whole
    network with set_impl. Blocks built with use_fp16 run in `self.low_precision` (float16 unless
    set_low_precision chose bfloat16)."""

    impl = "auto"
    low_precision = torch.float16

    def fused_cpu_channels_last(self, device: torch.device) -> bool:
        """Whether this module's activations go channels_last because its fused ops run on the CPU, where the
        kernels (conv3x3's tile transforms, upfirdn2d) are fastest with channels innermost."""
        return device.type == "cpu" and self.impl != "ref" and unavailable_reason("cpu") is None


class ResolutionBlock(OpsModule):
    """A synthesis or discriminator block: it runs in low precision when built with `use_fp16` (unless force_fp32),
    channels_last when built so (`channels_last`) or when its fused ops run on the CPU."""

    use_fp16 = False
    channels_last = False

    def working_format(self, device: torch.device, force_fp32: bool = False) -> dict:
        """The dtype and memory format this block computes in on `device` (keywords of Tensor.to)."""
        channels_last = (self.channels_last and not force_fp32) or self.fused_cpu_channels_last(device)
        return dict(dtype=self.low_precision if self.use_fp16 and not force_fp32 else torch.float32,
                    memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def set_impl(module: torch.nn.Module, impl: str) -> torch.nn.Module:
    """Makes every OpsModule in `module` run its ops with `impl` (one of stylegan_ops.IMPLS); returns module."""
    check_impl("set_impl", impl)
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
    """y = act(x @ (weight * lr_multiplier / sqrt(in))^T + bias * lr_multiplier): weights stored as N(0, 1) *
    weight_init / lr_multiplier and scaled at run time (equalized learning rate); bias_init is a number or one value
    per output feature."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init=0.0, weight_init: float = 1.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) * weight_init / lr_multiplier)
        bias_value = torch.as_tensor(bias_init, dtype=torch.float32).expand(out_features).clone()
        self.bias = torch.nn.Parameter(bias_value) if bias else None
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
