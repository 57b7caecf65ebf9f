"""The Inception-v3 network of the FID: TensorFlow's 2015-12-05 Inception graph (the one Heusel et al.'s FID code
reads its 'pool_3' features from), in the PyTorch layout in which pytorch-fid distributes its weights, so that the file
pt_inception-2015-12-05-6726825d.pth loads into `InceptionV3` with strict key matching (its 1008-class
classifier `fc.*` is checked and left out: the metrics use the 2048 pooled features).

What differs from torchvision's Inception-v3 (the quirks of that TensorFlow graph):
- the 3x3 average pooling branches of the Mixed_5 (A), Mixed_6b-e (C) and Mixed_7b (E) blocks average over the
  pixels inside the image only (zero padding not counted);
- Mixed_7c's pooling branch takes a 3x3 *max* pool (stride 1, padding 1) instead of an average.
Every convolution is bias-free and followed by batch normalization (eps 1e-3) and ReLU, in full float32 (no TF32).

Input: uint8 images [N, 3, H, W] (0..255), resized bilinearly (no antialiasing, align_corners=False) to 299x299 and
scaled to [-1, 1] (as pytorch-fid does); output: the [N, 2048] average-pooled activations of Mixed_7c. NVIDIA's
metrics run a TorchScript translation of the same graph that resizes differently, so FIDs from the two may differ
slightly.

The weights (`resolve_weights`): the `path` argument (the CLI's --inception), else the file the environment variable
STYLEGAN_INCEPTION names, else DEFAULT_WEIGHTS_PATH (pt_inception-2015-12-05-6726825d.pth in the cache directory of
stylegan.downloads), downloaded there on first use from pytorch-fid's release and refused unless its SHA-256 is the
pinned one; STYLEGAN_OFFLINE=1 forbids the download.
"""

import warnings
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..downloads import PinnedFile, sha256_of
from .features import check_rgb_uint8, full_float32

__all__ = ["DEFAULT_WEIGHTS_PATH", "ENV_VAR", "INCEPTION_WEIGHTS", "INPUT_SIZE", "InceptionV3", "WEIGHTS_FILE",
           "WEIGHTS_URL", "load_inception", "load_inception_weights", "resolve_weights"]

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"  # the release names its files by the start of their SHA-256
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
ENV_VAR = "STYLEGAN_INCEPTION"
INCEPTION_WEIGHTS = PinnedFile(WEIGHTS_FILE, WEIGHTS_URL,
                               "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",  # 95,628,359 bytes
                               ENV_VAR, "Inception weights")
DEFAULT_WEIGHTS_PATH = INCEPTION_WEIGHTS.default_path()  # in the cache directory as the environment named it at import
INPUT_SIZE = 299
FEATURE_DIM = 2048
# The file's classifier (1008 TensorFlow classes), which the features do not use: checked, then left out.
_CLASSIFIER_SHAPES = {"fc.weight": (1008, FEATURE_DIM), "fc.bias": (1008,)}

PathLike = Union[str, Path]


class _ConvBN(nn.Module):
    """Convolution without bias, batch normalization (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_inside(x: torch.Tensor) -> torch.Tensor:
    """3x3 average, stride 1, over the pixels inside the image (TensorFlow's SAME average pooling)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _MixedA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1 (64 + 64 + 96 + pool_features channels)."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = _ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = _ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        five = self.branch5x5_2(self.branch5x5_1(x))
        three = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), five, three, self.branch_pool(_avg_pool_inside(x))], dim=1)


class _ReductionB(nn.Module):
    """35x35 -> 17x17: 3x3 stride 2 | 1x1 -> 3x3 -> 3x3 stride 2 | 3x3 max pool stride 2 (384 + 96 + in)."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = _ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), three, F.max_pool2d(x, 3, stride=2)], dim=1)


class _MixedC(nn.Module):
    """17x17 block with factorized 7x7 convolutions (1x7 and 7x1), 4 x 192 output channels."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c = channels_7x7
        row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
        self.branch1x1 = _ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = _ConvBN(in_channels, c, 1)
        self.branch7x7_2 = _ConvBN(c, c, **row)
        self.branch7x7_3 = _ConvBN(c, 192, **col)
        self.branch7x7dbl_1 = _ConvBN(in_channels, c, 1)
        self.branch7x7dbl_2 = _ConvBN(c, c, **col)
        self.branch7x7dbl_3 = _ConvBN(c, c, **row)
        self.branch7x7dbl_4 = _ConvBN(c, c, **col)
        self.branch7x7dbl_5 = _ConvBN(c, 192, **row)
        self.branch_pool = _ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(_avg_pool_inside(x))], dim=1)


