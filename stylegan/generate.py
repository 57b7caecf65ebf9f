"""Images from a generator: one PNG per seed (seed0042.png), or per w vector of a saved .npz file such as the
projector's projected_w.npz (proj00.png), and optionally a grid of them all (grid.png).

    python -m stylegan.generate --network G.safetensors --seeds 0-15,42 --trunc 0.7 --outdir out --grid

Seeds draw z as NVIDIA's generate.py does, so a seed gives the same image as with their code. Every image is
rendered on its own, so a seed's image does not depend on the other seeds in the list."""

import argparse
import math
import sys
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from .cli import (check_seeds, class_labels, load_generator, parse_range, pick_device, progress, run_command,
                  z_from_seed)
from .images import grid_image, save_png, to_pil

NOISE_MODES = ("const", "random", "none")


def check_truncation(G: torch.nn.Module, truncation_psi: float, truncation_cutoff: Optional[int]) -> None:
    """ValueErrors naming --trunc / --trunc-cutoff for a psi that is not finite, a psi other than 1 on a network
    without w_avg, or a cutoff outside [0, num_ws]."""
    if not math.isfinite(truncation_psi):
        raise ValueError(f"--trunc: expected a finite number, got {truncation_psi}")
    if truncation_psi != 1 and not hasattr(G.mapping, "w_avg"):
        raise ValueError("--trunc: this network keeps no w_avg, so it cannot be truncated; leave --trunc at 1")
    if truncation_cutoff is not None and not 0 <= truncation_cutoff <= G.num_ws:
        raise ValueError(f"--trunc-cutoff: must be in [0, {G.num_ws}] (the network's num_ws), got {truncation_cutoff}")


def prepare_outdir(path) -> Path:
    """The output directory, created (with its parents) when missing; a ValueError naming --outdir when the path is
    an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--outdir: {path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


@torch.no_grad()
def ws_from_seeds(G: torch.nn.Module, seeds: Sequence[int], truncation_psi: float = 1,
                  truncation_cutoff: Optional[int] = None, class_idx: Optional[int] = None) -> torch.Tensor:
    """The ws [N, num_ws, w_dim] of the seeds' latents (z_from_seed), truncated towards w_avg by psi on the first
    `truncation_cutoff` ws (all when None). class_idx is required for a conditional network, refused otherwise."""
    check_seeds(seeds)
    c = class_labels(G, class_idx)
    ws = [G.mapping(z_from_seed(G, seed), c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                    update_w_avg=False) for seed in seeds]
    return torch.cat(ws) if ws else torch.zeros([0, G.num_ws, G.w_dim], device=next(G.parameters()).device)


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


def generate_images(G: torch.nn.Module, seeds: Sequence[int], truncation_psi: float = 1,
                    truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                    class_idx: Optional[int] = None) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1] for the seeds: G(z_from_seed(seed), class label) with truncation, each seed
    rendered on its own."""
    return images_from_ws(G, ws_from_seeds(G, seeds, truncation_psi, truncation_cutoff, class_idx), noise_mode)


def generate_pil_images(G: torch.nn.Module, seeds: Sequence[int], **kwargs) -> List[Image.Image]:
    """generate_images(G, seeds, **kwargs) as PIL images."""
    return [to_pil(image) for image in generate_images(G, seeds, **kwargs)]


def pil_images_from_ws(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = "const") -> List[Image.Image]:
    """images_from_ws(G, ws, noise_mode) as PIL images."""
    return [to_pil(image) for image in images_from_ws(G, ws, noise_mode)]


