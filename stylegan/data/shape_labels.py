"""Labels for images of the built-in shapes dataset (stylegan.data.shapes) by analysis by synthesis: the dataset's
factors (shape, centre, size, rotation, colours, texture) that best explain an image, and how well they explain it
(`fit_error`). Used by `python -m stylegan.edit label-shapes` (supervised editing directions with no hand labelling)
and by the shape recognisability metric (stylegan.metrics.shape_score)."""

import colorsys
import functools
import math
from typing import Dict, Optional

import numpy as np

from ..progress import progress
from .shapes import SHAPES, render

__all__ = ["LABEL_FACTORS", "label_shapes_image", "label_shapes_images"]

# The dataset's colours (stylegan.data.shapes.render): foreground HSV (hue, 0.75, 0.95), stripes (hue, 0.9, 0.4),
# background (background_hue, 0.5, background_value).
_FOREGROUND_SV, _STRIPES_SV = (0.75, 0.95), (0.9, 0.4)
_SYMMETRY = {"circle": 0, "triangle": 3, "square": 4, "star": 5, "cross": 4}  # rotations mapping a shape onto itself


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _hues(rgb: np.ndarray) -> np.ndarray:
    """HSV hue in [0, 1) of RGB values [..., 3]."""
    high, low = rgb.max(-1), rgb.min(-1)
    span = np.maximum(high - low, 1e-8)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(high == r, ((g - b) / span) % 6, np.where(high == g, (b - r) / span + 2, (r - g) / span + 4))
    return hue / 6


def _coverage_template(shape: int, x: float, y: float, radius: float, rotation: float, resolution: int) -> np.ndarray:
    """The fraction of each pixel that the shape covers, rendered by the dataset's own renderer."""
    factors = dict(shape=shape, x=x, y=y, radius=radius, rotation=rotation, hue=0.0, background_hue=0.0,
                   background_value=0.0, texture=0, stripe_period=0.15, stripe_angle=0.0)
    return render(factors, resolution)[0] / (255 * _FOREGROUND_SV[1])  # red channel of hsv(0, 0.75, 0.95) on black


@functools.lru_cache(maxsize=None)
def _unit_area(shape: int) -> float:
    """Area of the shape of circumradius 1."""
    resolution, radius = 512, 0.25
    return float(_coverage_template(shape, 0.5, 0.5, radius, 0.0, resolution).sum()) / (resolution * radius) ** 2


def label_shapes_image(image: np.ndarray) -> Dict[str, float]:
    """The shapes-dataset factors that best explain one RGB image, uint8 [3, R, R] (analysis by synthesis).

    Recovered: background colour (median of the border pixels; background_hue, background_value); foreground `hue`
    (the brightest pixels far from the background); per-pixel coverage by foreground and stripe colour (least squares
    on the three known colours), hence `texture` (stripes cover about half of a striped shape), centre `x`, `y` (the
    coverage centroid: every shape is centred on its centroid) and area; then for each shape the radius giving that
    area and the `rotation` (degrees, modulo the shape's rotational symmetry: 120 for the triangle, 90 square and
    cross, 72 star; NaN for the circle) whose rendered coverage fits best, and the `shape` that fits best overall.
    `fit_error` is the RMS coverage residual (0.02 or less for dataset images of 16 pixels and more; larger means
    the image is not explained by the dataset's model, as for a poorly trained network's images).
    Not recovered: stripe_period and stripe_angle. An image with no foreground gets shape -1 and NaN factors.
    Measured on 500 dataset images (mirrored ones included) each at 16, 32 and 64 pixels: shape and texture all
    right; centre within 0.007 of the width, radius within 3% (95%), rotation within 1 degree, hues within 0.011,
    background value within 0.002. At 8 pixels: 99.6% of shapes, radius within 11% (95%)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != 3 or image.shape[1] != image.shape[2]:
        raise ValueError(f"label_shapes_image: expected uint8 [3, R, R], got {image.shape}")
    resolution = image.shape[1]
    x = image.astype(np.float64).transpose(1, 2, 0) / 255
    background = np.median(np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]]), axis=0)
    background_hue, _, background_value = colorsys.rgb_to_hsv(*background)
    no_shape = dict(shape=-1, x=np.nan, y=np.nan, radius=np.nan, rotation=np.nan, hue=np.nan,
                    background_hue=background_hue, background_value=background_value, texture=-1, fit_error=np.nan)
    far = np.linalg.norm(x - background, axis=-1)
    if far.max() < 0.05:
        return no_shape
    value = x.max(-1)
    candidates = far > 0.5 * far.max()
    brightest = candidates & (value >= value[candidates].max() - 0.08)
    hue = float(np.angle(np.exp(2j * np.pi * _hues(x[brightest])).sum()) / (2 * np.pi)) % 1.0
    foreground, stripes = _rgb(hue, *_FOREGROUND_SV), _rgb(hue, *_STRIPES_SV)
    basis = np.stack([foreground - background, stripes - background], axis=1)  # [3, 2]
    solve = np.linalg.solve(basis.T @ basis + 1e-4 * np.eye(2), basis.T)
    parts = np.clip((x - background).reshape(-1, 3) @ solve.T, 0, None).reshape(resolution, resolution, 2)
    coverage = np.clip(parts.sum(-1), 0, 1)
    inside = coverage > 0.5
    stripe_share = parts[..., 1][inside].sum() / max(parts[inside].sum(), 1e-8)
    total = coverage.sum()
    if total < 0.5:  # less than half a pixel in the foreground or stripe colour
        return no_shape
    centres = (np.arange(resolution) + 0.5) / resolution
    cx, cy = float((coverage.sum(0) * centres).sum() / total), float((coverage.sum(1) * centres).sum() / total)
    area = total / resolution ** 2

    def error(shape, radius, rotation):
        return float(np.square(coverage - _coverage_template(shape, cx, cy, radius, rotation, resolution)).sum())

    best = None
    for shape, name in enumerate(SHAPES):
        radius = math.sqrt(area / _unit_area(shape))
        period = 360 / _SYMMETRY[name] if _SYMMETRY[name] else 0
        if period:  # a 6 degree grid over one period, then 1 degree steps around the best
            coarse = min(np.arange(0, period, 6.0), key=lambda a: error(shape, radius, a))
            rotation = min(coarse + np.arange(-3.0, 3.5), key=lambda a: error(shape, radius, a)) % period
        else:
            rotation = np.nan
        e = error(shape, radius, 0.0 if not period else rotation)
        if best is None or e < best[0]:
            best = (e, shape, radius, rotation)
    e, shape, radius, rotation = best
    return dict(shape=shape, x=cx, y=cy, radius=radius, rotation=float(rotation), hue=hue,
                background_hue=background_hue, background_value=background_value, texture=int(stripe_share > 0.2),
                fit_error=math.sqrt(e / resolution ** 2))


LABEL_FACTORS = ("shape", "x", "y", "radius", "rotation", "hue", "background_hue", "background_value", "texture",
                 "fit_error")


def label_shapes_images(images: np.ndarray, what: Optional[str] = None) -> Dict[str, np.ndarray]:
    """label_shapes_image for each of images uint8 [N, 3, R, R]: a dict of arrays [N] (int64 for shape and
    texture) keyed by LABEL_FACTORS."""
    rows = [label_shapes_image(image) for image in (progress(images, what) if what else images)]
    return {k: np.array([row[k] for row in rows], dtype=np.int64 if k in ("shape", "texture") else np.float64)
            for k in LABEL_FACTORS}
