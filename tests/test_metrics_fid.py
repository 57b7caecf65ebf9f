"""The Fréchet distance (stylegan.metrics.fid) against closed forms, and the running feature statistics behind it
(stylegan.metrics.features.FeatureStats)."""

import numpy as np
import pytest
import torch

from stylegan.metrics import FeatureStats, fid_from_features, frechet_distance


def random_covariance(rng, dim, rank=None):
    a = rng.standard_normal((dim, rank or dim))
    return a @ a.T / (rank or dim)


def test_identical_gaussians_give_zero():
    rng = np.random.default_rng(0)
    for dim in (1, 5, 64):
        mu, sigma = rng.standard_normal(dim), random_covariance(rng, dim)
        assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-9)
        assert frechet_distance(mu, sigma, mu.copy(), sigma.copy()) >= 0


def test_commuting_covariances_closed_form():
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    # The same eigenbasis, rotated: still commuting, same distance.
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    assert frechet_distance(q @ mu1, q @ np.diag(a) @ q.T, q @ mu2, q @ np.diag(b) @ q.T) == \
        pytest.approx(expected, rel=1e-10)


def _fid_2x2(mu1, s1, mu2, s2):
    """In two dimensions, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for the PSD M similar to S1 S2."""
    trace_sqrt = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt


def test_non_commuting_covariances_closed_form():
    s1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    s2 = np.array([[1.0, -0.7], [-0.7, 3.0]])
    assert not np.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = np.array([0.5, -1.0]), np.array([2.0, 0.25])
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_fid_2x2(mu1, s1, mu2, s2), rel=1e-12)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(_fid_2x2(mu1, s1, mu2, s2), rel=1e-12)
    # A singular covariance (a degenerate Gaussian): det = 0 in the closed form (the square root of a zero eigenvalue
    # turns rounding of 1e-16 into 1e-8).
    s3 = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert frechet_distance(mu1, s1, mu2, s3) == pytest.approx(_fid_2x2(mu1, s1, mu2, s3), rel=1e-7)


def test_matches_eigenvalues_of_the_product_in_high_dimension():
    # tr sqrt(S1 S2) is the sum of the square roots of the (real, non-negative) eigenvalues of S1 S2.
    rng = np.random.default_rng(2)
    for rank in (None, 20):                       # full rank, and rank-deficient (fewer samples than features)
        s1, s2 = random_covariance(rng, 48, rank), random_covariance(rng, 48)
        mu1, mu2 = rng.standard_normal(48), rng.standard_normal(48)
        eigenvalues = np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eigenvalues).sum()
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_from_features_uses_sample_moments():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 8)) * 2 + 1
    y = rng.standard_normal((200, 8)) @ rng.standard_normal((8, 8))
    moments = [f(v) for v in (x, y) for f in (lambda v: v.mean(0), lambda v: np.cov(v, rowvar=False, bias=True))]
    assert fid_from_features(x, y) == pytest.approx(frechet_distance(*moments), rel=1e-10)
    assert fid_from_features(x, x) == pytest.approx(0, abs=1e-9)
    # Only the means differ: the squared distance between them.
    assert fid_from_features(x, x + 0.5) == pytest.approx(8 * 0.25, rel=1e-9)


@pytest.mark.parametrize("args,match", [
    ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), r"gaussian 1: mean must be \[D\]"),
    ((np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "different dimensions"),
    ((np.zeros(2), np.full((2, 2), np.nan), np.zeros(2), np.eye(2)), "NaN"),
    ((np.zeros(2), np.eye(2), np.array([np.inf, 0]), np.eye(2)), "gaussian 2.*infinite"),
])
def test_bad_gaussians_raise(args, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)


def test_from_features_bad_input_raises():
    with pytest.raises(ValueError, match=r"features2: expected \[N, D\] with N >= 2"):
        fid_from_features(np.zeros((4, 2)), np.zeros((1, 2)))


# ----------------------------------------------------------------------------------------------------------------
# FeatureStats.

def test_feature_stats_in_any_batches_match_numpy():
    x = torch.randn(103, 6, dtype=torch.float64) * 3 + 5
    stats = FeatureStats(capture_all=True)
    for batch in x.float().split(17):
        stats.append(batch)
    mean, cov = stats.mean_cov()
    xf = x.float().double().numpy()
    np.testing.assert_allclose(mean, xf.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(xf, rowvar=False, bias=True), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(stats.features(), x.float().numpy())
    assert stats.num_items == 103 and not stats.is_full


def test_feature_stats_stop_at_max_items_and_round_trip():
    stats = FeatureStats(capture_all=True, max_items=10)
    stats.append(torch.arange(24.0).view(8, 3))
    stats.append(torch.arange(24.0).view(8, 3) + 100)
    stats.append(torch.ones(4, 3))
    assert stats.num_items == 10 and stats.is_full
    assert stats.features()[-1].tolist() == [103.0, 104.0, 105.0]
    copy = FeatureStats.from_arrays(stats.to_arrays())
    np.testing.assert_array_equal(copy.features(), stats.features())
    for a, b in zip(copy.mean_cov(), stats.mean_cov()):
        np.testing.assert_array_equal(a, b)
    without = stats.to_arrays()
    del without["features"]
    assert not FeatureStats.from_arrays(without).capture_all


def test_feature_stats_bad_use_raises():
    stats = FeatureStats()
    with pytest.raises(ValueError, match="no features"):
        stats.mean_cov()
    stats.append(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="4 columns, earlier ones 3"):
        stats.append(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        stats.append(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="capture_all"):
        stats.features()
    arrays = stats.to_arrays()
    arrays["gram"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="inconsistent"):
        FeatureStats.from_arrays(arrays)
