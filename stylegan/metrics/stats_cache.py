"""Feature statistics of a dataset, cached on disk so that each metric run extracts the real images' features once.

A cache file, <cache_dir>/<dataset name>-<extractor name>-<hash>.npz, holds the FeatureStats (count, sums, and with
capture_all the features) of the first `num_items` items of a dataset. Its name hashes what selects the data and the
features: the dataset's class, name, path, resolution and channels, whether x-flipped copies are among the items,
num_items, and the extractor's cache_key (its weights). Inside, the file also records a fingerprint of the data as
it is now: the dataset's length and, for data from files, the size and modification time of every file under its
path (of the zip file). A file whose record differs is stale, one that cannot be read is corrupt (with a warning):
both are recomputed and replaced. Files are written to a temporary name and renamed, so a reader never sees half a
file. Data that cannot be fingerprinted (a dataset class other than the package's, without a `path`) or an
extractor whose cache_key is None is never cached.

The default directory is DEFAULT_CACHE_DIR, the stats folder of the package cache (stylegan.downloads.cache_dir:
$STYLEGAN_CACHE, else $XDG_CACHE_HOME/stylegan, else ~/.cache/stylegan).
"""

import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from ..data import ShapesDataset
from ..downloads import cache_dir as package_cache_dir
from ..progress import progress as show_progress
from .features import FeatureStats, as_rgb, check_extractor

__all__ = ["DEFAULT_CACHE_DIR", "cache_path", "dataset_feature_stats", "dataset_fingerprint"]

DEFAULT_CACHE_DIR = package_cache_dir() / "stats"
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)

PathLike = Union[str, Path]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "data"


def _files_digest(path: Path) -> str:
    """Size and modification time of the file, or of every file below the directory, hashed."""
    if path.is_file():
        st = path.stat()
        return f"{st.st_size}-{st.st_mtime_ns}"
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        st = file.stat()
        digest.update(f"{file.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def dataset_fingerprint(dataset, num_items: int) -> Optional[tuple]:
    """(selection, state) of the first num_items items of a dataset, both JSON-able dicts: `selection` names the
    items (it picks the cache file), `state` what they currently hold (a cache file recording another state is
    stale). None for data that cannot be fingerprinted."""
    selection = dict(type=type(dataset).__name__, name=dataset.name, resolution=int(dataset.resolution),
                     channels=int(dataset.num_channels), num_items=int(num_items),
                     flips=bool(dataset.mirror and num_items > len(dataset) // 2))
    state = dict(len=len(dataset))
    if isinstance(getattr(dataset, "path", None), (str, Path)):
        path = Path(dataset.path).resolve()
        selection["path"] = str(path)
        state["files"] = _files_digest(path)
    elif isinstance(dataset, ShapesDataset):
        selection["seed"] = dataset.seed
    else:
        return None
    return selection, state


def cache_path(cache_dir: PathLike, dataset, extractor, selection: dict) -> Path:
    """The cache file of a selection of a dataset's items (dataset_fingerprint) under an extractor."""
    key = json.dumps(dict(selection, extractor=extractor.cache_key), sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{_safe(dataset.name)}-{_safe(extractor.name)}-{digest}.npz"


def _read(path: Path, record: str, capture_all: bool) -> Optional[FeatureStats]:
    """The statistics in a cache file; None when it is missing or stale (or lacks the features asked for)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["record"]) != record or (capture_all and "features" not in data.files):
                return None
            return FeatureStats.from_arrays({k: data[k] for k in ("num_items", "sum", "gram", "features")
                                             if k in data.files and (capture_all or k != "features")})
    except _UNREADABLE as error:
        warnings.warn(f"feature statistics cache {path} is unreadable ({error}); recomputing it", stacklevel=3)
        return None


def _write(path: Path, record: str, stats: FeatureStats) -> None:
    """Writes the cache file whole under a temporary name, then renames it (a warning if that fails)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, record=np.array(record), **stats.to_arrays())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        warnings.warn(f"cannot write the feature statistics cache {path} ({error})", stacklevel=3)
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


@torch.no_grad()
def dataset_feature_stats(dataset, extractor, num_items: int, capture_all: bool = False,
                          cache_dir: Optional[PathLike] = None, use_cache: bool = True,
                          device: Optional[torch.device] = None, batch: int = 64, num_workers: int = 0,
                          progress: bool = False) -> FeatureStats:
    """FeatureStats of the first num_items items of `dataset` (images uint8 [C, R, R]; grayscale repeated to RGB)
    under `extractor` (called on `device`, default the CPU), read from or written to the cache (module docstring)
    in cache_dir (default DEFAULT_CACHE_DIR) when use_cache. capture_all keeps the features themselves."""
    extractor = check_extractor(extractor)
    if isinstance(num_items, bool) or not isinstance(num_items, int) or not 1 <= num_items <= len(dataset):
        raise ValueError(f"num_items must be an int in [1, {len(dataset)}] (the dataset's length), got {num_items!r}")
    device = torch.device(device or "cpu")
    fingerprint = dataset_fingerprint(dataset, num_items) if use_cache and extractor.cache_key is not None else None
    path = record = None
    if fingerprint is not None:
        selection, state = fingerprint
        path = cache_path(cache_dir or DEFAULT_CACHE_DIR, dataset, extractor, selection)
        record = json.dumps(dict(selection=selection, state=state, extractor=extractor.cache_key), sort_keys=True)
        cached = _read(path, record, capture_all)
        if cached is not None and cached.num_items == num_items:
            return cached
    stats = FeatureStats(capture_all=capture_all, max_items=num_items)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(num_items)), batch_size=batch,
                                         num_workers=num_workers, pin_memory=device.type == "cuda",
                                         generator=torch.Generator())  # its seed draw leaves the global RNG alone
    for images, _labels in (show_progress(loader, "dataset features (batches)") if progress else loader):
        stats.append(extractor(as_rgb(images.to(device))))
    if path is not None:
        _write(path, record, stats)
    return stats
