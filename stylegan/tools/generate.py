"""Images from a generator: one PNG per seed (seed0042.png), or per w vector of a saved .npz file such as the
projector's projected_w.npz (proj00.png), and optionally a grid of them all (grid.png).

    python -m stylegan.generate --network G.safetensors --seeds 0-15,42 --trunc 0.7 --outdir out --grid

A StyleGAN3 network's images can be translated and rotated (--translate x,y --rotate degrees, NVIDIA's gen_images.py
flags: see stylegan.transforms). Seeds draw z as NVIDIA's generate.py does, so a seed gives the same image as with
their code. Every image is rendered on its own, so a seed's image does not depend on the other seeds in the list."""

import argparse
import math
from typing import List, Optional, Sequence

import torch
from PIL import Image

from ..checks import pick_device
from ..images import grid_image, save_png, to_pil
from ..latents import images_from_ws, scaled_noise, ws_from_seeds
from ..loading import load_generator
from ..progress import progress
from ..transforms import input_transform, parse_translate
from .command_line import (add_device_argument, add_latent_source_arguments, add_network_argument, add_outdir_argument,
                           add_rendering_arguments, command_parser, parse_seeds, prepare_outdir, run_command, source_ws)

__all__ = ["build_parser", "generate_images", "generate_pil_images", "main", "pil_images_from_ws"]

PROG = "python -m stylegan.generate"


def generate_images(G: torch.nn.Module, seeds: Sequence[int], truncation_psi: float = 1,
                    truncation_cutoff: Optional[int] = None, noise_mode: str = "const",
                    class_idx: Optional[int] = None, translate: Optional[Sequence[float]] = None,
                    rotate: Optional[float] = None) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1] for the seeds: G(z_from_seed(seed), class label) with truncation, each seed
    rendered on its own; translated by (x, y) and rotated by degrees when given (StyleGAN3 networks only:
    stylegan.transforms.input_transform)."""
    ws = ws_from_seeds(G, seeds, truncation_psi, truncation_cutoff, class_idx)
    with input_transform(G, translate, rotate):
        return images_from_ws(G, ws, noise_mode)


def generate_pil_images(G: torch.nn.Module, seeds: Sequence[int], **kwargs) -> List[Image.Image]:
    """generate_images(G, seeds, **kwargs) as PIL images."""
    return [to_pil(image) for image in generate_images(G, seeds, **kwargs)]


def pil_images_from_ws(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = "const") -> List[Image.Image]:
    """images_from_ws(G, ws, noise_mode) as PIL images."""
    return [to_pil(image) for image in images_from_ws(G, ws, noise_mode)]


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__)
    add_network_argument(parser)
    add_latent_source_arguments(parser)
    add_rendering_arguments(parser)
    add_outdir_argument(parser, "the PNGs")
    parser.add_argument("--grid", action="store_true", help="also write grid.png with all the images")
    parser.add_argument("--translate", metavar="X,Y", help="translate the images by (x, y) (NVIDIA's convention; "
                                                           "StyleGAN3 networks only)")
    parser.add_argument("--noise-strength", type=float, default=1.0, metavar="S",
                        help="scale every layer's noise strength by S (1, the default: the network's own)")
    parser.add_argument("--rotate", type=float, metavar="DEG", help="rotate the images by DEG degrees (NVIDIA's "
                                                                    "convention; StyleGAN3 networks only)")
    add_device_argument(parser)
    return parser


@torch.no_grad()
def _run(args: argparse.Namespace) -> None:
    seeds = None if args.seeds is None else parse_seeds(args.seeds)
    translate = None if args.translate is None else parse_translate(args.translate)
    G = load_generator(args.network, pick_device(args.device))
    ws, stems = source_ws(G, seeds, args.ws, args.trunc, args.trunc_cutoff, args.class_idx)
    kept = []
    with input_transform(G, translate, args.rotate), scaled_noise(G, args.noise_strength):
        outdir = prepare_outdir(args.outdir)
        for stem, w in progress(list(zip(stems, ws)), "images"):
            image = images_from_ws(G, w.unsqueeze(0), args.noise_mode)
            save_png(image[0], outdir / f"{stem}.png")
            if args.grid:
                kept.append(image.cpu())
    if args.grid:
        images = torch.cat(kept)
        save_png(grid_image(images, columns=math.ceil(math.sqrt(len(images)))), outdir / "grid.png")
    print(f"wrote {len(stems)} images{' and grid.png' if args.grid else ''} to {outdir}")


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    return run_command(build_parser(prog), _run, argv)

