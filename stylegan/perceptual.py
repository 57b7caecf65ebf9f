"""Perceptual distances between images in [-1, 1], differentiable (the projector backpropagates through them).

LPIPS-style VGG16 distance: the images (ImageNet-normalized, area-downsampled to 256 pixels when larger, grayscale
repeated to RGB) go through VGG16's convolutional layers; at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 the
features are unit-normalized over channels, and the distance is the sum over those layers of the spatial mean of the
squared differences summed over channels. This is LPIPS with every channel weighted 1 (its uncalibrated baseline):
the learned per-channel weights of LPIPS are not used.

The VGG16 weights are never downloaded: they are read from a local copy of torchvision's ImageNet VGG16 state dict
(`vgg16-397923af.pth`, keys `features.N.weight` / `features.N.bias`), found at, in order: the path given
(`--lpips`), the file named by the environment variable STYLEGAN_VGG16, or `~/.cache/stylegan/vgg16-397923af.pth`.
Without one, `load_distance` warns once and returns the fallback `PyramidDistance` (pixel L2 plus L2 and L1 over a
downsampled pyramid), which is not perceptual: it favours blurry matches.
"""

import os
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F

ENV_VAR = "STYLEGAN_VGG16"
WEIGHTS_NAME = "vgg16-397923af.pth"
# torchvision's VGG16 "D" configuration up to relu5_3: convolution widths per stage; 'M' is a 2x2 max pool.
VGG16_WIDTHS = (64, 128, 256, 512, 512)
_CONVS_PER_STAGE = (2, 2, 3, 3, 3)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def default_weights_path() -> Path:
    """Where the VGG16 weights are looked for when neither a path nor STYLEGAN_VGG16 is given."""
    return Path.home() / ".cache" / "stylegan" / WEIGHTS_NAME


