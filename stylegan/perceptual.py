"""Perceptual distances between images in [-1, 1], differentiable (the projector backpropagates through them).

LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), version 0.1 on
VGG16, computed as the `lpips` package computes it: the images (grayscale repeated to RGB; area-downsampled to 256x256
when larger, as NVIDIA's projector does) are scaled by LPIPS's scaling layer, (x - shift) / scale (ImageNet's
normalization of (x + 1) / 2), and go through VGG16's convolutional layers; at relu1_2, relu2_2, relu3_3, relu4_3 and
relu5_3 the features are unit-normalized over channels (1e-10 added to the norm), and the distance is the sum over those
layers of the spatial mean of the squared differences, weighted per channel by LPIPS's learned linear layers and summed
over channels.

It takes two weight files, each the path given (--lpips, --lpips-weights), else the file an environment variable
names (STYLEGAN_VGG16, STYLEGAN_LPIPS), else its place in the cache (stylegan.downloads), downloaded there on first use
and refused unless its SHA-256 is the pinned one:
- torchvision's ImageNet VGG16, vgg16-397923af.pth (keys features.N.weight / features.N.bias; 528 MiB);
- LPIPS v0.1's linear layers for VGG16, the vgg.pth the lpips package ships (keys linK.model.1.weight, [1, C, 1, 1];
  7 KiB), read as plain tensors (the lpips package is not needed).
When the linear layers cannot be had, the distance warns once and weighs every channel 1 (LPIPS's uncalibrated
baseline); when VGG16 cannot be had, `load_distance` warns once and returns the fallback `PyramidDistance` (pixel L2
plus L2 and L1 over a downsampled pyramid), which is not perceptual: it favours blurry matches.
"""

import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .downloads import DownloadError, PinnedFile

PathLike = Union[str, Path]

VGG16_WEIGHTS = PinnedFile("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                           "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",  # 553,433,881 bytes
                           "STYLEGAN_VGG16", "VGG16 weights")
LPIPS_WEIGHTS = PinnedFile("lpips-v0.1-vgg.pth", "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/"
                           "master/lpips/weights/v0.1/vgg.pth",
                           "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",  # 7,289 bytes
                           "STYLEGAN_LPIPS", "LPIPS weights")
ENV_VAR = VGG16_WEIGHTS.env_var
# torchvision's VGG16 "D" configuration up to relu5_3: convolution widths per stage; 'M' is a 2x2 max pool.
VGG16_WIDTHS = (64, 128, 256, 512, 512)
_CONVS_PER_STAGE = (2, 2, 3, 3, 3)
# LPIPS's ScalingLayer, for inputs in [-1, 1].
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


def default_weights_path() -> Path:
    """Where the VGG16 weights are looked for, and downloaded to, when neither a path nor STYLEGAN_VGG16 is given."""
    return VGG16_WEIGHTS.default_path()


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
        self.widths = tuple(int(w) for w in widths)
        layers, channels = [], 3
        for stage, (width, convs) in enumerate(zip(widths, _CONVS_PER_STAGE)):
            if stage > 0:
                layers.append(torch.nn.MaxPool2d(2, 2))
            for _ in range(convs):
                layers += [torch.nn.Conv2d(channels, int(width), 3, padding=1), torch.nn.ReLU()]
                channels = int(width)
        self.features = torch.nn.Sequential(*layers)
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)

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
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.TAPS:
                out.append(x)
        return out


class LPIPSDistance(_Distance):
    """The LPIPS distance on VGG16 (module docstring). `weights`: the five taps' per-channel weights ([C] each,
    load_lpips_weights), or None to weigh every channel 1 (uncalibrated). `kind` says which: 'lpips' or 'vgg'."""

    def __init__(self, vgg: VGG16Features, weights: Optional[Sequence[torch.Tensor]] = None):
        super().__init__()
        self.vgg = vgg
        self.kind = "vgg" if weights is None else "lpips"
        self.name = "vgg16-uncalibrated" if weights is None else "lpips-vgg16"
        if weights is not None:
            widths = tuple(int(w.numel()) for w in weights)
            if widths != vgg.widths:
                raise ValueError(f"LPIPS weights for channel widths {list(widths)} do not fit VGG16 features of widths "
                                 f"{list(vgg.widths)}")
            for i, w in enumerate(weights):
                self.register_buffer(f"lin{i}", w.detach().float().reshape(1, -1, 1, 1))

    def features(self, images: torch.Tensor) -> List[torch.Tensor]:
        """Channel-normalized VGG16 activations at the five taps."""
        return [f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in self.vgg(images)]

    def compare(self, a: List[torch.Tensor], b: List[torch.Tensor]) -> torch.Tensor:
        """[N] distances between two feature lists (a batch of 1 broadcasts)."""
        total = 0
        for i, (fa, fb) in enumerate(zip(a, b)):
            squared = (fa - fb).square()
            if self.kind == "lpips":
                squared = squared * getattr(self, f"lin{i}")
            total = total + squared.sum(dim=1).mean(dim=(1, 2))
        return total


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


