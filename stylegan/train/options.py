"""Every training option, declared once: its flag, type, default and help. A default of None means 'auto': resolved
from the dataset, the number of processes and the device by resolve_options (NVIDIA's 'auto' configuration for real
data; a small fast configuration for the built-in dataset)."""

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import List, Optional

from stylegan_ops import IMPLS

from ..augment import PRESETS as AUGMENT_PRESETS
from ..checks import DEVICE_CHOICES, check_seeds
from ..metrics.inception import resolve_weights
from ..metrics.runner import FEATURE_KINDS, parse_metric
from ..networks.synthesis import ARCHITECTURES
from .loss import LOSSES

AUTO = "auto"
ARCHS = ("stylegan2", "stylegan", "stylegan3-t", "stylegan3-r")
PRECISIONS = ("fp16", "bf16")
AUGMENTATIONS = ("ada", "fixed", "noaug")


def _opt(default, help: str, group: str, choices=None, flag: Optional[str] = None, metavar: Optional[str] = None):
    return field(default=default, metadata=dict(help=help, group=group, choices=choices, flag=flag, metavar=metavar))


@dataclass
class TrainingOptions:
    # Data
    data: Optional[str] = _opt(None, "folder or zip of images (PNG/JPEG; NVIDIA dataset_tool zips with dataset.json "
                                     "labels work unchanged); default: the built-in procedural shapes dataset",
                               "data", metavar="PATH")
    resolution: Optional[int] = _opt(None, "train at this resolution (images center-cropped and resized); default: "
                                           "the images' own size (32 for the built-in dataset)", "data")
    cond: bool = _opt(False, "class-conditional training from the dataset's labels", "data")
    mirror: bool = _opt(False, "add x-flipped copies of the images", "data")
    max_size: Optional[int] = _opt(None, "use at most this many images (the first ones)", "data")
    on_corrupt: str = _opt("skip", "unreadable images: skip them (reported with their names) or stop with an error",
                           "data", choices=("skip", "error"))
    workers: Optional[int] = _opt(None, "data loader worker processes per training process (auto: 2, or 0 for the "
                                        "built-in dataset)", "data")
    # Run
    outdir: str = _opt("runs", "runs are written to OUTDIR/<number>-<description>/", "run", metavar="DIR")
    desc: Optional[str] = _opt(None, "text appended to the run directory's name", "run")
    kimg: Optional[float] = _opt(None, "train until this many thousand real images have been shown (auto: 25000; "
                                       "32 for the built-in dataset: about 14 minutes on a 2-core CPU)", "run")
    tick: Optional[float] = _opt(None, "thousands of images per tick: progress line, sample grid, statistics",
                                 "run")
    snap: Optional[int] = _opt(None, "write a snapshot every SNAP ticks (and at the end)", "run")
    keep_snapshots: int = _opt(0, "keep only the newest N snapshots (0: keep all)", "run", metavar="N")
    seed: int = _opt(0, "random seed", "run")
    device: str = _opt(AUTO, f"{DEVICE_CHOICES} (auto: CUDA when available; under torchrun, cuda is the local rank's "
                             "GPU)", "run")
    resume: Optional[str] = _opt(None, "continue from a run directory or snapshot (exactly: options, optimizer "
                                       "state, counters and random state come from it; flags given now override "
                                       "its options), or start from an NVIDIA network pickle (fine-tuning), also by http(s) URL",
                                 "run", metavar="PATH")
    impl: str = _opt(AUTO, "stylegan_ops implementation: fused kernels, the PyTorch reference, or auto", "run",
                     choices=IMPLS)
    metrics: Optional[str] = _opt(None, "metrics of G_ema computed at every snapshot, comma-separated (auto: "
                                        "shapes1k,swd1k for the built-in dataset, else none; '' for none): "
                                        "fid50k_full, kid50k_full, pr50k3_full, ppl2_wend, swd16k, their aliases fid, "
                                        "kid, pr, ppl, swd, or other sizes such as fid10k_full or swd2k (python -m "
                                        "stylegan.metrics --help); appended to metric-<name>.jsonl in the run "
                                        "directory. FID, KID and PR need the Inception weights file (--inception)",
                                  "run", metavar="LIST")
    inception: Optional[str] = _opt(None, "the FID Inception weights file for --metrics (auto: $STYLEGAN_INCEPTION, "
                                          "else the cache (~/.cache/stylegan), downloaded there on first use)", "run",
                                  metavar="PATH")
    check_replicas: bool = _opt(False, "with several processes: verify at every tick that all replicas hold the "
                                       "same weights", "run")
    dry_run: bool = _opt(False, "resolve and print the configuration, then exit", "run")
    # Networks
    arch: str = _opt("stylegan2", "generator: StyleGAN2 (modulated convolutions), StyleGAN (AdaIN) or StyleGAN3 "
                                  "(alias-free, configurations T and R; R's G has twice --cbase and --cmax, as "
                                  "NVIDIA's)", "networks",
                     choices=ARCHS)
    g_arch: str = _opt("skip", "StyleGAN2 synthesis architecture", "networks", choices=ARCHITECTURES)
    d_arch: str = _opt("resnet", "discriminator architecture ('skip' is not available with progressive growing)",
                       "networks", choices=ARCHITECTURES)
    cbase: Optional[int] = _opt(None, "channels = min(cbase / resolution, cmax) (auto: 16384, 32768 from 512 px; "
                                      "2048 for the built-in dataset)", "networks")
    cmax: Optional[int] = _opt(None, "maximum channels per layer (auto: 512; 64 for the built-in dataset)",
                               "networks")
    z_dim: Optional[int] = _opt(None, "latent size (auto: 512; 128 for the built-in dataset)", "networks")
    w_dim: Optional[int] = _opt(None, "intermediate latent size (auto: as z_dim)", "networks")
    map: Optional[int] = _opt(None, "mapping network layers (auto: 8; 2 for StyleGAN3)", "networks")
    mbstd_group: Optional[int] = _opt(None, "minibatch standard deviation group size (auto: min(4, batch-gpu))",
                                      "networks")
    growing: Optional[bool] = _opt(None, "progressive growing with fade-in (auto: on for --arch stylegan; "
                                         "--no-growing trains at the final resolution from the start)", "networks")
    pg_start: int = _opt(8, "progressive growing: first resolution", "networks")
    pg_kimg: Optional[float] = _opt(None, "progressive growing: thousands of images per fade-in and per stable "
                                          "phase (auto: 600; a tenth of --kimg for the built-in dataset)", "networks")
    # Objectives
    loss: str = _opt("logistic", "adversarial loss: non-saturating logistic, or WGAN-GP (gradient penalty 10, "
                                 "drift 0.001)", "objectives", choices=LOSSES)
    gamma: Optional[float] = _opt(None, "R1 weight (auto: 0.0002 * resolution^2 / batch; 0 with wgangp)",
                                  "objectives")
    pl_weight: Optional[float] = _opt(None, "path-length regularization weight (auto: 2; 0 for --arch stylegan and "
                                            "StyleGAN3)",
                                      "objectives")
    pl_decay: float = _opt(0.01, "path-length running mean decay", "objectives")
    pl_batch_shrink: int = _opt(2, "path-length regularization runs on batch / this", "objectives")
    g_reg_interval: Optional[int] = _opt(None, "lazy regularization: G regularized every N steps (0: with every "
                                               "step; auto: 4; 0 for StyleGAN3, which has no G regularizer)",
                                         "objectives", metavar="N")
    d_reg_interval: int = _opt(16, "lazy regularization: R1 every N D steps (0: with every step)", "objectives",
                               metavar="N")
    style_mixing: Optional[float] = _opt(None, "style-mixing regularization probability (auto: 0.9; 0 for StyleGAN3)",
                                         "objectives")
    blur_sigma: Optional[float] = _opt(None, "blur of the images D sees, in pixels, fading out over --blur-kimg "
                                             "(auto: 10 for stylegan3-r, else 0)", "objectives")
    blur_kimg: Optional[float] = _opt(None, "kimg over which the blur fades out (auto: batch * 200 / 32)",
                                      "objectives")
    # Augmentation
    aug: Optional[str] = _opt(None, "augment everything D sees: ada (p tuned so that D's sign on reals averages "
                                    "--target), fixed (p = --p), noaug (auto: ada for real data, noaug for the "
                                    "built-in dataset)", "augmentation", choices=AUGMENTATIONS)
    augpipe: str = _opt("bgc", "augmentations used, NVIDIA's presets: blit, geom, color, filter, noise, cutout and "
                               "combinations of their initials, e.g. bgc = blit + geom + color", "augmentation",
                       choices=tuple(AUGMENT_PRESETS))
    p: Optional[float] = _opt(None, "augmentation probability: with --aug fixed the p used, with ada the starting "
                                    "p (auto: 0)", "augmentation")
    target: float = _opt(0.6, "ADA target for E[sign(D(augmented reals))]", "augmentation")
    ada_kimg: Optional[float] = _opt(None, "ADA speed: p can go from 0 to 1 in this many thousand images (auto: "
                                           "500; 100 when fine-tuning from an NVIDIA pickle)", "augmentation")
    ada_interval: int = _opt(4, "ADA adjusts p every N steps", "augmentation", metavar="N")
    # Optimization
    batch: Optional[int] = _opt(None, "total batch size over all processes (auto: NVIDIA's rule from the "
                                      "resolution, 16 for the built-in dataset)", "optimization")
    batch_gpu: Optional[int] = _opt(None, "images per process per forward pass; the batch is accumulated in "
                                          "rounds (auto: batch / processes)", "optimization")
    glr: Optional[float] = _opt(None, "G learning rate (auto: 0.0025, 0.002 from 1024 px)", "optimization")
    dlr: Optional[float] = _opt(None, "D learning rate (auto: as G)", "optimization")
    ema_kimg: Optional[float] = _opt(None, "half-life of G_ema in thousands of images (auto: batch * 10 / 32)",
                                     "optimization")
    ema_rampup: Optional[float] = _opt(0.05, "G_ema half-life at most this fraction of the images seen so far "
                                             "(0: no ramp-up)", "optimization")
    # Precision
    fp32: bool = _opt(False, "float32 everywhere (disables mixed precision)", "precision")
    precision: str = _opt("fp16", "low-precision type of the top resolutions on CUDA (bf16 needs Ampere or newer)",
                          "precision", choices=PRECISIONS)
    fp16_res: int = _opt(4, "number of top resolutions in low precision (on CUDA)", "precision")
    conv_clamp: Optional[float] = _opt(None, "clamp the low-precision layers' outputs to +-this (auto: 256 with "
                                             "mixed precision)", "precision")
    tf32: bool = _opt(False, "allow TF32 matrix multiplications and convolutions on CUDA (faster, less exact)",
                      "precision")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


