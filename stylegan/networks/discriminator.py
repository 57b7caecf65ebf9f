"""The StyleGAN2 discriminator: resnet (default), skip or orig blocks down to 4x4, minibatch standard deviation, and
an unconditional score or a projection onto a label embedding. With progressive=True (orig or resnet) every resolution
has its own fromRGB, so that the discriminator can read lower resolutions and fade a new one in (ProGAN, StyleGAN)."""

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

import stylegan_ops
from stylegan_ops import downsample2d

from .layers import Conv2dLayer, FullyConnectedLayer, OpsModule, ResolutionBlock, set_impl
from .mapping import MappingNetwork
from ..resolution import check_resolution
from .synthesis import ARCHITECTURES


class DiscriminatorBlock(ResolutionBlock):
    """One resolution: fromRGB (first block, every block for 'skip' or when progressive), two 3x3 convs (the second
    downsampling by 2), and for 'resnet' a 1x1 downsampling skip connection, the two branches each scaled by sqrt(1/2).

    forward(x, img): x None means this block is where the discriminator starts: it reads img through its fromRGB."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer_idx: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: Optional[float] = None,
                 use_fp16: bool = False, fp16_channels_last: bool = False, freeze_layers: int = 0,
                 progressive: bool = False):
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
        if in_channels == 0 or architecture == "skip" or progressive:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, resample_filter=resample_filter,
                                 trainable=trainable(), **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter, trainable=trainable(),
                                    channels_last=self.channels_last)

    def from_rgb(self, img: torch.Tensor, force_fp32: bool = False) -> torch.Tensor:
        """fromRGB of img, in this block's dtype and memory format."""
        return self.fromrgb(img.to(**self.working_format(img.device, force_fp32)))

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor], force_fp32: bool = False):
        working_format = self.working_format((x if x is not None else img).device, force_fp32)
        if x is not None:
            x = x.to(**working_format)
        if x is None or self.architecture == "skip":
            img = img.to(**working_format)
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
    """The 4x4 tail: (fromRGB for 'skip', for a 4x4 or a progressive discriminator), minibatch stddev, a 3x3 conv,
    a fully connected layer, and the output: one score, or with labels a projection onto their embedding (cmap_dim
    features, scaled by 1/sqrt(cmap_dim)). forward(None, img, cmap) starts here, reading img through fromRGB."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: Optional[int] = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: Optional[float] = None, first: bool = False,
                 progressive: bool = False):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution, self.architecture = in_channels, cmap_dim, resolution, \
            architecture
        if architecture == "skip" or first or progressive:  # first: a 4x4 discriminator, no block before this
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def from_rgb(self, img: torch.Tensor, force_fp32: bool = False) -> torch.Tensor:
        """fromRGB in float32 (the epilogue always computes in float32, whatever force_fp32)."""
        return self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))

    def forward(self, x: Optional[torch.Tensor], img: Optional[torch.Tensor],
                cmap: Optional[torch.Tensor]) -> torch.Tensor:
        if x is None:  # the discriminator starts here (4x4): read the image
            x = self.from_rgb(img)
        else:
            x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            if self.architecture == "skip":
                x = x + self.from_rgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.out(self.fc(x.flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(OpsModule):
    """images [N, img_channels, R, R] (and labels c [N, c_dim]) -> scores [N, 1].

    progressive=True (architecture 'orig' or 'resnet'; 'skip' is refused) gives every block and the 4x4 epilogue a
    fromRGB, and forward(img, c, resolution=r, alpha=a) then scores images of any resolution r = 4, 8, ...,
    img_resolution: img [N, img_channels, r, r] enters at block r through its fromRGB and goes down through blocks
    r/2, ..., 8 and the epilogue. For a < 1 and r > 4 block r is faded in: the features entering the r/2 stage are
    lerp(fromRGB_{r/2}(avg_pool_2x2(img)), block_r(img), a), blended in float32, so a = 0 is exactly the r/2
    discriminator on the 2x2-averaged image (the mirror of the generator's nearest upsampling), a = 1 ignores it."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: Optional[float] = None, cmap_dim: Optional[int] = None, block_kwargs: dict = None,
                 mapping_kwargs: dict = None, epilogue_kwargs: dict = None, impl: str = "auto",
                 progressive: bool = False):
        super().__init__()
        check_resolution(img_resolution, "img_resolution")
        if progressive and architecture == "skip":
            raise ValueError("progressive=True does not combine with architecture='skip' (a skip discriminator "
                             "already reads the image at every resolution); use architecture 'orig' or 'resnet'")
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                                num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                                block_kwargs=dict(block_kwargs or {}), mapping_kwargs=dict(mapping_kwargs or {}),
                                epilogue_kwargs=dict(epilogue_kwargs or {}))
        if progressive:  # only then: NVIDIA's recorded arguments, and ours before progressive growing, lack it
            self.init_kwargs["progressive"] = True
        self.progressive = progressive
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp,
                      progressive=progressive)
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

    def _check_growth(self, resolution: Optional[int], alpha: float) -> int:
        resolution = self.img_resolution if resolution is None else resolution
        if not self.progressive:
            if resolution != self.img_resolution:
                raise ValueError(f"resolution {resolution!r}: this discriminator reads only img_resolution "
                                 f"({self.img_resolution}); build it with progressive=True to read lower ones")
            if alpha != 1:
                raise ValueError(f"alpha {alpha!r}: fading in needs a discriminator built with progressive=True")
        allowed = [4] + self.block_resolutions[::-1]
        if resolution not in allowed:
            raise ValueError(f"resolution must be one of {allowed}, got {resolution!r}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        return resolution

    def forward(self, img: torch.Tensor, c: Optional[torch.Tensor] = None, force_fp32: Optional[bool] = None,
                resolution: Optional[int] = None, alpha: float = 1.0) -> torch.Tensor:
        """Scores img [N, img_channels, r, r], r = resolution (img_resolution when None; others, and alpha < 1,
        only when progressive: see the class docstring)."""
        resolution = self._check_growth(resolution, alpha)
        expected = (self.img_channels, resolution, resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"discriminator: img must have shape [N, {', '.join(map(str, expected))}], "
                             f"got {list(img.shape)}")
        if force_fp32 is None:
            force_fp32 = img.device.type != "cuda"
        x = None
        for res in self.block_resolutions:
            if res > resolution:
                continue
            x, next_img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
            if res == resolution and alpha < 1:  # fade block res in over the res/2 stage reading the image
                old = getattr(self, f"b{res // 2}").from_rgb(F.avg_pool2d(img, 2), force_fp32=force_fp32)
                x = torch.lerp(old.float(), x.float(), alpha)
            img = next_img
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
