"""Equivariance metrics of StyleGAN3 (Karras et al. 2021, "Alias-Free Generative Adversarial Networks", appendix E),
computed as NVIDIA's eqt50k_int, eqt50k_frac and eqr50k do.

For each batch of 4 samples (one random transform per batch): ws from z ~ N(0, I), the reference image with the
identity input transform, then for each kind an image made with the input transform set to the inverse of a random
image transform, compared with the reference transformed in image space:
    'int'   translation by t uniform in [-0.125, 0.125]^2 of the image, rounded to whole pixels; the reference shifted
            exactly (integer_translation), pixels shifted in from outside masked out.
    'frac'  the same without rounding; the reference resampled by a Lanczos (a = 3) windowed sinc
            (fractional_translation), pixels whose taps reach outside masked out.
    'rot'   rotation by an angle uniform in [-pi, pi]; the reference rotated with an oriented band-limiting filter at 4x
            upsampling and bilinear sampling (fractional_rotation), the generated image given the same band limit
            without being rotated (pseudo_rotation); pixels outside either mask left out.
The squared errors and the mask counts are summed in float64 over all samples; the metric is the PSNR of the images'
range [-1, 1]: 20 log10(2) - 10 log10(mse), in dB (higher is better, infinite for an exact match).

Translations t are fractions of the image size (the content moves by t * width pixels to the right and t * height
down); angles are in radians; the input transform is NVIDIA's, the inverse of the image transform.
"""

import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from stylegan_ops import filter2d, upsample2d

from ..progress import progress as show_progress
from .features import full_float32

__all__ = ["KINDS", "affine_transformation", "bandlimit_filter", "equivariance_psnr", "fractional_rotation",
           "fractional_translation", "input_transform", "integer_translation", "pseudo_rotation", "rotation_matrix"]

KINDS = ("int", "frac", "rot")


def rotation_matrix(angle: float) -> torch.Tensor:
    """3x3 float32 matrix that rotates image coordinates (x right, y down) by `angle` radians; its inverse is
    rotation_matrix(-angle)."""
    cos, sin = math.cos(angle), math.sin(angle)
    return torch.tensor([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]], dtype=torch.float32)


def _shift_pixels(t: float, size: int, rounding: Callable[[float], float]) -> int:
    return int(rounding(float(np.float32(t) * np.float32(size))))