class _Distance(torch.nn.Module):
    """forward(x, y) -> [N] distances between images [N, C, H, W] in [-1, 1]; subclasses define features(images)
    and compare(features_a, features_b), so that a fixed target's features can be computed once."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.compare(self.features(x), self.features(y))


class VGG16Features(torch.nn.Module):
    """VGG16's convolutional layers up to relu5_3, laid out as torchvision's `features` Sequential (conv at index
    0, 2, 5, 7, 10, ...), so that its state-dict keys `features.N.weight` load as they are. `widths` are the
    convolution widths of the five stages (smaller ones make a cheap stand-in for tests)."""

    TAPS = (3, 8, 15, 22, 29)  # indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in `features`
    STAGE_FIRST_CONV = (0, 5, 10, 17, 24)

    def __init__(self, widths: Sequence[int] = VGG16_WIDTHS):
        super().__init__()
        if len(widths) != 5 or any(int(w) <= 0 for w in widths):
            raise ValueError(f"VGG16Features: widths must be 5 positive ints, got {widths}")
        layers, channels = [], 3
        for stage, (width, convs) in enumerate(zip(widths, _CONVS_PER_STAGE)):
            if stage > 0:
                layers.append(torch.nn.MaxPool2d(2, 2))
            for _ in range(convs):
                layers += [torch.nn.Conv2d(channels, int(width), 3, padding=1), torch.nn.ReLU()]
                channels = int(width)
        self.features = torch.nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_state_dict(cls, state: dict, source: str = "the state dict") -> "VGG16Features":
        """A VGG16Features with the widths and weights of a torchvision-layout state dict (classifier keys and any
        layer past relu5_3 are ignored); a ValueError naming `source` when its `features` keys do not fit."""
        try:
            widths = [int(state[f"features.{i}.weight"].shape[0]) for i in cls.STAGE_FIRST_CONV]
        except (KeyError, AttributeError, IndexError, TypeError):
            raise ValueError(f"{source}: not a VGG16 state dict (expected torchvision's keys features.N.weight)")
        model = cls(widths)
        own = model.features.state_dict()
        wanted = {k: state.get(f"features.{k}") for k in own}
        missing = sorted(k for k, v in wanted.items() if not isinstance(v, torch.Tensor))
        wrong = sorted(k for k, v in wanted.items() if k not in missing and v.shape != own[k].shape)
        if missing or wrong:
            raise ValueError(f"{source}: not a VGG16 state dict: missing {['features.' + k for k in missing]}, "
                             f"wrong shape {['features.' + k for k in wrong]}")
        model.features.load_state_dict({k: v.float() for k, v in wanted.items()})
        return model.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> List[torch.Tensor]:
        """The activations at the five LPIPS taps for images [N, 1 or 3, H, W] in [-1, 1]."""
        x = images.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[1] != 3:
            raise ValueError(f"VGG16Features: images must have 1 or 3 channels, got {x.shape[1]}")
        if max(x.shape[2], x.shape[3]) > 256:
            x = F.interpolate(x, size=(256, 256), mode="area")
        x = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.TAPS:
                out.append(x)
        return out


class LPIPSDistance(_Distance):
    """The LPIPS-style VGG16 distance (uniform channel weights) described in the module docstring."""

    name = "lpips-vgg16"

    def __init__(self, vgg: VGG16Features):
        super().__init__()
        self.vgg = vgg

    def features(self, images: torch.Tensor) -> List[torch.Tensor]:
        """Channel-normalized VGG16 activations at the five taps."""
        return [f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in self.vgg(images)]

    def compare(self, a: List[torch.Tensor], b: List[torch.Tensor]) -> torch.Tensor:
        """[N] distances between two feature lists (a batch of 1 broadcasts)."""
        return sum((fa - fb).square().sum(dim=1).mean(dim=(1, 2)) for fa, fb in zip(a, b))


class PyramidDistance(_Distance):
    """The fallback when no VGG16 weights are available (not perceptual): at full resolution and each 2x2
    average-pooled level down to 8 pixels (or `levels` levels), the mean squared difference plus the mean absolute
    difference, summed over levels."""

    name = "pixel-pyramid"

    def __init__(self, levels: int = 5):
        super().__init__()
        self.levels = levels

    def features(self, images: torch.Tensor) -> List[torch.Tensor]:
        """The image and its downsampled copies."""
        out = [images.float()]
        while len(out) < self.levels and min(out[-1].shape[2:]) >= 16:
            out.append(F.avg_pool2d(out[-1], 2))
        return out

    def compare(self, a: List[torch.Tensor], b: List[torch.Tensor]) -> torch.Tensor:
        """[N] distances between two pyramids (a batch of 1 broadcasts)."""
        return sum((fa - fb).square().mean(dim=(1, 2, 3)) + (fa - fb).abs().mean(dim=(1, 2, 3))
                   for fa, fb in zip(a, b))


def load_vgg16(path: Union[str, Path], source: Optional[str] = None) -> VGG16Features:
    """VGG16Features from a local torchvision-layout state dict file (read with weights_only: no code runs)."""
    path = Path(path)
    source = source or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types for a file that is not a state dict
        raise ValueError(f"{source}: cannot read {path} as a torch state dict ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{source}: {path} holds a {type(state).__name__}, not a state dict")
    return VGG16Features.from_state_dict(state, f"{source} ({path})")


def load_distance(path: Optional[Union[str, Path]] = None, device: Optional[torch.device] = None,
                  name: str = "--lpips") -> torch.nn.Module:
    """The perceptual distance to use: LPIPSDistance with the VGG16 weights at `path` (an error naming `name` when
    that file is missing), else at $STYLEGAN_VGG16 (an error naming the variable when it is set and missing), else
    at default_weights_path(); when there are none, PyramidDistance with one warning saying where weights go."""
    if path is not None:
        vgg = load_vgg16(path, name)
    elif os.environ.get(ENV_VAR):
        vgg = load_vgg16(os.environ[ENV_VAR], ENV_VAR)
    elif default_weights_path().is_file():
        vgg = load_vgg16(default_weights_path())
    else:
        warnings.warn(f"no VGG16 weights found, so the distance is the pixel/pyramid fallback, not LPIPS: put "
                      f"torchvision's {WEIGHTS_NAME} at {default_weights_path()}, or name it with {ENV_VAR}=PATH or "
                      f"{name} PATH", stacklevel=2)
        return PyramidDistance().to(device)
    return LPIPSDistance(vgg).to(device)
