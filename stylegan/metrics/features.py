"""Feature extractors for the FID, KID and precision/recall, and the running statistics of their features.

A feature extractor is any callable with three attributes (`FeatureExtractor`): it maps uint8 images
[N, 3, H, W] (0..255, on its device) to float features [N, feature_dim]. Grayscale images are repeated to three
channels before they reach it (`as_rgb`). Two come with the package: the FID's Inception-v3
(stylegan.metrics.inception) and `RandomFeatures`, a small convolutional network with fixed random weights for tests
(its values are not comparable with anything published).

The metrics run their float32 convolutions and matrix products in full float32 (`full_float32`), never in TF32, as
NVIDIA's metric code does: TF32 rounds the operands to 10 bits of mantissa (relative error about 5e-4, against 6e-8),
enough to swamp the 1e-4 latent steps of the perceptual path length and to move every feature.
"""

import contextlib
from typing import Iterator, Optional, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FeatureExtractor", "FeatureStats", "RandomFeatures", "TF32_SWITCHES", "as_rgb", "check_extractor",
           "full_float32", "tf32_settings"]


# The switches that let CUDA run float32 convolutions (cuDNN) and matrix products in TF32, and their full-float32
# settings: torch >= 2.9 has per-operation precisions (and refuses to read the older allow_tf32 flags once both kinds
# were set), older releases only the allow_tf32 flags.
if hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(torch.backends.cudnn, "conv"):
    TF32_SWITCHES = ((torch.backends.cudnn.conv, "fp32_precision", "ieee"),
                     (torch.backends.cuda.matmul, "fp32_precision", "ieee"))
else:
    TF32_SWITCHES = ((torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False))


def tf32_settings() -> list:
    """The current values of the TF32_SWITCHES."""
    return [getattr(owner, name) for owner, name, _ in TF32_SWITCHES]


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Inside, CUDA convolutions and matrix products in float32 do not use TF32 (torch's default for cuDNN
    convolutions does); afterwards the TF32_SWITCHES are as before."""
    saved = tf32_settings()
    for owner, name, full in TF32_SWITCHES:
        setattr(owner, name, full)
    try:
        yield
    finally:
        for (owner, name, _), value in zip(TF32_SWITCHES, saved):
            setattr(owner, name, value)


class FeatureExtractor(Protocol):
    """uint8 images [N, 3, H, W] -> features [N, feature_dim].

    name: short and filesystem-safe; names the features in result names and cache files.
    feature_dim: the number of features.
    cache_key: identifies the weights (e.g. a file hash) for the dataset statistics cache; None never caches."""

    name: str
    feature_dim: int
    cache_key: Optional[str]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        ...


def check_extractor(extractor) -> FeatureExtractor:
    """`extractor` after checking that it follows the FeatureExtractor protocol (a TypeError naming what lacks)."""
    lacking = [a for a in ("name", "feature_dim", "cache_key") if not hasattr(extractor, a)]
    if lacking or not callable(extractor):
        what = f"attributes {lacking}" if lacking else "__call__"
        raise TypeError(f"feature_extractor: {type(extractor).__name__} is no feature extractor (lacks {what}); see "
                        f"stylegan.metrics.features.FeatureExtractor")
    return extractor


def as_rgb(images: torch.Tensor) -> torch.Tensor:
    """[N, 1 or 3, H, W] -> [N, 3, H, W] (grayscale repeated)."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class RandomFeatures(nn.Module):
    """A small convolutional feature extractor with fixed random weights (drawn from `seed`), for tests and smoke
    runs: three 3x3 convolutions with ReLU (the last two of stride 2), then the spatial mean of each of the
    `feature_dim` output channels. Any resolution >= 4; cheap on the CPU. name 'random'."""

    name = "random"

    def __init__(self, feature_dim: int = 64, seed: int = 0):
        super().__init__()
        if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
            raise ValueError(f"feature_dim must be a positive int, got {feature_dim!r}")
        self.feature_dim = feature_dim
        self.cache_key = f"random-dim{feature_dim}-seed{seed}"
        generator = torch.Generator().manual_seed(seed)
        widths = [3, 32, 64, feature_dim]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(c_out, c_in, 3, 3, generator=generator) * (2 / (c_in * 9)) ** 0.5,
                         requires_grad=False)
            for c_in, c_out in zip(widths, widths[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.randn(c, generator=generator) * 0.1, requires_grad=False)
                                       for c in widths[1:])
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_rgb_uint8(images, "RandomFeatures")
        x = images.float() / 127.5 - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = F.relu(F.conv2d(x, weight, bias, stride=1 if i == 0 else 2, padding=1))
        return x.mean(dim=(2, 3))


