"""Metrics of a generator against a dataset by name, as StyleGAN2-ADA names them, and their metric-<name>.jsonl logs.

Names (`parse_metric`); a count is a number of generated images (PPL: of samples), written 50k or 200:
    fid<count>_full    FID against all real images (no x-flips)                 e.g. fid50k_full, fid10k_full
    fid<count>         FID against the first <count> real items (x-flips if the dataset has them)   e.g. fid50k
    kid<count>_full    KID (100 subsets of <= 1000), real images capped at 1M  e.g. kid50k_full; kid<count> as fid
    pr<count><k>_full  precision/recall with k-NN manifolds, real capped at 200k  e.g. pr50k3_full; pr<count><k>;
                       a count without 'k' needs '_k' before k: pr200_k3_full
    ppl2_wend          PPL in w, end points, no crop (StyleGAN2); ppl_zfull, ppl_wfull, ppl_zend, ppl_wend (cropped);
                       50k samples, or a count after '_': ppl2_wend_1k
    swd<count>         sliced Wasserstein distance on Laplacian pyramids (ProGAN), <count> real and generated
    shapes<count>      shape recognisability of <count> generated images (stylegan.metrics.shape_score; the built-in
                       shapes dataset only): the recognised fraction times the diversity of their shapes, e.g. shapes1k
    eqt<count>_int, eqt<count>_frac, eqr<count>   StyleGAN3's equivariance PSNRs in dB (integer and fractional
                       translation, rotation; stylegan.metrics.equivariance) of <count> samples, StyleGAN3 networks
                       only, e.g. eqt50k_int, eqr1k
Aliases: fid = fid50k_full, kid = kid50k_full, pr = pr50k3_full, ppl = ppl2_wend, swd = swd16k. A num_gen
argument replaces the count of every name (and so the name: fid50k_full with num_gen=2000 is fid2k_full).

Results are plain floats keyed by the metric's name, e.g. {'fid50k_full': 3.1}; pr gives <name>_precision and
<name>_recall, swd <name> (the mean over levels) and <name>_<resolution> per level, shapes <name> (the score) and
<name>_recognised, <name>_diversity, <name>_fit_error. A name says when a value is
not comparable with published ones: a feature network other than the metric's standard one (Inception for FID and
KID, VGG16 for precision/recall) is appended ('pr50k3_full_inception', 'fid2k_full_random'), and a PPL says which
distance measured it (stylegan.metrics.ppl): 'ppl2_lpips_wend' (LPIPS, as the published values), 'ppl2_vgg_wend'
(LPIPS's VGG16 layers with every channel weighted 1) or 'ppl2_pixel_wend'.

Generation follows NVIDIA's metrics: z ~ N(0, I) (drawn on the CPU from `seed`), labels of random dataset items for
a conditional generator, G(z, c, noise_mode=..., truncation_psi=...) in evaluation mode without gradients, images
quantized as uint8(clamp(x * 127.5 + 128, 0, 255)). The generator's mode is restored afterwards; it is not copied
(PPL works on a copy). Generator, feature networks and distances run in full float32, without TF32. Dataset
features are cached on disk (stylegan.metrics.stats_cache).

In the training loop (one process; other ranks should not call it):

    results = compute_metrics(G_ema, dataset, ['fid50k_full'], device=device, run_dir=run_dir,
                              snapshot=snapshot_dir)      # {'fid50k_full': ...}; appends run_dir/metric-*.jsonl
"""

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..checks import check_fits_dataset
from ..data.shapes import ShapesDataset
from ..downloads import is_url
from ..progress import progress as show_progress
from .equivariance import equivariance_psnr, input_transform
from .features import FeatureStats, as_rgb, check_extractor, full_float32
from .fid import frechet_distance
from .inception import load_inception
from .kid import kernel_inception_distance
from .ppl import perceptual_path_length, resolve_distance
from .precision_recall import precision_recall
from .stats_cache import dataset_feature_stats
from .shape_score import shape_recognisability
from .swd import MIN_RESOLUTION, SWDAccumulator

