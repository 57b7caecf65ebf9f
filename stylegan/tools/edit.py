"""Latent directions for editing, and edits along them: python -m stylegan.edit COMMAND.

Finding directions in W (each writes a directions file):
- ganspace: principal axes of sampled w (GANSpace), with the standard deviation of w along each;
- sefa: closed-form factorization (SeFa): the top eigenvectors of A^T A, A the style affine weights of the chosen
  layers stacked, each of its rows (one per style channel) scaled to unit norm;
- supervised: the unit normals of one-vs-rest logistic regressions on labelled latents (InterFaceGAN style);
- label-shapes: labelled latents for a network trained on the built-in shapes dataset (stylegan.data.shape_labels).
Using them, on the ws of --seeds or of a --ws file such as the projector's projected_w.npz:
- render: strips of images along each direction, one file per seed (or saved w) and direction;
- apply: one edit, written as images and as edited_w.npz (key w, [N, num_ws, w_dim], the format of
  stylegan.generate --ws and stylegan.project).

A directions file is an npz with `directions` [K, w_dim] (unit rows) and `method`, `network`, and where known
`layers` (the ws the directions were found for, the default layers to edit), `stddev` [K] (the spread of w along
each direction: strengths are in these units unless --raw), `mean` [w_dim], `eigenvalues` [K], `names` [K],
`accuracy` [K].
"""

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..checks import check_at_least, check_seeds, check_within, pick_device
from ..data.shape_labels import LABEL_FACTORS, label_shapes_image, label_shapes_images
from ..data.shapes import SHAPES
from ..images import grid_image, save_png, to_uint8
from ..latents import images_from_ws, read_npz, sample_ws, save_npz, save_ws
from ..loading import load_generator
from ..progress import progress
from .command_line import (add_class_argument, add_device_argument, add_latent_source_arguments, add_network_argument,
                           add_outdir_argument, add_rendering_arguments, command_parser, parse_range, parse_seeds,
                           prepare_outdir, run_command, source_ws)

__all__ = ["LABEL_FACTORS", "apply_direction", "build_parser", "fit_linear_directions", "ganspace_directions",
           "label_shapes_image", "label_shapes_images", "load_directions", "main", "render_strips", "save_directions",
           "sefa_directions", "style_affines"]

PROG = "python -m stylegan.edit"


# ----------------------------------------------------------------------------------------------------------------
# Directions


def _fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Rows flipped so that the entry of largest magnitude is positive (eigenvectors have no sign of their own)."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    return vectors * vectors.gather(1, idx).sign()


