"""StyleGAN3's alias-free synthesis network (configs T and R) on stylegan_ops.filtered_lrelu.

Structure, defaults and parameter names follow NVIDIA's StyleGAN3 networks, so that their published weights load by
name: Fourier features (`input`), then `num_layers` modulated convolutions `L{i}_{size}_{channels}` whose
nonlinearity is filtered_lrelu (upsample, leaky ReLU, lowpass, downsample) at sampling rates, cutoffs and transition
bands that grow from `first_cutoff` to the image's Nyquist frequency, the last `num_critical` critically sampled, and a
1x1 ToRGB layer. No noise inputs: one w per layer plus one for the input.
"""

import math
from typing import List, Optional

import numpy as np
import scipy.signal
import scipy.special
import torch

from stylegan_ops import conv2d_resample, filtered_lrelu

from .layers import FullyConnectedLayer, OpsModule
from .synthesis import check_noise_mode
from .w_inputs import StyleLayer, WInput

# The two published configurations' differences from the defaults below (NVIDIA's train.py --cfg).
CONFIGS = {"stylegan3-t": {}, "stylegan3-r": dict(conv_kernel=1, channel_base=65536, channel_max=1024,
                                                  use_radial_filters=True)}
MAPPING_DEFAULTS = dict(num_layers=2, w_avg_beta=0.998)


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> Optional[torch.Tensor]:
    """A lowpass FIR filter (float32) with `numtaps` taps, cutoff and transition band `width` at sampling rate `fs`:
    Kaiser-windowed sinc (scipy's firwin; 1-D, separable) or, `radial`, a Kaiser-windowed jinc ([numtaps,
    numtaps]). None for a single tap (no filtering)."""
    if numtaps < 1:
        raise ValueError(f"design_lowpass_filter: numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs),
                               dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f *= np.outer(window, window)
    return torch.as_tensor(f / np.sum(f), dtype=torch.float32)


def normalized_modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, padding: int,
                                demodulate: bool, input_gain: Optional[torch.Tensor], impl: str) -> torch.Tensor:
    """StyleGAN3's modulated convolution: with `demodulate`, the weight [O, I, k, k] and the styles [N, I] are first
    scaled to unit root mean square (the weight per output channel, the styles over the whole tensor), and each
    output channel is divided by the norm of its modulated weights (+1e-8 inside the square root); `input_gain`
    ([] or [I]) scales the input channels after demodulation. Computed as input scaling, one shared convolution and
    output scaling (no per-sample weights)."""
    batch = x.shape[0]
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    in_scale = styles if input_gain is None else styles * input_gain
    x = x * in_scale.to(x.dtype).reshape(batch, -1, 1, 1)
    x = conv2d_resample(x, weight.to(x.dtype), padding=padding, impl=impl)
    if not demodulate:
        return x
    dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
    return x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)


class SynthesisInput(OpsModule):
    """Fourier features: `channels` sinusoids of random frequencies (radius up to `bandwidth`) and phases, sampled on
    a size x size grid at `sampling_rate`, rotated and translated per sample by the 4-output affine of w (initially
    the identity), after the user transform held in the `transform` buffer (the inverse of the image transform:
    set it to translate or rotate the output), faded out near the Nyquist frequency, then mixed by `weight`."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)  # (cos, sin, x, y) of the inverse rotation and translation, made a unit rotation
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device).expand(w.shape[0], 3, 3)
        rotation = eye.clone()
        rotation[:, 0, 0], rotation[:, 0, 1], rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        translation = eye.clone()
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rotation @ translation @ self.transform.unsqueeze(0)

        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transforms[:, :2, :2]  # [N, C, 2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        theta = torch.zeros(1, 2, 3, device=w.device)
        theta[0, 0, 0] = theta[0, 1, 1] = 0.5 * self.size / self.sampling_rate
        grid = torch.nn.functional.affine_grid(theta, [1, 1, self.size, self.size], align_corners=False)  # [1, H, W, 2]
        x = (grid.unsqueeze(3) @ freqs.transpose(1, 2).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (2 * math.pi)) * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class AliasFreeLayer(OpsModule):
    """One layer: modulated convolution (kernel `conv_kernel`, 1 for ToRGB) of the input, scaled by the inverse root
    of `magnitude_ema` (the running mean square of its input, updated when update_emas), then filtered_lrelu with the
    designed up/down filters (`up_filter`, `down_filter`), bias and clamp (`conv_clamp`); ToRGB is linear."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool, in_channels: int,
                 out_channels: int, in_size: int, out_size: int, in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float, in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                 use_radial_filters: bool = False, conv_clamp: Optional[float] = 256,
                 magnitude_ema_beta: float = 0.999):
        super().__init__()
        self.is_torgb, self.use_fp16 = is_torgb, use_fp16
        self.in_channels, self.out_channels, self.in_size, self.out_size = in_channels, out_channels, in_size, out_size
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta
        tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up = _factor(tmp_sampling_rate, in_sampling_rate)
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(up_taps, in_cutoff, in_half_width * 2,
                                                                tmp_sampling_rate))
        self.down = _factor(tmp_sampling_rate, out_sampling_rate)
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        self.register_buffer("down_filter", design_lowpass_filter(
            down_taps, out_cutoff, out_half_width * 2, tmp_sampling_rate,
            radial=use_radial_filters and not is_critically_sampled))

        # Pad so that the output has out_size pixels, sample positions centred (NVIDIA's paper, appendix C.3).
        pad_total = (out_size - 1) * self.down + 1 - (in_size + self.conv_kernel - 1) * self.up + up_taps + down_taps - 2
        pad_lo = (pad_total + self.up) // 2
        self.padding = [pad_lo, pad_total - pad_lo] * 2

    def forward(self, x: torch.Tensor, w: torch.Tensor, force_fp32: bool = True,
                update_emas: bool = False) -> torch.Tensor:
        if update_emas:
            with torch.no_grad():
                magnitude = x.detach().float().square().mean()
                self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel ** 2)
        dtype = self.low_precision if self.use_fp16 and not force_fp32 else torch.float32
        x = normalized_modulated_conv2d(x.to(dtype), self.weight, styles, padding=self.conv_kernel - 1,
                                        demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt(),
                                        impl=self.impl)
        gain, slope = (1.0, 1.0) if self.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(dtype), up=self.up, down=self.down,
                              padding=self.padding, gain=gain, slope=slope, clamp=self.conv_clamp, impl=self.impl)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, in_size={self.in_size}, "
                f"out_size={self.out_size}, up={self.up}, down={self.down}, is_torgb={self.is_torgb}")