GROUPS = ("data", "run", "networks", "objectives", "augmentation", "optimization", "precision")
PROG = "python -m stylegan.train"
# The most pixels one forward pass may take when --batch-gpu is auto: 256 images of 256x256 (NVIDIA's configurations
# pass at most 32 of them per GPU). A larger batch per process needs --batch-gpu, to be accumulated in rounds.
AUTO_BATCH_GPU_PIXELS = 2 ** 24


def flag(name: str) -> str:
    """The command-line flag of the option `name` (a TrainingOptions field)."""
    return TrainingOptions.__dataclass_fields__[name].metadata["flag"] or "--" + name.replace("_", "-")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command line `prog`: one flag per TrainingOptions field; only the flags given are in its namespace (the
    rest come from a resumed run or the defaults)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train a StyleGAN2 or StyleGAN generator. With no arguments: a short run on the built-in "
                    "procedural dataset, written under runs/. Options marked auto are resolved from the data and "
                    "the machine; the resolved configuration is written to the run directory.",
        argument_default=argparse.SUPPRESS)
    groups = {g: parser.add_argument_group(g) for g in GROUPS}
    for f in dataclasses.fields(TrainingOptions):
        meta = f.metadata
        help = meta["help"] if f.default is None else f"{meta['help']} (default: {f.default})"
        kwargs = dict(dest=f.name, help=help)
        if f.type in (bool, Optional[bool]):
            kwargs.update(action=argparse.BooleanOptionalAction)
            kwargs["help"] = meta["help"]
        else:
            kwargs.update(type=_parse_type(f.type), choices=meta["choices"], metavar=meta["metavar"])
        groups[meta["group"]].add_argument(flag(f.name), **kwargs)
    return parser