def ganspace_directions(G: torch.nn.Module, num_samples: int = 10000, num_components: int = 10, seed: int = 0,
                        class_idx: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of `num_samples` sampled w: (directions [K, w_dim], unit and orthogonal, by decreasing variance; stddev
    [K] of w along each; mean [w_dim])."""
    if not 1 <= num_components <= G.w_dim:
        raise ValueError(f"--components: must be in 1..{G.w_dim} (w_dim), got {num_components}")
    if num_samples <= num_components:
        raise ValueError(f"--samples: need more samples than components ({num_components}), got {num_samples}")
    ws = sample_ws(G, num_samples, seed, class_idx, what="mapping latents").double()
    mean = ws.mean(dim=0)
    _, s, vh = torch.linalg.svd(ws - mean, full_matrices=False)
    directions = _fix_signs(vh[:num_components])
    stddev = s[:num_components] / math.sqrt(num_samples - 1)
    return directions.float(), stddev.float(), mean.float()


def style_affines(G: torch.nn.Module) -> List[List[torch.nn.Module]]:
    """For each w index of G.synthesis, the style affine layers that read it (G.synthesis.w_inputs())."""
    return [[layer.affine for layer in w.layers] for w in G.synthesis.w_inputs()]


def sefa_directions(G: torch.nn.Module, layers: Optional[Sequence[int]] = None,
                    num_components: int = 10) -> Tuple[torch.Tensor, torch.Tensor]:
    """SeFa on the style affines reading the ws `layers` (all when None): (directions [K, w_dim], the top
    eigenvectors of A^T A, unit and orthogonal; their eigenvalues [K], decreasing), A [channels, w_dim] the
    affines' weights (equalized-learning-rate scale applied) stacked, each row scaled to unit norm (rows of zeros, such
    as an untrained StyleGAN3 input affine's, left out)."""
    layers = list(range(G.num_ws)) if layers is None else list(layers)
    if not layers:
        raise ValueError("--layers: no layers given")
    check_within(layers, G.num_ws, "--layers", "the network's ws")
    if not 1 <= num_components <= G.w_dim:
        raise ValueError(f"--components: must be in 1..{G.w_dim} (w_dim), got {num_components}")
    affines = style_affines(G)
    seen, rows = set(), []
    for layer in layers:
        for affine in affines[layer]:
            if id(affine) not in seen:
                seen.add(id(affine))
                rows.append(affine.weight.detach().double().cpu() * affine.weight_gain)
    a = torch.cat(rows)
    norms = a.norm(dim=1, keepdim=True)
    keep = norms[:, 0] > 0
    if not keep.any():
        raise ValueError(f"--layers: the style affines of ws {layers} are all zero (untrained), so they have no "
                         "directions")
    a = a[keep] / norms[keep]
    eigenvalues, eigenvectors = torch.linalg.eigh(a.t() @ a)
    order = eigenvalues.argsort(descending=True)[:num_components]
    return _fix_signs(eigenvectors[:, order].t()).float(), eigenvalues[order].float()


def fit_linear_directions(ws: torch.Tensor, labels: torch.Tensor, l2: float = 1e-3,
                          max_iter: int = 200) -> Tuple[torch.Tensor, torch.Tensor]:
    """One-vs-rest logistic regression in w space: labels [N] integer classes (one direction per class present, in
    increasing class order) or [N, K] attributes in {0, 1} (one per attribute). Returns (directions [K, w_dim], the
    unit normals of the decision boundaries pointing to the class/attribute; training accuracy [K]). Fitted by
    L-BFGS on standardized w with an L2 penalty `l2` on the weights."""
    ws = torch.as_tensor(ws).double().cpu()
    labels = torch.as_tensor(labels).cpu()
    if ws.ndim != 2 or ws.shape[0] < 2:
        raise ValueError(f"w must be [N, w_dim] with N >= 2, got {list(ws.shape)}")
    if labels.shape[0] != ws.shape[0] or labels.ndim not in (1, 2):
        raise ValueError(f"labels must be [N] or [N, K] with N = {ws.shape[0]}, got {list(labels.shape)}")
    if labels.ndim == 1:
        if labels.is_floating_point() and not torch.equal(labels, labels.round()):
            raise ValueError("labels [N] must be integer classes")
        classes = labels.long().unique()
        if len(classes) < 2:
            raise ValueError(f"labels: need at least 2 classes, got {classes.tolist()}")
        targets = (labels.long()[:, None] == classes[None, :]).double()
    else:
        targets = labels.double()
        if not torch.all((targets == 0) | (targets == 1)):
            raise ValueError("labels [N, K] must hold 0 or 1")
        constant = [k for k in range(targets.shape[1]) if targets[:, k].min() == targets[:, k].max()]
        if constant:
            raise ValueError(f"labels: attributes {constant} have a single value over all samples")
    mean, std = ws.mean(dim=0), ws.std(dim=0).clamp_min(1e-8)
    x = (ws - mean) / std
    weight = torch.zeros([targets.shape[1], ws.shape[1]], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros([targets.shape[1]], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = x @ weight.t() + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets) + 0.5 * l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        accuracy = ((x @ weight.t() + bias > 0) == (targets > 0.5)).double().mean(dim=0)
        normals = weight / std  # the boundary w . (weight / std) = const in unstandardized w
        return (normals / normals.norm(dim=1, keepdim=True)).float(), accuracy.float()


def apply_direction(ws: torch.Tensor, direction: torch.Tensor, strength: float,
                    layers: Optional[Sequence[int]] = None) -> torch.Tensor:
    """ws [N, num_ws, w_dim] moved by strength * direction [w_dim] at the w indices `layers` (all when None); a new
    tensor."""
    if ws.ndim != 3 or direction.shape != (ws.shape[2],):
        raise ValueError(f"apply_direction: ws [N, num_ws, w_dim] and direction [w_dim], got {list(ws.shape)} and "
                         f"{list(direction.shape)}")
    out = ws.clone()
    index = slice(None) if layers is None else torch.as_tensor(list(layers), dtype=torch.long, device=ws.device)
    out[:, index] += strength * direction.to(ws)
    return out


def render_strips(G: torch.nn.Module, ws: torch.Tensor, directions: torch.Tensor, strengths: Sequence[float],
                  layers: Optional[Sequence[int]] = None, scales: Optional[torch.Tensor] = None,
                  noise_mode: str = "const", batch_size: int = 16) -> torch.Tensor:
    """Images [N, K, S, C, H, W] in [-1, 1] (on the CPU): each of ws [N, num_ws, w_dim] moved along each of
    directions [K, w_dim] by each strength (times scales[k] when given, e.g. the stddev along direction k) at
    `layers`."""
    device = next(G.parameters()).device
    scales = torch.ones(len(directions)) if scales is None else torch.as_tensor(scales).float()
    edited = torch.stack([torch.stack([apply_direction(ws, d, float(s * scale), layers) for s in strengths], dim=1)
                          for d, scale in zip(directions, scales)], dim=1)  # [N, K, S, num_ws, w_dim]
    flat = edited.reshape(-1, *ws.shape[1:])
    with torch.no_grad():
        images = torch.cat([G.synthesis(chunk.to(device), noise_mode=noise_mode).float().cpu()
                            for chunk in flat.split(batch_size)])
    return images.reshape(*edited.shape[:3], *images.shape[1:])


def save_directions(path, directions: torch.Tensor, method: str, network: str, **meta) -> None:
    """Writes a directions file (see the module docstring); meta entries that are None are left out."""
    meta = {key: value for key, value in meta.items() if value is not None}
    save_npz(path, directions=torch.as_tensor(directions).float(), method=np.array(method),
             network=np.array(str(network)), **meta)


def load_directions(path, w_dim: Optional[int] = None, name: str = "--directions") -> Dict[str, object]:
    """A directions file as a dict: directions (float tensor [K, w_dim]), method, network (str), layers (list or
    None), stddev (tensor or None), and the other arrays as stored. Errors name `name`."""
    data = read_npz(path, name)
    directions = data.get("directions")
    if directions is None or directions.ndim != 2 or directions.shape[0] == 0:
        raise ValueError(f"{name}: {path} has no 'directions' array [K, w_dim]")
    if w_dim is not None and directions.shape[1] != w_dim:
        raise ValueError(f"{name}: directions of dimension {directions.shape[1]}, but the network's w_dim is {w_dim}")
    norms = np.linalg.norm(directions, axis=1)
    if not np.all(np.abs(norms - 1) < 1e-3):
        raise ValueError(f"{name}: the directions must be unit vectors; their norms are {np.round(norms, 4).tolist()}")
    out = dict(data)
    out["directions"] = torch.from_numpy(directions).float()
    out["method"] = str(data.get("method", "unknown"))
    out["network"] = str(data.get("network", ""))
    out["layers"] = data["layers"].astype(int).tolist() if "layers" in data else None
    out["stddev"] = torch.from_numpy(data["stddev"]).float() if "stddev" in data else None
    if out["stddev"] is not None and out["stddev"].shape != (directions.shape[0],):
        raise ValueError(f"{name}: stddev must have one entry per direction")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Command line


def _check_out(path: str) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"--out: must end in .npz, got {path}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"--out: no such directory: {path.parent}")
    return path


def _layers(text: Optional[str], G: torch.nn.Module, default: Optional[List[int]] = None) -> List[int]:
    """--layers, else `default` (a directions file's layers), else every w index."""
    if text is None and default is None:
        return list(range(G.num_ws))
    layers = parse_range(text, "--layers") if text is not None else default
    check_within(layers, G.num_ws, "--layers" if text is not None else "--layers (from the directions file)",
                 "the network's ws")
    return layers


def _ganspace(args: argparse.Namespace) -> None:
    out = _check_out(args.out)
    check_at_least(args.samples, 1, "--samples")
    check_seeds([args.seed], "--seed")
    G = load_generator(args.network, pick_device(args.device))
    directions, stddev, mean = ganspace_directions(G, args.samples, args.components, args.seed, args.class_idx)
    save_directions(out, directions, "ganspace", args.network, stddev=stddev, mean=mean)
    print(f"wrote {len(directions)} principal directions to {out}; stddev along them: "
          f"{', '.join(f'{s:.3g}' for s in stddev.tolist())}")


def _sefa(args: argparse.Namespace) -> None:
    out = _check_out(args.out)
    G = load_generator(args.network, pick_device(args.device))
    layers = _layers(args.layers, G)
    directions, eigenvalues = sefa_directions(G, layers, args.components)
    save_directions(out, directions, "sefa", args.network, layers=np.array(layers), eigenvalues=eigenvalues)
    print(f"wrote {len(directions)} SeFa directions of ws {layers} to {out}; eigenvalues: "
          f"{', '.join(f'{e:.3g}' for e in eigenvalues.tolist())}")


def _read_latents(path: str, key: str, w_dim: int):
    data = read_npz(path, "--latents")
    if "w" not in data or data["w"].ndim != 2 or data["w"].shape[1] != w_dim:
        raise ValueError(f"--latents: {path} must hold 'w' [N, {w_dim}] (w_dim of the network), got "
                         f"{list(data['w'].shape) if 'w' in data else 'no w'}")
    if key not in data:
        raise KeyError(f"--labels: {path} has no array {key!r}; it has {sorted(data)}")
    labels = data[key]
    if labels.ndim == 1 and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"--labels: {key!r} [N] must hold integer classes, got {labels.dtype}")
    return data, torch.from_numpy(data["w"]).float(), torch.from_numpy(labels)


def _supervised(args: argparse.Namespace) -> None:
    out = _check_out(args.out)
    G = load_generator(args.network, pick_device(args.device))
    data, ws, labels = _read_latents(args.latents, args.labels, G.w_dim)
    try:
        directions, accuracy = fit_linear_directions(ws, labels)
    except ValueError as e:
        raise ValueError(f"--latents {args.latents}, --labels {args.labels}: {e}") from None
    # label-shapes names the classes of its 'labels' array (the shape) in 'label_names'.
    known = [str(n) for n in data["label_names"]] if "label_names" in data and args.labels == "labels" else None
    if labels.ndim == 1:
        classes = labels.unique().tolist()
        names = [known[c] if known and 0 <= c < len(known) else f"{args.labels}={c}" for c in classes]
    else:
        names = known if known and len(known) == labels.shape[1] else [f"{args.labels}[{k}]"
                                                                         for k in range(labels.shape[1])]
    stddev = (ws @ directions.t()).std(dim=0)
    save_directions(out, directions, "supervised", args.network, stddev=stddev, mean=ws.mean(dim=0),
                    names=np.array(names), accuracy=accuracy)
    for name, acc in zip(names, accuracy.tolist()):
        print(f"{name}: training accuracy {acc:.3f}")
    print(f"wrote {len(directions)} directions to {out}")


def _label_shapes(args: argparse.Namespace) -> None:
    out = _check_out(args.out)
    check_at_least(args.samples, 1, "--samples")
    check_at_least(args.batch_size, 1, "--batch-size")
    check_seeds([args.seed], "--seed")
    G = load_generator(args.network, pick_device(args.device))
    if G.img_channels != 3:
        raise ValueError(f"--network: the shapes labeller reads RGB images; this network makes {G.img_channels} "
                         "channels")
    ws = sample_ws(G, args.samples, args.seed, args.class_idx, what="mapping latents")
    device = next(G.parameters()).device
    images = []
    with torch.no_grad():
        for chunk in progress(ws.split(args.batch_size), "rendering, batch"):
            x = G.synthesis(chunk.to(device).unsqueeze(1).repeat(1, G.num_ws, 1), noise_mode="const")
            images.append(to_uint8(x).transpose(0, 3, 1, 2))
    labels = label_shapes_images(np.concatenate(images), what="labelling")
    keep = labels["shape"] >= 0
    if not keep.any():
        raise ValueError(f"--network: none of the {args.samples} images shows a foreground shape")
    factors = {k: v[keep] for k, v in labels.items()}
    save_npz(out, w=ws[keep], labels=factors["shape"], label_names=np.array(SHAPES), **factors)
    counts = ", ".join(f"{name} {int((factors['shape'] == i).sum())}" for i, name in enumerate(SHAPES))
    print(f"{args.samples - int(keep.sum())} images without a foreground shape left out; shapes: {counts}; median "
          f"fit error {np.median(factors['fit_error']):.3f} (0.02 or less for dataset images)")
    print(f"wrote {int(keep.sum())} labelled latents to {out}")


def _strengths(text: str) -> List[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--strengths: expected 's' or 'lo,hi' (numbers), got {text!r}") from None
    if len(values) == 1:
        values = [-abs(values[0]), abs(values[0])]
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or values[0] == values[1]:
        raise ValueError(f"--strengths: expected 's' or 'lo,hi' (two different finite numbers), got {text!r}")
    return values


def _edit_setup(args: argparse.Namespace):
    """(G, directions file, layers to edit, scales of the strengths or None, ws to edit, a file stem for each)."""
    seeds = None if args.seeds is None else parse_seeds(args.seeds)
    G = load_generator(args.network, pick_device(args.device))
    data = load_directions(args.directions, G.w_dim)
    layers = _layers(args.layers, G, data["layers"])
    scales = None if args.raw else data["stddev"]
    ws, stems = source_ws(G, seeds, args.ws, args.trunc, args.trunc_cutoff, args.class_idx)
    return G, data, layers, scales, ws, stems


def _render(args: argparse.Namespace) -> None:
    lo, hi = _strengths(args.strengths)
    check_at_least(args.steps, 2, "--steps")
    G, data, layers, scales, ws, stems = _edit_setup(args)
    directions = data["directions"]
    components = (list(range(len(directions))) if args.components is None
                  else parse_range(args.components, "--components"))
    check_within(components, len(directions), "--components", "the directions file")
    strengths = np.linspace(lo, hi, args.steps).tolist()
    outdir = prepare_outdir(args.outdir)
    rows = [(i, k) for i in range(len(ws)) for k in components]
    for i, k in progress(rows, "rendering, strip"):
        images = render_strips(G, ws[i:i + 1], directions[k:k + 1], strengths, layers,
                               None if scales is None else scales[k:k + 1], args.noise_mode)[0, 0]
        save_png(grid_image(images, columns=len(strengths), min_cell=1), outdir / f"{stems[i]}-dir{k:02d}.png")
    units = "raw w units" if scales is None else "units of the stddev along each direction"
    print(f"wrote {len(rows)} strips ({args.steps} steps from {lo:g} to {hi:g} in {units}, ws {layers}) to {outdir}")


def _apply(args: argparse.Namespace) -> None:
    if not math.isfinite(args.strength):
        raise ValueError(f"--strength: must be a finite number, got {args.strength}")
    G, data, layers, scales, ws, stems = _edit_setup(args)
    check_within([args.component], len(data["directions"]), "--component", "the directions file")
    strength = args.strength * (1.0 if scales is None else float(scales[args.component]))
    edited = apply_direction(ws, data["directions"][args.component], strength, layers)
    outdir = prepare_outdir(args.outdir)
    for stem, w in progress(list(zip(stems, edited)), "images"):
        save_png(images_from_ws(G, w.unsqueeze(0), args.noise_mode)[0], outdir / f"{stem}.png")
    save_ws(outdir / "edited_w.npz", edited)
    print(f"moved {len(edited)} ws by {strength:.4g} along direction {args.component} at ws {layers}; wrote "
          f"{len(edited)} images and edited_w.npz to {outdir}")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = command_parser(prog, __doc__, epilog=f"{prog} COMMAND --help for each command's options.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, description=help)
        add_network_argument(p)
        add_device_argument(p)
        p.set_defaults(run=run)
        return p

    def sampling(p: argparse.ArgumentParser, samples: int) -> None:
        p.add_argument("--samples", type=int, default=samples, metavar="N",
                       help=f"latents to sample (default {samples})")
        p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the sampled latents (default 0)")
        add_class_argument(p, help="class of a conditional network (default: classes drawn at random)")

    def out(p: argparse.ArgumentParser, contents: str = "directions file to write (.npz)") -> None:
        p.add_argument("--out", required=True, metavar="FILE", help=contents)

    def components(p: argparse.ArgumentParser) -> None:
        p.add_argument("--components", type=int, default=10, metavar="K", help="directions to keep (default 10)")

    p = command("ganspace", _ganspace, "principal directions of sampled w (GANSpace)")
    sampling(p, 10000)
    components(p)
    out(p)

    p = command("sefa", _sefa, "closed-form factorization of the style affine weights (SeFa)")
    p.add_argument("--layers", default=None, metavar="LIST",
                   help="w indices whose affines to factorize, e.g. 0-3 (default all)")
    components(p)
    out(p)

    p = command("supervised", _supervised, "directions of linear classifiers fitted on labelled latents")
    p.add_argument("--latents", required=True, metavar="FILE",
                   help="npz with 'w' [N, w_dim] and labels (e.g. from label-shapes)")
    p.add_argument("--labels", default="labels", metavar="NAME",
                   help="array of --latents to fit: [N] integer classes (a direction per class) or [N, K] 0/1 "
                        "attributes (a direction per attribute); default 'labels'")
    out(p)

    p = command("label-shapes", _label_shapes, "sample w and label the images of a network trained on the built-in "
                "shapes dataset with the dataset's factors")
    sampling(p, 2000)
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images rendered at once (default 32)")
    out(p, "labelled latents to write (.npz: w, labels = shape class, label_names, and each recovered factor with "
           "fit_error)")

    for name, run, help in (("render", _render, "strips of images along directions"),
                            ("apply", _apply, "one edit: images and edited ws")):
        p = command(name, run, help)
        p.add_argument("--directions", required=True, metavar="FILE", help="directions file (.npz)")
        add_latent_source_arguments(p, "edit")
        p.add_argument("--layers", default=None, metavar="LIST",
                       help="w indices to edit, e.g. 0-5 (default: the directions file's layers, else all)")
        p.add_argument("--raw", action="store_true", help="strengths in raw w units even when the directions file "
                       "stores the stddev along each direction")
        add_rendering_arguments(p)
        if name == "render":
            add_outdir_argument(p, "a strip SOURCE-dirKK.png per source and direction")
            p.add_argument("--components", default=None, metavar="LIST",
                           help="directions to render, e.g. 0-4 (default all)")
            p.add_argument("--strengths", default="-3,3", metavar="LO,HI",
                           help="'lo,hi', or 's' for -s,s: the strengths at the ends of each strip (default -3,3)")
            p.add_argument("--steps", type=int, default=7, metavar="N", help="images per strip (default 7)")
        else:
            add_outdir_argument(p, "the edited images SOURCE.png and edited_w.npz")
            p.add_argument("--component", type=int, required=True, metavar="K",
                           help="index of the direction to apply")
            p.add_argument("--strength", type=float, required=True, metavar="S",
                           help="distance to move (in stddev units when stored, see --raw)")
    return parser


_NEGATIVE_VALUE = re.compile(r"^-\d")


def _join_negative_values(argv: Sequence) -> List[str]:
    """'--strengths -3,3' as '--strengths=-3,3': argparse takes '-3,3' for an option."""
    out = []
    for arg in map(str, argv):
        if out and out[-1] == "--strengths" and _NEGATIVE_VALUE.match(arg):
            out[-1] = f"--strengths={arg}"
        else:
            out.append(arg)
    return out


def main(argv=None, prog: str = PROG) -> int:
    """Runs the command with argv (sys.argv[1:] when None), named `prog` in its messages; returns the exit status."""
    argv = _join_negative_values(sys.argv[1:] if argv is None else argv)
    return run_command(build_parser(prog), lambda args: args.run(args), argv)

