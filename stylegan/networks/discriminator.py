"""The StyleGAN2 discriminator: resnet (default), skip or orig blocks down to 4x4, minibatch standard deviation, and
an unconditional score or a projection onto a label embedding."""

from typing import Optional, Sequence

import numpy as np
import torch

import stylegan_ops
from stylegan_ops import downsample2d

from .layers import Conv2dLayer, FullyConnectedLayer, OpsModule, set_impl
from .mapping import MappingNetwork
from .synthesis import ARCHITECTURES, check_resolution


class DiscriminatorBlock(OpsModule):
    """One resolution: fromRGB (first block, or every block for 'skip'), two 3x3 convs (the second downsampling by
    2), and for 'resnet' a 1x1 downsampling skip connection, the two branches each scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer_idx: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 use_fp16: bool = False, fp16_channels_last: bool = False, freeze_layers: int = 0):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", stylegan_ops.setup_filter(list(resample_filter)))
        self.num_layers = 0
        layer_idx = first_layer_idx

        def trainable() -> bool:  # the first freeze_layers layers of the discriminator are frozen
            nonlocal layer_idx
            layer_idx += 1
            self.num_layers += 1
            return layer_idx - 1 >= freeze_layers

        common = dict(activation=activation, conv_clamp=conv_clamp, channels_last=self.channels_last)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, resample_filter=resample_filter,
                                 trainable=trainable(), **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter, trainable=trainable(),
                                    channels_last=self.channels_last)

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], force_fp32: bool = False):
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        memory_format = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter, impl=self.impl) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(torch.nn.Module):
    """Appends `num_channels` feature maps holding the standard deviation of the features over groups of
    `group_size` samples (samples i, i + N/G, i + 2N/G, ... form a group), averaged over channels and pixels."""

    def __init__(self, group_size: Optional[int], num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"minibatch stddev: the batch ({n}) must be a multiple of the group size ({g})")
        f = self.num_channels
        if c % f:
            raise ValueError(f"minibatch stddev: channels ({c}) must be a multiple of num_channels ({f})")
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)


class DiscriminatorEpilogue(OpsModule):
    """The 4x4 tail: (fromRGB for 'skip'), minibatch stddev, a 3x3 conv, a fully connected layer, and the output:
    one score, or with labels a projection onto their embedding (cmap_dim features, scaled by 1/sqrt(cmap_dim))."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: Optional[float] = None, first: bool = False):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution, self.architecture = in_channels, cmap_dim, resolution, \
            architecture
        self.first = first  # no block before it (a 4x4 discriminator): it reads the image itself
        if architecture == "skip" or first:
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: Optional[torch.Tensor], cmap: Optional[torch.Tensor]) -> torch.Tensor:
        if self.first:
            x = self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        else:
            x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            if self.architecture == "skip":
                x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.out(self.fc(x.flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(OpsModule):
    """images [N, img_channels, R, R] (and labels c [N, c_dim]) -> scores [N, 1]."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: Optional[float] = None, cmap_dim: Optional[int] = None, block_kwargs: dict = None,
                 mapping_kwargs: dict = None, epilogue_kwargs: dict = None, impl: str = "auto"):
        super().__init__()
        check_resolution(img_resolution)
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                                num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                                block_kwargs=dict(block_kwargs or {}), mapping_kwargs=dict(mapping_kwargs or {}),
                                epilogue_kwargs=dict(epilogue_kwargs or {}))
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[res], channels[res // 2], res,
                                       first_layer_idx=layer_idx, use_fp16=(res >= fp16_resolution),
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, first=(img_resolution == 4),
                                        **(epilogue_kwargs or {}), **common)
        set_impl(self, impl)

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor] = None,
                force_fp32: Optional[bool] = None) -> torch.Tensor:
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"discriminator: img must have shape [N, {', '.join(map(str, expected))}], "
                             f"got {list(img.shape)}")
        if force_fp32 is None:
            force_fp32 = img.device.type != "cuda"
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
