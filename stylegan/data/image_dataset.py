"""Image datasets from a folder or a zip of PNG/JPEG files, in the layout of NVIDIA's dataset_tool.py or any other
(images found recursively, in sorted order), with labels from an optional top-level dataset.json:
{"labels": [["00000/img00000000.png", 6], ...]} (an int class, made one-hot) or [[name, [floats]], ...] or null."""

import json
import os
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import BinaryIO, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ..resolution import check_resolution, is_valid_resolution
from .base import Dataset, check_max_size, check_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ON_CORRUPT = ("skip", "error")
LABELS_FILE = "dataset.json"
# The most label dimensions (classes) a dataset may have: ImageNet-21k has 21,841 classes; more is a broken
# dataset.json, and would make the networks' label embeddings huge.
MAX_LABEL_DIM = 100_000
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_PNG_END = b"\0\0\0\0IEND\xaeB`\x82"  # the last chunk of every PNG: IEND, empty, with its CRC

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I"}
_GRAY_MODES = {"1", "L", "LA", "La"} | _SIXTEEN_BIT_MODES
_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}
# What PIL, zipfile and the decoders raise for a missing, truncated or malformed image.
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile, Image.DecompressionBombError)


def check_on_corrupt(on_corrupt: str) -> None:
    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"on_corrupt must be one of {ON_CORRUPT}, got {on_corrupt!r}")


class _FolderFiles:
    """The files below a directory, by relative path with '/' separators."""

    def __init__(self, root: Path):
        self.root = root
        self.names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def open(self, name: str) -> BinaryIO:
        return open(self.root / name, "rb")

    def tail(self, name: str, size: int) -> bytes:
        """The last `size` bytes of a file."""
        with self.open(name) as f:
            f.seek(max(f.seek(0, os.SEEK_END) - size, 0))
            return f.read()


class _ZipFiles:
    """The files in a zip. The archive is opened lazily in each process (a handle inherited through fork would share
    its file offset with the parent) and is never pickled."""

    def __init__(self, path: Path):
        self.root = path
        self._zip, self._pid = None, None
        try:
            self.names = sorted(info.filename for info in self._archive().infolist() if not info.is_dir())
        except zipfile.BadZipFile as error:
            raise ValueError(f"{path} is not a valid zip file: {error}") from error

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.root), os.getpid()
        return self._zip

    def open(self, name: str) -> BinaryIO:
        return self._archive().open(name)

    def tail(self, name: str, size: int) -> bytes:
        """The last `size` bytes of a file: read where they lie in the archive when it is stored uncompressed (as in
        dataset_tool's zips), else decompressed from the start."""
        info = self._archive().getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            with self.open(name) as f:
                return f.read()[-size:]
        with open(self.root, "rb") as f:
            f.seek(info.header_offset + 26)  # the local header's file name and extra field lengths, then the data
            name_length, extra_length = struct.unpack("<HH", f.read(4))
            f.seek(info.header_offset + 30 + name_length + extra_length + max(info.compress_size - size, 0))
            return f.read(min(size, info.compress_size))

    def __getstate__(self):
        return dict(self.__dict__, _zip=None, _pid=None)


def _open_files(path: Path):
    if not path.exists():
        raise FileNotFoundError(f"dataset path {path} does not exist")
    if path.is_dir():
        return _FolderFiles(path)
    if path.suffix.lower() == ".zip":
        return _ZipFiles(path)
    raise ValueError(f"dataset path {path} is neither a directory nor a .zip file")


def _is_image_name(name: str) -> bool:
    """PNG and JPEG files, leaving out hidden ones (such as macOS's '._x.png' resource forks)."""
    return name.lower().endswith(IMAGE_SUFFIXES) and not any(part.startswith(".") for part in name.split("/"))


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _channels(mode: str) -> int:
    return 1 if mode in _GRAY_MODES else 3


def _check_complete(files, name: str, image: Image.Image) -> None:
    """An EOFError for a PNG that does not end with its IEND chunk: one cut short (half-written, truncated) has a
    readable header and would fail only when decoded, in the middle of training."""
    if image.format == "PNG" and files.tail(name, len(_PNG_END)) != _PNG_END:
        raise EOFError("the PNG ends before its IEND chunk (cut short)")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)


