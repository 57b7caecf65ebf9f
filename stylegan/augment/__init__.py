"""Adaptive discriminator augmentation (ADA): the augmentation pipeline applied to everything D sees, the
controller that tunes its probability p, and a bilinear sampler differentiable to any order (for R1 through it).

Typical use: ``pipe = make_augment_pipe('bgc', p=0)``, D sees ``pipe(images)``, and with ``--aug ada``
``AdaController(pipe, target=0.6)`` adjusts ``pipe.p`` from the signs of D's outputs on the augmented reals.
"""

from .ada import AdaController
from .grid_sample import grid_sample
from .pipe import MULTIPLIERS, PRESETS, AugmentPipe, make_augment_pipe, warp_affine

__all__ = ["AdaController", "AugmentPipe", "MULTIPLIERS", "PRESETS", "grid_sample", "make_augment_pipe",
           "warp_affine"]
