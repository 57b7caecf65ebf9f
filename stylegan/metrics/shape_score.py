"""Shape recognisability: how many of a generator's images show one of the built-in dataset's shapes clearly enough to
name it, and how many different shapes those are. For networks trained on the built-in shapes dataset only.

Each image is labelled by analysis by synthesis (stylegan.data.shape_labels): the dataset's factors that best explain
it, and the RMS residual of the fit. An image is recognised when that residual is at most RECOGNISED_FIT_ERROR, which
is 3.5 times the 99th percentile of real images at 32x32 (0.014; median 0.005) and a tenth of uniform noise's (0.57);
blobs in roughly the right colours and places fit at 0.2-0.4. It is strict: real images blurred by a Gaussian of
0.7 pixels are 41% recognised, of 1 pixel (stripes gone) none. The score multiplies the recognised fraction by the
normalized entropy of the recognised shapes (1 when the five shapes are equally common, 0 when one shape is all there
is), so a generator that draws one shape perfectly scores 0, as does noise, and real images score about 1. Measured
in tests/test_shape_score.py."""

import math
from typing import Dict

import numpy as np

from ..data.shape_labels import label_shapes_images
from ..data.shapes import SHAPES

RECOGNISED_FIT_ERROR = 0.05


def shape_recognisability(images: np.ndarray) -> Dict[str, float]:
    """For uint8 images [N, 3, R, R]: score (recognised x diversity), recognised (the fraction of images whose fit
    error is at most RECOGNISED_FIT_ERROR), diversity (the entropy of the recognised images' shapes over log of the
    number of shapes; 0 when none is recognised) and fit_error (the median fit error, a continuous signal of
    progress: nan for images with no foreground count as unrecognised)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"shape_recognisability: expected uint8 images [N, 3, R, R] with N >= 1, got "
                         f"{images.dtype} {list(images.shape)}")
    labels = label_shapes_images(images)
    fit_error = labels["fit_error"]
    recognised = (labels["shape"] >= 0) & (np.nan_to_num(fit_error, nan=np.inf) <= RECOGNISED_FIT_ERROR)
    counts = np.bincount(labels["shape"][recognised], minlength=len(SHAPES)).astype(np.float64)
    diversity = 0.0
    if counts.sum() > 0:
        p = counts[counts > 0] / counts.sum()
        diversity = max(0.0, float(-(p * np.log(p)).sum() / math.log(len(SHAPES))))  # not -0.0 for one shape
    fraction = float(recognised.mean())
    return dict(score=fraction * diversity, recognised=fraction, diversity=diversity,
                fit_error=float(np.median(np.nan_to_num(fit_error, nan=np.inf))))
