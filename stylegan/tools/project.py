"""Projection of a real image into a generator's latent space (W, or W+ with --w-plus).

    python -m stylegan.project --network G.safetensors --target face.png --outdir out

Writes target.png (the target as the network sees it: center-cropped and resized), proj.png, projected_w.npz (key w,
[1, num_ws, w_dim], for stylegan.generate --ws and stylegan.edit apply/render --ws) and, unless --no-save-video,
proj.mp4 (the target beside the projection at every step; proj.gif without imageio-ffmpeg).

Follows the StyleGAN2 paper's projector (numerical conventions as in NVIDIA's stylegan2-ada-pytorch): w starts at
the mean of 10000 mapped latents; each step renders from w plus Gaussian noise of scale w_std * 0.05 * (1 - t /
0.75)^2 (t the fraction of steps done, w_std the root mean square distance of the samples from their mean), so the
search starts broad and ends exact; Adam (betas 0.9, 0.999) optimises w and the layers' constant noise maps (those
G.synthesis.w_inputs() lists: none on a StyleGAN3 network, where w alone is optimised and nothing regularized) with
learning rate 0.1 ramped up over the first 5% of the steps and down over the last 25% (cosine); the loss is the
perceptual distance to the target plus 1e5 times a noise regularizer (for each noise map and each of its 2x2
average-pooled copies down to 8x8, the squared mean of its product with itself shifted by one pixel, along x and
along y); after each step every noise map is renormalised to zero mean and unit variance.

As in NVIDIA's projector, only w is kept: proj.png is rendered from projected_w.npz with the network's own constant
noise (what `stylegan.generate --ws` and `stylegan.edit apply --ws` render), the optimised noise maps are dropped.
The perceptual distance is LPIPS on VGG16 (stylegan.perceptual: its two weight files are downloaded into the cache on
first use, or named by --lpips and --lpips-weights; with a warning, every channel weighted 1 without LPIPS's linear
layers, and a pixel and multi-scale fallback without VGG16)."""

import argparse
import copy
from pathlib import Path
from typing import Callable, NamedTuple, Optional, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_at_least, check_seeds, pick_device
from ..images import load_image, save_png, to_uint8
from ..latents import class_labels, sample_ws, save_ws
from ..loading import load_generator
from ..networks.w_inputs import noise_buffers
from ..perceptual import LPIPS_WEIGHTS, VGG16_WEIGHTS, load_distance
from ..progress import progress
from .command_line import (add_class_argument, add_device_argument, add_network_argument, add_outdir_argument,
                           command_parser, prepare_outdir, run_command)
from .video import write_video

__all__ = ["Projection", "build_parser", "learning_rate", "main", "noise_regularization", "project", "w_statistics"]

PROG = "python -m stylegan.project"


class Projection(NamedTuple):
    """What project() returns: ws [steps, num_ws, w_dim] after each step, and the distance and total loss
    [steps] measured at each step (before its update)."""

    ws: torch.Tensor
    dist: torch.Tensor
    loss: torch.Tensor


def w_statistics(G: torch.nn.Module, num_samples: int = 10000, class_idx: Optional[int] = None, seed: int = 123):
    """(w_avg [w_dim] on G's device, w_std): the mean of `num_samples` mapped latents (latents.sample_ws) and the root
    mean square distance of the samples from it."""
    ws = sample_ws(G, num_samples, seed, class_idx).to(next(G.parameters()).device)
    w_avg = ws.mean(dim=0)
    return w_avg, (ws - w_avg).square().sum(dim=1).mean().sqrt().item()


def noise_regularization(noise_maps) -> torch.Tensor:
    """Sum over maps [R, R] and their 2x2 average-pooled copies down to 8x8 of the squared mean products with
    themselves rolled by one pixel along x and along y: zero for uncorrelated noise."""
    loss = 0.0
    for noise in noise_maps:
        x = noise[None, None]
        while True:
            loss = loss + (x * x.roll(1, dims=3)).mean().square() + (x * x.roll(1, dims=2)).mean().square()
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return loss


