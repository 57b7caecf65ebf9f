"""The generator a path names, for the tools, the metrics and notebooks: a network file (stylegan.network_io's
formats), a training snapshot directory, or a run directory (its newest snapshot, stylegan.train.snapshot)."""

from pathlib import Path

import torch

from .network_io import load_network
from .train.snapshot import newest_snapshot


def network_file(path) -> Path:
    """What --network names: the file or snapshot directory itself, or a run directory's newest snapshot."""
    path = Path(path)
    if path.is_dir() and not (path / "G_ema.safetensors").is_file():
        snapshot = newest_snapshot(path)
        if snapshot is None:
            raise FileNotFoundError(f"--network: {path} is a directory with neither G_ema.safetensors nor snapshots")
        path = snapshot
    if not path.exists():
        raise FileNotFoundError(f"--network: no such file or directory: {path}")
    return path


def load_generator(path, device: torch.device) -> torch.nn.Module:
    """The generator to use from a network file: G_ema of an NVIDIA pickle, a snapshot directory or a run directory
    (its newest snapshot), or one of our safetensors generator files; in evaluation mode on `device`."""
    path = network_file(path)
    G = load_network(path, key="G_ema", device=device)
    if not hasattr(G, "mapping"):
        raise ValueError(f"--network: {path} holds a {type(G).__name__}, not a generator")
    return G
