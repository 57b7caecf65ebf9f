"""The Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of the
squared maximum mean discrepancy between two feature sets under the polynomial kernel k(x, y) = (x.y / D + 1)^3,
averaged over random subsets, as StyleGAN2-ADA's kid50k_full computes it.

For each of `num_subsets` subsets, m = min(len(real), len(gen), max_subset_size) rows are drawn without replacement
from each set, and

    MMD^2_u = sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2.

The estimate is unbiased: its expectation is 0 when both sets come from one distribution, so single values may be
negative. The KID is the mean over the subsets. Computed in float64 (on `device`, the CPU by default).
"""

from typing import Optional

import numpy as np
import torch

__all__ = ["kernel_inception_distance", "kid_subset_estimates", "mmd2_unbiased"]


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD^2 (module docstring) between two sets of m >= 2 rows [m, D] each."""
    m, dim = x.shape
    if y.shape != x.shape or m < 2:
        raise ValueError(f"mmd2_unbiased: x and y must both be [m, D] with m >= 2, got {list(x.shape)} and "
                         f"{list(y.shape)}")
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / m ** 2)


def _check_features(features, name: str) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 2 or features.shape[1] < 1:
        raise ValueError(f"{name}: expected features [N, D] with N >= 2, got shape {list(features.shape)}")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return features


def kid_subset_estimates(real, gen, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0,
                         device: Optional[torch.device] = None) -> np.ndarray:
    """The MMD^2_u of each of `num_subsets` random subset pairs (module docstring), float64 [num_subsets].
    real, gen: features [N, D] (numpy or anything np.asarray takes; N may differ, D must not)."""
    real, gen = _check_features(real, "real"), _check_features(gen, "gen")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"real and gen features differ in dimension: {real.shape[1]} and {gen.shape[1]}")
    for name, value, minimum in (("num_subsets", num_subsets, 1), ("max_subset_size", max_subset_size, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    m = min(real.shape[0], gen.shape[0], max_subset_size)
    rng = np.random.default_rng(seed)
    real_t = torch.from_numpy(real).to(device or "cpu", torch.float64)
    gen_t = torch.from_numpy(gen).to(device or "cpu", torch.float64)
    estimates = np.empty(num_subsets)
    for s in range(num_subsets):
        x = gen_t[torch.from_numpy(rng.choice(gen.shape[0], m, replace=False)).to(gen_t.device)]
        y = real_t[torch.from_numpy(rng.choice(real.shape[0], m, replace=False)).to(real_t.device)]
        estimates[s] = mmd2_unbiased(x, y)
    return estimates


def kernel_inception_distance(real, gen, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0,
                              device: Optional[torch.device] = None) -> float:
    """The KID: the mean of kid_subset_estimates (same arguments). Reproducible for a seed."""
    return float(kid_subset_estimates(real, gen, num_subsets, max_subset_size, seed, device).mean())
