"""Checks of the values a user gives, shared by the library, the tools, the metrics and training: each failure is one
ValueError line that names the argument. Also the device a --device value names, whether a network fits a dataset,
whether an output directory can be written, and UserError for problems the user fixes outside the arguments (a full
disk, a broken file)."""

import os
from pathlib import Path
from typing import Mapping, Sequence, Union

import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


class UserError(Exception):
    """A problem the user can fix that is not a bad value (a full disk, a broken snapshot): the commands print its
    message as one line, without a traceback."""


def os_error_text(error: OSError) -> str:
    """An OSError as one line: 'FILE: REASON' when it names a file, else its message."""
    if error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return error.strerror or str(error)


def check_outdir(path, name: str = "--outdir") -> Path:
    """`path` as a Path, when it is a directory or can be created as one (its nearest existing ancestor is a directory
    we may write in); else a ValueError naming `name`. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: {path} exists and is not a directory")
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{name}: {path} cannot be created: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: {existing} is read-only" + ("" if existing == path else f", so {path} cannot be "
                                                                                             "created"))
    return path


def check_within(values: Sequence[int], limit: int, name: str, what: str) -> None:
    """Every value in [0, limit), else a ValueError naming `name` and `what` the limit is."""
    bad = [v for v in values if not 0 <= v < limit]
    if bad:
        raise ValueError(f"{name}: {bad} out of range: {what} has indices 0-{limit - 1}")


def check_at_least(value: float, minimum: float, name: str) -> None:
    """A ValueError naming `name` when value < minimum."""
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")


def check_seeds(seeds: Sequence[int], name: str = "--seeds") -> None:
    """Seeds of numpy's RandomState: 0 <= seed < 2**32."""
    bad = [s for s in seeds if not 0 <= s < 2 ** 32]
    if bad:
        raise ValueError(f"{name}: seeds must be in [0, 2**32), got {bad}")


def pick_device(spec: str = "auto") -> torch.device:
    """The device of a --device value: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be {DEVICE_CHOICES}, got {spec!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {spec}: this torch has no usable CUDA device")
    return device


def check_fits_dataset(net: torch.nn.Module, dataset, name: str, what: str = "the network",
                       hint: Union[str, Mapping[str, str]] = "", labels_optional: bool = False) -> None:
    """A ValueError '{name}: {what} has ATTR=VALUE but the dataset needs VALUE{hint}' unless the network (a generator
    or a discriminator) has the dataset's img_resolution, img_channels and label dimensions (c_dim); `hint` is one
    text for every ATTR or a text per ATTR. With labels_optional an unconditional network fits a labelled dataset
    (it ignores the labels)."""
    needs = dict(img_resolution=dataset.resolution, img_channels=dataset.num_channels, c_dim=dataset.label_dim)
    if labels_optional and net.c_dim == 0:
        del needs["c_dim"]
    for attr, need in needs.items():
        if getattr(net, attr) != need:
            more = hint if isinstance(hint, str) else hint.get(attr, "")
            raise ValueError(f"{name}: {what} has {attr}={getattr(net, attr)} but the dataset needs {need}{more}")
