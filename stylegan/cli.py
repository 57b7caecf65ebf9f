"""What the command-line tools share: number lists such as '0-15,42', the device, loading a generator from any file
the package reads, latents from seeds (as NVIDIA's tools draw them, so a seed gives the same image with their code),
class labels, and one way to report bad input."""

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from .network_io import load_network

_ITEM = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$")


def parse_range(text: str, name: str) -> List[int]:
    """'0-15,42' -> [0, 1, ..., 15, 42]: comma-separated integers and inclusive ranges a-b (a <= b), in the order given.
    A ValueError naming `name` for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name}: expected a list such as '0-15,42', got {text!r}")
    out = []
    for item in text.split(","):
        m = _ITEM.match(item)
        if m is None:
            raise ValueError(f"{name}: {item.strip()!r} in {text!r} is neither an integer nor a range a-b")
        lo = int(m.group(1))
        hi = lo if m.group(2) is None else int(m.group(2))
        if hi < lo:
            raise ValueError(f"{name}: the range {item.strip()!r} runs backwards")
        out.extend(range(lo, hi + 1))
    return out


def check_within(values: Sequence[int], limit: int, name: str, what: str) -> None:
    """Every value in [0, limit), else a ValueError naming `name` and `what` the limit is."""
    bad = [v for v in values if not 0 <= v < limit]
    if bad:
        raise ValueError(f"{name}: {bad} out of range: {what} has indices 0-{limit - 1}")


def check_seeds(seeds: Sequence[int], name: str = "--seeds") -> None:
    """Seeds of numpy's RandomState: 0 <= seed < 2**32."""
    bad = [s for s in seeds if not 0 <= s < 2 ** 32]
    if bad:
        raise ValueError(f"{name}: seeds must be in [0, 2**32), got {bad}")


def pick_device(spec: str = "auto") -> torch.device:
    """'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {spec}: this torch has no usable CUDA device")
    return device


def load_generator(path, device: torch.device) -> torch.nn.Module:
    """The generator to use from a network file: G_ema of an NVIDIA pickle, a snapshot directory or a run directory
    (its newest snapshot), or one of our safetensors generator files; in evaluation mode on `device`."""
    path = Path(path)
    if path.is_dir() and not (path / "G_ema.safetensors").is_file():
        snapshots = sorted(p for p in path.glob("snapshot-*") if p.is_dir() and (p / "G_ema.safetensors").is_file())
        if not snapshots:
            raise FileNotFoundError(f"--network: {path} is a directory with neither G_ema.safetensors nor snapshots")
        path = snapshots[-1]
    if not path.exists():
        raise FileNotFoundError(f"--network: no such file or directory: {path}")
    G = load_network(path, key="G_ema", device=device)
    if not hasattr(G, "mapping"):
        raise ValueError(f"--network: {path} holds a {type(G).__name__}, not a generator")
    return G


def z_from_seed(G: torch.nn.Module, seed: int, device: Optional[torch.device] = None) -> torch.Tensor:
    """The latent [1, z_dim] for a seed: numpy RandomState(seed).randn, as NVIDIA's generate.py draws it."""
    check_seeds([seed])
    z = np.random.RandomState(seed).randn(1, G.z_dim)
    return torch.from_numpy(z).float().to(device or next(G.parameters()).device)


def class_labels(G: torch.nn.Module, class_idx: Optional[int], batch: int = 1,
                 device: Optional[torch.device] = None) -> Optional[torch.Tensor]:
    """One-hot labels [batch, c_dim] for a conditional generator (class_idx required), None for an unconditional one
    (class_idx must be None)."""
    device = device or next(G.parameters()).device
    if G.c_dim == 0:
        if class_idx is not None:
            raise ValueError("--class: this network is unconditional; leave --class out")
        return None
    if class_idx is None:
        raise ValueError(f"--class: this network is conditional ({G.c_dim} classes); give --class")
    check_within([class_idx], G.c_dim, "--class", "the network's label")
    c = torch.zeros([batch, G.c_dim], device=device)
    c[:, class_idx] = 1
    return c


def run_command(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], None], argv=None) -> int:
    """Parses argv and runs body(args): bad input (ValueError, FileNotFoundError, KeyError) becomes 'error: ...' on
    stderr and exit status 2, Ctrl-C exit status 130; anything else is a bug and keeps its traceback."""
    args = parser.parse_args(argv)
    try:
        body(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    return 0


def progress(items: Sequence, what: str, stream=None):
    """Yields items while showing 'what i/n' on stderr: rewritten in place on a terminal, else a line at every
    tenth of the way."""
    stream = stream or sys.stderr
    total = len(items)
    tty = stream.isatty()
    step = max(total // 10, 1)
    for i, item in enumerate(items):
        yield item
        done = i + 1
        if tty:
            stream.write(f"\r{what} {done}/{total}" + ("\n" if done == total else ""))
            stream.flush()
        elif done % step == 0 or done == total:
            print(f"{what} {done}/{total}", file=stream, flush=True)
