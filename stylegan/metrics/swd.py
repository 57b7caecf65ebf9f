"""Sliced Wasserstein distance (SWD) between two image sets on Laplacian pyramids (Karras et al. 2018, "Progressive
Growing of GANs for Improved Quality, Stability, and Variation", section 5 and appendix D).

Definition, as computed here:

1. **Images.** Each set is [N, C, H, W] with H = W a power of two >= 16, either uint8 in 0..255 or floating point in
   [-1, 1] (a float value outside [-1, 1] by more than 1e-5 is an error: clamp generator output first). uint8 is
   mapped to [-1, 1] by x / 127.5 - 1; every set is then processed in float32. A uint8 image and its float form
   therefore give the same distance. (ProGAN rounds generated images to uint8 before measuring; pass uint8 to
   reproduce that rounding, floats are not quantized here.)
2. **Laplacian pyramid** per image down to 16x16. The blur is the 5x5 binomial filter ([1, 4, 6, 4, 1] / 16 in
   each direction) with mirror padding (the edge sample is not repeated: x[-1] = x[1]), as in ProGAN's reference
   (scipy.ndimage mode 'mirror'). Gaussian level k+1 = blur(Gaussian level k) at the even pixels; upsampling
   inserts a zero after each pixel, mirror-pads that zero-stuffed image and blurs it with gain 4 (computed here in
   its two phases per axis, the same numbers without the zeros). Laplacian level k = Gaussian level k -
   upsample(Gaussian level k+1); the 16x16 level is the Gaussian level itself, so upsampling from the coarsest level
   and adding each finer level gives the image back (up to float rounding). Levels are keyed by resolution: H,
   H/2, ..., 16.
3. **Descriptors.** From every level of every image, `descriptors_per_image` (default 128) 7x7 neighbourhoods with
   uniformly random centres (drawn with replacement, the whole patch inside the image), flattened channel-major into
   C*49 values.
4. **Normalization per set and level**: subtract each channel's mean and divide by each channel's (population)
   standard deviation, both taken over all that set's descriptors of that level (the 49 positions included). A
   standard deviation below 1e-6 (a constant set) counts as 1e-6. One consequence, as in ProGAN: a difference that
   is a per-channel affine change of a whole level (the mean colour of the 16x16 level, the contrast of a detail
   level) is not seen.
5. **Distance per level.** If one set has more descriptors (more images), a random subset of it of the other's size
   is used. Then, `num_repeats` (default 4) times, `num_projections` (default 128) random unit directions in the
   C*49 space are drawn; both sets are projected on each direction, the projections sorted, and the mean absolute
   difference between the sorted projections (the 1-D Wasserstein-1 distance) taken. The level's SWD is the mean
   over all 4 x 128 = 512 directions (ProGAN's dir_repeats = 4, dirs_per_repeat = 128), reported x 1e3; `swd_mean`
   is the mean over levels.

Randomness. Everything comes from `seed`: one generator per pyramid level for the patch centres (the same seeds for
both sets, so image i of either set is sampled at the same places: identical sets give exactly 0, the result is
exactly symmetric, and feeding images in batches of any size gives the same result as feeding them at once), one for
the directions and one for the subsets. Results are reproducible for a seed on one machine and torch version.

Cost. The sorts dominate: per level, 2 * num_repeats * num_projections rows of N * descriptors_per_image values.
On the CPU they run in numpy (several times faster than torch.sort there), rows split across torch's thread count.
Descriptors are kept in float32: N * descriptors_per_image * C * 49 * 4 bytes per level and set (about 75 MB for
1000 RGB images per level).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Union

import numpy as np
import torch

from ..resolution import check_resolution, is_valid_resolution

__all__ = ["MIN_RESOLUTION", "PATCH_SIZE", "SWDAccumulator", "laplacian_pyramid", "patch_descriptors",
           "reconstruct_laplacian_pyramid", "sliced_wasserstein_distance"]

PATCH_SIZE = 7          # descriptors are PATCH_SIZE x PATCH_SIZE neighbourhoods
MIN_RESOLUTION = 16     # the coarsest pyramid level of the SWD
_MIN_STD = 1e-6         # floor of the per-channel standard deviation in the normalization
_RANGE_SLACK = 1e-5     # how far float images may stray outside [-1, 1] (then clamped)
_MAX_CHUNK_ELEMENTS = 1 << 26   # bounds the [directions, descriptors] projection blocks (256 MB in float32)
_FEED_BATCH = 256       # sliced_wasserstein_distance feeds its sets in batches of this many images

ImageLike = Union[torch.Tensor, np.ndarray]

# Purposes of the random streams derived from a seed.
_PATCHES, _DIRECTIONS, _SUBSETS = 0, 1, 2


def _generator(seed: int, *stream: int) -> torch.Generator:
    """A CPU generator for one independent stream of `seed` (numpy's SeedSequence mixes the parts)."""
    state = np.random.SeedSequence([seed, *stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_square_nchw(images: torch.Tensor, name: str, min_resolution: int) -> None:
    """[N, C, H, W], N and C >= 1, H = W a power of two >= min_resolution."""
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W], got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if n == 0:
        raise ValueError(f"{name} is empty (no images)")
    if c == 0:
        raise ValueError(f"{name} has no channels (shape {tuple(images.shape)})")
    if h != w or not is_valid_resolution(h, min_resolution):
        raise ValueError(f"{name} must be square with a power-of-two resolution >= {min_resolution}, "
                         f"got H x W = {h} x {w}")


def _as_tensor(images: ImageLike, name: str) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        return torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(images).__name__}")
    return images


def _check_images(images: ImageLike, name: str) -> torch.Tensor:
    """Checks an image set for the SWD (module docstring, point 1) without converting it; returns it as a tensor."""
    images = _as_tensor(images, name)
    _check_square_nchw(images, name, MIN_RESOLUTION)
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"{name} must be uint8 (0..255) or floating point ([-1, 1]), got {images.dtype}; "
                        f"convert integer images with .to(torch.uint8)")
    lo, hi = (v.item() for v in images.aminmax())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if lo < -1 - _RANGE_SLACK or hi > 1 + _RANGE_SLACK:
        raise ValueError(f"{name}: float images must lie in [-1, 1], found values in [{lo:.4g}, {hi:.4g}]; clamp "
                         f"generator output with .clamp(-1, 1), or pass uint8 images (0..255)")
    return images


