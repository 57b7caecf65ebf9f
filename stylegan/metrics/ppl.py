"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks", section 4.1), computed as StyleGAN2-ADA's ppl metrics do.

For each sample: two latents z0, z1 ~ N(0, I) (and a label from `labels` for a conditional generator), t uniform in
[0, 1] (sampling 'full') or t = 0 (sampling 'end'). In space 'w' the mapped ws are interpolated linearly at t and
t + epsilon; in space 'z' the latents are interpolated spherically (`stylegan.latents.slerp`; the mapping normalizes
z, so only the direction matters) and then mapped. The two images come
from the synthesis network with the same noise (noise_mode 'const', the constant noise buffers redrawn for every
batch, so all samples of a batch share them; batches of 2 as NVIDIA's metric; float32 throughout, without TF32).
Optionally center-cropped (crop: rows 3/8..7/8, columns 2/8..6/8 of the image, the face region of FFHQ), then
box-downsampled by (its height // 256) when that is 2 or more, grayscale repeated to RGB. The factor comes from the
cropped height, as in StyleGAN's TensorFlow metric that gave the published cropped PPLs (a 1024x1024 generator's
512x512 crops go to 256x256); NVIDIA's PyTorch port divides by (resolution // 256) instead, which takes those crops
to 128x128. Without crop the two agree. The sample's value is distance(image_t, image_t+eps) / epsilon^2. The PPL is
the mean of the values between the 1st ('lower') and 99th ('higher') percentiles.

The distance: any callable (img0, img1) -> [N] taking float images in [-1, 1] ([N, 3, H, W]). By default
(`distance=None`) the LPIPS distance on VGG16 of stylegan.perceptual, its weights downloaded on first use (kind
'lpips', the distance of the published PPLs); with a warning, LPIPS's layers with every channel weighted 1 when its
learned linear layers cannot be had (kind 'vgg'), or `pixel_distance` (mean squared pixel difference, kind 'pixel')
when VGG16 cannot be. The runner names each in the metric ('ppl2_lpips_wend', 'ppl2_vgg_wend', 'ppl2_pixel_wend');
only the first is comparable with published values.
"""

import copy
import inspect
import warnings
from typing import Callable, Optional

import numpy as np
import torch

from ..latents import slerp
from ..progress import progress as show_progress
from .features import full_float32

__all__ = ["SPACES", "SAMPLINGS", "filtered_mean", "path_length_samples", "perceptual_path_length",
           "pixel_distance", "resolve_distance"]

SPACES = ("w", "z")
SAMPLINGS = ("end", "full")
_MAX_RESOLUTION = 256

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pixel_distance(img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    """Mean squared difference per image, [N]: the fallback distance of the PPL (not perceptual)."""
    return (img0 - img1).square().flatten(1).mean(dim=1)


def resolve_distance(distance: Optional[Distance] = None, device: Optional[torch.device] = None) -> tuple:
    """(callable, kind): for distance None, stylegan.perceptual.load_lpips on `device` (kind 'lpips', or 'vgg' with
    its warning when LPIPS's linear layers cannot be had), else pixel_distance ('pixel', with a warning saying which
    file to put where); a given callable as it is ('pixel' for pixel_distance, else 'custom')."""
    if distance is not None:
        if not callable(distance):
            raise TypeError(f"distance must be a callable (img0, img1) -> [N], got {type(distance).__name__}")
        return distance, "pixel" if distance is pixel_distance else "custom"
    from ..downloads import DownloadError
    from ..perceptual import load_lpips

    try:
        loaded = load_lpips(device=device, name=None, weights_name=None)
    except DownloadError as error:
        warnings.warn(f"no VGG16 weights for the LPIPS distance ({error}): the path length is measured with the mean "
                      f"squared pixel difference instead (results named ppl*_pixel_*, not comparable with published "
                      f"PPL values)", stacklevel=2)
        return pixel_distance, "pixel"
    return loaded, loaded.kind


def filtered_mean(values) -> float:
    """The mean of the values between the 1st percentile (rounded down to a value) and the 99th (rounded up)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {list(values.shape)}")
    lo = np.percentile(values, 1, method="lower")
    hi = np.percentile(values, 99, method="higher")
    return float(values[(values >= lo) & (values <= hi)].mean())


def _prepare(images: torch.Tensor, crop: bool) -> torch.Tensor:
    if crop:
        eighth = images.shape[2] // 8
        images = images[:, :, 3 * eighth:7 * eighth, 2 * eighth:6 * eighth]
    factor = images.shape[2] // _MAX_RESOLUTION
    if factor > 1:
        n, c, h, w = images.shape
        images = images.reshape(n, c, h // factor, factor, w // factor, factor).mean(dim=(3, 5))
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@torch.no_grad()
def path_length_samples(G: torch.nn.Module, num_samples: int, epsilon: float = 1e-4, space: str = "w",
                        sampling: str = "end", crop: bool = False, batch_size: int = 2,
                        distance: Optional[Distance] = None, labels: Optional[Callable[[int], torch.Tensor]] = None,
                        device: Optional[torch.device] = None, seed: int = 0, progress: bool = False) -> np.ndarray:
    """The per-sample values distance / epsilon^2 (module docstring), float64 [num_samples], unfiltered.

    G: a generator (mapping, synthesis, z_dim, c_dim; left unchanged: a copy is used). labels: n -> labels
    [n, c_dim], required for a conditional G. distance: see resolve_distance. device: default G's. Latents, t and
    the noise are drawn from `seed` on the CPU."""
    _check_choice(space, SPACES, "space")
    _check_choice(sampling, SAMPLINGS, "sampling")
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon!r}")
    if G.c_dim > 0 and labels is None:
        raise ValueError(f"the generator is conditional (c_dim={G.c_dim}): give labels")
    parameter = next(iter(G.parameters()), None)
    device = torch.device(device) if device is not None else (parameter.device if parameter is not None else
                                                              torch.device("cpu"))
    distance, _ = resolve_distance(distance, device)
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    noise_buffers = [buf for name, buf in G.named_buffers() if name.endswith("noise_const")]
    # Float32 even where the network has low-precision layers (StyleGAN2's synthesis takes force_fp32).
    synthesis_signature = inspect.signature(getattr(G.synthesis, "forward", G.synthesis))
    synthesis_kwargs = {"force_fp32": True} if "force_fp32" in synthesis_signature.parameters else {}
    generator = torch.Generator().manual_seed(seed)
    starts = range(0, num_samples, batch_size)
    if progress:
        starts = show_progress(starts, f"ppl {space}{sampling} (batches)")
    values = []
    for start in starts:
        n = min(batch_size, num_samples - start)
        z0, z1 = torch.randn([2, n, G.z_dim], generator=generator).to(device)
        t = (torch.rand([n, 1], generator=generator) * (1 if sampling == "full" else 0)).to(device)
        c = labels(n).to(device) if G.c_dim > 0 else None
        c2 = torch.cat([c, c]) if c is not None else None
        for buf in noise_buffers:
            buf.copy_(torch.randn(buf.shape, generator=generator))
        with full_float32():
            if space == "w":
                w0, w1 = G.mapping(torch.cat([z0, z1]), c2).chunk(2)
                ws = torch.cat([w0.lerp(w1, t[:, :, None]), w0.lerp(w1, t[:, :, None] + epsilon)])
            else:
                ws = G.mapping(torch.cat([slerp(z0, z1, t), slerp(z0, z1, t + epsilon)]), c2)
            images = _prepare(G.synthesis(ws, noise_mode="const", **synthesis_kwargs).float(), crop)
            dist = distance(images[:n], images[n:])
        values.append(torch.as_tensor(dist).reshape(n).double().cpu() / epsilon ** 2)
    return torch.cat(values).numpy()


def perceptual_path_length(G: torch.nn.Module, num_samples: int = 50000, epsilon: float = 1e-4, space: str = "w",
                           sampling: str = "end", crop: bool = False, batch_size: int = 2,
                           distance: Optional[Distance] = None,
                           labels: Optional[Callable[[int], torch.Tensor]] = None,
                           device: Optional[torch.device] = None, seed: int = 0, progress: bool = False) -> float:
    """The PPL (module docstring): filtered_mean of path_length_samples (same arguments). The defaults are
    StyleGAN2's ppl2_wend (w space, end points, no crop, 50k samples)."""
    return filtered_mean(path_length_samples(G, num_samples, epsilon, space, sampling, crop, batch_size, distance,
                                             labels, device, seed, progress))