class _ReductionD(nn.Module):
    """17x17 -> 8x8: 1x1 -> 3x3 stride 2 | 1x1 -> 1x7 -> 7x1 -> 3x3 stride 2 | 3x3 max pool stride 2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = _ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_2(self.branch3x3_1(x))
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([three, seven, F.max_pool2d(x, 3, stride=2)], dim=1)


class _MixedE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs (320 + 768 + 768 + 192 channels); the pooling branch averages over
    the pixels inside the image (pool='avg') or takes the maximum (pool='max', Mixed_7c of this graph)."""

    def __init__(self, in_channels: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = _ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = _ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.pool == "max" else _avg_pool_inside(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(three), self.branch3x3_2b(three),
                          self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double), self.branch_pool(pooled)], dim=1)


class InceptionV3(nn.Module):
    """The FID's Inception-v3 feature network (module docstring): uint8 [N, 3, H, W] -> float32 [N, 2048].

    Built with random weights; `load_inception` gives it the real ones. Follows the feature extractor protocol of
    stylegan.metrics.features: `name` 'inception', `feature_dim` 2048, `cache_key` (None until weights are loaded:
    then the weight file's name and SHA-256)."""

    name = "inception"
    feature_dim = FEATURE_DIM

    def __init__(self):
        super().__init__()
        self.cache_key: Optional[str] = None
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _MixedA(192, pool_features=32)
        self.Mixed_5c = _MixedA(256, pool_features=64)
        self.Mixed_5d = _MixedA(288, pool_features=64)
        self.Mixed_6a = _ReductionB(288)
        self.Mixed_6b = _MixedC(768, channels_7x7=128)
        self.Mixed_6c = _MixedC(768, channels_7x7=160)
        self.Mixed_6d = _MixedC(768, channels_7x7=160)
        self.Mixed_6e = _MixedC(768, channels_7x7=192)
        self.Mixed_7a = _ReductionD(768)
        self.Mixed_7b = _MixedE(1280, pool="avg")
        self.Mixed_7c = _MixedE(2048, pool="max")
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_rgb_uint8(images, "InceptionV3")
        x = images.float()
        if x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = x / 127.5 - 1
        with full_float32():
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = F.max_pool2d(x, 3, stride=2)
            x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
            x = F.max_pool2d(x, 3, stride=2)
            for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                          self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
                x = block(x)
        return x.mean(dim=(2, 3))


def resolve_weights(path: Optional[PathLike] = None) -> Path:
    """The Inception weight file to use: `path`, else $STYLEGAN_INCEPTION, else DEFAULT_WEIGHTS_PATH, downloaded there
    and verified when missing (downloads.PinnedFile.resolve: a FileNotFoundError naming --inception or the variable,
    or saying which file to put where when it cannot be downloaded; a ChecksumError for a file that is not it)."""
    return INCEPTION_WEIGHTS.resolve(path, "--inception", DEFAULT_WEIGHTS_PATH)


def load_inception_weights(module: InceptionV3, path: PathLike) -> InceptionV3:
    """Loads a state dict file (torch.load, weights_only=True) into `module`, keys and shapes matched strictly
    (the classifier fc.weight [1008, 2048] / fc.bias [1008] of pytorch-fid's file is checked and left out); sets
    module.cache_key from the file's name and SHA-256 and warns when the file is not the published one."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:   # torch raises several types (pickle, zip, runtime errors) for a bad file
        raise ValueError(f"--inception: cannot read {path} as a PyTorch state dict ({error})") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"--inception: {path} does not hold a state dict of tensors")
    state = dict(state)
    for key, shape in _CLASSIFIER_SHAPES.items():
        if key in state and tuple(state.pop(key).shape) != shape:
            raise ValueError(f"--inception: {path}: {key} should have shape {list(shape)}; not the FID Inception")
    own = module.state_dict()
    for key in own:   # files written before BatchNorm counted its batches lack these counters
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = own[key]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        problems = [f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                    if keys]
        raise ValueError(f"--inception: {path} is not the FID Inception's state dict ({'; '.join(problems)})")
    module.load_state_dict(state, strict=True)
    sha = sha256_of(path)
    if sha != INCEPTION_WEIGHTS.sha256:
        warnings.warn(f"{path}: SHA-256 {sha[:16]}... is not that of {WEIGHTS_FILE}; its FID values will not be "
                      f"comparable to published ones", stacklevel=2)
    module.cache_key = f"{path.name}-sha256-{sha}-fp32"  # features computed in full float32 (no TF32)
    return module


def load_inception(path: Optional[PathLike] = None, device: Optional[torch.device] = None) -> InceptionV3:
    """The FID Inception with its weights (file chosen by resolve_weights), in evaluation mode on `device`."""
    return load_inception_weights(InceptionV3(), resolve_weights(path)).to(device or "cpu")