__all__ = ["ALIASES", "MetricResult", "MetricSpec", "STANDARD_METRICS", "append_jsonl", "compute_metric",
           "compute_metrics", "evaluate_metrics", "jsonl_record", "parse_metric"]

PathLike = Union[str, Path]

ALIASES = {"fid": "fid50k_full", "kid": "kid50k_full", "pr": "pr50k3_full", "ppl": "ppl2_wend", "swd": "swd16k"}
STANDARD_METRICS = ("fid50k_full", "kid50k_full", "pr50k3_full", "ppl2_wend", "fid50k", "kid50k", "pr50k3",
                    "ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend", "swd16k", "eqt50k_int", "eqt50k_frac", "eqr50k")
FEATURE_KINDS = ("fid", "kid", "pr")
# Caps on the real images of the _full metrics (StyleGAN2-ADA's), and the feature network each metric is defined on.
_FULL_REAL_CAP = {"fid": None, "kid": 1_000_000, "pr": 200_000}
_STANDARD_FEATURES = {"fid": "inception", "kid": "inception", "pr": "vgg16"}
_KID_SUBSETS, _KID_SUBSET_SIZE = 100, 1000
_PPL_EPSILON, _PPL_BATCH = 1e-4, 2
_EQ_BATCH = 4  # samples per random transform, as NVIDIA's equivariance metrics
_DEFAULT_COUNT = 50_000

_COUNT = r"\d+k?"
_PATTERNS = {
    "fid": re.compile(rf"^(?P<kind>fid|kid)(?P<count>{_COUNT})(?P<full>_full)?$"),
    "pr": re.compile(r"^pr(?P<count>\d+k|\d+_k)(?P<k>\d+)(?P<full>_full)?$"),
    "ppl": re.compile(rf"^ppl(?P<v2>2?)_(?P<space>[wz])(?P<sampling>end|full)(?:_(?P<count>{_COUNT}))?$"),
    "swd": re.compile(rf"^swd(?P<count>{_COUNT})$"),
    "shapes": re.compile(rf"^shapes(?P<count>{_COUNT})$"),
    "eq": re.compile(rf"^eq(?P<what>[tr])(?P<count>{_COUNT})(?:_(?P<translation>int|frac))?$"),
}


def _count(token: str) -> int:
    token = token.removesuffix("_k")
    return int(token[:-1]) * 1000 if token.endswith("k") else int(token)


