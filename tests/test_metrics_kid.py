"""The kernel inception distance (stylegan.metrics.kid): the estimator against an obvious double loop, its
unbiasedness, subsets, and bad input."""

import numpy as np
import pytest
import torch

from stylegan.metrics import kernel_inception_distance
from stylegan.metrics.kid import kid_subset_estimates, mmd2_unbiased


def _mmd2_loops(x, y):
    """The unbiased MMD^2 with the kernel (x.y / d + 1)^3, written out term by term."""
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_estimator_matches_the_definition():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((7, 5)) + 0.3
    got = mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(_mmd2_loops(x, y), rel=1e-12)
    # With whole sets as the only subset (m = N), every subset gives this value.
    estimates = kid_subset_estimates(y, x, num_subsets=3)
    np.testing.assert_allclose(estimates, _mmd2_loops(x, y), rtol=1e-12)


def test_subsets_have_the_smaller_size():
    rng = np.random.default_rng(1)
    real, gen = rng.standard_normal((40, 4)), rng.standard_normal((25, 4))
    # m = min(40, 25, max_subset_size): with max_subset_size 10 the subsets differ from each other.
    small = kid_subset_estimates(real, gen, num_subsets=5, max_subset_size=10, seed=3)
    assert len(set(small.round(12))) == 5
    whole = kid_subset_estimates(real, gen, num_subsets=5, max_subset_size=1000, seed=3)
    assert len(set(whole.round(12))) == 5       # 25 of the 40 real rows: subsets of the real set still differ


def test_unbiased_for_one_distribution_positive_for_two():
    rng = np.random.default_rng(2)
    cov = np.diag(np.linspace(0.5, 2, 16))
    same, other = [], []
    for _ in range(12):
        real = rng.multivariate_normal(np.zeros(16), cov, 300)
        gen = rng.multivariate_normal(np.zeros(16), cov, 300)
        shifted = rng.multivariate_normal(np.full(16, 0.3), cov, 300)
        same.append(kernel_inception_distance(real, gen, num_subsets=10, max_subset_size=100))
        other.append(kernel_inception_distance(real, shifted, num_subsets=10, max_subset_size=100))
    same, other = np.array(same), np.array(other)
    # Expectation 0: the mean of independent estimates is within 3 standard errors of 0; single values straddle 0.
    assert abs(same.mean()) < 3 * same.std(ddof=1) / np.sqrt(len(same))
    assert (same < 0).any() and (same > 0).any()
    assert (other > same.max()).all() and other.mean() > 10 * same.std(ddof=1)


def test_reproducible_for_a_seed():
    rng = np.random.default_rng(3)
    real, gen = rng.standard_normal((60, 3)), rng.standard_normal((50, 3))
    a = kernel_inception_distance(real, gen, num_subsets=4, max_subset_size=20, seed=7)
    assert kernel_inception_distance(real, gen, num_subsets=4, max_subset_size=20, seed=7) == a
    assert kernel_inception_distance(real, gen, num_subsets=4, max_subset_size=20, seed=8) != a
    assert kernel_inception_distance(real.astype(np.float32), gen, num_subsets=4, max_subset_size=20, seed=7) == \
        pytest.approx(a, rel=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(real=np.zeros((1, 3))), r"real: expected features \[N, D\] with N >= 2"),
    (dict(gen=np.zeros(3)), "gen: expected features"),
    (dict(gen=np.zeros((5, 4))), "differ in dimension: 3 and 4"),
    (dict(gen=np.full((5, 3), np.nan)), "gen contains NaN"),
    (dict(num_subsets=0), "num_subsets"),
    (dict(max_subset_size=1), "max_subset_size"),
])
def test_bad_input_raises(kwargs, match):
    args = dict(real=np.zeros((5, 3)), gen=np.zeros((5, 3)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kernel_inception_distance(**args)
