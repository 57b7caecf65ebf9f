"""python -m stylegan.metrics: evaluation metrics of a network against a dataset.

    python -m stylegan.metrics --network runs/00003-shapes32/ --metrics fid50k_full,kid50k_full
    python -m stylegan.metrics --network ffhq.pkl --data ffhq.zip --metrics fid,pr,ppl --inception pt_inception.pth

Each metric's record is printed as a JSON line and appended to metric-<name>.jsonl in --outdir (default: the
directory of the network file or snapshot, or the run directory given; for a URL, the current directory).
"""

import argparse
import json
import os
import sys
from pathlib import Path

from ..checks import check_fits_dataset, pick_device
from ..data import open_dataset
from ..downloads import is_url
from ..loading import load_generator, network_file
from ..networks.synthesis import NOISE_MODES
from ..tools.command_line import add_device_argument, add_network_argument, command_parser, run_command
from .features import RandomFeatures
from .inception import DEFAULT_WEIGHTS_PATH, ENV_VAR
from .runner import append_jsonl, evaluate_metrics, parse_metric
from .stats_cache import DEFAULT_CACHE_DIR

_METRIC_HELP = """metric names (a count is the number of generated images, written 50k or 200):
  fid50k_full, kid50k_full   FID / KID against all real images (fid / kid); fid50k, kid50k: the first 50k items
  pr50k3_full, pr50k3        precision and recall, k = 3 (pr); with Inception features, named ..._inception_...
  ppl2_wend                  perceptual path length in w, end points, no crop (ppl); also ppl_zfull, ppl_wfull,
                             ppl_zend, ppl_wend (cropped); named by its distance: LPIPS (ppl2_lpips_wend), else
                             VGG16 with every channel weighted 1 (ppl2_vgg_wend), else pixel (ppl2_pixel_wend)
  swd16k                     sliced Wasserstein distance on Laplacian pyramids (swd)
  eqt50k_int, eqt50k_frac    StyleGAN3 equivariance to integer / fractional translation, PSNR in dB (higher is
  eqr50k                     better); eqr50k: to rotation; StyleGAN3 networks only
  other counts: fid10k_full, kid2k, pr5k3_full, pr200_k3, ppl2_wend_1k, swd4k, eqt1k_int, eqr1k; or --num-gen N
  for all"""

_FEATURES = ("inception", "random-test")
PROG = "python -m stylegan.metrics"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, "Evaluation metrics of a generator against a dataset.", epilog=_METRIC_HELP)
    add_network_argument(parser)
    parser.add_argument("--metrics", required=True, metavar="LIST", help="comma-separated metric names (below)")
    parser.add_argument("--data", metavar="PATH", help="folder or zip of images (default: the built-in shapes at the "
                                                       "network's resolution)")
    parser.add_argument("--resolution", type=int, metavar="R", help="resize the data's images to R x R (must be the "
                                                                    "network's resolution)")
    parser.add_argument("--mirror", action="store_true", help="add x-flipped copies of the images (metrics without "
                                                              "_full only)")
    parser.add_argument("--max-size", type=int, metavar="N", help="use at most the first N images of the data")
    parser.add_argument("--num-gen", type=int, metavar="N", help="generated images (PPL: samples) for every metric, "
                                                                 "instead of the count in its name; renames it")
    parser.add_argument("--inception", metavar="PATH",
                        help=f"the FID Inception weights (default: ${ENV_VAR}, else {DEFAULT_WEIGHTS_PATH}, downloaded "
                             "there on first use)")
    parser.add_argument("--features", choices=_FEATURES, default="inception",
                        help="feature network of FID/KID/PR; random-test: small random network for smoke tests, its "
                             "values mean nothing (default: %(default)s)")
    add_device_argument(parser)
    parser.add_argument("--batch", type=int, default=64, help="images per batch (default: %(default)s)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="data loader processes (default: 3 (at most the CPU count) for image files, 0 for the "
                             "built-in data)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of latents and subsets (default: 0)")
    parser.add_argument("--noise-mode", choices=NOISE_MODES, default="random",
                        help="the generator's noise (default: %(default)s, as NVIDIA's metrics)")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default: %(default)s)")
    parser.add_argument("--cache-dir", metavar="DIR", help=f"dataset statistics cache (default: {DEFAULT_CACHE_DIR})")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the statistics cache")
    parser.add_argument("--outdir", metavar="DIR", help="where metric-<name>.jsonl files go (default: next to the "
                                                        "network, or the run directory; for a URL, here)")
    return parser


def _snapshot_and_outdir(network: str) -> tuple:
    """(the network file or snapshot evaluated, the default directory of its jsonl files: the run directory given,
    else the one holding the file or snapshot; for a URL, the URL itself and the current directory)."""
    if is_url(network):
        return network, Path.cwd()
    snapshot = network_file(network)
    return snapshot, Path(network) if snapshot != Path(network) else snapshot.parent


def _check_positive(value, name: str, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _open_data(args, G):
    resolution = args.resolution if args.resolution is not None else (G.img_resolution if args.data is None else None)
    try:
        dataset = open_dataset(args.data, resolution=resolution, use_labels=G.c_dim > 0, mirror=args.mirror,
                               max_size=args.max_size)
    except (ValueError, FileNotFoundError) as error:
        raise type(error)(f"--data: {error}") from error
    check_fits_dataset(G, dataset, "--data",
                       hint={"img_resolution": f"; pass --resolution {G.img_resolution} to resize the images"})
    return dataset


def _run(args) -> None:
    names = [name.strip() for name in args.metrics.split(",") if name.strip()]
    if not names:
        raise ValueError("--metrics: no metric given")
    _check_positive(args.num_gen, "--num-gen", 2)
    _check_positive(args.batch, "--batch")
    _check_positive(args.workers, "--workers", 0)
    _check_positive(args.seed, "--seed", 0)
    for name in names:
        try:
            parse_metric(name, args.num_gen)
        except ValueError as error:
            raise ValueError(f"--metrics: {error}") from error
    device = pick_device(args.device)
    G = load_generator(args.network, device)
    dataset = _open_data(args, G)
    snapshot, default_outdir = _snapshot_and_outdir(args.network)
    outdir = Path(args.outdir) if args.outdir else default_outdir
    workers = args.workers if args.workers is not None else (0 if args.data is None else min(3, os.cpu_count() or 1))
    extractor = RandomFeatures() if args.features == "random-test" else None
    for result in evaluate_metrics(G, dataset, names, num_gen=args.num_gen, device=device, feature_extractor=extractor,
                                   inception=args.inception, batch=args.batch, cache_dir=args.cache_dir,
                                   use_cache=not args.no_cache, seed=args.seed, noise_mode=args.noise_mode,
                                   truncation_psi=args.trunc, num_workers=workers, progress=True):
        record = append_jsonl(outdir, result.name, result, snapshot=snapshot)
        print(json.dumps(record), flush=True)


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    return run_command(build_parser(prog), _run, argv)


if __name__ == "__main__":
    sys.exit(main())
