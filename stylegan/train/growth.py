"""Progressive growing (Karras et al. 2018, used by the StyleGAN paper): training starts at a low resolution; each
higher resolution is faded in over `phase_kimg` thousand images (alpha from 0 to 1), then trained alone for
`phase_kimg` more, until the final resolution, which then stays."""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from ..resolution import check_resolution


class Growth(NamedTuple):
    """Progressive growing's state: the resolution both networks run at and the fade-in of that resolution."""

    resolution: int
    alpha: float


def growth_kwargs(growth: Optional[Growth]) -> dict:
    """The keyword arguments of a growing network (resolution, alpha) for a growth state; none without growth."""
    return {} if growth is None else growth._asdict()


@dataclass(frozen=True)
class GrowthSchedule:
    start_resolution: int
    final_resolution: int
    phase_kimg: float

    def __post_init__(self):
        for name in ("start_resolution", "final_resolution"):
            check_resolution(getattr(self, name), f"growth schedule: {name}")
        if self.start_resolution > self.final_resolution:
            raise ValueError(f"growth schedule: start_resolution {self.start_resolution} is above the final "
                             f"resolution {self.final_resolution}")
        if not self.phase_kimg > 0:
            raise ValueError(f"growth schedule: phase_kimg must be > 0, got {self.phase_kimg}")

    @property
    def total_kimg(self) -> float:
        """Thousands of images until the final resolution is fully faded in and has had its first phase."""
        steps = (self.final_resolution // self.start_resolution).bit_length() - 1
        return self.phase_kimg * (2 * steps + 1)

    def at(self, nimg: int) -> Growth:
        """The growth state after nimg images: alpha < 1 while that resolution is being faded in."""
        phase = int(nimg // (self.phase_kimg * 1000))
        frac = nimg / (self.phase_kimg * 1000) - phase
        resolution = self.start_resolution << ((phase + 1) // 2)
        if resolution >= self.final_resolution:
            if resolution > self.final_resolution or phase % 2 == 0:
                return Growth(self.final_resolution, 1.0)
        return Growth(resolution, min(frac, 1.0) if phase % 2 == 1 else 1.0)


def resize_reals(images: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Real images [N, C, R, R] as the discriminator sees them at (resolution, alpha): averaged down to resolution and,
    while it fades in, blended with the half-resolution image upsampled (what the generator's fade-in produces)."""
    if images.shape[-1] != resolution:
        images = F.avg_pool2d(images, images.shape[-1] // resolution)
    if alpha < 1 and resolution > 4:
        low = F.interpolate(F.avg_pool2d(images, 2), scale_factor=2, mode="nearest")
        images = torch.lerp(low, images, alpha)
    return images