def check_rgb_uint8(images, who: str) -> None:
    """What every feature network takes: uint8 [N, 3, H, W] (ValueError naming `who` otherwise)."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 \
            or images.shape[1] != 3:
        got = f"{images.dtype} {list(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{who}: images must be uint8 [N, 3, H, W], got {got}")


class FeatureStats:
    """Running statistics of features added batch by batch: count, mean and covariance (sums kept in float64 on the
    features' device), and with capture_all the features themselves (float32, on the CPU). At most `max_items`
    rows are taken (the rest of a batch that crosses it is dropped)."""

    def __init__(self, capture_all: bool = False, max_items: Optional[int] = None):
        self.capture_all = capture_all
        self.max_items = max_items
        self.num_items = 0
        self._sum: Optional[torch.Tensor] = None
        self._gram: Optional[torch.Tensor] = None
        self._features: list = []

    @property
    def is_full(self) -> bool:
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, features: torch.Tensor) -> None:
        """Adds features [N, D] (any float dtype, any device; D as before)."""
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            raise ValueError(f"features must be a tensor [N, D], got {getattr(features, 'shape', features)}")
        if self.max_items is not None:
            features = features[:max(self.max_items - self.num_items, 0)]
        if self._sum is not None and features.shape[1] != self._sum.shape[0]:
            raise ValueError(f"features have {features.shape[1]} columns, earlier ones {self._sum.shape[0]}")
        if not torch.isfinite(features).all():
            raise ValueError("the feature extractor returned NaN or infinite values")
        x = features.detach().double()
        if self._sum is None:
            self._sum = x.new_zeros(x.shape[1])
            self._gram = x.new_zeros(x.shape[1], x.shape[1])
        self._sum += x.sum(dim=0)
        self._gram += x.T @ x
        if self.capture_all:
            self._features.append(features.detach().float().cpu())
        self.num_items += features.shape[0]

    def mean_cov(self) -> tuple:
        """(mean float64 [D], covariance float64 [D, D]) as numpy arrays; the covariance divides by N (as NVIDIA's
        metrics do)."""
        if self.num_items == 0:
            raise ValueError("no features were added")
        mean = self._sum / self.num_items
        cov = self._gram / self.num_items - torch.outer(mean, mean)
        return mean.cpu().numpy(), cov.cpu().numpy()

    def features(self) -> np.ndarray:
        """All features added, float32 [N, D] (capture_all only)."""
        if not self.capture_all:
            raise ValueError("these statistics were collected without capture_all")
        if not self._features:
            raise ValueError("no features were added")
        if len(self._features) > 1:
            self._features = [torch.cat(self._features)]
        return self._features[0].numpy()

    def to_arrays(self) -> dict:
        """The state as numpy arrays (for the statistics cache): num_items, sum, gram, and features if captured."""
        arrays = dict(num_items=np.array(self.num_items), sum=self._sum.cpu().numpy(), gram=self._gram.cpu().numpy())
        if self.capture_all:
            arrays["features"] = self.features()
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> "FeatureStats":
        """The inverse of to_arrays (a ValueError when the arrays do not fit together)."""
        stats = cls(capture_all="features" in arrays)
        stats.num_items = int(arrays["num_items"])
        stats._sum = torch.from_numpy(np.asarray(arrays["sum"], dtype=np.float64))
        stats._gram = torch.from_numpy(np.asarray(arrays["gram"], dtype=np.float64))
        dim = stats._sum.shape
        if stats.num_items < 1 or len(dim) != 1 or stats._gram.shape != dim * 2:
            raise ValueError("inconsistent statistics arrays")
        if stats.capture_all:
            features = np.asarray(arrays["features"], dtype=np.float32)
            if features.shape != (stats.num_items, dim[0]):
                raise ValueError("inconsistent statistics arrays")
            stats._features = [torch.from_numpy(features)]
        stats.max_items = stats.num_items
        return stats
