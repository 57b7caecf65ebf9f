"""The shape recognisability measure (stylegan.metrics.shape_score) validated: real images of the built-in dataset
score near 1, noise, blurred blobs and a generator collapsed onto one shape near 0, two shapes in between."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from stylegan.data.shapes import ShapesDataset
from conftest import tiny_generator
from stylegan.data import ImageDataset
from stylegan.metrics import compute_metric
from stylegan.metrics.shape_score import shape_recognisability


@pytest.fixture(scope="module")
def real():
    dataset = ShapesDataset(resolution=32, size=400)
    images = np.stack([np.asarray(dataset[i][0]) for i in range(400)])
    return images, np.array([dataset.factors(i)["shape"] for i in range(400)])


def test_real_images_score_near_the_top(real):
    result = shape_recognisability(real[0][:120])
    assert result["recognised"] == 1 and result["score"] > 0.95 and result["fit_error"] < 0.01


def test_noise_and_blobs_score_nothing(real):
    noise = np.random.RandomState(0).randint(0, 256, (30, 3, 32, 32)).astype(np.uint8)
    assert shape_recognisability(noise) == dict(score=0.0, recognised=0.0, diversity=0.0,
                                                fit_error=pytest.approx(0.57, abs=0.05))
    blobs = np.stack([gaussian_filter(image.astype(float), sigma=(0, 1.5, 1.5)) for image in real[0][:30]])
    result = shape_recognisability(blobs.round().clip(0, 255).astype(np.uint8))
    assert result["score"] == 0 and 0.05 < result["fit_error"] < 0.2


def test_a_generator_collapsed_onto_fewer_shapes_scores_less(real):
    images, shapes = real
    circles = shape_recognisability(images[shapes == 0][:30])
    assert circles["recognised"] == 1 and circles["diversity"] == 0 and circles["score"] == 0
    two = shape_recognisability(images[shapes <= 1][:40])
    assert two["recognised"] == 1 and 0.3 < two["score"] < 0.45  # log 2 / log 5 = 0.43 at equal shares


def test_bad_input():
    with pytest.raises(ValueError, match="expected uint8 images"):
        shape_recognisability(np.zeros([2, 32, 32, 3], np.uint8))
    with pytest.raises(ValueError, match="N >= 1"):
        shape_recognisability(np.zeros([0, 3, 32, 32], np.uint8))


def test_the_shapes_metric_of_a_generator(tmp_path):
    G = tiny_generator(resolution=16)
    result = compute_metric(G, ShapesDataset(resolution=16, size=100), "shapes200", device="cpu")
    assert result.name == "shapes200" and result.num_gen == 200
    assert set(result.results) == {"shapes200", "shapes200_recognised", "shapes200_diversity", "shapes200_fit_error"}
    assert result.results["shapes200"] == 0  # an untrained generator draws no shape
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (16, 16)).save(tmp_path / f"{i}.png")
    with pytest.raises(ValueError, match="built-in shapes dataset, not on ImageDataset"):
        compute_metric(G, ImageDataset(tmp_path), "shapes1k", device="cpu")