def _read_state_dict(path: PathLike, source: str) -> dict:
    """A state dict file read with weights_only (no code runs), on the CPU; a ValueError naming `source` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types for a file that is not a state dict
        raise ValueError(f"{source}: cannot read {path} as a torch state dict ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{source}: {path} holds a {type(state).__name__}, not a state dict")
    return state


def load_vgg16(path: PathLike, source: Optional[str] = None) -> VGG16Features:
    """VGG16Features from a local torchvision-layout state dict file; errors name `source` (default: the path)."""
    source = source or str(path)
    return VGG16Features.from_state_dict(_read_state_dict(path, source), f"{source} ({path})")


def load_lpips_weights(path: PathLike, source: Optional[str] = None) -> List[torch.Tensor]:
    """LPIPS's per-channel weights of the five taps, [C] each, from a file in the lpips package's layout (keys
    lin0.model.1.weight ... lin4.model.1.weight, [1, C, 1, 1]); errors name `source` (default: the path)."""
    source = source or str(path)
    state = _read_state_dict(path, source)
    keys = [f"lin{i}.model.1.weight" for i in range(len(VGG16_WIDTHS))]
    values = [state.get(key) for key in keys]
    if not all(isinstance(v, torch.Tensor) and v.ndim == 4 and v.shape[0] == 1 and v.shape[2:] == (1, 1)
               for v in values):
        raise ValueError(f"{source} ({path}): not LPIPS's linear layers (expected {', '.join(keys)}, each "
                         "[1, C, 1, 1])")
    return [v.float().reshape(-1) for v in values]


def load_lpips(path: Optional[PathLike] = None, weights_path: Optional[PathLike] = None,
               device: Optional[torch.device] = None, name: Optional[str] = "--lpips",
               weights_name: Optional[str] = "--lpips-weights") -> LPIPSDistance:
    """The LPIPS distance on `device`: VGG16 from `path`, $STYLEGAN_VGG16 or default_weights_path() (downloaded when
    missing), its linear layers from `weights_path`, $STYLEGAN_LPIPS or the cache (likewise); `name` and
    `weights_name` are the flags that give the paths (None: no flag), named in messages. When the linear layers cannot
    be downloaded, one warning and every channel weighted 1; when VGG16 cannot be, a DownloadError saying which file
    to put where (downloads.PinnedFile.resolve)."""
    try:  # first, so that a --lpips-weights naming no file is an error even without VGG16
        weights_file, unavailable = LPIPS_WEIGHTS.resolve(weights_path, weights_name), None
    except DownloadError as error:
        weights_file, unavailable = None, error
    vgg = load_vgg16(VGG16_WEIGHTS.resolve(path, name, default_weights_path()),
                     name if path is not None else VGG16_WEIGHTS.what)
    if unavailable is not None:
        warnings.warn(f"{unavailable}; until then the distance weighs every VGG16 channel 1 (uncalibrated, not "
                      "LPIPS)", stacklevel=2)
    weights = None if weights_file is None else load_lpips_weights(
        weights_file, weights_name if weights_path is not None else LPIPS_WEIGHTS.what)
    return LPIPSDistance(vgg, weights).to(device)


def load_distance(path: Optional[PathLike] = None, weights_path: Optional[PathLike] = None,
                  device: Optional[torch.device] = None, name: Optional[str] = "--lpips",
                  weights_name: Optional[str] = "--lpips-weights") -> torch.nn.Module:
    """The perceptual distance to use: load_lpips (same arguments), or when the VGG16 weights cannot be had,
    PyramidDistance with one warning saying which file to put where."""
    try:
        return load_lpips(path, weights_path, device, name, weights_name)
    except DownloadError as error:
        warnings.warn(f"{error}; until then the distance is the pixel/pyramid fallback, not LPIPS", stacklevel=2)
        return PyramidDistance().to(device)
