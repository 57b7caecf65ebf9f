"""What the command-line tools share: their common flags (defined once here), number lists such as '0-15,42', the
device, loading a generator from any file the package reads, latents from seeds (as NVIDIA's tools draw them, so a
seed gives the same image with their code), class labels, truncation, rendering ws, w vectors in .npz files, the
output directory, progress, and one way to report bad input."""

import argparse
import math
import re
import sys
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .network_io import load_network
from .networks.synthesis import NOISE_MODES

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


def parse_seeds(text: str, name: str = "--seeds") -> List[int]:
    """parse_range of seeds, each checked by check_seeds."""
    seeds = parse_range(text, name)
    check_seeds(seeds, name)
    return seeds


def check_at_least(value: float, minimum: float, name: str) -> None:
    """A ValueError naming `name` when value < minimum."""
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")


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


def network_file(path) -> Path:
    """What --network names: the file or snapshot directory itself, or a run directory's newest snapshot."""
    path = Path(path)
    if path.is_dir() and not (path / "G_ema.safetensors").is_file():
        snapshots = sorted(p for p in path.glob("snapshot-*") if p.is_dir() and (p / "G_ema.safetensors").is_file())
        if not snapshots:
            raise FileNotFoundError(f"--network: {path} is a directory with neither G_ema.safetensors nor snapshots")
        path = snapshots[-1]
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


def check_truncation(G: torch.nn.Module, truncation_psi: float, truncation_cutoff: Optional[int]) -> None:
    """ValueErrors naming --trunc / --trunc-cutoff for a psi that is not finite, a psi other than 1 on a network
    without w_avg, or a cutoff outside [0, num_ws]."""
    if not math.isfinite(truncation_psi):
        raise ValueError(f"--trunc: expected a finite number, got {truncation_psi}")
    if truncation_psi != 1 and not hasattr(G.mapping, "w_avg"):
        raise ValueError("--trunc: this network keeps no w_avg, so it cannot be truncated; leave --trunc at 1")
    if truncation_cutoff is not None and not 0 <= truncation_cutoff <= G.num_ws:
        raise ValueError(f"--trunc-cutoff: must be in [0, {G.num_ws}] (the network's num_ws), got {truncation_cutoff}")


@torch.no_grad()
def ws_from_z(G: torch.nn.Module, z: torch.Tensor, truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
              class_idx: Optional[int] = None) -> torch.Tensor:
    """The ws [N, num_ws, w_dim] of latents z [N, z_dim], mapped one at a time (so a latent's w does not depend on
    the others) and truncated towards w_avg by psi on the first `truncation_cutoff` ws (all when None). class_idx is
    required for a conditional network, refused otherwise."""
    device = next(G.parameters()).device
    c = class_labels(G, class_idx, device=device)
    ws = [G.mapping(latent.unsqueeze(0).to(device), c, truncation_psi=truncation_psi,
                    truncation_cutoff=truncation_cutoff, update_w_avg=False) for latent in z]
    return torch.cat(ws) if ws else torch.zeros([0, G.num_ws, G.w_dim], device=device)


def ws_from_seeds(G: torch.nn.Module, seeds: Sequence[int], truncation_psi: float = 1,
                  truncation_cutoff: Optional[int] = None, class_idx: Optional[int] = None) -> torch.Tensor:
    """ws_from_z of the seeds' latents (z_from_seed)."""
    check_seeds(seeds)
    z = torch.cat([z_from_seed(G, seed) for seed in seeds]) if seeds else torch.zeros([0, G.z_dim])
    return ws_from_z(G, z, truncation_psi, truncation_cutoff, class_idx)


@torch.no_grad()
def images_from_ws(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1] for ws [N, num_ws, w_dim] (or [N, w_dim], used for every layer), one at a
    time, on the generator's device."""
    device = next(G.parameters()).device
    ws = torch.as_tensor(ws).to(device=device, dtype=torch.float32)
    if ws.ndim == 2:
        ws = ws.unsqueeze(1).repeat([1, G.num_ws, 1])
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError(f"ws must have shape [N, {G.num_ws}, {G.w_dim}] or [N, {G.w_dim}], got {list(ws.shape)}")
    images = [G.synthesis(w.unsqueeze(0), noise_mode=noise_mode) for w in ws]
    if not images:
        return torch.zeros([0, G.img_channels, G.img_resolution, G.img_resolution], device=device)
    return torch.cat(images)


