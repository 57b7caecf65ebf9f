"""StyleGAN2 synthesis: modulated convolutions with demodulation, noise, the fused noise_bias_act epilogue, and skip,
orig or resnet blocks from a learned 4x4 constant up to the output resolution."""

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

import stylegan_ops
from stylegan_ops import ACTIVATIONS, bias_act, noise_bias_act, upsample2d

from ..resolution import check_resolution
from .layers import Conv2dLayer, FullyConnectedLayer, OpsModule, ResolutionBlock, modulated_conv2d
from .w_inputs import WInput, style_layer

NOISE_MODES = ("random", "const", "none")
ARCHITECTURES = ("orig", "skip", "resnet")


def check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")


def layer_noise(noise_mode: str, noise_const: torch.Tensor, x: torch.Tensor) -> Optional[torch.Tensor]:
    """The [N, 1, R, R] noise of a layer whose output is x: fresh N(0, 1) ('random'), its fixed buffer shared over
    the batch ('const'), or None."""
    if noise_mode == "none":
        return None
    n, r = x.shape[0], noise_const.shape[-1]
    if noise_mode == "random":
        return torch.randn([n, 1, r, r], device=x.device, dtype=x.dtype)
    return noise_const.to(x.dtype).expand(n, 1, r, r)


class SynthesisLayer(OpsModule):
    """Modulated 3x3 convolution (upsampling by `up`), then noise + bias + activation + clamp in one fused op."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 channels_last: bool = False):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.register_buffer("resample_filter", stylegan_ops.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation].default_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0) -> torch.Tensor:
        check_noise_mode(noise_mode)
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv, impl=self.impl)
        noise = layer_noise(noise_mode, self.noise_const, x) if self.use_noise else None
        strength = self.noise_strength.to(x.dtype) if noise is not None else None
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return noise_bias_act(x, noise, strength, self.bias.to(x.dtype), act=self.activation,
                              gain=self.act_gain * gain, clamp=clamp, impl=self.impl)


class ToRGBLayer(OpsModule):
    """Modulated 1x1 convolution without demodulation, then bias and clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None, channels_last: bool = False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=memory_format))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv, impl=self.impl)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp, impl=self.impl)


class SynthesisBlock(ResolutionBlock):
    """One resolution: the 4x4 constant (first block) or an upsampling conv0, then conv1; ToRGB added to the
    upsampled image ('skip'), or only in the last block ('orig', 'resnet'); 'resnet' adds a 1x1 upsampling skip
    connection, the two branches each scaled by sqrt(1/2). Consumes num_conv + num_torgb ws."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: Optional[float] = None, use_fp16: bool = False, fp16_channels_last: bool = False,
                 **layer_kwargs):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.img_channels, self.is_last = resolution, img_channels, is_last
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", stylegan_ops.setup_filter(list(resample_filter)))
        self.num_conv = self.num_torgb = 0
        common = dict(conv_clamp=conv_clamp, channels_last=self.channels_last)
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter, **common, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, **common, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, **common)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=self.channels_last)

    def w_layers(self) -> List[Tuple[int, str, torch.nn.Module]]:
        """(offset in this block's ws, name, layer) for each layer reading a w, in the order forward reads them."""
        names = (["conv0"] if self.in_channels != 0 else []) + ["conv1"] + (["torgb"] if self.num_torgb else [])
        return [(i, name, getattr(self, name)) for i, name in enumerate(names)]

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], ws: torch.Tensor,
                force_fp32: bool = False, fused_modconv: Optional[bool] = None, noise_mode: str = "random"):
        w_iter = iter(ws.unbind(dim=1))
        working_format = self.working_format(ws.device, force_fp32)
        dtype, memory_format = working_format["dtype"], working_format["memory_format"]
        if fused_modconv is None:
            # The grouped form is the faster one for GPU inference; training (which would differentiate per-sample
            # weights) and the CPU (where building them costs more than the convolution saves) use the other.
            fused_modconv = ((not self.training) and ws.device.type == "cuda"
                             and (dtype == torch.float32 or ws.shape[0] == 1))
        layer = dict(fused_modconv=fused_modconv, noise_mode=noise_mode)
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)
            x = self.conv1(x, next(w_iter), **layer)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            if self.architecture == "resnet":
                y = self.skip(x, gain=np.sqrt(0.5))
                x = self.conv0(x, next(w_iter), **layer)
                x = self.conv1(x, next(w_iter), gain=np.sqrt(0.5), **layer)
                x = y + x
            else:
                x = self.conv0(x, next(w_iter), **layer)
                x = self.conv1(x, next(w_iter), **layer)
        if img is not None:
            img = upsample2d(img, self.resample_filter, impl=self.impl)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(OpsModule):
    """StyleGAN2 synthesis: ws [N, num_ws, w_dim] -> images [N, img_channels, img_resolution, img_resolution].

    Blocks at 4, 8, ..., img_resolution with min(channel_base // resolution, channel_max) channels; the
    num_fp16_res highest resolutions (never 4x4) run in float16 (or bfloat16: set_low_precision) unless force_fp32
    (the default on the CPU)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, **block_kwargs):
        super().__init__()
        check_resolution(img_resolution, "img_resolution")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        # Each block reads its convolutions' ws then its ToRGB's, which is the next block's first: blocks overlap by one.
        self.block_w_start = {}
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_channels, channels[res], w_dim, res, img_channels,
                                   is_last=(res == img_resolution), use_fp16=(res >= fp16_resolution), **block_kwargs)
            self.block_w_start[res] = self.num_ws
            self.num_ws += block.num_conv
            if res == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def w_inputs(self) -> List[WInput]:
        """For each w index, the layers it drives (see stylegan.networks.w_inputs)."""
        layers = [[] for _ in range(self.num_ws)]
        for res in self.block_resolutions:
            for offset, name, layer in getattr(self, f"b{res}").w_layers():
                layers[self.block_w_start[res] + offset].append(style_layer(f"b{res}.{name}", layer, res))
        return [WInput(i, tuple(pairs)) for i, pairs in enumerate(layers)]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: Optional[bool] = None,
                fused_modconv: Optional[bool] = None) -> torch.Tensor:
        """Images for ws [N, num_ws, w_dim]. Each block's ToRGB takes the w after its convolutions' (shared with
        the next block's first convolution). force_fp32 None: low-precision blocks only on CUDA."""
        check_noise_mode(noise_mode)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis: ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if force_fp32 is None:
            force_fp32 = ws.device.type != "cuda"
        x = img = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, self.block_w_start[res], block.num_conv + block.num_torgb)
            x, img = block(x, img, block_ws, force_fp32=force_fp32, fused_modconv=fused_modconv,
                           noise_mode=noise_mode)
        return img