def learning_rate(t: float, initial: float = 0.1, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """The learning rate at the fraction t of the steps: linear ramp up over `rampup`, cosine ramp down over the
    last `rampdown`."""
    down = min(1.0, (1.0 - t) / rampdown)
    return initial * (0.5 - 0.5 * np.cos(down * np.pi)) * min(1.0, t / rampup)


def project(G: torch.nn.Module, target: torch.Tensor, *, num_steps: int = 1000, w_plus: bool = False,
            seed: int = 303, distance: Optional[torch.nn.Module] = None, class_idx: Optional[int] = None,
            w_avg_samples: int = 10000, initial_learning_rate: float = 0.1, initial_noise_factor: float = 0.05,
            noise_ramp_length: float = 0.75, regularize_noise_weight: float = 1e5,
            stream: Optional[TextIO] = None,
            on_step: Optional[Callable[[int, torch.Tensor, float], None]] = None) -> Projection:
    """Optimises w (one w broadcast to all layers, or one per layer with w_plus) and the noise maps (if any) so that G's
    image matches target [1, C, H, W] in [-1, 1] under `distance` (perceptual.load_distance() when None), starting
    from the mean w of the class `class_idx` of a conditional network (of all classes when None). G is not modified
    (a copy's noise maps are optimised). Progress goes to `stream` (stderr); on_step(step, ws [num_ws, w_dim], dist),
    when given, is called after each step."""
    if target.ndim != 4 or tuple(target.shape[1:]) != (G.img_channels, G.img_resolution, G.img_resolution):
        raise ValueError(f"target must have shape [1, {G.img_channels}, {G.img_resolution}, {G.img_resolution}], "
                         f"got {list(target.shape)}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {num_steps}")
    device = next(G.parameters()).device
    G = copy.deepcopy(G).eval().requires_grad_(False)
    distance = load_distance(device=device) if distance is None else distance
    w_avg, w_std = w_statistics(G, w_avg_samples, class_idx)
    generator = torch.Generator(device=device).manual_seed(seed)

    noise_maps = noise_buffers(G.synthesis.w_inputs())
    for buf in noise_maps:
        buf.copy_(torch.randn(buf.shape, generator=generator, device=device))
        buf.requires_grad_(True)
    num_w = G.num_ws if w_plus else 1
    w_opt = w_avg.detach().reshape(1, 1, -1).repeat(1, num_w, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt] + noise_maps, betas=(0.9, 0.999), lr=initial_learning_rate)
    with torch.no_grad():
        target_features = distance.features(target.to(device).float())

    ws_out = torch.empty([num_steps, G.num_ws, G.w_dim], device=device)
    dists, losses = torch.empty([num_steps]), torch.empty([num_steps])
    for step in progress(range(num_steps), "projecting, step", stream):
        t = step / num_steps
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(t, initial_learning_rate)
        w_noise_scale = w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2
        w_noise = torch.randn(w_opt.shape, generator=generator, device=device) * w_noise_scale
        ws = (w_opt + w_noise).expand(1, G.num_ws, -1)
        images = G.synthesis(ws, noise_mode="const")
        dist = distance.compare(target_features, distance.features(images)).sum()
        loss = dist + regularize_noise_weight * noise_regularization(noise_maps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        dists[step], losses[step] = dist.item(), loss.item()
        ws_out[step] = w_opt.detach()[0].expand(G.num_ws, -1)
        if on_step is not None:
            on_step(step, ws_out[step], dists[step].item())
        with torch.no_grad():
            for buf in noise_maps:
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()
    return Projection(ws_out, dists, losses)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__)
    add_network_argument(parser)
    parser.add_argument("--target", required=True, metavar="FILE", help="image file to project (center-cropped to a "
                        "square and resized to the network's resolution)")
    add_outdir_argument(parser, "the projection")
    parser.add_argument("--steps", type=int, default=1000, metavar="N", help="optimisation steps (default 1000)")
    parser.add_argument("--w-plus", action="store_true", help="optimise one w per layer (W+) instead of one w")
    parser.add_argument("--seed", type=int, default=303, metavar="N", help="seed of the initial noise maps and w noise "
                        "(default 303)")
    parser.add_argument("--lpips", default=None, metavar="FILE", help=f"VGG16 weights file (torchvision's "
                        f"{VGG16_WEIGHTS.filename}) of the LPIPS loss; default ${VGG16_WEIGHTS.env_var}, else the "
                        f"cache (downloaded on first use), else a pixel/pyramid fallback with a warning")
    parser.add_argument("--lpips-weights", default=None, metavar="FILE", help=f"LPIPS's linear layers for VGG16 (the "
                        f"lpips package's weights/v0.1/vgg.pth); default ${LPIPS_WEIGHTS.env_var}, else the cache "
                        f"(downloaded on first use), else every channel weighted 1 with a warning")
    parser.add_argument("--save-video", action=argparse.BooleanOptionalAction, default=True,
                        help="write proj.mp4, the target beside the projection at every step (default: on)")
    parser.add_argument("--w-avg-samples", type=int, default=10000, metavar="N", help="latents mapped to find the "
                        "starting w and the scale of the w noise (default 10000)")
    add_class_argument(parser, "sampled latent (the starting w is the class's mean w)")
    add_device_argument(parser)
    return parser


def _run(args: argparse.Namespace) -> None:
    target_path = Path(args.target)
    if not target_path.is_file():
        raise FileNotFoundError(f"--target: no such file: {target_path}")
    check_at_least(args.steps, 1, "--steps")
    check_at_least(args.w_avg_samples, 2, "--w-avg-samples")
    check_seeds([args.seed], "--seed")
    device = pick_device(args.device)
    G = load_generator(args.network, device)
    class_labels(G, args.class_idx)  # checks --class before any work
    try:
        target = load_image(target_path, G.img_resolution, G.img_channels).to(device)
    except ValueError as e:
        raise ValueError(f"--target: {e}") from None
    distance = load_distance(args.lpips, args.lpips_weights, device)
    outdir = prepare_outdir(args.outdir)

    result = project(G, target, num_steps=args.steps, w_plus=args.w_plus, seed=args.seed, distance=distance,
                     class_idx=args.class_idx, w_avg_samples=args.w_avg_samples)
    w = result.ws[-1:]
    with torch.no_grad():
        image = G.synthesis(w, noise_mode="const")
        final = distance(image, target).item()
    save_png(target[0], outdir / "target.png")
    save_png(image[0], outdir / "proj.png")
    save_ws(outdir / "projected_w.npz", w)
    print(f"{distance.name} distance: {result.dist[0].item():.4g} at w_avg, {final:.4g} projected")
    if args.save_video:
        path = write_video(_video_frames(G, result.ws, target), outdir / "proj.mp4", fps=10)
        print(f"wrote {path}")
    print(f"wrote {outdir / 'proj.png'}, {outdir / 'target.png'}, {outdir / 'projected_w.npz'}")


def _video_frames(G: torch.nn.Module, ws: torch.Tensor, target: torch.Tensor, batch_size: int = 16):
    """target | G's image, uint8 HWC, for each step's ws."""
    left = to_uint8(target[0])
    for chunk in ws.split(batch_size):
        with torch.no_grad():
            images = to_uint8(G.synthesis(chunk, noise_mode="const"))
        for image in images:
            yield np.concatenate([left, image], axis=1)


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    return run_command(build_parser(prog), _run, argv)