def _token(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


@dataclass(frozen=True)
class MetricSpec:
    """A metric as parsed from its name: kind ('fid', 'kid', 'pr', 'ppl', 'swd', 'shapes', 'eq'), num_gen (generated images or
    PPL / equivariance samples), full (fid/kid/pr against all real images), k (pr), space, sampling and crop (ppl),
    transform (eq: 'int', 'frac' or 'rot', stylegan.metrics.equivariance.KINDS)."""

    kind: str
    num_gen: int
    full: bool = False
    k: int = 3
    space: str = "w"
    sampling: str = "end"
    crop: bool = False
    transform: str = "int"

    @property
    def name(self) -> str:
        """The canonical name (module docstring)."""
        full = "_full" if self.full else ""
        if self.kind in ("fid", "kid"):
            return f"{self.kind}{_token(self.num_gen)}{full}"
        if self.kind == "pr":
            token = _token(self.num_gen)
            return f"pr{token}{'' if token.endswith('k') else '_k'}{self.k}{full}"
        if self.kind == "ppl":
            count = "" if self.num_gen == _DEFAULT_COUNT else f"_{_token(self.num_gen)}"
            return f"ppl{'' if self.crop else '2'}_{self.space}{self.sampling}{count}"
        if self.kind == "eq":
            return f"eqr{_token(self.num_gen)}" if self.transform == "rot" else \
                f"eqt{_token(self.num_gen)}_{self.transform}"
        return f"{self.kind}{_token(self.num_gen)}"  # swd, shapes


def _unknown(name) -> ValueError:
    return ValueError(f"unknown metric {name!r}; known: {', '.join(STANDARD_METRICS)}, the aliases "
                      f"{', '.join(ALIASES)}, and other sizes of these (e.g. fid10k_full, kid2k, pr5k3_full, "
                      f"ppl2_wend_1k, swd4k, eqt1k_int, eqr1k), and shapes<count> (e.g. shapes1k) for the built-in "
                      f"shapes dataset")


def parse_metric(name: str, num_gen: Optional[int] = None) -> MetricSpec:
    """The MetricSpec of a metric name (module docstring); num_gen, when given, replaces its count. A ValueError
    listing the known names for an unknown one."""
    if not isinstance(name, str):
        raise _unknown(name)
    text = ALIASES.get(name.strip(), name.strip())
    for kind, pattern in _PATTERNS.items():
        m = pattern.match(text)
        if m is None:
            continue
        groups = m.groupdict()
        count = _count(groups["count"]) if groups.get("count") else _DEFAULT_COUNT
        if kind == "fid":
            spec = MetricSpec(groups["kind"], count, full=bool(groups["full"]))
        elif kind == "pr":
            spec = MetricSpec("pr", count, full=bool(groups["full"]), k=int(groups["k"]))
        elif kind == "ppl":
            spec = MetricSpec("ppl", count, space=groups["space"], sampling=groups["sampling"],
                              crop=not groups["v2"])
        elif kind == "eq":
            if (groups["what"] == "t") != bool(groups["translation"]):
                break  # eqt needs _int or _frac, eqr takes neither
            spec = MetricSpec("eq", count, transform=groups["translation"] or "rot")
        else:
            spec = MetricSpec(kind, count)  # swd, shapes
        if num_gen is not None:
            if isinstance(num_gen, bool) or not isinstance(num_gen, int):
                raise ValueError(f"num_gen must be an int, got {num_gen!r}")
            spec = replace(spec, num_gen=num_gen)
        minimum = spec.k + 1 if spec.kind == "pr" else 2
        if spec.num_gen < minimum:
            raise ValueError(f"{spec.name if spec.num_gen > 0 else name}: needs at least {minimum} generated images, "
                             f"got {spec.num_gen}")
        return spec
    raise _unknown(name)


@dataclass
class MetricResult:
    """One metric's outcome: name (as the results are keyed, module docstring), results {key: float}, num_gen,
    num_real (None for PPL), total_time in seconds, features (the feature network's name, fid/kid/pr) and distance
    ('lpips', 'vgg', 'pixel' or 'custom', PPL)."""

    name: str
    results: dict
    num_gen: int
    num_real: Optional[int]
    total_time: float
    features: Optional[str] = None
    distance: Optional[str] = None


@contextlib.contextmanager
def _evaluation_mode(G: torch.nn.Module):
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            yield G
    finally:
        G.train(was_training)


def _label_sampler(G, dataset, seed: int) -> Optional[Callable[[int], torch.Tensor]]:
    """n -> labels [n, c_dim] of random dataset items, drawn from `seed` (None for an unconditional generator)."""
    if G.c_dim == 0 or dataset is None:
        return None
    rng = np.random.default_rng([seed, 1])

    def sample(n: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([dataset.label(int(i)) for i in rng.integers(len(dataset), size=n)]))
    return sample


@contextlib.contextmanager
def _seeded_global_rng(device: torch.device, seed: int):
    """Inside, torch's global generators of the CPU and of `device` (where G draws its random noise) start from
    `seed`; afterwards they are as before (a metric in the training loop leaves the run's random streams alone)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def _generated_images(G, dataset, num: int, batch: int, device, seed: int, noise_mode: str, truncation_psi: float,
                      what: Optional[str]) -> Iterator[torch.Tensor]:
    """num generated images, uint8 [b, C, R, R] on `device`, in batches of at most `batch`; the same images for the
    same arguments (random noise included)."""
    generator = torch.Generator().manual_seed(seed)
    labels = _label_sampler(G, dataset, seed)
    starts = range(0, num, batch)
    with _evaluation_mode(G):
        for start in (show_progress(starts, what) if what else starts):
            n = min(batch, num - start)
            z = torch.randn([n, G.z_dim], generator=generator).to(device)
            c = labels(n).to(device) if labels is not None else None
            with _seeded_global_rng(torch.device(device), seed * 1_000_003 + start):
                images = G(z, c, noise_mode=noise_mode, truncation_psi=truncation_psi).float()
            if not torch.isfinite(images).all():
                raise ValueError("the generator produced NaN or infinite values")
            yield (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def _check_compatible(G, dataset, specs: Sequence[MetricSpec]) -> None:
    for attr in ("z_dim", "c_dim", "img_resolution", "img_channels", "mapping", "synthesis"):
        if not hasattr(G, attr):
            raise TypeError(f"G: a generator needs the attribute {attr!r} (got a {type(G).__name__})")
    if any(s.kind == "eq" for s in specs):
        input_transform(G)
    if dataset is None:
        if any(s.kind not in ("ppl", "eq") for s in specs) or G.c_dim > 0:
            raise ValueError("dataset: needed for every metric but the PPL and equivariance of an unconditional "
                             "generator")
        return
    check_fits_dataset(G, dataset, "dataset", "the generator", hint={"c_dim": " (open it with use_labels=True)"},
                       labels_optional=True)
    if any(s.kind == "shapes" for s in specs) and not isinstance(dataset, ShapesDataset):
        raise ValueError(f"shapes: measures networks trained on the built-in shapes dataset, not on "
                         f"{type(dataset).__name__}")
    if any(s.kind == "swd" for s in specs) and G.img_resolution < MIN_RESOLUTION:
        raise ValueError(f"swd needs images of at least {MIN_RESOLUTION}x{MIN_RESOLUTION}, the generator makes "
                         f"{G.img_resolution}x{G.img_resolution}")


def _num_real(spec: MetricSpec, dataset) -> int:
    if spec.full:
        unique = len(dataset) // 2 if dataset.mirror else len(dataset)
        cap = _FULL_REAL_CAP[spec.kind]
        return unique if cap is None else min(unique, cap)
    return min(spec.num_gen, len(dataset))


def evaluate_metrics(G: torch.nn.Module, dataset, names: Sequence[str], num_gen: Optional[int] = None,
                     device: Optional[torch.device] = None, feature_extractor=None,
                     inception: Optional[PathLike] = None, batch: int = 64, cache_dir: Optional[PathLike] = None,
                     use_cache: bool = True, seed: int = 0, noise_mode: str = "random", truncation_psi: float = 1,
                     distance=None, num_workers: int = 0, progress: bool = False) -> Iterator[MetricResult]:
    """Computes the named metrics one after the other, yielding each MetricResult as it is done (see
    compute_metrics for the arguments). Features of the same generated or real images are extracted once for all
    the metrics of one call."""
    specs = [parse_metric(name, num_gen) for name in names]
    if not specs:
        raise ValueError("names: no metric given")
    _check_compatible(G, dataset, specs)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if device is None:
        parameter = next(iter(G.parameters()), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    device = torch.device(device)
    feature_specs = [s for s in specs if s.kind in FEATURE_KINDS]
    extractor = None
    if feature_specs:
        extractor = check_extractor(feature_extractor if feature_extractor is not None else
                                    load_inception(inception, device))
        if isinstance(extractor, torch.nn.Module):
            extractor.to(device)
    # Which generated / real feature sets must keep the features themselves (KID, PR), so each is extracted once.
    capture_gen = {s.num_gen: False for s in feature_specs}
    capture_real = {_num_real(s, dataset): False for s in feature_specs}
    for s in feature_specs:
        capture_gen[s.num_gen] |= s.kind != "fid"
        capture_real[_num_real(s, dataset)] |= s.kind != "fid"
    gen_stats, real_stats = {}, {}

    def generated(num: int) -> FeatureStats:
        if num not in gen_stats:
            stats = FeatureStats(capture_all=capture_gen[num], max_items=num)
            for images in _generated_images(G, dataset, num, batch, device, seed, noise_mode, truncation_psi,
                                            "generator features (batches)" if progress else None):
                with torch.no_grad():
                    stats.append(extractor(as_rgb(images)))
            gen_stats[num] = stats
        return gen_stats[num]

    def real(num: int) -> FeatureStats:
        if num not in real_stats:
            real_stats[num] = dataset_feature_stats(dataset, extractor, num, capture_real[num], cache_dir, use_cache,
                                                    device, batch, num_workers, progress)
        return real_stats[num]

    def measure(spec: MetricSpec) -> MetricResult:
        start = time.time()
        if spec.kind in FEATURE_KINDS:
            num_real = _num_real(spec, dataset)
            name = spec.name + ("" if extractor.name == _STANDARD_FEATURES[spec.kind] else f"_{extractor.name}")
            fake, reals = generated(spec.num_gen), real(num_real)
            if spec.kind == "fid":
                results = {name: frechet_distance(*reals.mean_cov(), *fake.mean_cov())}
            elif spec.kind == "kid":
                results = {name: kernel_inception_distance(reals.features(), fake.features(), _KID_SUBSETS,
                                                           _KID_SUBSET_SIZE, seed, device)}
            else:
                precision, recall = precision_recall(reals.features(), fake.features(), spec.k, device)
                results = {f"{name}_precision": precision, f"{name}_recall": recall}
            return MetricResult(name, results, spec.num_gen, num_real, time.time() - start, features=extractor.name)
        if spec.kind == "ppl":
            function, kind = resolve_distance(distance, device)
            name = spec.name.replace("_", f"_{kind}_", 1) if kind != "custom" else spec.name
            value = perceptual_path_length(G, spec.num_gen, _PPL_EPSILON, spec.space, spec.sampling, spec.crop,
                                           _PPL_BATCH, function, _label_sampler(G, dataset, seed), device, seed,
                                           progress)
            return MetricResult(name, {name: value}, spec.num_gen, None, time.time() - start, distance=kind)
        if spec.kind == "eq":
            psnr = equivariance_psnr(G, [spec.transform], spec.num_gen, _EQ_BATCH,
                                     labels=_label_sampler(G, dataset, seed), truncation_psi=truncation_psi,
                                     device=device, seed=seed, progress=progress)
            return MetricResult(spec.name, {spec.name: psnr[spec.transform]}, spec.num_gen, None, time.time() - start)
        if spec.kind == "shapes":
            images = np.concatenate([generated.cpu().numpy() for generated in _generated_images(
                G, dataset, spec.num_gen, batch, device, seed, noise_mode, truncation_psi,
                "shapes generated (batches)" if progress else None)])
            score = shape_recognisability(images)
            results = {spec.name: score["score"], **{f"{spec.name}_{k}": v for k, v in score.items() if k != "score"}}
            return MetricResult(spec.name, results, spec.num_gen, None, time.time() - start)
        num_real = _num_real(spec, dataset)
        accumulator = SWDAccumulator(seed=seed)
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(num_real)), batch_size=batch,
                                             num_workers=num_workers, generator=torch.Generator())
        for images, _labels in loader:
            accumulator.add_a(images.to(device))
        for images in _generated_images(G, dataset, spec.num_gen, batch, device, seed, noise_mode, truncation_psi,
                                        "swd generated (batches)" if progress else None):
            accumulator.add_b(images)
        swd = accumulator.compute()
        results = {spec.name: swd["swd_mean"], **{f"{spec.name}_{res}": v for res, v in swd["swd_levels"].items()}}
        return MetricResult(spec.name, results, spec.num_gen, num_real, time.time() - start)

    for spec in specs:
        # Generator, feature networks and distances in full float32, as NVIDIA's metrics run them (no TF32).
        with full_float32():
            result = measure(spec)
        yield result


def compute_metric(G: torch.nn.Module, dataset, name: str, **options) -> MetricResult:
    """One metric (options as compute_metrics) as a MetricResult."""
    return next(evaluate_metrics(G, dataset, [name], **options))


def compute_metrics(G: torch.nn.Module, dataset, names: Sequence[str], num_gen: Optional[int] = None,
                    device: Optional[torch.device] = None, feature_extractor=None,
                    inception: Optional[PathLike] = None, batch: int = 64, cache_dir: Optional[PathLike] = None,
                    use_cache: bool = True, seed: int = 0, noise_mode: str = "random", truncation_psi: float = 1,
                    distance=None, num_workers: int = 0, progress: bool = False, run_dir: Optional[PathLike] = None,
                    snapshot: Optional[PathLike] = None) -> dict:
    """The named metrics of generator G against `dataset`, as one flat {result key: float} (module docstring).

    G: a generator (mapping + synthesis: z_dim, c_dim, img_resolution, img_channels; called G(z, c, noise_mode=,
        truncation_psi=)). dataset: a stylegan.data Dataset of G's resolution and channels (labels when G is
        conditional); None only for PPL of an unconditional G.
    names: metric names (parse_metric); num_gen replaces their counts (small runs).
    device: where G, the features and the metrics run (default: G's device).
    feature_extractor: for FID/KID/PR (stylegan.metrics.features.FeatureExtractor; a module is moved to `device`);
        default the FID Inception, its weights from `inception` (a path), $STYLEGAN_INCEPTION or the cache
        (downloaded on first use: stylegan.metrics.inception).
    batch: images per generator and extractor call. cache_dir, use_cache: the dataset statistics cache
        (stylegan.metrics.stats_cache). seed: latents, labels, subsets. noise_mode, truncation_psi: G's arguments.
    distance: PPL's distance (stylegan.metrics.ppl.resolve_distance). num_workers: data loader processes.
    progress: progress lines on stderr.
    run_dir: when given, each metric's record is appended to <run_dir>/metric-<name>.jsonl (append_jsonl), with
        `snapshot` (the network's path) in it."""
    merged = {}
    for result in evaluate_metrics(G, dataset, names, num_gen=num_gen, device=device,
                                   feature_extractor=feature_extractor, inception=inception, batch=batch,
                                   cache_dir=cache_dir, use_cache=use_cache, seed=seed, noise_mode=noise_mode,
                                   truncation_psi=truncation_psi, distance=distance, num_workers=num_workers,
                                   progress=progress):
        if run_dir is not None:
            append_jsonl(run_dir, result.name, result, snapshot=snapshot)
        merged.update(result.results)
    return merged


def jsonl_record(name: str, result: Union[MetricResult, Mapping[str, float]], snapshot: Optional[PathLike] = None,
                 relative_to: Optional[PathLike] = None) -> dict:
    """The record append_jsonl writes: results, metric, snapshot (relative to `relative_to` when inside it; a URL as
    it is), timestamp, and for a MetricResult num_gen, num_real, total_time, features, distance."""
    if snapshot is not None and not is_url(snapshot):
        snapshot = Path(snapshot).resolve()
        base = Path(relative_to).resolve() if relative_to is not None else None
        snapshot = snapshot.relative_to(base).as_posix() if base is not None and snapshot.is_relative_to(base) \
            else str(snapshot)
    record = dict(results=dict(result.results if isinstance(result, MetricResult) else result), metric=name,
                  snapshot=snapshot, timestamp=time.time())
    if isinstance(result, MetricResult):
        record.update(num_gen=result.num_gen, num_real=result.num_real, total_time=result.total_time,
                      features=result.features, distance=result.distance)
    return record


def append_jsonl(run_dir_or_path: PathLike, name: str, result: Union[MetricResult, Mapping[str, float]],
                 snapshot: Optional[PathLike] = None) -> dict:
    """Appends one JSON line (jsonl_record) for metric `name` to <run_dir>/metric-<name>.jsonl, or to the file
    itself when run_dir_or_path ends in .jsonl (folders are created); returns the record written. `result`: a
    MetricResult or a {key: float} mapping; `snapshot`: the network evaluated (stored relative to the folder when
    inside it)."""
    target = Path(run_dir_or_path)
    path = target if target.suffix == ".jsonl" else target / f"metric-{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = jsonl_record(name, result, snapshot, relative_to=path.parent)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return record

