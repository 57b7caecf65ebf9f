"""Style mixing as in the StyleGAN paper's figures, with the convention of NVIDIA's style_mixing.py: the image in row
R, column C takes the ws of the row source R, except the layers chosen by --styles (or --preset), which it takes from
the column source C. So with coarse layers the column source gives pose and shape, the row source colours and fine
detail. (The StyleGAN paper's Figure 3 is the transposed arrangement: the styles come from the sources on its left.)

    python -m stylegan.style_mixing --network G.safetensors --rows 85,100,75 --cols 55,821,1789 --styles 0-6 \\
        --outdir out

Writes grid.png (column sources along the top, row sources down the left, the top-left cell blank) and every image
on its own as ROW-COL.png, the sources as SEED-SEED.png.

Which layers a w drives: two ws per resolution from 4x4 up (ws 0-1 at 4 px, 2-3 at 8 px, ...; in StyleGAN2 each odd
w drives its resolution's ToRGB and the next resolution's first convolution). The presets, as in the paper: coarse =
the 4-8 px layers, middle = 16-32 px, fine = 64 px and up. A network under 64 px keeps each group non-empty where it
can: its top resolution is fine and its 4 px layers coarse (32 px: 4-8 / 16 / 32; 16 px: 4 / 8 / 16); an 8 px
network has no middle layers, a 4 px network only coarse ones. The default is --preset coarse; NVIDIA's tool
defaults to --styles 0-6: give that to compare figures with theirs."""

import argparse
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..checks import check_within, pick_device
from ..images import grid_image, save_png
from ..latents import check_truncation, images_from_ws, ws_from_seeds
from ..loading import load_generator
from ..progress import progress
from .command_line import (add_device_argument, add_network_argument, add_outdir_argument, add_rendering_arguments,
                           command_parser, parse_range, parse_seeds, prepare_outdir, run_command)

__all__ = ["PRESETS", "build_parser", "main", "mix_ws", "preset_styles", "style_mixing_grid", "style_mixing_images",
           "ws_resolutions"]

PROG = "python -m stylegan.style_mixing"

PRESETS = ("coarse", "middle", "fine")


def ws_resolutions(G: torch.nn.Module) -> List[int]:
    """The resolution each of G's num_ws ws acts at first (G.synthesis.w_inputs())."""
    return [w.resolution for w in G.synthesis.w_inputs()]


def preset_styles(G: torch.nn.Module, preset: str) -> List[int]:
    """The ws indices of a preset ('coarse', 'middle' or 'fine'; see the module docstring); a ValueError naming
    --preset for an unknown name or a group this network does not have."""
    if preset not in PRESETS:
        raise ValueError(f"--preset: must be one of {PRESETS}, got {preset!r}")
    levels = sorted(set(ws_resolutions(G)))
    n = len(levels)
    n_coarse = max(min(2, n - 2), 1)
    n_fine = max(n - 4, 1) if n > 1 else 0
    groups = dict(coarse=levels[:n_coarse], middle=levels[n_coarse:n - n_fine], fine=levels[n - n_fine:])
    styles = [i for i, res in enumerate(ws_resolutions(G)) if res in groups[preset]]
    if not styles:
        raise ValueError(f"--preset: this {G.img_resolution}x{G.img_resolution} network has no {preset} layers; "
                         "give --styles instead")
    return styles


def mix_ws(w_row: torch.Tensor, w_col: torch.Tensor, styles: Sequence[int]) -> torch.Tensor:
    """The row source's ws w_row [num_ws, w_dim] with the layers in `styles` taken from the column source's w_col."""
    w = w_row.clone()
    w[list(styles)] = w_col[list(styles)]
    return w


