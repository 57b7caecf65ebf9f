"""The augmentation pipeline of adaptive discriminator augmentation (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data"), applied to every image D sees, real and generated.

Each transform is applied to each image independently with probability (its multiplier) x p, in this order:

1. pixel blitting, exact: x-flip, rotation by a multiple of 90 degrees, integer translation (a gather of pixels,
   mirrored where the source falls outside the image);
2. general geometric transforms composed into one 3x3 matrix: isotropic scaling, rotation (before and after the
   anisotropic scaling), anisotropic scaling, fractional translation; applied without aliasing: mirror padding,
   2x upsampling with the sym6 wavelet lowpass, bilinear sampling, 2x filtered downsampling, crop;
3. colour transforms composed into one 4x4 matrix on homogeneous RGB: brightness, contrast, luma flip, hue rotation
   around the gray axis, saturation;
4. image-space filtering: random gains of four octave bands;
5. corruptions: additive Gaussian noise, cutout.

Single-channel images take the colour transforms of a gray RGB pixel (brightness, contrast and luma flip; hue and
saturation leave gray unchanged, so they are skipped); other channel counts are refused while colour transforms are
on. All arithmetic runs in float32 (float64 for float64 images) and the result comes back in the input dtype. Every
step is differentiable to any order with respect to the images. The random draws come from ``torch``'s generator or
the one passed to forward.
"""

import math
import numbers
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from stylegan_ops import downsample2d, setup_filter, upsample2d

from .grid_sample import grid_sample

# Published lowpass (scaling) filters of the Daubechies symlet wavelets, sum sqrt(2), orthonormal under shifts by 2.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466,
        0.787641141030194, 0.3379294217276218, -0.07263752278646252, -0.021060292512300564, 0.04472490177066578,
        0.0017677118642428036, -0.007800708325034148)

# sym6 is nearly linear-phase: its group delay lies about half an upsampled pixel before the middle of its taps (0.40
# at low frequencies, more higher up). Flips and rotations in the upsampled image reverse the filter's phase, which the
# downsampling then doubles instead of cancelling; 0.5 keeps that error smallest over the band (about 1% RMS of a 1/f
# image, against 0.40 or 0.55: measured).
_SYM6_DELAY = -0.5

BLIT = ("xflip", "rotate90", "xint")
GEOM = ("scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
PRESETS: Dict[str, Sequence[str]] = {
    "blit": BLIT,
    "geom": GEOM,
    "color": COLOR,
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
    "bg": BLIT + GEOM,
    "bgc": BLIT + GEOM + COLOR,
    "bgcf": BLIT + GEOM + COLOR + ("imgfilter",),
    "bgcfn": BLIT + GEOM + COLOR + ("imgfilter", "noise"),
    "bgcfnc": BLIT + GEOM + COLOR + ("imgfilter", "noise", "cutout"),
}
MULTIPLIERS = BLIT + GEOM + COLOR + ("imgfilter", "noise", "cutout")

# Relative power of the four filter bands (lowest first) in a natural image, roughly a 1/f spectrum.
_BAND_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)