def _to_8bit(image: Image.Image, channels: int) -> Image.Image:
    """Grayscale 'L' or 'RGB': alpha dropped, palettes expanded, 16-bit gray scaled to 8 bits."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(np.clip(np.rint(np.asarray(image) / 257.0), 0, 255).astype(np.uint8), "L")
    return image.convert("L" if channels == 1 else "RGB")


def _crop_resize(image: Image.Image, resolution: int) -> Image.Image:
    """The centred square crop of `image`, resized (Lanczos) to resolution x resolution."""
    width, height = image.size
    if width == height == resolution:
        return image
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.Resampling.LANCZOS)


def _common_resolution(sizes: Dict[str, Tuple[int, int]], where: str) -> int:
    """The size of all images when they share one square power-of-two size, else an error saying what to pass."""
    distinct = {}
    for name, size in sizes.items():
        distinct.setdefault(size, name)
    if len(distinct) > 1:
        examples = ", ".join(f"{name} is {w}x{h}" for (w, h), name in list(distinct.items())[:3])
        raise ValueError(f"{where}: images differ in size ({examples}); pass a resolution (--resolution) to "
                         f"center-crop and resize them to one size")
    (width, height), name = next(iter(distinct.items()))
    if width != height or not is_valid_resolution(width):
        raise ValueError(f"{where}: images are {width}x{height} (e.g. {name}), not square with a power-of-two side "
                         f">= 4; pass a resolution (--resolution) to center-crop and resize them")
    return width


def _common_channels(modes: Dict[str, str], where: str) -> int:
    """1 (grayscale) or 3 (colour) for all images, else an error counting each kind with an example."""
    by_count: Dict[int, List[str]] = {}
    for name, mode in modes.items():
        by_count.setdefault(_channels(mode), []).append(name)
    if len(by_count) > 1:
        kinds = "; ".join(f"{len(names)} with {count} channel(s), e.g. {names[0]}"
                          for count, names in sorted(by_count.items()))
        raise ValueError(f"{where}: images mix grayscale and colour ({kinds}); convert them to one mode")
    return next(iter(by_count))


def _read_label_map(files, where: str) -> Optional[dict]:
    """{image name: label} from dataset.json, or None when there is no such file or its labels are null."""
    if LABELS_FILE not in files.names:
        return None
    try:
        with files.open(LABELS_FILE) as f:
            meta = json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{where}: {LABELS_FILE} is not valid JSON: {error}") from error
    if not isinstance(meta, dict) or "labels" not in meta:
        raise ValueError(f'{where}: {LABELS_FILE} must be an object with a "labels" entry')
    labels = meta["labels"]
    if labels is None:
        return None
    if not isinstance(labels, list) or not all(isinstance(e, list) and len(e) == 2 for e in labels):
        raise ValueError(f'{where}: "labels" in {LABELS_FILE} must be null or a list of [file name, label] pairs')
    return {name: label for name, label in labels}


def _is_class(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_vector(value) -> bool:
    return isinstance(value, list) and len(value) > 0 and \
        all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)


def _same_kind(value, reference) -> bool:
    if _is_class(reference):
        return _is_class(value)
    return _is_vector(reference) and _is_vector(value) and len(value) == len(reference)


def _not_float32(vector: list):
    """The first number of `vector` that is no finite float32 (NaN, infinite or too large), else None."""
    for x in vector:
        try:
            if not abs(float(x)) <= _FLOAT32_MAX:
                return x
        except OverflowError:
            return x
    return None


def _check_labels(label_map: dict, where: str) -> None:
    """Labels of one kind (all int classes or all vectors of one length), finite, at most MAX_LABEL_DIM dimensions;
    else a ValueError naming the image."""
    first = next(iter(label_map.values()))
    for name, value in label_map.items():
        if not _same_kind(value, first):
            raise ValueError(f"{where}: labels in {LABELS_FILE} must be all non-negative int classes or all lists of "
                             f"numbers of one length (e.g. {name} has {value!r})")
        dims = value + 1 if _is_class(value) else len(value)
        if dims > MAX_LABEL_DIM:
            raise ValueError(f"{where}: the label of {name} in {LABELS_FILE} " +
                             (f"is class {value}" if _is_class(value) else f"has {dims} numbers") +
                             f": at most {MAX_LABEL_DIM} label dimensions (MAX_LABEL_DIM) are supported")
        bad = None if _is_class(value) else _not_float32(value)
        if bad is not None:
            raise ValueError(f"{where}: the label of {name} in {LABELS_FILE} holds {bad!r}, not a finite float32 "
                             "number")


def _label_array(label_map: dict, names: List[str], where: str) -> Tuple[np.ndarray, int]:
    """(labels, label_dim) of the images `names`: int classes [N] (label_dim: the largest class in dataset.json + 1;
    made one-hot when read), or float32 vectors [N, label_dim] as given."""
    missing = [name for name in names if name not in label_map]
    if missing:
        raise ValueError(f"{where}: {len(missing)} image(s) have no label in {LABELS_FILE}, e.g. {missing[0]}")
    _check_labels(label_map, where)
    if _is_class(next(iter(label_map.values()))):
        return np.array([label_map[name] for name in names], np.int64), max(label_map.values()) + 1
    labels = np.array([label_map[name] for name in names], dtype=np.float32)
    return labels, labels.shape[1]


class ImageDataset(Dataset):
    """PNG/JPEG images of a folder or zip. See open_dataset for the arguments; images are checked from their headers
    when opened and decoded on each access."""

    def __init__(self, path, resolution: Optional[int] = None, use_labels: bool = False, mirror: bool = False,
                 max_size: Optional[int] = None, on_corrupt: str = "skip"):
        check_on_corrupt(on_corrupt)
        check_max_size(max_size)
        self.path = Path(path)
        self.on_corrupt = on_corrupt
        self.mirror = bool(mirror)
        self.skipped = []
        self._bad = set()
        self._files = _open_files(self.path)
        names = [name for name in self._files.names if _is_image_name(name)]
        if not names:
            raise ValueError(f"{self.path}: no PNG or JPEG images found")
        sizes, modes = self._read_headers(names, max_size)
        self._names = list(sizes)
        self._num_images = len(self._names)
        check_size(self._num_images, f"{self.path}" + (f" (max_size={max_size})" if max_size is not None else ""))
        self.num_channels = _common_channels(modes, str(self.path))
        self.resolution = check_resolution(resolution) if resolution is not None else \
            _common_resolution(sizes, str(self.path))
        self._labels, self.label_dim = self._read_labels(use_labels)
        stem = self.path.stem if self.path.suffix.lower() == ".zip" else self.path.resolve().name
        self.name = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', stem) or 'images'}-{self.resolution}"

    def _read_headers(self, names: List[str], max_size: Optional[int]):
        """{name: (width, height)} and {name: mode} of the first max_size readable images, in sorted order."""
        sizes, modes, alpha = {}, {}, 0
        for name in names:
            if max_size is not None and len(sizes) == max_size:
                break
            try:
                with self._files.open(name) as f, Image.open(f) as image:
                    _check_complete(self._files, name, image)
                    sizes[name], modes[name] = image.size, image.mode
                    alpha += _has_alpha(image)
            except _UNREADABLE as error:
                self._unreadable(name, error)
        if len(self.skipped):
            warnings.warn(f"{self.path}: skipped {len(self.skipped)} unreadable image(s), e.g. {self.skipped[0][0]} "
                          f"({self.skipped[0][1]}); the list is in dataset.skipped", stacklevel=3)
        if alpha:
            warnings.warn(f"{self.path}: {alpha} image(s) have transparency; the alpha channel is dropped (the stored "
                          f"colours are kept)", stacklevel=3)
        return sizes, modes

    def _unreadable(self, name: str, error: Exception) -> None:
        """An image that cannot be read: an error, or recorded in `skipped` when on_corrupt is 'skip'."""
        if self.on_corrupt == "error":
            raise ValueError(f"{self.path}: cannot read image {name} ({_reason(error)}); --on-corrupt skip leaves "
                             "unreadable images out") from error
        self.skipped.append((name, _reason(error)))

    def _read_labels(self, use_labels: bool) -> Tuple[np.ndarray, int]:
        label_map = _read_label_map(self._files, str(self.path))
        self.has_labels = label_map is not None
        if not use_labels:
            return np.zeros((self._num_images, 0), np.float32), 0
        if label_map is None:
            raise ValueError(f"{self.path}: use_labels is set but the data has no labels (no {LABELS_FILE} with "
                             f"labels at its top level)")
        return _label_array(label_map, self._names, str(self.path))

    def _decode(self, i: int) -> np.ndarray:
        with self._files.open(self._names[i]) as f, Image.open(f) as image:
            image.load()
            image = _crop_resize(_to_8bit(image, self.num_channels), self.resolution)
            array = np.array(image)
        return array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)

    def _item(self, i: int):
        """Image i, or when it fails to decode and on_corrupt is 'skip', the next image that decodes (wrapping)."""
        for j in (k % self._num_images for k in range(i, i + self._num_images)):
            if j in self._bad:
                continue
            try:
                return self._decode(j), self._label(j)
            except _UNREADABLE as error:
                self._unreadable(self._names[j], error)
                self._bad.add(j)
                warnings.warn(f"{self.path}: skipped unreadable image {self._names[j]} ({_reason(error)})",
                              stacklevel=3)
        raise ValueError(f"{self.path}: none of the {self._num_images} images can be decoded")

    def _label(self, i: int) -> np.ndarray:
        if self._labels.ndim == 2:
            return self._labels[i].copy()
        one_hot = np.zeros(self.label_dim, np.float32)
        one_hot[self._labels[i]] = 1
        return one_hot


def _archive_labels(dataset: Dataset) -> Optional[list]:
    """The labels of every item for dataset.json: int classes when they are one-hot and the top class occurs (so the
    label dimension survives), else lists of floats; None without labels."""
    if dataset.label_dim == 0:
        return None
    labels = np.stack([dataset.label(idx) for idx in range(len(dataset))])
    one_hot = np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1)
    if one_hot and labels[:, -1].any():
        return [int(c) for c in labels.argmax(axis=1)]
    return labels.tolist()


def archive_name(idx: int) -> str:
    """dataset_tool.py's name for image idx: a folder per thousand images."""
    return f"{idx // 1000:05d}/img{idx:08d}.png"


def export_zip(dataset: Dataset, path) -> None:
    """Writes every item of `dataset` (flipped copies included when mirrored) as PNGs into a zip in dataset_tool.py's
    layout, with its labels (if label_dim > 0) in dataset.json."""
    names = [archive_name(idx) for idx in range(len(dataset))]
    labels = _archive_labels(dataset)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for idx, name in enumerate(names):
            image = dataset[idx][0]
            pil = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
            with archive.open(name, "w") as f:
                pil.save(f, format="PNG")
        meta = {"labels": None if labels is None else [list(pair) for pair in zip(names, labels)]}
        archive.writestr(LABELS_FILE, json.dumps(meta))
