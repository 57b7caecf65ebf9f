"""The generator a path names, for the tools, the metrics and notebooks: a network file (stylegan.network_io's
formats), a training snapshot directory, a run directory (its newest snapshot, stylegan.train.snapshot), or an http(s)
URL of a network file (downloaded once into the cache, stylegan.downloads)."""

from pathlib import Path

import torch

from .downloads import local_path
from .network_io import load_network
from .train.snapshot import newest_snapshot


def network_file(path) -> Path:
    """What --network names: the file or snapshot directory itself, a run directory's newest snapshot, or a URL's
    download."""
    path = local_path(path, "--network")
    if path.is_dir() and not (path / "G_ema.safetensors").is_file():
        snapshot = newest_snapshot(path)
        if snapshot is None:
            raise FileNotFoundError(f"--network: {path} is a directory with neither G_ema.safetensors nor snapshots")
        path = snapshot
    if not path.exists():
        raise FileNotFoundError(f"--network: no such file or directory: {path}")
    return path


def load_generator(path, device: torch.device) -> torch.nn.Module:
    """The generator to use from a network file or URL: G_ema of an NVIDIA pickle, a snapshot directory or a run
    directory (its newest snapshot), or one of our safetensors generator files; in evaluation mode on `device`."""
    path = network_file(path)
    G = load_network(path, key="G_ema", device=device)
    if not hasattr(G, "mapping"):
        raise ValueError(f"--network: {path} holds a {type(G).__name__}, not a generator")
    return G