def _nonnegative(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {v}")
    return v


def _octave_bank(h: Sequence[float], bands: int = 4) -> np.ndarray:
    """[bands, taps] symmetric filters that split the spectrum into octaves (lowest first) and sum to a unit impulse,
    built from the half-band power filters |H(w)|^2 / 2 and |H(w + pi)|^2 / 2 of the orthonormal lowpass h."""
    h = np.asarray(h, dtype=np.float64)
    low = np.convolve(h, h[::-1]) / 2
    high = -low
    high[len(low) // 2] += 1  # orthonormality: the two power filters add up to the unit impulse

    def dilate(f, factor):
        out = np.zeros((len(f) - 1) * factor + 1)
        out[::factor] = f
        return out

    rows, lowpass = [], np.ones(1)
    for level in range(bands - 1):  # finest band first
        rows.append(np.convolve(lowpass, dilate(high, 2 ** level)))
        lowpass = np.convolve(lowpass, dilate(low, 2 ** level))
    rows.append(lowpass)
    taps = max(len(r) for r in rows)
    bank = np.stack([np.pad(r, (taps - len(r)) // 2) for r in rows[::-1]])
    return bank


def _mirror_pad(x: torch.Tensor, pad: Sequence[int]) -> torch.Tensor:
    """Pads (x0, x1, y0, y1) by mirroring about the border pixels, repeating the reflection for pads wider than the
    image."""
    pad = list(pad)
    while any(pad):
        h, w = x.shape[2], x.shape[3]
        step = [min(pad[0], w - 1), min(pad[1], w - 1), min(pad[2], h - 1), min(pad[3], h - 1)]
        if not any(step):  # a one-pixel-wide axis: mirroring repeats the pixel
            return F.pad(x, pad, mode="replicate")
        x = F.pad(x, step, mode="reflect")
        pad = [a - b for a, b in zip(pad, step)]
    return x


def _mirror_index(i: torch.Tensor, size: int) -> torch.Tensor:
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - i, i)


def _matrices(rows, like: torch.Tensor) -> torch.Tensor:
    """[N, R, C] from nested rows whose entries are [N] tensors or numbers."""
    entries = [e if isinstance(e, torch.Tensor) else torch.full_like(like, float(e)) for row in rows for e in row]
    return torch.stack(entries, dim=-1).reshape(like.shape[0], len(rows), len(rows[0]))


def _translate(tx, ty, like):
    return _matrices([[1, 0, tx], [0, 1, ty], [0, 0, 1]], like)


def _scale(sx, sy, like):
    return _matrices([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], like)


def _rotate(theta, like):
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrices([[c, -s, 0], [s, c, 0], [0, 0, 1]], like)


def warp_affine(images: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Resamples each image of ``images`` ([N, C, H, W]) through its affine map without aliasing.

    ``inverse`` ([N, 3, 3]) maps an output pixel to the input point it shows, in pixel units with the origin at the
    image centre (x right, y down). The images are mirror-padded as far as the map reaches, upsampled 2x with the
    sym6 lowpass, sampled bilinearly, downsampled 2x with the same (flipped) filter and cropped, so that a
    band-limited image is transformed faithfully. Differentiable to any order with respect to ``images``; half
    precision inputs are resampled in float32.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.dtype.is_floating_point:
        raise ValueError(f"images must be a 4-D floating-point tensor [N, C, H, W], got "
                         f"{getattr(images, 'dtype', type(images).__name__)} of shape "
                         f"{list(getattr(images, 'shape', []))}")
    if not isinstance(inverse, torch.Tensor) or inverse.shape != (images.shape[0], 3, 3):
        raise ValueError(f"inverse must be a [N, 3, 3] tensor with N = {images.shape[0]}, got "
                         f"{list(getattr(inverse, 'shape', [])) or type(inverse).__name__}")
    if images.dtype not in (torch.float32, torch.float64):
        return warp_affine(images.float(), inverse).to(images.dtype)
    n, c, h, w = images.shape
    f = setup_filter(SYM6, device=images.device)
    reach = len(SYM6) // 4  # support of the resampling filters, in input pixels either side
    inverse = inverse.to(device=images.device, dtype=images.dtype)
    like = inverse.new_zeros([n])

    # Pad the input as far as the corners of the output, widened by the filters' support, reach.
    cx, cy = (w - 1) / 2 + reach, (h - 1) / 2 + reach
    corners = inverse.new_tensor([[-cx, cx, cx, -cx], [-cy, -cy, cy, cy], [1, 1, 1, 1]])
    points = (inverse[:, :2] @ corners).transpose(0, 1).reshape(2, -1)  # [xy, N * 4]
    extent = torch.cat([-points.min(dim=1).values, points.max(dim=1).values])  # left, top, right, bottom
    x0, y0, x1, y1 = (max(math.ceil(v - half) + reach + 1, 0)
                      for v, half in zip(extent.tolist(), [(w - 1) / 2, (h - 1) / 2] * 2))
    padded = _mirror_pad(images, [x0, x1, y0, y1])
    inverse = _translate((x0 - x1) / 2, (y0 - y1) / 2, like) @ inverse

    # In the 2x upsampled image, a point at centred coordinate u sits at 2u + _SYM6_DELAY.
    up = upsample2d(padded, f, up=2)
    delay = _SYM6_DELAY
    inverse = (_translate(delay, delay, like) @ _scale(2, 2, like) @ inverse
               @ _scale(0.5, 0.5, like) @ _translate(-delay, -delay, like))

    # Sample the output, widened by reach on every side, in grid_sample's normalized coordinates.
    out_h, out_w = 2 * (h + 2 * reach), 2 * (w + 2 * reach)
    theta = _scale(2 / up.shape[3], 2 / up.shape[2], like) @ inverse @ _scale(out_w / 2, out_h / 2, like)
    grid = F.affine_grid(theta[:, :2], [n, c, out_h, out_w], align_corners=False)
    warped = grid_sample(up, grid)
    return downsample2d(warped, f, down=2, padding=-2 * reach, flip_filter=True)


class _Draws:
    """Random draws for one batch, from one generator, on one device, in one dtype."""

    def __init__(self, n: int, generator: Optional[torch.Generator], device: torch.device, dtype: torch.dtype):
        self.n, self.generator, self.dtype = n, generator, dtype
        self.device = generator.device if generator is not None else device

    def uniform(self, *shape) -> torch.Tensor:
        return torch.rand([self.n, *shape], generator=self.generator, device=self.device, dtype=self.dtype)

    def normal(self, *shape) -> torch.Tensor:
        return torch.randn([self.n, *shape], generator=self.generator, device=self.device, dtype=self.dtype)

    def gate(self, value: torch.Tensor, identity: float, probability: float) -> torch.Tensor:
        """``value`` for the images chosen with ``probability`` (one choice per image), ``identity`` elsewhere."""
        chosen = self.uniform(*([1] * (value.ndim - 1))) < probability
        return torch.where(chosen, value, torch.full_like(value, identity))


class AugmentPipe(torch.nn.Module):
    """ADA's augmentation pipeline (module docstring). ``p`` is the overall probability multiplier, a buffer:
    set it with ``pipe.p.copy_(value)``. The other multipliers (>= 0) scale p per transform; the defaults are the
    'bgc' set. Strengths: xint_max and xfrac_std relative to the image size; scale_std, aniso_std, contrast_std,
    saturation_std and imgfilter_std in log2 units; rotate_max and hue_max in full turns; brightness_std and
    noise_std in image units; cutout_size relative to the image size; imgfilter_bands multiply imgfilter per band.
    """

    def __init__(self, p: float = 0.0, *, xflip: float = 1, rotate90: float = 1, xint: float = 1, scale: float = 1,
                 rotate: float = 1, aniso: float = 1, xfrac: float = 1, brightness: float = 1, contrast: float = 1,
                 lumaflip: float = 1, hue: float = 1, saturation: float = 1, imgfilter: float = 0, noise: float = 0,
                 cutout: float = 0, xint_max: float = 0.125, scale_std: float = 0.2, rotate_max: float = 1,
                 aniso_std: float = 0.2, xfrac_std: float = 0.125, brightness_std: float = 0.2,
                 contrast_std: float = 0.5, hue_max: float = 1, saturation_std: float = 1,
                 imgfilter_bands: Sequence[float] = (1, 1, 1, 1), imgfilter_std: float = 1, noise_std: float = 0.1,
                 cutout_size: float = 0.5):
        super().__init__()
        self.register_buffer("p", torch.tensor(_nonnegative("p", p), dtype=torch.float32))
        values = dict(xflip=xflip, rotate90=rotate90, xint=xint, scale=scale, rotate=rotate, aniso=aniso,
                      xfrac=xfrac, brightness=brightness, contrast=contrast, lumaflip=lumaflip, hue=hue,
                      saturation=saturation, imgfilter=imgfilter, noise=noise, cutout=cutout, xint_max=xint_max,
                      scale_std=scale_std, rotate_max=rotate_max, aniso_std=aniso_std, xfrac_std=xfrac_std,
                      brightness_std=brightness_std, contrast_std=contrast_std, hue_max=hue_max,
                      saturation_std=saturation_std, imgfilter_std=imgfilter_std, noise_std=noise_std,
                      cutout_size=cutout_size)
        for name, v in values.items():
            setattr(self, name, _nonnegative(name, v))
        if not isinstance(imgfilter_bands, (list, tuple)) or len(imgfilter_bands) != 4:
            raise ValueError(f"imgfilter_bands must hold 4 multipliers (lowest band first), got {imgfilter_bands!r}")
        self.imgfilter_bands = tuple(_nonnegative("imgfilter_bands", v) for v in imgfilter_bands)
        self.register_buffer("band_filters", torch.as_tensor(_octave_bank(SYM2)), persistent=False)

    def extra_repr(self) -> str:
        on = [f"{name}={getattr(self, name):g}" for name in MULTIPLIERS if getattr(self, name) > 0]
        return f"p={float(self.p):g}, " + ", ".join(on)

    def forward(self, images: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Augments ``images`` ([N, C, H, W], floating point, about [-1, 1]); same shape and dtype. At p = 0 returns
        ``images`` itself."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.dtype.is_floating_point:
            raise ValueError(f"images must be a 4-D floating-point tensor [N, C, H, W], got "
                             f"{getattr(images, 'dtype', type(images).__name__)} of shape "
                             f"{list(getattr(images, 'shape', []))}")
        color = any(getattr(self, name) > 0 for name in COLOR)
        if color and images.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 (gray) or 3 (RGB) channels for the colour transforms, got "
                             f"{images.shape[1]}")
        p = float(self.p)
        if not (math.isfinite(p) and p >= 0):
            raise ValueError(f"p must be finite and >= 0, got {p}")
        if p == 0 or images.numel() == 0:
            return images

        dtype = torch.float64 if images.dtype == torch.float64 else torch.float32
        x = images.to(dtype)
        draws = _Draws(x.shape[0], generator, x.device, dtype)
        if any(getattr(self, name) > 0 for name in BLIT):
            x = self._blit(x, draws, p)
        if any(getattr(self, name) > 0 for name in GEOM):
            x = warp_affine(x, self._geometry(x, draws, p))
        if color:
            x = self._color(x, draws, p)
        if self.imgfilter > 0:
            x = self._filter(x, draws, p)
        if self.noise > 0:
            sigma = draws.gate(draws.normal(1, 1, 1).abs() * self.noise_std, 0, self.noise * p)
            x = x + draws.normal(*x.shape[1:]).to(x.device) * sigma.to(x.device)
        if self.cutout > 0:
            x = self._cutout(x, draws, p)
        return x.to(images.dtype)

    def _blit(self, x: torch.Tensor, draws: _Draws, p: float) -> torch.Tensor:
        """Flip, quarter turns and integer translation as an exact gather; sources outside the image are mirrored.
        When the sides differ by an odd number of pixels, quarter turns round the source half a pixel down."""
        n, c, h, w = x.shape
        ones = torch.ones([n], dtype=torch.int64, device=draws.device)
        zeros = torch.zeros_like(ones)
        # source = L @ (target - t) in centred coordinates; the transforms apply in the order flip, turn, shift.
        lin = torch.stack([ones, zeros, zeros, ones], dim=1)  # L row by row
        t = torch.zeros([n, 2], dtype=torch.int64, device=draws.device)
        if self.xflip > 0:
            flip = draws.gate(torch.floor(draws.uniform() * 2), 0, self.xflip * p).long()
            lin = lin * torch.stack([1 - 2 * flip, ones, 1 - 2 * flip, ones], dim=1)
        if self.rotate90 > 0:
            k = draws.gate(torch.floor(draws.uniform() * 4), 0, self.rotate90 * p).long()
            cos = torch.tensor([1, 0, -1, 0], device=draws.device)[k]
            sin = torch.tensor([0, 1, 0, -1], device=draws.device)[k]
            # L @ R^-1 for the k quarter turns of torch.rot90(x, k, dims=(2, 3)): per turn, source (x, y) = (-y, x).
            a, b, cc, d = lin.unbind(1)
            lin = torch.stack([a * cos + b * sin, -a * sin + b * cos, cc * cos + d * sin, -cc * sin + d * cos], dim=1)
        if self.xint > 0:
            shift = draws.gate((draws.uniform(2) * 2 - 1) * self.xint_max, 0, self.xint * p)
            t = torch.round(shift * torch.tensor([w, h], dtype=shift.dtype, device=draws.device)).long()

        # Twice the centred coordinates are integers: pixel i sits at 2i - (size - 1).
        ty = (2 * torch.arange(h, device=draws.device) - (h - 1))[None, :, None] - 2 * t[:, 1, None, None]
        tx = (2 * torch.arange(w, device=draws.device) - (w - 1))[None, None, :] - 2 * t[:, 0, None, None]
        a, b, cc, d = (v[:, None, None] for v in lin.unbind(1))
        sx = _mirror_index(torch.div(a * tx + b * ty + (w - 1), 2, rounding_mode="floor"), w)
        sy = _mirror_index(torch.div(cc * tx + d * ty + (h - 1), 2, rounding_mode="floor"), h)
        index = (sy * w + sx).reshape(n, 1, h * w).to(x.device).expand(n, c, h * w)
        return x.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)

    def _geometry(self, x: torch.Tensor, draws: _Draws, p: float) -> torch.Tensor:
        """[N, 3, 3] inverse maps of scaling, rotation, anisotropic scaling, rotation and fractional translation."""
        n, _, h, w = x.shape
        like = torch.zeros([n], dtype=draws.dtype, device=draws.device)
        inverse = _scale(1, 1, like)
        if self.scale > 0:
            s = draws.gate(torch.exp2(draws.normal() * self.scale_std), 1, self.scale * p)
            inverse = inverse @ _scale(1 / s, 1 / s, like)
        # Rotations before and after the anisotropic scaling, each with probability q: P(either) = rotate * p.
        q = 1 - math.sqrt(min(max(1 - self.rotate * p, 0), 1))
        if self.rotate > 0:
            theta = draws.gate((draws.uniform() * 2 - 1) * math.pi * self.rotate_max, 0, q)
            inverse = inverse @ _rotate(-theta, like)
        if self.aniso > 0:
            s = draws.gate(torch.exp2(draws.normal() * self.aniso_std), 1, self.aniso * p)
            inverse = inverse @ _scale(1 / s, s, like)
        if self.rotate > 0:
            theta = draws.gate((draws.uniform() * 2 - 1) * math.pi * self.rotate_max, 0, q)
            inverse = inverse @ _rotate(-theta, like)
        if self.xfrac > 0:
            t = draws.gate(draws.normal(2) * self.xfrac_std, 0, self.xfrac * p)
            inverse = inverse @ _translate(-t[:, 0] * w, -t[:, 1] * h, like)
        return inverse

    def _color(self, x: torch.Tensor, draws: _Draws, p: float) -> torch.Tensor:
        """Brightness, contrast, luma flip, hue and saturation as one [N, 4, 4] matrix on homogeneous RGB."""
        n, c, h, w = x.shape
        eye = torch.eye(4, dtype=draws.dtype, device=draws.device)
        rgb = torch.tensor([1, 1, 1, 0], dtype=draws.dtype, device=draws.device)
        on_gray = torch.outer(rgb, rgb) / 3  # projection onto the gray axis v = (1, 1, 1) / sqrt(3)
        chroma = torch.diag(rgb) - on_gray  # projection onto the colour plane normal to v
        m = eye.expand(n, 4, 4)
        if self.brightness > 0:
            b = draws.gate(draws.normal() * self.brightness_std, 0, self.brightness * p)
            m = (eye + torch.outer(rgb, eye[3]) * b[:, None, None]) @ m
        if self.contrast > 0:
            s = draws.gate(torch.exp2(draws.normal() * self.contrast_std), 1, self.contrast * p)
            m = (eye + torch.diag(rgb) * (s[:, None, None] - 1)) @ m
        if self.lumaflip > 0:
            i = draws.gate(torch.floor(draws.uniform() * 2), 0, self.lumaflip * p)
            m = (eye - 2 * on_gray * i[:, None, None]) @ m  # reflection through the colour plane
        if self.hue > 0 and c == 3:
            theta = draws.gate((draws.uniform() * 2 - 1) * math.pi * self.hue_max, 0, self.hue * p)
            cross = torch.tensor([[0, -1, 1, 0], [1, 0, -1, 0], [-1, 1, 0, 0], [0, 0, 0, 0]], dtype=draws.dtype,
                                 device=draws.device) / math.sqrt(3)  # v x (.)
            cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
            m = (eye - chroma + cos * chroma + sin * cross) @ m  # rotation about v (Rodrigues)
        if self.saturation > 0 and c == 3:
            s = draws.gate(torch.exp2(draws.normal() * self.saturation_std), 1, self.saturation * p)
            m = (eye + chroma * (s[:, None, None] - 1)) @ m
        m = m.to(x.device)
        if c == 3:
            out = m[:, :3, :3] @ x.reshape(n, 3, h * w) + m[:, :3, 3:]
        else:  # the mean of the RGB image of a gray pixel
            gain, offset = m[:, :3, :3].sum(2).mean(1), m[:, :3, 3].mean(1)
            out = x.reshape(n, 1, h * w) * gain[:, None, None] + offset[:, None, None]
        return out.reshape(n, c, h, w)

    def _filter(self, x: torch.Tensor, draws: _Draws, p: float) -> torch.Tensor:
        """Random gains (log2-normal) of four octave bands, keeping the expected power of a 1/f image."""
        n, c, h, w = x.shape
        power = torch.tensor(_BAND_POWER, dtype=draws.dtype, device=draws.device)
        gains = torch.ones([n, 4], dtype=draws.dtype, device=draws.device)
        for band, strength in enumerate(self.imgfilter_bands):
            g = draws.gate(torch.exp2(draws.normal() * self.imgfilter_std), 1, self.imgfilter * p * strength)
            band_gains = torch.ones_like(gains)
            band_gains[:, band] = g
            gains = gains * band_gains / (power * band_gains.square()).sum(1, keepdim=True).sqrt()
        taps = (gains @ self.band_filters.to(device=draws.device, dtype=draws.dtype)).to(x.device)  # [N, T]
        taps = taps.repeat_interleave(c, dim=0)[:, None]  # [N * C, 1, T]
        half = taps.shape[2] // 2
        y = _mirror_pad(x.reshape(1, n * c, h, w), [half] * 4)
        y = F.conv2d(y, taps[:, :, None, :], groups=n * c)
        y = F.conv2d(y, taps[:, :, :, None], groups=n * c)
        return y.reshape(n, c, h, w)

    def _cutout(self, x: torch.Tensor, draws: _Draws, p: float) -> torch.Tensor:
        """Zeroes a rectangle of cutout_size times the image size at a uniformly drawn centre."""
        n, c, h, w = x.shape
        size = draws.gate(torch.full([n, 1], self.cutout_size, dtype=draws.dtype, device=draws.device), 0,
                          self.cutout * p).to(x.device)
        centre = draws.uniform(2).to(x.device)
        xs = ((torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) / w)[None, :] - centre[:, :1]
        ys = ((torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / h)[None, :] - centre[:, 1:]
        inside = (xs.abs() < size / 2)[:, None, :] & (ys.abs() < size / 2)[:, :, None]
        return x * (~inside).to(x.dtype)[:, None]


def make_augment_pipe(preset: str, p: float = 0.0) -> AugmentPipe:
    """An AugmentPipe with NVIDIA's preset multipliers: the transforms named by ``preset`` (a key of PRESETS: blit,
    geom, color, filter, noise, cutout, bg, bgc, bgcf, bgcfn, bgcfnc) at multiplier 1, all others 0."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    return AugmentPipe(p, **{name: float(name in PRESETS[preset]) for name in MULTIPLIERS})
