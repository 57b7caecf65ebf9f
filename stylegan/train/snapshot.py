"""Training snapshots: a directory per snapshot, written whole into a temporary directory and renamed into place, so
that a run killed at any moment leaves every earlier snapshot intact and loadable.

    <run_dir>/snapshot-<images seen, 9 digits>/
        G.safetensors, D.safetensors, G_ema.safetensors   networks (stylegan.save_network's format)
        training_state.pt                                 optimizer states, counters, RNG states (torch.save;
                                                          read back with weights_only=True)
        snapshot.json                                     what the snapshot is, for people and tools

Every file is flushed and fsync'ed, then the directory, then it is renamed, then the run directory is fsync'ed.
A directory still named .snapshot-*.tmp is a write in progress, or an interrupted one (a process killed while
writing): never read, and deleted by list_snapshots once the process that wrote it (named in it) is gone."""

import json
import os
import re
import shutil
import socket
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
# .snapshot-<images>.<host>.<pid>.<...>.tmp: a snapshot being written by process pid on host (see _writer).
_TEMPORARY = re.compile(r"^\.snapshot-\d{9,}\.(?P<host>[A-Za-z0-9-]*)\.(?P<pid>\d+)\..*\.tmp$")


class BrokenSnapshotError(ValueError):
    """A snapshot with a file that is missing or does not read back."""


def snapshot_name(nimg: int) -> str:
    return f"snapshot-{nimg:09d}"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())


def _writer() -> str:
    """'HOST.PID' of this process, in the names of the temporary directories it writes."""
    return f"{_host()}.{os.getpid()}"


def _gone(host: str, pid: int) -> bool:
    """Whether process pid of host has ended (only known on this host)."""
    if host != _host():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive: another user's process
        pass
    return False


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
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{_writer()}.", suffix=".tmp", dir=run_dir))
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
            stale = final.with_name(f".{final.name}.{_writer()}.replaced.tmp")
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
    """The complete snapshots of a run directory, oldest first. Deletes the temporary directories that writers on
    this machine left when they were killed (where it may)."""
    run_dir = Path(run_dir)
    found = []
    for p in run_dir.iterdir():
        if (m := _NAME.match(p.name)) and p.is_dir():
            found.append((int(m.group(1)), p))
        elif (m := _TEMPORARY.match(p.name)) and _gone(m.group("host"), int(m.group("pid"))):
            shutil.rmtree(p, ignore_errors=True)
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


def _read(file: Path, read):
    """read() of a snapshot file; a BrokenSnapshotError naming the file when it is missing or read() fails."""
    if not file.is_file():
        raise BrokenSnapshotError(f"{file} is missing")
    try:
        return read()
    except Exception as e:  # noqa: BLE001 (whatever a damaged file makes its reader raise)
        reason = (str(e).strip().splitlines() or [""])[0]
        raise BrokenSnapshotError(f"{file} does not read back ({type(e).__name__}: {reason})") from e


def read_snapshot(path: PathLike, device: Optional[torch.device] = None) -> Tuple[Dict[str, torch.nn.Module], dict]:
    """The networks (in training mode, with gradients) and the training state of a snapshot directory; a
    BrokenSnapshotError naming a file that is missing or does not read back."""
    path = Path(path)
    networks = {key: _read(path / f"{key}.safetensors", lambda: load_network(path / f"{key}.safetensors",
                                                                             device=device))
                for key in NETWORK_KEYS}
    state = _read(path / STATE_FILE, lambda: torch.load(path / STATE_FILE, map_location="cpu", weights_only=True))
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise BrokenSnapshotError(f"{path / STATE_FILE} is not a training state of this package")
    return {k: net.train().requires_grad_(True) for k, net in networks.items()}, state


def _newest_intact(snapshots: List[Path], device: Optional[torch.device]):
    """((snapshot, networks, state) of the newest of `snapshots` that reads back whole, or None; the errors of the
    newer ones)."""
    errors = []
    for snapshot in reversed(snapshots):
        try:
            return (snapshot, *read_snapshot(snapshot, device)), errors
        except BrokenSnapshotError as e:
            errors.append(str(e))
    return None, errors


def read_for_resume(path: PathLike, device: Optional[torch.device] = None) \
        -> Tuple[Path, Dict[str, torch.nn.Module], dict, List[str]]:
    """(snapshot, networks, training state, the errors of newer snapshots passed over) for --resume PATH: the snapshot
    directory PATH, or the newest snapshot of the run directory PATH that reads back whole. A broken snapshot given
    itself is a BrokenSnapshotError that names the newest intact one before it."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume: no such snapshot or run directory: {path}")
    if _NAME.match(path.name) or (path / STATE_FILE).exists():
        try:
            return (path, *read_snapshot(path, device), [])
        except BrokenSnapshotError as e:
            run = list_snapshots(path.parent)
            intact, _ = _newest_intact(run[:run.index(path)] if path in run else [], torch.device("cpu"))
            offer = f"the newest intact snapshot before it is {intact[0]}: give --resume {intact[0]}" if intact \
                else "its run has no intact snapshot before it"
            raise BrokenSnapshotError(f"--resume: {e}; {offer}") from e
    snapshots = list_snapshots(path)
    if not snapshots:
        raise FileNotFoundError(f"--resume: {path} holds no complete snapshot (snapshot-NNNNNNNNN/ directories)")
    intact, errors = _newest_intact(snapshots, device)
    if intact is None:
        raise BrokenSnapshotError(f"--resume: no snapshot of {path} reads back whole: {'; '.join(errors)}")
    return (*intact, errors)