def integer_translation(x: torch.Tensor, tx: float, ty: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """(x [N, C, H, W] moved by (round(tx * W), round(ty * H)) pixels, zero where nothing moved in; the mask, 1 on
    the pixels that came from inside x, else 0), both shaped as x."""
    height, width = x.shape[2:]
    dx, dy = _shift_pixels(tx, width, round), _shift_pixels(ty, height, round)
    moved, mask = torch.zeros_like(x), torch.zeros_like(x)
    if abs(dx) < width and abs(dy) < height:
        rows, columns = slice(max(dy, 0), height + min(dy, 0)), slice(max(dx, 0), width + min(dx, 0))
        moved[:, :, rows, columns] = x[:, :, max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
        mask[:, :, rows, columns] = 1
    return moved, mask


def _lanczos(u: torch.Tensor, a: int) -> torch.Tensor:
    """The Lanczos window sinc(u / a) on |u| < a, 0 elsewhere (sinc(u) = sin(pi u) / (pi u))."""
    return torch.where(u.abs() < a, torch.sinc(u / a), torch.zeros_like(u))


def _fractional_taps(frac: float, a: int) -> torch.Tensor:
    """The 2a taps sinc(m - frac) * lanczos(m - frac) for m = -(a - 1) .. a, normalized to sum 1 (float64)."""
    u = torch.arange(-(a - 1), a + 1, dtype=torch.float64) - frac
    taps = torch.sinc(u) * _lanczos(u, a)
    return taps / taps.sum()


def fractional_translation(x: torch.Tensor, tx: float, ty: float, a: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """(x [N, C, H, W] moved by (tx * W, ty * H) pixels with Lanczos-windowed sinc resampling of width a, x taken as
    0 outside; the mask, 1 where all 2a x 2a taps fall inside x), both shaped as x."""
    height, width = x.shape[2:]
    # Split the shift into whole pixels i and a fraction f in [0, 1): out[j] = sum_m x[j - i - m] * taps[m - f].
    px, py = float(np.float32(tx) * np.float32(width)), float(np.float32(ty) * np.float32(height))
    ix, iy = math.floor(px), math.floor(py)
    moved, mask = torch.zeros_like(x), torch.zeros_like(x)
    if abs(ix) < width and abs(iy) < height:
        f = torch.outer(_fractional_taps(py - iy, a), _fractional_taps(px - ix, a)).to(x.dtype).to(x.device)
        # filter2d centres the 2a taps on m = 0; the padding (i, -i) per axis shifts the result by i pixels.
        moved = filter2d(x, f, padding=(ix, -ix, iy, -iy))
    x0, x1 = max(ix + a, 0), width + min(ix - a + 1, 0)
    y0, y1 = max(iy + a, 0), height + min(iy - a + 1, 0)
    if x0 < x1 and y0 < y1:
        mask[:, :, y0:y1, x0:x1] = 1
    return moved, mask


def bandlimit_filter(matrix: torch.Tensor, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4,
                     cutoff_in: float = 1, cutoff_out: float = 1,
                     device: Optional[torch.device] = None) -> torch.Tensor:
    """The square 2-D FIR filter (float32, 2 * amax * up - 1 taps a side, built in float64 on `device`) that limits
    an image to the band of both its input pixel grid and the grid of the affine map `matrix` (3x3, its 2x2 part
    used), for upsampling by `up`.

    On a grid of spacing 1 / up and half-width aflt: the separable sinc of cutoff_in in input coordinates convolved
    (circularly, by FFT) with the separable sinc of cutoff_out in output coordinates (matrix applied), times the
    likewise convolved Lanczos windows of width a; cropped to half-width amax; each of the up x up polyphase
    components scaled to sum 1 / up^2."""
    if not a <= amax < aflt:
        raise ValueError(f"bandlimit_filter needs a <= amax < aflt, got {a}, {amax}, {aflt}")
    (m00, m01), (m10, m11) = torch.as_tensor(matrix, dtype=torch.float64)[:2, :2].tolist()
    half = aflt * up - 1  # grid points on each side of 0
    coords = torch.arange(-half, half + 1, dtype=torch.float64, device=device) / up
    yi, xi = torch.meshgrid(coords, coords, indexing="ij")
    xo, yo = m00 * xi + m01 * yi, m10 * xi + m11 * yi

    def circular_convolution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        # The origin sits at the centre of the odd-sized grid: ifftshift moves it to index 0, fftshift back.
        spectrum = torch.fft.fft2(torch.fft.ifftshift(p)) * torch.fft.fft2(torch.fft.ifftshift(q))
        return torch.fft.fftshift(torch.fft.ifft2(spectrum).real)

    response = circular_convolution(torch.sinc(xi * cutoff_in) * torch.sinc(yi * cutoff_in),
                                     torch.sinc(xo * cutoff_out) * torch.sinc(yo * cutoff_out))
    window = circular_convolution(_lanczos(xi, a) * _lanczos(yi, a), _lanczos(xo, a) * _lanczos(yo, a))
    keep = amax * up - 1
    f = (response * window)[half - keep:half + keep + 1, half - keep:half + keep + 1]
    # Polyphase normalization: with one zero appended per axis, index n of a side belongs to phase n mod up.
    side = 2 * amax * up
    phases = torch.nn.functional.pad(f, [0, 1, 0, 1]).reshape(2 * amax, up, 2 * amax, up)
    phases = phases / phases.sum(dim=[0, 2], keepdim=True) / up ** 2
    return phases.reshape(side, side)[:-1, :-1].float()


def affine_transformation(x: torch.Tensor, matrix: torch.Tensor, up: int = 4,
                          **filter_kwargs) -> Tuple[torch.Tensor, torch.Tensor]:
    """(x [N, C, H, W] mapped by the affine image transform `matrix` (3x3, translations in image sizes): upsampled by
    `up` through bandlimit_filter(matrix, up=up, **filter_kwargs), then sampled bilinearly; the mask, 1 where the
    sample lies in the part of the upsampled image that the filter's taps fill from inside x), both shaped as x."""
    n, _, height, width = x.shape
    matrix = torch.as_tensor(matrix, dtype=torch.float32)
    f = bandlimit_filter(matrix, up=up, device=x.device, **filter_kwargs)
    pad = f.shape[0] // 2
    # Output pixel centres in normalized coordinates u (-1..1 across the image) sample the source at inverse(matrix) u
    # (translations doubled: normalized units are half an image). The odd filter puts source pixel i at upsampled
    # index pad + up * i + up / 2, half an upsampled pixel past its centre, hence the shift; then rescale to the
    # padded canvas, (W + 2 pad / up) source pixels wide.
    theta = torch.linalg.inv(matrix.double())
    theta[:2, 2] *= 2
    theta[0, 2] += 1 / (up * width)
    theta[1, 2] += 1 / (up * height)
    theta[0] *= width / (width + 2 * pad / up)
    theta[1] *= height / (height + 2 * pad / up)
    theta = theta[:2].float().to(x.device).expand(n, 2, 3)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    upsampled = upsample2d(x, f, up=up, padding=pad)
    moved = torch.nn.functional.grid_sample(upsampled, grid, mode="bilinear", padding_mode="zeros",
                                            align_corners=False)
    border = 2 * pad + 1
    valid = torch.zeros_like(upsampled)
    valid[:, :, border:-border, border:-border] = 1
    mask = torch.nn.functional.grid_sample(valid, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return moved, mask


def fractional_rotation(x: torch.Tensor, angle: float, a: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """x rotated by `angle` radians about its centre, band-limited with Lanczos windows of width a (filters of
    half-width 2a); (image, mask) as affine_transformation."""
    return affine_transformation(x, rotation_matrix(angle), a=a, amax=2 * a)


def pseudo_rotation(x: torch.Tensor, angle: float, a: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """x given the band limit that fractional_rotation by `angle` imposes, without rotating it (one FIR filter at the
    image's own rate); the mask excludes the border the filter's taps reach past."""
    f = bandlimit_filter(rotation_matrix(-angle), a=a, amax=2 * a, up=1, device=x.device)
    filtered = filter2d(x, f)
    border = f.shape[0] // 2
    mask = torch.zeros_like(filtered)
    mask[:, :, border:-border, border:-border] = 1
    return filtered, mask


def input_transform(G: torch.nn.Module) -> torch.Tensor:
    """G's synthesis.input.transform buffer (3x3); a ValueError for a network without one (not StyleGAN3)."""
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if not isinstance(transform, torch.Tensor) or transform.shape != (3, 3):
        raise ValueError(f"equivariance metrics need a StyleGAN3 network (one with a 3x3 synthesis.input.transform), "
                         f"got a {type(G).__name__} without one")
    return transform


@torch.no_grad()
def equivariance_psnr(G: torch.nn.Module, kinds: Sequence[str] = KINDS, num_samples: int = 50000,
                      batch_size: int = 4, translate_max: float = 0.125, rotate_max: float = 1,
                      labels: Optional[Callable[[int], torch.Tensor]] = None, truncation_psi: float = 1,
                      device: Optional[torch.device] = None, seed: int = 0,
                      progress: bool = False) -> Dict[str, float]:
    """The PSNR in dB of each of `kinds` ('int', 'frac', 'rot'; module docstring), as {kind: psnr}.

    G: a StyleGAN3 generator (mapping, synthesis with input.transform), run in evaluation mode and float32 on
    `device` (default: where its transform buffer is); its mode and transform are restored afterwards. One random
    transform per kind and batch of batch_size samples (the last batch may be smaller); translations up to
    translate_max of the image, angles up to rotate_max * pi. labels: n -> labels [n, c_dim], required for a
    conditional G. Latents and transforms are drawn on the CPU from `seed`, in NVIDIA's order."""
    transform = input_transform(G)
    kinds = tuple(kinds)
    if not kinds or any(kind not in KINDS for kind in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be distinct values of {KINDS}, got {kinds!r}")
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if G.c_dim > 0 and labels is None:
        raise ValueError(f"the generator is conditional (c_dim={G.c_dim}): give labels")
    if device is None:
        device = transform.device
    saved, was_training = transform.clone(), G.training
    generator = torch.Generator().manual_seed(seed)
    sums = torch.zeros([len(kinds), 2], dtype=torch.float64)

    def synthesize(ws: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        transform.copy_(matrix)
        return G.synthesis(ws, noise_mode="const", force_fp32=True).float()

    def uniform(*shape: int, limit: float) -> torch.Tensor:
        return (torch.rand(shape, generator=generator) * 2 - 1) * limit

    starts = range(0, num_samples, batch_size)
    try:
        G.eval()
        with full_float32():
            for start in (show_progress(starts, "equivariance (batches)") if progress else starts):
                n = min(batch_size, num_samples - start)
                z = torch.randn([n, G.z_dim], generator=generator).to(device)
                c = labels(n).to(device) if G.c_dim > 0 else None
                ws = G.mapping(z, c, truncation_psi=truncation_psi)
                identity = torch.eye(3)
                reference = synthesize(ws, identity)
                for row, kind in enumerate(kinds):
                    matrix = identity.clone()
                    if kind == "rot":
                        angle = float(uniform(limit=rotate_max * math.pi))
                        image = synthesize(ws, rotation_matrix(-angle))
                        target, target_mask = fractional_rotation(reference, angle)
                        image, image_mask = pseudo_rotation(image, angle)
                        mask = target_mask * image_mask
                    else:
                        t = uniform(2, limit=translate_max)
                        if kind == "int":
                            t = (t * G.img_resolution).round() / G.img_resolution
                        matrix[:2, 2] = -t
                        image = synthesize(ws, matrix)
                        shift = integer_translation if kind == "int" else fractional_translation
                        target, mask = shift(reference, float(t[0]), float(t[1]))
                    error = (target.double() - image.double()).square() * mask.double()
                    sums[row] += torch.stack([error.sum(), mask.double().sum()]).cpu()
    finally:
        transform.copy_(saved)
        G.train(was_training)
    mse = sums[:, 0] / sums[:, 1]
    psnr = 20 * math.log10(2) - 10 * torch.log10(mse)
    return {kind: float(value) for kind, value in zip(kinds, psnr)}
