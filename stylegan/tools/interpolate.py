"""Latent walks as videos: from seed to seed (optionally back to the first), or a random walk from one seed.

    python -m stylegan.interpolate --network G.safetensors --seeds 1,5,9 --loop --outdir out
    python -m stylegan.interpolate --network G.safetensors --seeds 7 --random-walk --steps 10 --space w --outdir out

Writes walk.mp4 (walk.gif, with a warning, when imageio-ffmpeg is not installed) and with --frames every frame as
frames/frameNNNN.png, after removing the frameNNNN.png files an earlier walk left there. In z the walk follows great
circles (slerp; z is normalized before the mapping, so only its direction matters); in w it goes in straight lines
(lerp). A random walk moves each step --step-size of the way towards a fresh random latent, drawn from the start
seed's random stream. The noise mode is const by default, so that the video does not flicker."""

import argparse
import math
import re
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch

from ..checks import check_at_least, check_seeds, pick_device
from ..images import save_png, to_uint8
from ..latents import (check_truncation, class_labels, images_from_ws, slerp, ws_from_seeds, ws_from_z,
                       z_from_seed)
from ..loading import load_generator
from ..progress import progress
from .command_line import (add_device_argument, add_network_argument, add_outdir_argument, add_rendering_arguments,
                           command_parser, parse_seeds, prepare_outdir, run_command)
from .video import write_video

__all__ = ["DEFAULT_STEPS", "DEFAULT_STEP_SIZE", "SPACES", "build_parser", "clear_frames", "interpolate_frames",
           "iter_frames", "latent_path", "main", "random_walk_keys", "seed_keys", "slerp", "walk_path"]

PROG = "python -m stylegan.interpolate"

SPACES = ("z", "w")
DEFAULT_STEPS = 8
DEFAULT_STEP_SIZE = 0.5
_FRAME_NAME = re.compile(r"^frame\d{4,}\.png$")  # the names the --frames option writes


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f"--space: must be one of {SPACES}, got {space!r}")


def latent_path(keys: torch.Tensor, frames_per_transition: int, space: str = "z", loop: bool = False) -> torch.Tensor:
    """The latents [T, ...] of a walk through keys [K, ...] (z [K, z_dim] or w [K, num_ws, w_dim]):
    frames_per_transition frames per transition (slerp in z, lerp in w), each starting with its key exactly, then
    the last key; with loop a last transition back to the first key, which is then the last frame.
    T = (K - 1 + loop) * frames_per_transition + 1."""
    _check_space(space)
    check_at_least(frames_per_transition, 1, "--frames-per-transition")
    if len(keys) < (1 if loop else 2):
        raise ValueError(f"a walk needs at least {'one keyframe' if loop else 'two keyframes'}, got {len(keys)}")
    if loop:
        keys = torch.cat([keys, keys[:1]])
    path = []
    for a, b in zip(keys[:-1], keys[1:]):
        path.append(a)
        for i in range(1, frames_per_transition):
            t = i / frames_per_transition
            path.append(slerp(a, b, t) if space == "z" else torch.lerp(a, b, t))
    path.append(keys[-1])
    return torch.stack(path)


@torch.no_grad()
def seed_keys(G: torch.nn.Module, seeds: Sequence[int], space: str = "z", truncation_psi: float = 1,
              truncation_cutoff: Optional[int] = None, class_idx: Optional[int] = None) -> torch.Tensor:
    """Keyframes for the seeds: their z [K, z_dim] (z_from_seed), or in w their ws [K, num_ws, w_dim] with
    truncation (ws_from_seeds)."""
    _check_space(space)
    check_seeds(seeds)
    if space == "z":
        return torch.cat([z_from_seed(G, seed) for seed in seeds])
    return ws_from_seeds(G, seeds, truncation_psi, truncation_cutoff, class_idx)


@torch.no_grad()
def random_walk_keys(G: torch.nn.Module, seed: int, steps: int, step_size: float = DEFAULT_STEP_SIZE,
                     space: str = "z", truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                     class_idx: Optional[int] = None) -> torch.Tensor:
    """steps + 1 keyframes: the seed's latent (as z_from_seed), then each step `step_size` of the way (slerp in z,
    lerp in w) towards a new random latent; the seed's numpy RandomState draws them all."""
    _check_space(space)
    check_seeds([seed])
    check_at_least(steps, 1, "--steps")
    if not 0 < step_size <= 1:
        raise ValueError(f"--step-size: must be in (0, 1], got {step_size}")
    device = next(G.parameters()).device
    zs = torch.from_numpy(np.random.RandomState(seed).randn(steps + 1, G.z_dim)).float().to(device)
    targets = ws_from_z(G, zs, truncation_psi, truncation_cutoff, class_idx) if space == "w" else zs
    keys = [targets[0]]
    for target in targets[1:]:
        keys.append(slerp(keys[-1], target, step_size) if space == "z" else torch.lerp(keys[-1], target, step_size))
    return torch.stack(keys)


