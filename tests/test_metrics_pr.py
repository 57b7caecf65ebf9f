"""Precision and recall with k-nearest-neighbour manifolds (stylegan.metrics.precision_recall) on point sets whose
answers are known by construction."""

import importlib

import numpy as np
import pytest
import torch

from stylegan.metrics import precision_recall
from stylegan.metrics.features import TF32_SWITCHES, tf32_settings
from stylegan.metrics.precision_recall import manifold_coverage, manifold_radii

pr_module = importlib.import_module("stylegan.metrics.precision_recall")   # the package's name is the function


def line(*xs, dim=3):
    """Points (x, 0, 0, ...)."""
    points = np.zeros((len(xs), dim), dtype=np.float32)
    points[:, 0] = xs
    return points


def test_radii_are_kth_neighbour_distances():
    points = torch.from_numpy(line(0, 1, 3, 7))
    # Squared distances to the 1st / 2nd nearest other point.
    assert manifold_radii(points, k=1).tolist() == [1, 1, 4, 16]
    assert manifold_radii(points, k=2).tolist() == [9, 4, 9, 36]


def test_hand_built_sets():
    # Real points at 0, 1, ..., 9 on a line: with k = 1 each ball has radius 1; together they cover [-1, 10].
    real = line(*range(10))
    # Generated: 4 points inside that (-0.8, 0.5, 2, 4.4), 6 far outside it.
    gen = line(0.5, 2, 4.4, -0.8, 50, 60, 70, 80, 90, 100)
    # The generated balls (k = 1): 0.5 +- 1.3, 2 +- 1.5, 4.4 +- 2.4, -0.8 +- 1.3 and radius 10 around the far ones
    # hold the real points 0..6, not 7, 8, 9.
    assert precision_recall(real, gen, k=1) == pytest.approx((0.4, 0.7))
    # Swapping the roles swaps precision and recall.
    assert precision_recall(gen, real, k=1) == pytest.approx((0.7, 0.4))
    # k = 9: every real ball reaches at least 5 units, so -0.8 .. 4.4 stay inside, the far points outside.
    assert precision_recall(real, gen, k=9)[0] == pytest.approx(0.4)


def test_identical_sets_and_disjoint_sets():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 8)).astype(np.float32)
    assert precision_recall(a, a.copy(), k=3) == (1.0, 1.0)
    assert precision_recall(a, a + 100, k=3) == (0.0, 0.0)


def test_mode_collapse_keeps_precision_loses_recall():
    # Real data: two clusters. Generated: all in one of them, a bit tighter.
    rng = np.random.default_rng(1)
    real = np.concatenate([rng.standard_normal((100, 2)), rng.standard_normal((100, 2)) + 20])
    gen = rng.standard_normal((200, 2)) * 0.5
    precision, recall = precision_recall(real, gen, k=3)
    assert precision > 0.95 and 0.3 < recall < 0.55


def test_blocks_do_not_change_the_result():
    rng = np.random.default_rng(2)
    real, gen = rng.standard_normal((37, 4)), rng.standard_normal((29, 4)) * 1.3
    expected = precision_recall(real, gen, k=3)
    assert precision_recall(torch.from_numpy(real), torch.from_numpy(gen), k=3, block_elements=50) == expected
    assert precision_recall(real, gen, k=3, block_elements=1) == expected
    manifold = torch.from_numpy(real).float()
    assert manifold_coverage(manifold, manifold_radii(manifold, 3), torch.from_numpy(gen).float(), 7) == expected[0]


def test_device_matches_cpu(device):
    rng = np.random.default_rng(3)
    real, gen = rng.standard_normal((64, 16)), rng.standard_normal((64, 16)) + 0.5
    assert precision_recall(real, gen, device=device) == pytest.approx(precision_recall(real, gen), abs=1 / 64)


def allow_tf32(monkeypatch):
    """Lets CUDA use TF32 (every switch on) until the test ends."""
    for owner, name, full in TF32_SWITCHES:
        monkeypatch.setattr(owner, name, "tf32" if isinstance(full, str) else True)


def test_distances_without_tf32(monkeypatch):
    """Squared distances from matrix products lose their small values to TF32's 10-bit mantissa: off inside, as in
    NVIDIA's metrics, and restored afterwards."""
    allow_tf32(monkeypatch)
    before, seen, distances = tf32_settings(), [], pr_module._squared_distances

    def recording(a, b):
        seen.append(tf32_settings())
        return distances(a, b)

    monkeypatch.setattr(pr_module, "_squared_distances", recording)
    precision_recall(line(*range(6)), line(*range(1, 7)), k=1)
    assert seen == [[full for *_, full in TF32_SWITCHES]] * 4 and tf32_settings() == before != seen[0]


@pytest.mark.parametrize("kwargs,match", [
    (dict(k=0), "k must be an int >= 1"),
    (dict(real=np.zeros((3, 2))), "needs more than 3 points, got 3"),
    (dict(gen=np.zeros((5, 3))), "differ in dimension"),
    (dict(gen=np.zeros(5)), r"gen: expected features \[N, D\]"),
    (dict(real=np.full((5, 2), np.inf)), "real contains NaN or infinite"),
])
def test_bad_input_raises(kwargs, match):
    args = dict(real=np.zeros((5, 2)), gen=np.zeros((5, 2)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        precision_recall(**args)