def _to_unit_range(images: ImageLike, name: str) -> torch.Tensor:
    """Checks an image set for the SWD and returns it as float32 in [-1, 1]."""
    images = _check_images(images, name)
    if images.dtype == torch.uint8:
        return images.float() / 127.5 - 1
    return images.float().clamp(-1, 1)


# ----------------------------------------------------------------------------------------------------------------
# Laplacian pyramid.

def _down_last(x: torch.Tensor) -> torch.Tensor:
    """Blur with [1, 4, 6, 4, 1] / 16 along the last axis (mirror padding: x[-k] = x[k], x[n-1+k] = x[n-1-k]),
    keeping the even samples."""
    n = x.shape[-1]
    padded = torch.cat([x[..., 2:3], x[..., 1:2], x, x[..., n - 2:n - 1], x[..., n - 3:n - 2]], dim=-1)
    taps = [padded[..., k:k + n:2] for k in range(5)]
    return ((taps[0] + taps[4]) + 4 * (taps[1] + taps[3]) + 6 * taps[2]) / 16


def _up_last(x: torch.Tensor) -> torch.Tensor:
    """Along the last axis: a zero after each sample, then the blur with 2 * [1, 4, 6, 4, 1] / 16 and mirror padding
    of that zero-stuffed signal. Computed as its two phases: even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8, odd
    outputs (x[i] + x[i+1]) / 2, where the mirror of the zero-stuffed signal amounts to x[-1] = x[1], x[n] = x[n-1]."""
    n = x.shape[-1]
    padded = torch.cat([x[..., 1:2], x, x[..., n - 1:n]], dim=-1)
    left, centre, right = padded[..., :n], padded[..., 1:n + 1], padded[..., 2:]
    return torch.stack([(left + 6 * centre + right) / 8, (centre + right) / 2], dim=-1).flatten(-2)