def load_ws(path, G: torch.nn.Module) -> torch.Tensor:
    """The array 'w' of an .npz file (what stylegan.project writes as projected_w.npz) as ws [N, num_ws, w_dim] for
    G; [N, w_dim] is broadcast to every layer. Errors name --ws."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--ws: no such file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"--ws: cannot read {path} as an .npz file: {e}") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"--ws: {path} is a single array, not an .npz file with an array 'w'")
    with data:
        if "w" not in data.files:
            raise ValueError(f"--ws: {path} has no array 'w' (it has {data.files})")
        try:
            w = data["w"]
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"--ws: cannot read the array 'w' of {path}: {e}") from e
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"--ws: 'w' in {path} must hold floating-point numbers, got {w.dtype}")
    if not np.isfinite(w).all():
        raise ValueError(f"--ws: 'w' in {path} holds NaN or infinite values")
    if w.ndim == 2 and w.shape[1] == G.w_dim:
        w = np.repeat(w[:, np.newaxis], G.num_ws, axis=1)
    if w.ndim != 3 or w.shape[1:] != (G.num_ws, G.w_dim) or w.shape[0] == 0:
        raise ValueError(f"--ws: 'w' in {path} has shape {list(w.shape)}; this network takes [N, {G.num_ws}, "
                         f"{G.w_dim}] or [N, {G.w_dim}] with N >= 1")
    return torch.from_numpy(w).float().to(next(G.parameters()).device)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stylegan.generate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", required=True, metavar="PATH",
                        help="generator to use: an NVIDIA network pickle, one of our safetensors files, a snapshot "
                             "directory or a run directory (its newest snapshot)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seeds", metavar="LIST", help="seeds to render, e.g. '0-15,42'; one PNG seedNNNN.png each")
    source.add_argument("--ws", metavar="FILE",
                        help="render saved w vectors instead of seeds: an .npz file with an array 'w' of shape "
                             "[N, num_ws, w_dim] or [N, w_dim] (such as projected_w.npz); one PNG projNN.png each")
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI",
                        help="truncation psi: w = w_avg + psi * (w - w_avg) (also applied to --ws vectors); 1 (the "
                             "default) is none, 0 gives the average image")
    parser.add_argument("--trunc-cutoff", type=int, default=None, metavar="K",
                        help="truncate only the first K ws (all when not given)")
    parser.add_argument("--noise-mode", choices=NOISE_MODES, default="const",
                        help="per-layer noise: the network's fixed noise, fresh random noise, or none "
                             "(default: %(default)s)")
    parser.add_argument("--class", dest="class_idx", type=int, default=None, metavar="C",
                        help="class label to render; required for a conditional network, refused otherwise")
    parser.add_argument("--outdir", required=True, metavar="DIR", help="where to write the PNGs (created if missing)")
    parser.add_argument("--grid", action="store_true", help="also write grid.png with all the images")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available; the default), cpu, cuda or cuda:N")
    return parser


@torch.no_grad()
def _run(args: argparse.Namespace) -> None:
    seeds = None
    if args.seeds is not None:
        seeds = parse_range(args.seeds, "--seeds")
        check_seeds(seeds)
    G = load_generator(args.network, pick_device(args.device))
    check_truncation(G, args.trunc, args.trunc_cutoff)
    if seeds is not None:
        ws = ws_from_seeds(G, seeds, args.trunc, args.trunc_cutoff, args.class_idx)
        names = [f"seed{seed:04d}.png" for seed in seeds]
    else:
        if args.class_idx is not None:
            raise ValueError("--class: not used with --ws (the saved ws already hold their class)")
        ws = G.mapping.truncate(load_ws(args.ws, G), args.trunc, args.trunc_cutoff)
        names = [f"proj{idx:02d}.png" for idx in range(len(ws))]
    outdir = prepare_outdir(args.outdir)
    kept = []
    for name, w in progress(list(zip(names, ws)), "images"):
        image = images_from_ws(G, w.unsqueeze(0), args.noise_mode)
        save_png(image[0], outdir / name)
        if args.grid:
            kept.append(image.cpu())
    if args.grid:
        images = torch.cat(kept)
        save_png(grid_image(images, columns=math.ceil(math.sqrt(len(images)))), outdir / "grid.png")
    print(f"wrote {len(names)} images{' and grid.png' if args.grid else ''} to {outdir}")


def main(argv=None) -> int:
    """Runs the command with argv (sys.argv[1:] when None); returns the exit status."""
    return run_command(build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
