"""Training snapshots: a directory per snapshot, written whole into a temporary directory and renamed into place, so
that a run killed at any moment leaves every earlier snapshot intact and loadable.

    <run_dir>/snapshot-<images seen, 9 digits>/
        G.safetensors, D.safetensors, G_ema.safetensors   networks (stylegan.save_network's format)
        training_state.pt                                 optimizer states, counters, RNG states (torch.save;
                                                          read back with weights_only=True)
        snapshot.json                                     what the snapshot is, for people and tools

Every file is flushed and fsync'ed, then the directory, then it is renamed, then the run directory is fsync'ed.
A directory still named .snapshot-*.tmp is an interrupted write (a process killed while writing): never read, and
safe to delete once that run has stopped."""

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch

from ..network_io import load_network, save_network

PathLike = Union[str, Path]
NETWORK_KEYS = ("G", "D", "G_ema")
STATE_FILE = "training_state.pt"
STATE_FORMAT = "stylegan-training-state-v1"
_NAME = re.compile(r"^snapshot-(\d{9,})$")


def snapshot_name(nimg: int) -> str:
    return f"snapshot-{nimg:09d}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(run_dir: PathLike, nimg: int, networks: Dict[str, torch.nn.Module], state: dict,
                   info: Optional[dict] = None) -> Path:
    """Writes networks (by key: 'G', 'D', 'G_ema') and the training state as <run_dir>/snapshot-<nimg>/,
    atomically; returns its path."""
    run_dir = Path(run_dir)
    final = run_dir / snapshot_name(nimg)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=run_dir))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a snapshot is as readable as any new directory
        for key, net in networks.items():
            save_network(net, tmp / f"{key}.safetensors")
        with open(tmp / STATE_FILE, "wb") as f:
            torch.save({"format": STATE_FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        with open(tmp / "snapshot.json", "w") as f:
            json.dump({"nimg": nimg, "kimg": nimg / 1000, "time": time.time(), "networks": sorted(networks),
                       **(info or {})}, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        _fsync_path(tmp)
        if final.exists():  # the same image count written again (a run resumed into its own directory)
            stale = final.with_name(f".{final.name}.replaced.tmp")
            os.rename(final, stale)
            os.rename(tmp, final)
            shutil.rmtree(stale)
        else:
            os.rename(tmp, final)
        _fsync_path(run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def list_snapshots(run_dir: PathLike) -> List[Path]:
    """The complete snapshots of a run directory, oldest first."""
    run_dir = Path(run_dir)
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def newest_snapshot(run_dir: PathLike) -> Optional[Path]:
    """The newest complete snapshot of a run directory (by its image count), or None when it has none."""
    snapshots = list_snapshots(run_dir)
    return snapshots[-1] if snapshots else None


def prune_snapshots(run_dir: PathLike, keep: int) -> List[Path]:
    """Deletes all but the `keep` newest snapshots (keep 0: none deleted); returns what it deleted."""
    if keep <= 0:
        return []
    old = list_snapshots(run_dir)[:-keep]
    for p in old:
        shutil.rmtree(p)
    return old


def resolve_snapshot(path: PathLike) -> Path:
    """A snapshot directory for `path`: the directory itself, or the newest complete snapshot of a run directory."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"resume: no such snapshot or run directory: {path}")
    if (path / STATE_FILE).is_file():
        return path
    snapshot = newest_snapshot(path)
    if snapshot is None:
        raise FileNotFoundError(f"resume: {path} holds no complete snapshot (snapshot-NNNNNNNNN/ directories)")
    return snapshot


def read_snapshot(path: PathLike, device: Optional[torch.device] = None) -> Tuple[Dict[str, torch.nn.Module], dict]:
    """The networks (in training mode, with gradients) and the training state of a snapshot directory."""
    path = Path(path)
    networks = {}
    for key in NETWORK_KEYS:
        file = path / f"{key}.safetensors"
        if not file.is_file():
            raise FileNotFoundError(f"resume: snapshot {path} lacks {file.name}")
        networks[key] = load_network(file, device=device).train().requires_grad_(True)
    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"resume: {path / STATE_FILE} is not a training state of this package "
                         f"(format {state.get('format')!r})")
    return networks, state