def _pyramid_down(x: torch.Tensor) -> torch.Tensor:
    return _down_last(_down_last(x).transpose(2, 3)).transpose(2, 3)


def _pyramid_up(x: torch.Tensor) -> torch.Tensor:
    return _up_last(_up_last(x).transpose(2, 3)).transpose(2, 3)


def laplacian_pyramid(images: ImageLike, min_resolution: int = MIN_RESOLUTION) -> list[torch.Tensor]:
    """The Laplacian pyramid of `images` [N, C, H, W] (H = W a power of two >= min_resolution), finest level first:
    H, H/2, ..., min_resolution; the last level is the Gaussian level itself (module docstring, point 2).

    Floating-point images are used as they are (the pyramid is linear; its dtype is theirs), uint8 images are
    mapped to [-1, 1] in float32 as for the SWD. min_resolution: a power of two >= 4."""
    check_resolution(_check_int(min_resolution, "min_resolution", minimum=4), "min_resolution")
    images = _as_tensor(images, "images")
    _check_square_nchw(images, "images", min_resolution)
    if images.dtype == torch.uint8:
        images = images.float() / 127.5 - 1
    elif not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    gaussian = images
    levels = []
    while gaussian.shape[-1] > min_resolution:
        coarser = _pyramid_down(gaussian)
        levels.append(gaussian - _pyramid_up(coarser))
        gaussian = coarser
    levels.append(gaussian)
    return levels


def reconstruct_laplacian_pyramid(levels: list[torch.Tensor]) -> torch.Tensor:
    """The inverse of `laplacian_pyramid`: upsample from the coarsest level, adding each finer level."""
    if not levels:
        raise ValueError("levels is empty")
    images = levels[-1]
    for level in reversed(levels[:-1]):
        images = _pyramid_up(images) + level
    return images


# ----------------------------------------------------------------------------------------------------------------
# Descriptors.