@torch.no_grad()
def sample_ws(G: torch.nn.Module, num_samples: int, seed: int = 0, class_idx: Optional[int] = None,
              batch_size: int = 1000, what: Optional[str] = None) -> torch.Tensor:
    """w [num_samples, w_dim] on the CPU for z drawn from numpy RandomState(seed), mapped in batches; a conditional
    network gets `class_idx`, or classes drawn uniformly (after the z) when it is None. Shows progress as `what` when
    given."""
    device = next(G.parameters()).device
    rng = np.random.RandomState(seed)
    z = torch.from_numpy(rng.randn(num_samples, G.z_dim)).float()
    if G.c_dim > 0:
        if class_idx is not None:
            check_within([class_idx], G.c_dim, "--class", "the network's label")
        classes = np.full(num_samples, class_idx) if class_idx is not None else rng.randint(G.c_dim, size=num_samples)
        c = torch.nn.functional.one_hot(torch.from_numpy(classes), G.c_dim).float()
    else:
        class_labels(G, class_idx)  # rejects a class for an unconditional network
        c = torch.zeros([num_samples, 0])
    chunks = list(zip(z.split(batch_size), c.split(batch_size)))
    out = [G.mapping(zz.to(device), cc.to(device) if G.c_dim else None, update_w_avg=False)[:, 0].float().cpu()
           for zz, cc in (progress(chunks, what) if what else chunks)]
    return torch.cat(out)


def read_npz(path, name: str) -> Dict[str, np.ndarray]:
    """Every array of an .npz file (no pickled objects), read whole; FileNotFoundError or ValueError naming `name`
    when the file is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{name}: cannot read {path} as an .npz file: {e}") from None


def save_npz(path, **arrays) -> None:
    """Writes arrays (tensors are moved to the CPU) as an .npz file, whole under a temporary name before it takes
    `path`."""
    path = Path(path)
    arrays = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in arrays.items()}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)


def load_ws(path, G: torch.nn.Module, name: str = "--ws") -> torch.Tensor:
    """The array 'w' of an .npz file (save_ws's format, such as the projector's projected_w.npz) as ws
    [N, num_ws, w_dim] on G's device; [N, w_dim] is broadcast to every layer. Errors name `name`."""
    data = read_npz(path, name)
    if "w" not in data:
        raise ValueError(f"{name}: {path} has no array 'w' (it has {sorted(data)})")
    w = data["w"]
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"{name}: 'w' in {path} must hold floating-point numbers, got {w.dtype}")
    if not np.isfinite(w).all():
        raise ValueError(f"{name}: 'w' in {path} holds NaN or infinite values")
    if w.ndim == 2 and w.shape[1] == G.w_dim:
        w = np.repeat(w[:, np.newaxis], G.num_ws, axis=1)
    if w.ndim != 3 or w.shape[1:] != (G.num_ws, G.w_dim) or w.shape[0] == 0:
        raise ValueError(f"{name}: 'w' in {path} has shape {list(w.shape)}; this network takes [N, {G.num_ws}, "
                         f"{G.w_dim}] or [N, {G.w_dim}] with N >= 1")
    return torch.from_numpy(w).float().to(next(G.parameters()).device)


def save_ws(path, ws: torch.Tensor) -> None:
    """ws [N, num_ws, w_dim] as an .npz file with one float32 array 'w' (what load_ws and NVIDIA's tools read)."""
    save_npz(path, w=torch.as_tensor(ws).float())


