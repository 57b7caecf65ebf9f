"""Training data: the built-in procedural shapes, and PNG/JPEG images from a folder or zip (NVIDIA's dataset_tool.py
layout included). Every dataset gives (image uint8 [C, R, R], label float32 [label_dim]) items."""

from typing import Optional

from .base import MIN_SIZE, Dataset, check_max_size
from .image_dataset import MAX_LABEL_DIM, ImageDataset, check_on_corrupt, export_zip
from .shapes import SHAPES, ShapesDataset, render

__all__ = ["MAX_LABEL_DIM", "MIN_SIZE", "SHAPES", "Dataset", "ImageDataset", "ShapesDataset", "export_zip",
           "open_dataset", "render"]


def open_dataset(path=None, resolution: Optional[int] = None, use_labels: bool = False, mirror: bool = False,
                 max_size: Optional[int] = None, on_corrupt: str = "skip") -> Dataset:
    """Opens the training data.

    path: None for the built-in ShapesDataset (resolution 32 unless given; max_size caps its
        ShapesDataset.DEFAULT_SIZE images), else a directory or a .zip of PNG/JPEG images (found recursively, sorted by
        path; files whose name starts with '.' and other files are ignored), labels from a top-level dataset.json.
    resolution: None to require one square power-of-two size for all images; else a power of two >= 4: each image is
        center-cropped to a square and resized (Lanczos) to it.
    use_labels: label_dim > 0 (an error when the data has no labels); int classes become one-hot vectors. Labels must
        be finite float32 numbers, with at most MAX_LABEL_DIM dimensions (classes).
    mirror: append an x-flipped copy of every image (len doubles; item n + i is item i flipped).
    max_size: keep only the first max_size readable images in sorted order (at least MIN_SIZE = 2).
    on_corrupt: 'skip' leaves out images whose header cannot be read or that are cut short (a PNG without its final
        IEND chunk, such as a half-written file) with a warning (see dataset.skipped); an image
        that fails later, while decoding, is skipped with a warning and replaced by the next one that decodes (its
        label with it). 'error' raises a ValueError naming the file in both cases.
    Grayscale images give 1 channel, colour ones 3 (palettes expanded, alpha dropped with a warning); a mix of
    grayscale and colour is an error, as are fewer than MIN_SIZE images.
    """
    check_on_corrupt(on_corrupt)
    if path is not None:
        return ImageDataset(path, resolution=resolution, use_labels=use_labels, mirror=mirror, max_size=max_size,
                            on_corrupt=on_corrupt)
    check_max_size(max_size)
    size = min(ShapesDataset.DEFAULT_SIZE, max_size or ShapesDataset.DEFAULT_SIZE)
    return ShapesDataset(resolution=32 if resolution is None else resolution, size=size, use_labels=use_labels,
                         mirror=mirror)