def patch_descriptors(level: torch.Tensor, num_per_image: int,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """`num_per_image` random 7x7 neighbourhoods of each image of `level` [N, C, H, W] (H, W >= 7), as
    [N * num_per_image, C * 49] (image-major rows, channel-major columns). Centres are uniform over the positions
    whose patch lies inside the image, drawn on the CPU from `generator` (torch's default generator when None), so
    that they do not depend on the device of `level`."""
    num_per_image = _check_int(num_per_image, "num_per_image")
    if not isinstance(level, torch.Tensor) or level.ndim != 4:
        raise ValueError(f"level must be a tensor [N, C, H, W], got "
                         f"{tuple(level.shape) if isinstance(level, torch.Tensor) else type(level).__name__}")
    n, c, h, w = level.shape
    if h < PATCH_SIZE or w < PATCH_SIZE:
        raise ValueError(f"level must be at least {PATCH_SIZE}x{PATCH_SIZE}, got {h}x{w}")
    half = PATCH_SIZE // 2
    upper = torch.tensor([h - half, w - half])
    # One [N, num, 2] draw per call (y, x): the stream is the same whether the images come at once or in batches.
    centres = half + (torch.rand(n, num_per_image, 2, generator=generator, dtype=torch.float64)
                      * (upper - half)).long()
    offsets = torch.arange(-half, half + 1)
    rows = centres[..., 0, None, None] + offsets[:, None]                # [N, num, 7, 1]
    cols = centres[..., 1, None, None] + offsets                         # [N, num, 1, 7]
    index = (rows * w + cols).view(n, 1, num_per_image * PATCH_SIZE ** 2).to(level.device)
    patches = level.reshape(n, c, h * w).gather(2, index.expand(n, c, -1))   # [N, C, num * 49]
    patches = patches.view(n, c, num_per_image, PATCH_SIZE ** 2).transpose(1, 2)
    return patches.reshape(n * num_per_image, c * PATCH_SIZE ** 2)


def _normalize_descriptors(desc: torch.Tensor, num_channels: int) -> torch.Tensor:
    """Per channel: minus the mean, divided by the standard deviation, over all rows and the 49 positions."""
    per_channel = desc.view(desc.shape[0], num_channels, -1)
    std, mean = torch.std_mean(per_channel, dim=(0, 2), correction=0, keepdim=True)
    return ((per_channel - mean) / std.clamp_min(_MIN_STD)).view(desc.shape)


# ----------------------------------------------------------------------------------------------------------------
# Sliced Wasserstein distance between two descriptor sets.

def _sort_rows_(x: torch.Tensor) -> torch.Tensor:
    """Sorts each row of the 2-D tensor x in place and returns it. On the CPU numpy's sort (much faster than
    torch.sort there) on row blocks in torch's number of threads; elsewhere torch.sort."""
    if x.device.type != "cpu":
        return torch.sort(x, dim=1).values
    array = x.numpy()
    workers = min(torch.get_num_threads(), x.shape[0])
    if workers <= 1:
        array.sort(axis=1)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda block: block.sort(axis=1), np.array_split(array, workers)))
    return x


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, num_projections: int, num_repeats: int,
                        generator: torch.Generator) -> float:
    """Mean over num_repeats x num_projections random unit directions of the mean absolute difference between the
    sorted projections of a and b (both [M, D])."""
    m, dim = a.shape
    rows_per_chunk = max(1, min(num_projections, _MAX_CHUNK_ELEMENTS // m))
    total = 0.0
    for _ in range(num_repeats):
        directions = torch.randn(num_projections, dim, generator=generator)
        directions /= directions.norm(dim=1, keepdim=True)
        for chunk in directions.to(a.device).split(rows_per_chunk):
            projected_a = _sort_rows_(chunk @ a.T)
            projected_b = _sort_rows_(chunk @ b.T)
            total += projected_a.sub_(projected_b).abs_().sum(dtype=torch.float64).item()
    return total / (num_repeats * num_projections * m)


# ----------------------------------------------------------------------------------------------------------------
# Public entry points.

class SWDAccumulator:
    """Collects descriptors of two image sets batch by batch (so that N can be large), then computes their SWD.

        acc = SWDAccumulator()
        for batch in reals: acc.add_a(batch)
        for batch in fakes: acc.add_b(batch)
        result = acc.compute()       # {'swd_levels': {64: ..., 32: ..., 16: ...}, 'swd_mean': ...}
        acc.reset_b()                # keep the reals' descriptors, measure new fakes

    Batches take the forms of the module docstring, point 1; all of both sets must share C, H and W. The result
    does not depend on how the sets are split into batches."""

    def __init__(self, descriptors_per_image: int = 128, seed: int = 0):
        self.descriptors_per_image = _check_int(descriptors_per_image, "descriptors_per_image")
        self.seed = _check_int(seed, "seed", minimum=0)
        self._shape: Optional[tuple[int, int, int]] = None       # (C, H, W) of the first batch of either set
        self._descriptors: dict[str, list[list[torch.Tensor]]] = {"a": [], "b": []}
        self._generators: dict[str, list[torch.Generator]] = {"a": [], "b": []}
        self._counts = {"a": 0, "b": 0}

    @property
    def num_images_a(self) -> int:
        return self._counts["a"]

    @property
    def num_images_b(self) -> int:
        return self._counts["b"]

    @property
    def resolutions(self) -> list[int]:
        """The pyramid levels' resolutions, finest first (empty before the first batch)."""
        if self._shape is None:
            return []
        return [self._shape[1] >> k for k in range(int(math.log2(self._shape[1] // MIN_RESOLUTION)) + 1)]

    def add_a(self, images: ImageLike) -> None:
        """Adds a batch of images to set a."""
        self._add("a", images)

    def add_b(self, images: ImageLike) -> None:
        """Adds a batch of images to set b."""
        self._add("b", images)

    def reset_a(self) -> None:
        """Forgets set a (its patch positions start again from the seed)."""
        self._reset("a")

    def reset_b(self) -> None:
        """Forgets set b (its patch positions start again from the seed)."""
        self._reset("b")

    def _reset(self, side: str) -> None:
        self._descriptors[side], self._generators[side], self._counts[side] = [], [], 0
        if not any(self._counts.values()):
            self._shape = None

    @torch.no_grad()
    def _add(self, side: str, images: ImageLike) -> None:
        name = f"images_{side}"
        images = _to_unit_range(images, name)
        shape = tuple(images.shape[1:])
        if self._shape is not None and shape != self._shape:
            raise ValueError(f"{name}: images of shape [C, H, W] = {list(shape)} do not match the "
                             f"{list(self._shape)} of the images added before")
        self._shape = shape
        levels = laplacian_pyramid(images)
        if not self._generators[side]:
            self._generators[side] = [_generator(self.seed, _PATCHES, k) for k in range(len(levels))]
            self._descriptors[side] = [[] for _ in levels]
        for stored, level, generator in zip(self._descriptors[side], levels, self._generators[side]):
            stored.append(patch_descriptors(level, self.descriptors_per_image, generator))
        self._counts[side] += images.shape[0]

    def _level_descriptors(self, side: str) -> list[torch.Tensor]:
        if self._counts[side] == 0:
            raise ValueError(f"images_{side} is empty: add images with add_{side}() before compute()")
        stored = self._descriptors[side]
        for k, parts in enumerate(stored):
            if len(parts) > 1:
                stored[k] = [torch.cat(parts)]
        return [parts[0] for parts in stored]

    @torch.no_grad()
    def compute(self, num_projections: int = 128, num_repeats: int = 4) -> dict:
        """{'swd_levels': {resolution: SWD x 1e3, ...} (finest first), 'swd_mean': their mean}, plain floats.
        num_projections directions per repeat (module docstring, point 5)."""
        num_projections = _check_int(num_projections, "num_projections")
        num_repeats = _check_int(num_repeats, "num_repeats")
        levels_a, levels_b = self._level_descriptors("a"), self._level_descriptors("b")
        num_channels = self._shape[0]
        directions = _generator(self.seed, _DIRECTIONS)
        subsets = _generator(self.seed, _SUBSETS)
        swd_levels = {}
        for resolution, desc_a, desc_b in zip(self.resolutions, levels_a, levels_b):
            desc_a = _normalize_descriptors(desc_a, num_channels)
            desc_b = _normalize_descriptors(desc_b.to(desc_a.device), num_channels)
            size = min(desc_a.shape[0], desc_b.shape[0])
            if desc_a.shape[0] > size:
                desc_a = desc_a[torch.randperm(desc_a.shape[0], generator=subsets)[:size].to(desc_a.device)]
            if desc_b.shape[0] > size:
                desc_b = desc_b[torch.randperm(desc_b.shape[0], generator=subsets)[:size].to(desc_b.device)]
            swd_levels[resolution] = 1e3 * _sliced_wasserstein(desc_a, desc_b, num_projections, num_repeats,
                                                               directions)
        return {"swd_levels": swd_levels, "swd_mean": sum(swd_levels.values()) / len(swd_levels)}


def sliced_wasserstein_distance(images_a: ImageLike, images_b: ImageLike, descriptors_per_image: int = 128,
                                num_projections: int = 128, num_repeats: int = 4, seed: int = 0) -> dict:
    """The SWD between two image sets (module docstring): {'swd_levels': {resolution: SWD x 1e3, ...} (finest
    first), 'swd_mean': their mean}, plain floats. images_a and images_b: [N, C, H, W], uint8 (0..255) or float
    ([-1, 1]), the same C, H = W a power of two >= 16; N may differ. Symmetric in the two sets, 0 for identical
    sets, reproducible for a seed. For sets too large to hold at once, use SWDAccumulator."""
    num_projections = _check_int(num_projections, "num_projections")
    num_repeats = _check_int(num_repeats, "num_repeats")
    accumulator = SWDAccumulator(descriptors_per_image, seed)
    images_a, images_b = _check_images(images_a, "images_a"), _check_images(images_b, "images_b")
    if images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError(f"images_b: images of shape [C, H, W] = {list(images_b.shape[1:])} do not match images_a's "
                         f"{list(images_a.shape[1:])}")
    for batch in images_a.split(_FEED_BATCH):
        accumulator.add_a(batch)
    for batch in images_b.split(_FEED_BATCH):
        accumulator.add_b(batch)
    return accumulator.compute(num_projections, num_repeats)
