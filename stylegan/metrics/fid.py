"""The Fréchet distance between two Gaussians, as in the Fréchet Inception Distance (Heusel et al. 2017, "GANs
Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"):

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

The trace of the matrix square root is computed without a general (non-symmetric) square root: S1 S2 is similar to
the symmetric positive semi-definite M = S1^(1/2) S2 S1^(1/2), so tr((S1 S2)^(1/2)) = sum of the square roots of M's
eigenvalues. S1^(1/2) comes from the eigendecomposition of S1. Everything is float64; eigenvalues that rounding
made slightly negative count as 0, so singular covariances (fewer samples than features) are fine.
"""

import numpy as np

__all__ = ["fid_from_features", "frechet_distance"]


def _check_gaussian(mu, sigma, name: str):
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0],) * 2 or mu.shape[0] == 0:
        raise ValueError(f"{name}: mean must be [D] and covariance [D, D], got {list(mu.shape)} and "
                         f"{list(sigma.shape)}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"{name}: mean or covariance contains NaN or infinite values")
    return mu, (sigma + sigma.T) / 2


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(sigma)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2) (module docstring):
    means [D], covariances [D, D] (symmetric positive semi-definite; numpy arrays or anything np.asarray takes).
    Never negative (rounding below 0 gives 0)."""
    mu1, sigma1 = _check_gaussian(mu1, sigma1, "gaussian 1")
    mu2, sigma2 = _check_gaussian(mu2, sigma2, "gaussian 2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the Gaussians have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt), 0.0)


def fid_from_features(features1, features2) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets [N, D] (mean, covariance dividing by N)."""
    gaussians = []
    for name, features in (("features1", features1), ("features2", features2)):
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"{name}: expected [N, D] with N >= 2, got shape {list(x.shape)}")
        mean = x.mean(axis=0)
        centred = x - mean
        gaussians += [mean, centred.T @ centred / x.shape[0]]
    return frechet_distance(*gaussians)
