"""The built-in dataset: coloured, optionally striped shapes on a plain background, rendered with numpy on the fly."""

import colorsys
from typing import Dict, Union

import numpy as np

from ..resolution import check_resolution
from .base import Dataset, check_size

SHAPES = ("circle", "triangle", "square", "star", "cross")
_POLYGONS = {"triangle": (3, 0.5), "square": (4, np.cos(np.pi / 4)), "star": (5, 0.42)}  # points, inner radius
_CROSS_HALF_WIDTH = 0.3

Factors = Dict[str, Union[int, float]]


def _polygon_distance(u: np.ndarray, v: np.ndarray, points: int, inner: float) -> np.ndarray:
    """Signed distance (positive outside) to a regular polygon or star of circumradius 1 with a vertex on the +u axis:
    the angle is folded into the wedge from a vertex (radius 1) to the middle of its side (radius `inner`), where the
    outline is one straight segment."""
    wedge = np.pi / points
    phi = np.arctan2(v, u) % (2 * wedge)
    phi = np.minimum(phi, 2 * wedge - phi)
    normal = np.array([inner * np.sin(wedge), 1 - inner * np.cos(wedge)])
    normal /= np.hypot(*normal)
    r = np.hypot(u, v)
    return r * np.cos(phi) * normal[0] + r * np.sin(phi) * normal[1] - normal[0]


def _cross_distance(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    w = _CROSS_HALF_WIDTH
    return np.minimum(np.maximum(au - 1, av - w), np.maximum(au - w, av - 1))


def _shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance to the shape of circumradius 1 in its own coordinates, in units of that radius."""
    if shape == "circle":
        return np.hypot(u, v) - 1
    if shape == "cross":
        return _cross_distance(u, v)
    return _polygon_distance(u, v, *_POLYGONS[shape])


def _coverage(distance: np.ndarray, pixels_per_unit: float) -> np.ndarray:
    """Antialiasing: the fraction of a pixel inside, from the signed distance of its centre to the edge."""
    return np.clip(0.5 - distance * pixels_per_unit, 0.0, 1.0)


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value))[:, None, None]


def render(factors: Factors, resolution: int) -> np.ndarray:
    """The image uint8 [3, R, R] that `factors` (as from ShapesDataset.factors) describe, at any resolution."""
    centres = (np.arange(resolution) + 0.5) / resolution
    dx, dy = centres[None, :] - factors["x"], centres[:, None] - factors["y"]
    cos, sin = np.cos(np.radians(factors["rotation"])), np.sin(np.radians(factors["rotation"]))
    radius = factors["radius"]
    u, v = (dx * cos + dy * sin) / radius, (dy * cos - dx * sin) / radius
    shape = _coverage(_shape_distance(SHAPES[factors["shape"]], u, v), radius * resolution)
    foreground = _rgb(factors["hue"], 0.75, 0.95)
    if factors["texture"]:
        angle = np.radians(factors["stripe_angle"])
        phase = (dx * np.cos(angle) + dy * np.sin(angle)) / factors["stripe_period"] % 1.0
        stripes = _coverage(np.abs(phase - 0.5) - 0.25, factors["stripe_period"] * resolution)
        foreground = foreground + stripes * (_rgb(factors["hue"], 0.9, 0.4) - foreground)
    background = _rgb(factors["background_hue"], 0.5, factors["background_value"])
    image = background + shape * (foreground - background)
    return np.rint(image * 255).astype(np.uint8)


def _mirrored(factors: Factors) -> Factors:
    """The factors of the x-flipped image (every shape is symmetric about its own u axis)."""
    return dict(factors, x=1.0 - factors["x"], rotation=(180.0 - factors["rotation"]) % 360.0,
                stripe_angle=(180.0 - factors["stripe_angle"]) % 180.0)


class ShapesDataset(Dataset):
    """Procedural shapes: each image is drawn from its own generator seeded by (seed, index), so any index renders
    the same image in any process; `size` only bounds the index range.

    Factors (`FACTORS`), coarse ones first, then fine ones:
    - coarse: `shape` (index into SHAPES: circle, triangle, square, star, cross), centre `x`, `y` (fractions of the
      width, 0.32..0.68), `radius` (circumradius, 0.2..0.32 of the width), `rotation` (degrees, 0..360);
    - fine: foreground `hue` (0..1), `background_hue` (0..1), `background_value` (brightness, 0.1..0.45),
      `texture` (0 plain, 1 stripes of a darker shade), `stripe_period` (0.1..0.2 of the width) and
      `stripe_angle` (degrees, 0..180; both drawn for every image, used only when texture is 1).
    Edges are antialiased analytically (pixel coverage from the signed distance to the outline).
    Labels: one-hot shape class (label_dim = len(SHAPES)) when use_labels.
    """

    FACTORS = ("shape", "x", "y", "radius", "rotation", "hue", "background_hue", "background_value", "texture",
               "stripe_period", "stripe_angle")
    DEFAULT_SIZE = 20000

    def __init__(self, resolution: int = 32, size: int = DEFAULT_SIZE, seed: int = 0, use_labels: bool = False,
                 mirror: bool = False):
        self.resolution = check_resolution(resolution)
        if not isinstance(size, (int, np.integer)):
            raise ValueError(f"size must be an int, got {size!r}")
        check_size(size, "ShapesDataset size")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self._num_images = int(size)
        self.name = f"shapes{self.resolution}"
        self.num_channels = 3
        self.has_labels = True
        self.label_dim = len(SHAPES) if use_labels else 0
        self.mirror = bool(mirror)
        self.skipped = []

    def _draw(self, i: int) -> Factors:
        rng = np.random.default_rng([self.seed, i])
        return dict(shape=int(rng.integers(len(SHAPES))), x=rng.uniform(0.32, 0.68), y=rng.uniform(0.32, 0.68),
                    radius=rng.uniform(0.2, 0.32), rotation=rng.uniform(0.0, 360.0), hue=rng.uniform(),
                    background_hue=rng.uniform(), background_value=rng.uniform(0.1, 0.45),
                    texture=int(rng.integers(2)), stripe_period=rng.uniform(0.1, 0.2),
                    stripe_angle=rng.uniform(0.0, 180.0))

    def factors(self, idx) -> Factors:
        """The factors of item `idx` (those of a flipped copy describe the flipped image)."""
        i, flip = self._locate(idx)
        factors = self._draw(i)
        return _mirrored(factors) if flip else factors

    def factor_table(self) -> Dict[str, np.ndarray]:
        """Every factor over the whole dataset (len(self) rows): int64 for shape and texture, float64 otherwise."""
        rows = [self.factors(idx) for idx in range(len(self))]
        return {name: np.array([row[name] for row in rows]) for name in self.FACTORS}

    def _label_of(self, factors: Factors) -> np.ndarray:
        label = np.zeros(self.label_dim, np.float32)
        if self.label_dim:
            label[factors["shape"]] = 1.0
        return label

    def _item(self, i: int):
        factors = self._draw(i)
        return render(factors, self.resolution), self._label_of(factors)

    def _label(self, i: int) -> np.ndarray:
        return self._label_of(self._draw(i))