def _parse_type(annotation):
    for t in (int, float, str):
        if annotation in (t, Optional[t]):
            return t
    raise TypeError(f"no parser for {annotation}")


def options_from(given: dict) -> TrainingOptions:
    """TrainingOptions from a dict of given options (the rest 'auto' or their defaults); unknown keys are an error."""
    known = {f.name for f in dataclasses.fields(TrainingOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown training options: {unknown}")
    return TrainingOptions(**given)


# Options that shape the networks: fixed by the file when resuming.
NETWORK_OPTIONS = ("arch", "g_arch", "d_arch", "cbase", "cmax", "z_dim", "w_dim", "map", "mbstd_group", "growing",
                   "fp16_res", "conv_clamp")


def resolve_options(opts: TrainingOptions, resolution: int, builtin: bool, world_size: int,
                    cuda: bool) -> TrainingOptions:
    """opts with every 'auto' (None) resolved, for a dataset of this resolution (built-in or not), world_size
    processes, on CUDA or not; checks the combinations. The values of NVIDIA's 'auto' configuration for real data,
    except the mapping network, which keeps the papers' 8 layers (--map; NVIDIA's auto uses 2 for speed)."""
    o = dataclasses.replace(opts)
    o.resolution = resolution
    for name in ("batch", "batch_gpu"):
        if getattr(o, name) is not None and getattr(o, name) < 1:
            raise ValueError(f"{flag(name)} must be > 0, got {getattr(o, name)}")
    if o.batch is None:
        o.batch = 16 if builtin else max(min(world_size * min(4096 // resolution, 32), 64), world_size)
    if o.batch % world_size:
        raise ValueError(f"--batch {o.batch} must be a multiple of the number of processes ({world_size})")
    if o.batch_gpu is None:
        o.batch_gpu = o.batch // world_size
        if o.batch_gpu * resolution ** 2 > AUTO_BATCH_GPU_PIXELS:
            rounds = next(d for d in range(1, o.batch_gpu + 1) if o.batch_gpu % d == 0 and o.batch_gpu // d <= 32)
            raise ValueError(f"--batch {o.batch}: {o.batch_gpu} images of {resolution}x{resolution} per process in "
                             f"one pass is more than an automatic --batch-gpu takes; give --batch-gpu (such as "
                             f"{o.batch_gpu // rounds}: the batch in {rounds} rounds)")
    if (o.batch // world_size) % o.batch_gpu:
        raise ValueError(f"--batch-gpu {o.batch_gpu} must divide the batch per process ({o.batch // world_size})")
    if o.mbstd_group is None:
        o.mbstd_group = min(o.batch_gpu, 4)
    if o.batch_gpu % o.mbstd_group:
        raise ValueError(f"--batch-gpu {o.batch_gpu} must be a multiple of --mbstd-group {o.mbstd_group}")
    alias_free = o.arch.startswith("stylegan3")
    # The remaining 'auto' values, in order (a rule may read the values resolved before it).
    rules = dict(
        cbase=lambda: 2048 if builtin else (32768 if resolution >= 512 else 16384),
        cmax=lambda: 64 if builtin else 512,
        z_dim=lambda: 128 if builtin else 512,
        w_dim=lambda: o.z_dim,
        map=lambda: 2 if alias_free else 8,
        style_mixing=lambda: 0.0 if alias_free else 0.9,
        g_reg_interval=lambda: 0 if alias_free else 4,
        blur_sigma=lambda: 10.0 if o.arch == "stylegan3-r" else 0.0,
        blur_kimg=lambda: o.batch * 200 / 32,
        glr=lambda: 0.002 if resolution >= 1024 and not alias_free else 0.0025,
        dlr=lambda: o.glr,
        gamma=lambda: 0.0 if o.loss == "wgangp" else 0.0002 * resolution ** 2 / o.batch,
        pl_weight=lambda: 0.0 if o.arch == "stylegan" or alias_free else 2.0,
        ema_kimg=lambda: o.batch * 10 / 32,
        kimg=lambda: 32 if builtin else 25000,
        tick=lambda: 2 if builtin else 4,
        snap=lambda: 10 if builtin else 50,
        growing=lambda: o.arch == "stylegan",
        pg_kimg=lambda: o.kimg / 10 if builtin else 600,
        workers=lambda: 0 if builtin else 2,
        aug=lambda: "noaug" if builtin else "ada",
        metrics=lambda: "shapes1k,swd1k" if builtin else "",
        p=lambda: 0.0,
        ada_kimg=lambda: 500,
    )
    for name, rule in rules.items():
        if getattr(o, name) is None:
            setattr(o, name, rule())
    mixed = cuda and not o.fp32 and o.fp16_res > 0
    if o.conv_clamp is None:
        o.conv_clamp = 256 if mixed else None
    if not mixed:
        o.fp16_res = 0
    _check(o)
    return o


def _check(o: TrainingOptions) -> None:
    for f in dataclasses.fields(o):
        value = getattr(o, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{flag(f.name)} must be a finite number, got {value}")
    check_seeds([o.seed], "--seed")
    positive = dict(kimg=o.kimg, tick=o.tick, snap=o.snap, batch=o.batch, batch_gpu=o.batch_gpu, cbase=o.cbase,
                    cmax=o.cmax, z_dim=o.z_dim, w_dim=o.w_dim, map=o.map, glr=o.glr, dlr=o.dlr,
                    pl_batch_shrink=o.pl_batch_shrink, pg_kimg=o.pg_kimg, mbstd_group=o.mbstd_group,
                    blur_kimg=o.blur_kimg)
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{flag(name)} must be > 0, got {value}")
    non_negative = dict(gamma=o.gamma, pl_weight=o.pl_weight, ema_kimg=o.ema_kimg, ema_rampup=o.ema_rampup or 0,
                        keep_snapshots=o.keep_snapshots, workers=o.workers, g_reg_interval=o.g_reg_interval,
                        d_reg_interval=o.d_reg_interval, fp16_res=o.fp16_res, pl_decay=o.pl_decay,
                        blur_sigma=o.blur_sigma)
    for name, value in non_negative.items():
        if not value >= 0:
            raise ValueError(f"{flag(name)} must be >= 0, got {value}")
    if not 0 <= o.p <= 1:
        raise ValueError(f"--p must be in [0, 1], got {o.p}")
    if not 0 <= o.target <= 1:
        raise ValueError(f"--target must be in [0, 1], got {o.target}")
    if not o.ada_kimg > 0 or not o.ada_interval >= 1:
        raise ValueError(f"--ada-kimg must be > 0 and --ada-interval >= 1, got {o.ada_kimg} and {o.ada_interval}")
    if o.aug == "fixed" and o.p == 0:
        raise ValueError("--aug fixed needs --p > 0 (with p = 0 nothing is augmented: use --aug noaug)")
    if o.aug == "noaug" and o.p > 0:
        raise ValueError(f"--p {o.p} with --aug noaug: choose --aug fixed or ada")
    if not 0 <= o.style_mixing <= 1:
        raise ValueError(f"--style-mixing must be in [0, 1], got {o.style_mixing}")
    if o.growing and o.arch != "stylegan":
        raise ValueError("--growing needs --arch stylegan (progressive growing is StyleGAN's training scheme; the "
                         "StyleGAN2 synthesis renders one resolution)")
    if o.growing and o.d_arch == "skip":
        raise ValueError("--growing needs --d-arch orig or resnet (a skip discriminator has no progressive form)")
    if o.growing and not 4 <= o.pg_start <= o.resolution:
        raise ValueError(f"--pg-start must be a power of two in [4, {o.resolution}], got {o.pg_start}")
    if feature_metrics(metric_names(o.metrics)):
        resolve_weights(o.inception)  # a missing file stops the run before it starts
    if o.max_size is not None and o.max_size < 1:
        raise ValueError(f"--max-size must be >= 1, got {o.max_size}")


def metric_names(text: str) -> List[str]:
    """The metric names in a comma-separated --metrics list, each checked (a ValueError naming --metrics)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        try:
            parse_metric(name)
        except ValueError as e:
            raise ValueError(f"--metrics: {e}") from None
    return names


def feature_metrics(names: List[str]) -> bool:
    """Whether any of the metrics needs the Inception features."""
    return any(parse_metric(name).kind in FEATURE_KINDS for name in names)
