"""The dataset interface the training loop reads: square uint8 images [C, R, R] with float32 labels, x-flipped copies
appended when mirrored."""

import abc
import operator
from typing import List, Optional, Tuple

import numpy as np
import torch

MIN_SIZE = 2  # fewer images than this is refused: one image is no distribution to learn


def check_size(size: int, where: str) -> None:
    """Refuses a dataset of fewer than MIN_SIZE images; `where` says which data and why so few."""
    if size < MIN_SIZE:
        raise ValueError(f"{where}: {size} image(s), at least {MIN_SIZE} are needed")


def check_max_size(max_size: Optional[int]) -> None:
    if max_size is not None and (not isinstance(max_size, (int, np.integer)) or max_size < MIN_SIZE):
        raise ValueError(f"max_size must be None or an int >= {MIN_SIZE}, got {max_size!r}")


class Dataset(torch.utils.data.Dataset, abc.ABC):
    """Base of every dataset: indexing, mirroring and labels; subclasses render or decode the images.

    Attributes: `name` (short, filesystem-safe), `resolution`, `num_channels`, `label_dim` (0 when labels are not
    used), `has_labels` (the data carries labels, used or not), `mirror`, `skipped` (file name, reason) of images
    skipped as unreadable so far (in this process: records made in DataLoader workers stay there).

    Subclasses set `_num_images` and implement `_item(i) -> (image [C, R, R] uint8, label)` and `_label(i)` for
    i in [0, _num_images).
    """

    name: str
    resolution: int
    num_channels: int
    label_dim: int
    has_labels: bool
    mirror: bool
    skipped: List[Tuple[str, str]]
    _num_images: int

    def __len__(self) -> int:
        return self._num_images * (2 if self.mirror else 1)

    def _locate(self, idx) -> Tuple[int, bool]:
        """(index of the stored image, whether it is the flipped copy) for a dataset index."""
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a dataset of {len(self)} items")
        idx %= len(self)
        return idx % self._num_images, idx >= self._num_images

    def __getitem__(self, idx) -> Tuple[np.ndarray, np.ndarray]:
        """(image uint8 [C, R, R] contiguous, label float32 [label_dim]); index >= n is the flip of index - n."""
        i, flip = self._locate(idx)
        image, label = self._item(i)
        if flip:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image), label

    def label(self, idx) -> np.ndarray:
        """The label float32 [label_dim] of item `idx`, without decoding its image."""
        return self._label(self._locate(idx)[0])

    @abc.abstractmethod
    def _item(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        """(image uint8 [C, R, R], label) of stored image i."""

    @abc.abstractmethod
    def _label(self, i: int) -> np.ndarray:
        """The label of stored image i."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, len={len(self)}, resolution={self.resolution}, " \
               f"num_channels={self.num_channels}, label_dim={self.label_dim}, mirror={self.mirror})"
