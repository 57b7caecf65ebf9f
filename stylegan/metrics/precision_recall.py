"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
Generative Models"), with k-nearest-neighbour manifolds as StyleGAN2-ADA's pr50k3 computes them.

The manifold of a feature set is the union of balls around its points, each with the radius of that point's k-th
nearest neighbour in the set (the point itself not counted). Precision is the fraction of generated points inside
the real manifold; recall the fraction of real points inside the generated manifold.

The paper and NVIDIA's metric use VGG16 features; here the features are whatever the caller extracts (the runner:
the FID's Inception features by default, and it names the feature network in the result, e.g.
'pr50k3_full_inception_precision', because those values differ from VGG16-based ones).

Distances are compared squared, in float32 (no TF32), on the features' device, in blocks of at most
`block_elements` distances. (NVIDIA's metric rounds features and distances to float16.)
"""

from typing import Optional

import numpy as np
import torch

from .features import full_float32

__all__ = ["manifold_radii", "manifold_coverage", "precision_recall"]

_BLOCK_ELEMENTS = 1 << 26


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[len(a), len(b)] squared Euclidean distances (>= 0)."""
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2 * a @ b.T).clamp_min_(0)


def _rows_per_block(num_cols: int, block_elements: int) -> int:
    return max(1, block_elements // max(num_cols, 1))


def manifold_radii(features: torch.Tensor, k: int = 3, block_elements: int = _BLOCK_ELEMENTS) -> torch.Tensor:
    """The squared distance from each row of features [N, D] (N > k) to its k-th nearest other row, [N]."""
    if features.shape[0] <= k:
        raise ValueError(f"a manifold with k={k} needs more than {k} points, got {features.shape[0]}")
    return torch.cat([_squared_distances(rows, features).kthvalue(k + 1, dim=1).values
                      for rows in features.split(_rows_per_block(features.shape[0], block_elements))])


def manifold_coverage(manifold: torch.Tensor, radii: torch.Tensor, probes: torch.Tensor,
                      block_elements: int = _BLOCK_ELEMENTS) -> float:
    """The fraction of probes [P, D] within the squared radius radii[j] of some manifold point j ([M, D], [M])."""
    inside = [(_squared_distances(rows, manifold) <= radii).any(dim=1)
              for rows in probes.split(_rows_per_block(manifold.shape[0], block_elements))]
    return float(torch.cat(inside).float().mean())


def _as_features(features, name: str, device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name}: expected features [N, D], got shape {list(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.to(device or x.device, torch.float32)


def precision_recall(real, gen, k: int = 3, device: Optional[torch.device] = None,
                     block_elements: int = _BLOCK_ELEMENTS) -> tuple:
    """(precision, recall) of generated features `gen` against real features `real` ([N, D] each, N > k; numpy or
    torch), with k-nearest-neighbour manifolds (module docstring). On `device` (default: that of the tensors)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    real, gen = _as_features(real, "real", device), _as_features(gen, "gen", device)
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"real and gen features differ in dimension: {real.shape[1]} and {gen.shape[1]}")
    gen = gen.to(real.device)
    with full_float32():
        precision = manifold_coverage(real, manifold_radii(real, k, block_elements), gen, block_elements)
        recall = manifold_coverage(gen, manifold_radii(gen, k, block_elements), real, block_elements)
    return precision, recall