def _factor(high: float, low: float) -> int:
    factor = int(round(high / low))
    if low * factor != high:
        raise ValueError(f"sampling rates {high:g} and {low:g} are not an integer factor apart")
    return factor


class AliasFreeSynthesisNetwork(OpsModule):
    """ws [N, num_layers + 2, w_dim] -> images [N, img_channels, img_resolution, img_resolution] (StyleGAN3).

    channel_base, channel_max, num_layers, num_critical, first_cutoff, first_stopband, last_stopband_rel,
    margin_size, output_scale and num_fp16_res as NVIDIA's StyleGAN3; layer_kwargs (conv_kernel, filter_size,
    lrelu_upsampling, use_radial_filters, conv_clamp, magnitude_ema_beta) go to every AliasFreeLayer."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs):
        super().__init__()
        if num_layers <= num_critical or num_critical < 0:
            raise ValueError(f"synthesis: needs num_layers > num_critical >= 0, got {num_layers} and {num_critical}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_layers, self.num_ws, self.output_scale = num_layers, num_layers + 2, output_scale

        # Per layer: cutoff f_c and stopband f_t growing geometrically to the last layers, sampling rate s (power of
        # two covering the stopband), transition half-width f_h, size with margins, channels inverse to the cutoff.
        last_cutoff = img_resolution / 2
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.sampling_rates = [int(s) for s in sampling_rates]

        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), sampling_rates[0], cutoffs[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = AliasFreeLayer(
                w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=bool(sampling_rates[idx] * 2 ** num_fp16_res > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]), in_size=int(sizes[prev]),
                out_size=int(sizes[idx]), in_sampling_rate=int(sampling_rates[prev]),
                out_sampling_rate=int(sampling_rates[idx]), in_cutoff=float(cutoffs[prev]),
                out_cutoff=float(cutoffs[idx]), in_half_width=float(half_widths[prev]),
                out_half_width=float(half_widths[idx]), **layer_kwargs)
            name = f"L{idx}_{layer.out_size}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def w_inputs(self) -> List[WInput]:
        """w 0 drives the Fourier features, w i + 1 layer i; a layer's resolution is its sampling rate."""
        inputs = [WInput(0, (StyleLayer("input", self.sampling_rates[0], self.input.affine),))]
        for idx, name in enumerate(self.layer_names):
            layer = getattr(self, name)
            inputs.append(WInput(idx + 1, (StyleLayer(name, self.sampling_rates[idx], layer.affine),)))
        return inputs

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: Optional[bool] = None,
                update_emas: bool = False) -> torch.Tensor:
        """Images for ws [N, num_ws, w_dim]. noise_mode is accepted for the tools' sake (there is no noise);
        force_fp32 None: low-precision layers only on CUDA; update_emas updates the layers' magnitude_ema."""
        check_noise_mode(noise_mode)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis: ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if force_fp32 is None:
            force_fp32 = ws.device.type != "cuda"
        ws = ws.float().unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, force_fp32=force_fp32, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.float()