@torch.no_grad()
def style_mixing_images(G: torch.nn.Module, row_seeds: Sequence[int], col_seeds: Sequence[int],
                        styles: Sequence[int], truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                        noise_mode: str = "const", class_idx: Optional[int] = None,
                        show_progress: bool = False) -> Dict[Tuple[int, int], torch.Tensor]:
    """{(row, col): image [C, H, W] in [-1, 1]}: the row seed's ws with the layers in `styles` replaced by the column
    seed's (truncation applied to both before mixing), for every row and column seed, plus (seed, seed): the seed's
    own image for every source. Each image is rendered on its own."""
    check_within(styles, G.num_ws, "--styles", "this network's ws")
    seeds = list(dict.fromkeys(list(row_seeds) + list(col_seeds)))
    source_ws = ws_from_seeds(G, seeds, truncation_psi, truncation_cutoff, class_idx)
    ws = dict(zip(seeds, source_ws))
    images = {(seed, seed): image for seed, image in zip(seeds, images_from_ws(G, source_ws, noise_mode))}
    pairs = [(row, col) for row in row_seeds for col in col_seeds]
    for row, col in progress(pairs, "style mixes") if show_progress else pairs:
        images[(row, col)] = images_from_ws(G, mix_ws(ws[row], ws[col], styles).unsqueeze(0), noise_mode)[0]
    return images


def style_mixing_grid(images: Dict[Tuple[int, int], torch.Tensor], row_seeds: Sequence[int],
                      col_seeds: Sequence[int], min_cell: int = 64) -> np.ndarray:
    """The paper's grid of style_mixing_images' result as a uint8 HWC array: column sources along the top, row
    sources down the left, the top-left cell black, cells enlarged to at least `min_cell` pixels (as grid_image)."""
    corner = torch.full_like(images[(col_seeds[0], col_seeds[0])], -1)
    cells = [corner] + [images[(col, col)] for col in col_seeds]
    for row in row_seeds:
        cells += [images[(row, row)]] + [images[(row, col)] for col in col_seeds]
    return grid_image(torch.stack(cells), columns=len(col_seeds) + 1, min_cell=min_cell)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__)
    add_network_argument(parser)
    parser.add_argument("--rows", required=True, metavar="LIST",
                        help="seeds of the row sources (down the left), e.g. '85,100,75': they give every layer not "
                             "in --styles")
    parser.add_argument("--cols", required=True, metavar="LIST",
                        help="seeds of the column sources (along the top), e.g. '55,821,1789': they give the layers "
                             "in --styles")
    layers = parser.add_mutually_exclusive_group()
    layers.add_argument("--styles", metavar="LIST",
                        help="indices of the ws taken from the column source, e.g. '0-6' (NVIDIA's default); the "
                             "rest come from the row source (default: --preset coarse)")
    layers.add_argument("--preset", choices=PRESETS,
                        help="the ws taken from the column source by resolution: coarse 4-8 px, middle 16-32 px, "
                             "fine 64 px and up (adapted for smaller networks; see above)")
    add_rendering_arguments(parser)
    add_outdir_argument(parser, "grid.png and the ROW-COL.png images")
    add_device_argument(parser)
    return parser


@torch.no_grad()
def _run(args: argparse.Namespace) -> None:
    rows, cols = parse_seeds(args.rows, "--rows"), parse_seeds(args.cols, "--cols")
    styles = parse_range(args.styles, "--styles") if args.styles is not None else None
    G = load_generator(args.network, pick_device(args.device))
    if styles is None:
        styles = preset_styles(G, args.preset or "coarse")
    check_truncation(G, args.trunc, args.trunc_cutoff)
    images = style_mixing_images(G, rows, cols, styles, args.trunc, args.trunc_cutoff, args.noise_mode,
                                 args.class_idx, show_progress=True)
    outdir = prepare_outdir(args.outdir)
    for (row, col), image in images.items():
        save_png(image, outdir / f"{row}-{col}.png")
    save_png(style_mixing_grid(images, rows, cols), outdir / "grid.png")
    print(f"wrote grid.png and {len(images)} images to {outdir} (ws {styles} from the columns, the rest from the "
          "rows)")


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    return run_command(build_parser(prog), _run, argv)