def source_ws(G: torch.nn.Module, seeds: Optional[Sequence[int]], ws_file=None, truncation_psi: float = 1,
              truncation_cutoff: Optional[int] = None,
              class_idx: Optional[int] = None) -> Tuple[torch.Tensor, List[str]]:
    """The ws to render [N, num_ws, w_dim] and a file name stem for each: the seeds' (ws_from_seeds; stems
    seedNNNN), or when seeds is None those of the --ws file `ws_file` (load_ws; stems projNN, as NVIDIA's
    generate.py names them), truncated alike. --class is refused with --ws: the saved ws already hold their class."""
    check_truncation(G, truncation_psi, truncation_cutoff)
    if seeds is not None:
        return (ws_from_seeds(G, seeds, truncation_psi, truncation_cutoff, class_idx),
                [f"seed{seed:04d}" for seed in seeds])
    if class_idx is not None:
        raise ValueError("--class: not used with --ws (the saved ws already hold their class)")
    ws = G.mapping.truncate(load_ws(ws_file, G), truncation_psi, truncation_cutoff)
    return ws, [f"proj{idx:02d}" for idx in range(len(ws))]


def prepare_outdir(path, name: str = "--outdir") -> Path:
    """The output directory, created (with its parents) when missing; a ValueError naming `name` when the path is
    an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: {path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


# The flags the tools share, each defined once.


def command_parser(module: str, doc: str, **kwargs) -> argparse.ArgumentParser:
    """The parser of `python -m module`, its docstring `doc` as the description, printed as written."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def add_network_argument(parser: argparse.ArgumentParser) -> None:
    """--network PATH (required)."""
    parser.add_argument("--network", required=True, metavar="PATH",
                        help="generator to use: an NVIDIA network pickle (read safely, no code runs), one of our "
                             "safetensors files, a snapshot directory or a run directory (its newest snapshot)")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """--device (pick_device's spec)."""
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available; the default), cpu, cuda or cuda:N")


def add_class_argument(parser: argparse.ArgumentParser, what: str = "image", help: Optional[str] = None) -> None:
    """--class C (dest class_idx): by default required for a conditional network and refused otherwise."""
    parser.add_argument("--class", dest="class_idx", type=int, default=None, metavar="C",
                        help=help or f"class label of every {what}; required for a conditional network, refused "
                                     "otherwise")


def add_rendering_arguments(parser: argparse.ArgumentParser, what: str = "image") -> None:
    """--trunc, --trunc-cutoff, --noise-mode and --class, for rendering `what`s (images, frames)."""
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI",
                        help="truncation psi: w = w_avg + psi * (w - w_avg); 1 (the default) is none, 0 gives the "
                             "average image")
    parser.add_argument("--trunc-cutoff", type=int, default=None, metavar="K",
                        help="truncate only the first K ws (all when not given)")
    parser.add_argument("--noise-mode", choices=NOISE_MODES, default="const",
                        help=f"per-layer noise: const (the network's fixed noise; the default), random (fresh for "
                             f"every {what}) or none")
    add_class_argument(parser, what)


def add_latent_source_arguments(parser: argparse.ArgumentParser, what: str = "render") -> None:
    """--seeds LIST or --ws FILE (one of them required), for source_ws."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seeds", metavar="LIST", help=f"seeds to {what}, e.g. '0-15,42' (files seedNNNN.*)")
    source.add_argument("--ws", metavar="FILE",
                        help=f"saved w vectors to {what} instead of seeds: an .npz file with an array 'w' of shape "
                             "[N, num_ws, w_dim] or [N, w_dim] such as projected_w.npz, truncated by --trunc like "
                             "the seeds' ws (files projNN.*)")


def add_outdir_argument(parser: argparse.ArgumentParser, contents: str) -> None:
    """--outdir DIR (required), where `contents` go."""
    parser.add_argument("--outdir", required=True, metavar="DIR", help=f"where to write {contents} (created if "
                                                                         "missing)")


def run_command(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], None], argv=None) -> int:
    """Parses argv (sys.argv[1:] when None; other items than strings, such as paths, are converted with str) and runs
    body(args). Returns the exit status: argparse's own (0 after --help, 2 for a usage error); bad input
    (ValueError, FileNotFoundError, KeyError) becomes 'error: ...' on stderr and 2; Ctrl-C 130; 0 when done.
    Anything else is a bug and keeps its traceback."""
    try:
        args = parser.parse_args(None if argv is None else [str(a) for a in argv])
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else int(e.code is not None)
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
