"""Latents of a generator: z for a seed (drawn as NVIDIA's tools draw it, so that a seed gives the same image with
their code), class labels, truncation, ws mapped from z, images rendered from ws (with the layers' noise scaled),
ws sampled in bulk, and ws (and other latent-space arrays) saved in .npz files."""

import contextlib
import math
import zipfile
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from .checks import check_seeds, check_within
from .images import write_whole
from .progress import progress


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


NOISE_STRENGTHS = ("noise_strength", "noise_weight")  # the noise strength parameters of StyleGAN2 and StyleGAN layers


@contextlib.contextmanager
def scaled_noise(G: torch.nn.Module, factor: float) -> Iterator[None]:
    """Within the block, the strength of every layer's noise is `factor` times the network's own (1 changes nothing;
    0 is the same as noise_mode 'none'); restored on exit. A ValueError naming --noise-strength for a negative or
    non-finite factor."""
    if not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"--noise-strength: expected a finite number >= 0, got {factor}")
    params = [p for name, p in G.named_parameters() if name.rsplit(".", 1)[-1] in NOISE_STRENGTHS]
    if factor == 1 or not params:
        yield
        return
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p.mul_(factor)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value in zip(params, saved):
                p.copy_(value)


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
    """Writes arrays (tensors are moved to the CPU) as an .npz file, written whole (images.write_whole)."""
    arrays = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in arrays.items()}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_whole(path, write)


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


def slerp(a: torch.Tensor, b: torch.Tensor, t: Union[float, torch.Tensor]) -> torch.Tensor:
    """Spherical interpolation along the last dimension: the direction moves from a's to b's along the great circle
    at constant angular speed while the length goes linearly from |a| to |b|; a lerp where the directions are
    (anti)parallel or a length is 0. t = 0 gives a, t = 1 gives b (up to rounding); t a float or a tensor that
    broadcasts against [..., 1]. Unit vectors stay unit vectors. Computed in float64, returned in a's dtype."""
    a64, b64 = a.double(), b.double()
    t = t.double() if isinstance(t, torch.Tensor) else t
    na, nb = a64.norm(dim=-1, keepdim=True), b64.norm(dim=-1, keepdim=True)
    ua, ub = a64 / torch.where(na > 0, na, 1), b64 / torch.where(nb > 0, nb, 1)
    omega = torch.arccos((ua * ub).sum(dim=-1, keepdim=True).clamp(-1, 1))
    sin_omega = torch.sin(omega)
    degenerate = (sin_omega < 1e-6) | (na == 0) | (nb == 0)
    sin_omega = torch.where(degenerate, 1, sin_omega)
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / sin_omega
    out = torch.where(degenerate, torch.lerp(a64, b64, t), direction * torch.lerp(na, nb, t))
    return out.to(a.dtype)
