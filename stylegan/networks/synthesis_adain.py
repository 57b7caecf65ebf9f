"""StyleGAN (v1) synthesis: a learned 4x4 constant, two layers per resolution, each ending in noise (per-channel
weights) + bias + lrelu + AdaIN from A(w), as one fused style_epilogue; [1, 2, 1] blur when upsampling; a ToRGB per
resolution, so that progressive growing can fade a new resolution in."""

import math
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

import stylegan_ops
from stylegan_ops import style_epilogue

from .layers import Conv2dLayer, FullyConnectedLayer, OpsModule, conv2d_resample
from ..resolution import check_resolution
from .synthesis import check_noise_mode, layer_noise
from .w_inputs import WInput, style_layer


class AdaINLayer(OpsModule):
    """An optional equalized-learning-rate convolution (upsampling by `up`), then the StyleGAN layer tail:
    AdaIN(lrelu(x + noise_weight * noise + bias)) with scale 1 + s and bias t, (s, t) = A(w)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, conv: bool = True,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 resample_filter: Sequence[float] = (1, 2, 1)):
        super().__init__()
        self.out_channels, self.resolution, self.up, self.use_noise = out_channels, resolution, up, use_noise
        if conv:
            self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
            self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
            self.padding = kernel_size // 2
            self.register_buffer("resample_filter", stylegan_ops.setup_filter(list(resample_filter)))
        self.affine = FullyConnectedLayer(w_dim, 2 * out_channels, bias_init=0)
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_weight = torch.nn.Parameter(torch.zeros([out_channels]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if hasattr(self, "weight"):
            x = conv2d_resample(x, (self.weight * self.weight_gain).to(x.dtype), self.resample_filter, up=self.up,
                                padding=self.padding, flip_weight=(self.up == 1), impl=self.impl)
        styles = self.affine(w).to(x.dtype)
        scale, shift = 1 + styles[:, :self.out_channels], styles[:, self.out_channels:]
        noise = layer_noise(noise_mode, self.noise_const, x) if self.use_noise else None
        weight = self.noise_weight.to(x.dtype) if noise is not None else None
        return style_epilogue(x, noise, weight, self.bias.to(x.dtype), scale.contiguous(), shift.contiguous(),
                              impl=self.impl)


class AdaINSynthesisNetwork(OpsModule):
    """StyleGAN synthesis: ws [N, num_ws, w_dim] -> images, num_ws = 2 per resolution.

    forward(ws, resolution=r, alpha=a) renders at resolution r <= img_resolution and, for a < 1, fades the r block
    in: (1 - a) * upsampled ToRGB of the r/2 block + a * ToRGB of the r block (progressive growing)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 8192,
                 channel_max: int = 512, resample_filter: Sequence[float] = (1, 2, 1), use_noise: bool = True):
        super().__init__()
        check_resolution(img_resolution, "img_resolution")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, int(np.log2(img_resolution)) + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.const = torch.nn.Parameter(torch.ones([channels[4], 4, 4]))
        for res in self.block_resolutions:
            c = channels[res]
            if res == 4:
                first = AdaINLayer(c, c, w_dim, res, conv=False, use_noise=use_noise)
            else:
                first = AdaINLayer(channels[res // 2], c, w_dim, res, up=2, resample_filter=resample_filter,
                                   use_noise=use_noise)
            setattr(self, f"b{res}_conv0", first)
            setattr(self, f"b{res}_conv1", AdaINLayer(c, c, w_dim, res, use_noise=use_noise))
            setattr(self, f"b{res}_torgb", Conv2dLayer(c, img_channels, kernel_size=1))
        # One w per AdaIN layer, in order: b4_conv0, b4_conv1, b8_conv0, ...
        self.w_layer_names = [f"b{res}_conv{i}" for res in self.block_resolutions for i in (0, 1)]
        self.num_ws = len(self.w_layer_names)

    def w_inputs(self) -> List[WInput]:
        """For each w index, the AdaIN layer it drives (see stylegan.networks.w_inputs)."""
        return [WInput(i, (style_layer(name, getattr(self, name), getattr(self, name).resolution),))
                for i, name in enumerate(self.w_layer_names)]

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", resolution: Optional[int] = None,
                alpha: float = 1.0) -> torch.Tensor:
        check_noise_mode(noise_mode)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis: ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        resolution = self.img_resolution if resolution is None else resolution
        if resolution not in self.block_resolutions:
            raise ValueError(f"resolution must be one of {self.block_resolutions}, got {resolution!r}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        previous = None
        for res in self.block_resolutions[: self.block_resolutions.index(resolution) + 1]:
            previous = x
            for name in (f"b{res}_conv0", f"b{res}_conv1"):
                x = getattr(self, name)(x, ws[:, self.w_layer_names.index(name)], noise_mode)
        img = getattr(self, f"b{resolution}_torgb")(x)
        if alpha < 1 and resolution > 4:
            low = getattr(self, f"b{resolution // 2}_torgb")(previous)
            img = torch.lerp(F.interpolate(low, scale_factor=2, mode="nearest"), img, alpha)
        return img