def walk_path(G: torch.nn.Module, seeds: Sequence[int], frames_per_transition: int = 30, space: str = "z",
              loop: bool = False, random_walk_steps: Optional[int] = None, step_size: float = DEFAULT_STEP_SIZE,
              truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
              class_idx: Optional[int] = None) -> torch.Tensor:
    """The latents of a walk through the seeds, or with random_walk_steps a random walk from the one seed given
    (latent_path of seed_keys or random_walk_keys)."""
    if random_walk_steps is not None:
        if len(seeds) != 1:
            raise ValueError(f"--seeds: a random walk starts from one seed, got {len(seeds)}")
        keys = random_walk_keys(G, seeds[0], random_walk_steps, step_size, space, truncation_psi, truncation_cutoff,
                                class_idx)
    else:
        if len(seeds) < 2:
            raise ValueError(f"--seeds: a walk needs at least two seeds (or --random-walk), got {len(seeds)}")
        keys = seed_keys(G, seeds, space, truncation_psi, truncation_cutoff, class_idx)
    return latent_path(keys, frames_per_transition, space, loop)


@torch.no_grad()
def iter_frames(G: torch.nn.Module, path: Iterable[torch.Tensor], space: str = "z", truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                class_idx: Optional[int] = None) -> Iterator[torch.Tensor]:
    """Yields an image [C, H, W] in [-1, 1] per latent of the path: z [z_dim] through the mapping (with truncation
    and the class label), or w [num_ws, w_dim] straight to the synthesis network."""
    for latent in path:
        latent = latent.unsqueeze(0)
        if space == "z":
            latent = ws_from_z(G, latent, truncation_psi, truncation_cutoff, class_idx)
        yield images_from_ws(G, latent, noise_mode)[0]


def interpolate_frames(G: torch.nn.Module, seeds: Sequence[int], frames_per_transition: int = 30, space: str = "z",
                       loop: bool = False, random_walk_steps: Optional[int] = None,
                       step_size: float = DEFAULT_STEP_SIZE, truncation_psi: float = 1,
                       truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                       class_idx: Optional[int] = None) -> torch.Tensor:
    """The frames [T, C, H, W] in [-1, 1] of walk_path(...), rendered with iter_frames."""
    path = walk_path(G, seeds, frames_per_transition, space, loop, random_walk_steps, step_size, truncation_psi,
                     truncation_cutoff, class_idx)
    return torch.stack(list(iter_frames(G, path, space, truncation_psi, truncation_cutoff, noise_mode, class_idx)))


def clear_frames(frames_dir: Path) -> None:
    """Removes the frameNNNN.png files of an earlier walk from frames_dir (any other file stays)."""
    for path in frames_dir.iterdir():
        if _FRAME_NAME.match(path.name) and path.is_file():
            path.unlink()


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__)
    add_network_argument(parser)
    parser.add_argument("--seeds", required=True, metavar="LIST",
                        help="seeds to walk through in order, e.g. '1,5,9'; with --random-walk the one seed to start "
                             "from")
    parser.add_argument("--loop", action="store_true", help="walk back to the first keyframe at the end")
    parser.add_argument("--random-walk", action="store_true",
                        help="walk in random directions from the seed instead of through the seeds")
    parser.add_argument("--steps", type=int, default=None, metavar="K",
                        help=f"number of random-walk steps (default: {DEFAULT_STEPS}; only with --random-walk)")
    parser.add_argument("--step-size", type=float, default=None, metavar="S",
                        help="how far each random-walk step goes towards a fresh random latent, in (0, 1] (default: "
                             f"{DEFAULT_STEP_SIZE}; only with --random-walk)")
    parser.add_argument("--space", choices=SPACES, default="z",
                        help="interpolate z (slerp) or w (lerp, after truncation) (default: %(default)s)")
    parser.add_argument("--frames-per-transition", type=int, default=30, metavar="F",
                        help="frames from one keyframe to the next (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second of the video (default: %(default)s)")
    add_rendering_arguments(parser, what="frame")
    add_outdir_argument(parser, "walk.mp4 (and the frames)")
    parser.add_argument("--frames", action="store_true", help="also write every frame as frames/frameNNNN.png")
    add_device_argument(parser)
    return parser


@torch.no_grad()
def _run(args: argparse.Namespace) -> None:
    seeds = parse_seeds(args.seeds)
    if not args.random_walk:
        for flag, value in (("--steps", args.steps), ("--step-size", args.step_size)):
            if value is not None:
                raise ValueError(f"{flag}: only used with --random-walk")
    steps = (DEFAULT_STEPS if args.steps is None else args.steps) if args.random_walk else None
    step_size = DEFAULT_STEP_SIZE if args.step_size is None else args.step_size
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise ValueError(f"--fps: must be a positive number, got {args.fps}")
    G = load_generator(args.network, pick_device(args.device))
    check_truncation(G, args.trunc, args.trunc_cutoff)
    class_labels(G, args.class_idx)  # checks --class before any work
    path = walk_path(G, seeds, args.frames_per_transition, args.space, args.loop, steps, step_size, args.trunc,
                     args.trunc_cutoff, args.class_idx)
    outdir = prepare_outdir(args.outdir)
    frames_dir = outdir / "frames"
    if args.frames:
        clear_frames(prepare_outdir(frames_dir, "--outdir (its frames folder)"))
    digits = max(4, len(str(len(path) - 1)))

    def frames():
        images = iter_frames(G, progress(path, "frames"), args.space, args.trunc, args.trunc_cutoff,
                             args.noise_mode, args.class_idx)
        for idx, image in enumerate(images):
            frame = to_uint8(image)
            if args.frames:
                save_png(frame, frames_dir / f"frame{idx:0{digits}d}.png")
            yield frame

    video = write_video(frames(), outdir / "walk.mp4", fps=args.fps)
    print(f"wrote {video} ({len(path)} frames{f', also in {frames_dir}' if args.frames else ''})")


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    return run_command(build_parser(prog), _run, argv)

