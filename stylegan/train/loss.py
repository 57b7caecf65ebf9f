"""StyleGAN2's training objectives: the non-saturating logistic loss (or WGAN-GP), R1 on reals, path-length
regularization and style mixing, computed phase by phase so that the regularizers can run lazily; for StyleGAN3, the
generator's magnitude EMAs updated in D's phase and D's input blur.

A Phase says which network it trains and which terms it computes: 'Gmain' (G's adversarial loss), 'Greg' (path
length), 'Gboth'; 'Dmain' (D's adversarial loss, and for WGAN-GP its gradient penalty and drift), 'Dreg' (R1),
'Dboth'. accumulate_gradients adds one phase's gradients (times `gain`, the lazy-regularization interval) to the
parameters' .grad and returns the values it computed. While growing progressively, the resolution and fade-in are
passed to each call (a Growth value), and so is the blur of D's input (blur_sigma, fading out during training); the
loss keeps no training state besides the path-length mean."""

from dataclasses import dataclass
from typing import Dict, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from stylegan_ops import filter2d

from ..networks.w_inputs import num_ws_read
from .growth import Growth, growth_kwargs

LOSSES = ("logistic", "wgangp")


@dataclass(frozen=True)
class Phase:
    """What one phase computes: for `network` ('G' or 'D'), its main (adversarial) term, its regularizer, or both."""

    network: str
    main: bool
    reg: bool

    @property
    def name(self) -> str:
        return self.network + ("both" if self.main and self.reg else "main" if self.main else "reg")


PHASES = {p.name: p for p in (Phase(net, main, reg) for net in ("G", "D")
                              for main, reg in ((True, False), (False, True), (True, True)))}


class StyleGANLoss:
    """g_kwargs / d_kwargs: fixed extra arguments of G.synthesis and D (force_fp32). update_emas: D's phase runs
    G.synthesis with update_emas=True (StyleGAN3's input magnitude EMAs, tracked on the images D is trained on)."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, loss: str = "logistic", r1_gamma: float = 10.0,
                 pl_weight: float = 2.0, pl_decay: float = 0.01, pl_batch_shrink: int = 2,
                 style_mixing_prob: float = 0.9, wgan_lambda: float = 10.0, wgan_target: float = 1.0,
                 wgan_epsilon: float = 0.001, average=None, g_kwargs: Optional[dict] = None,
                 d_kwargs: Optional[dict] = None, augment_pipe: Optional[torch.nn.Module] = None,
                 update_emas: bool = False):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if not 0 <= style_mixing_prob <= 1:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob}")
        self.G, self.D, self.loss = G, D, loss
        self.r1_gamma, self.pl_weight, self.pl_decay = r1_gamma, pl_weight, pl_decay
        self.pl_batch_shrink, self.style_mixing_prob = pl_batch_shrink, style_mixing_prob
        self.wgan_lambda, self.wgan_target, self.wgan_epsilon = wgan_lambda, wgan_target, wgan_epsilon
        self.average = average or (lambda t: t)  # mean over data-parallel ranks, so that pl_mean agrees everywhere
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)
        self.g_kwargs, self.d_kwargs = dict(g_kwargs or {}), dict(d_kwargs or {})
        self.augment_pipe = augment_pipe  # applied to every image D sees (ADA)
        self.update_emas = update_emas

    def run_G(self, z: torch.Tensor, c: torch.Tensor, growth: Optional[Growth] = None, update_emas: bool = False):
        """Images and the ws they came from, with style mixing: with probability style_mixing_prob the ws from a
        random layer on (among the layers in use at the growth stage) come from another z."""
        ws = self.G.mapping(z, c)
        used = ws.shape[1] if growth is None else num_ws_read(self.G.synthesis.w_inputs(), growth.resolution)
        if self.style_mixing_prob > 0 and used > 1:
            cutoff = int(torch.randint(1, used, []))
            if torch.rand([]) >= self.style_mixing_prob:
                cutoff = ws.shape[1]
            if cutoff < ws.shape[1]:
                mixed = self.G.mapping(torch.randn_like(z), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        emas = dict(update_emas=True) if update_emas else {}
        return self.G.synthesis(ws, **self.g_kwargs, **growth_kwargs(growth), **emas), ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor, growth: Optional[Growth] = None,
              blur_sigma: float = 0.0) -> torch.Tensor:
        """D's logits for images, blurred by a Gaussian of std blur_sigma pixels (taps exp2(-(x / sigma)^2) over 3
        sigma, as NVIDIA's) and augmented first when there is a pipe (R1 then differentiates through both)."""
        radius = int(np.floor(blur_sigma * 3))
        if radius > 0:
            f = torch.arange(-radius, radius + 1, device=img.device, dtype=torch.float32).div(blur_sigma).square()
            f = f.neg().exp2()
            img = filter2d(img, f / f.sum())
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, **self.d_kwargs, **growth_kwargs(growth))

    def accumulate_gradients(self, phase: Union[Phase, str], real_img: torch.Tensor, real_c: torch.Tensor,
                             gen_z: torch.Tensor, gen_c: torch.Tensor, gain: float,
                             growth: Optional[Growth] = None, blur_sigma: float = 0.0) -> Dict[str, torch.Tensor]:
        """One phase (a Phase or its name) on a batch: real images and labels, generator latents and labels."""
        if isinstance(phase, str):
            if phase not in PHASES:
                raise ValueError(f"phase must be one of {tuple(PHASES)}, got {phase!r}")
            phase = PHASES[phase]
        stats = {}
        if phase.network == "G" and phase.main:
            img, _ = self.run_G(gen_z, gen_c, growth)
            logits = self.run_D(img, gen_c, growth, blur_sigma)
            loss = F.softplus(-logits) if self.loss == "logistic" else -logits
            loss.mean().mul(gain).backward()
            stats.update({"Loss/scores/fake": logits.detach(), "Loss/G/loss": loss.detach()})
        if phase.network == "G" and phase.reg and self.pl_weight > 0:
            stats.update(self._path_length(gen_z, gen_c, gain, growth))
        if phase.network == "D" and phase.main:
            stats.update(self._discriminator_main(real_img, real_c, gen_z, gen_c, gain, growth, blur_sigma))
        if phase.network == "D" and phase.reg and self.r1_gamma > 0:
            stats.update(self._r1(real_img, real_c, gain, growth, blur_sigma))
        return stats

    def _path_length(self, gen_z, gen_c, gain, growth):
        n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
        img, ws = self.run_G(gen_z[:n], gen_c[:n], growth)
        noise = torch.randn_like(img) / np.sqrt(img.shape[2] * img.shape[3])
        grads, = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        with torch.no_grad():  # a non-finite batch (say a float16 overflow) must not poison the running mean
            updated = self.pl_mean.lerp(self.average(lengths.mean().detach()), self.pl_decay)
            self.pl_mean.copy_(torch.where(updated.isfinite(), updated, self.pl_mean))
        penalty = (lengths - self.pl_mean).square()
        (penalty * self.pl_weight).mean().mul(gain).backward()
        return {"Loss/pl_penalty": penalty.detach(), "Loss/pl_mean": self.pl_mean.detach().clone()}

    def _discriminator_main(self, real_img, real_c, gen_z, gen_c, gain, growth, blur_sigma):
        with torch.no_grad():
            fake, _ = self.run_G(gen_z, gen_c, growth, update_emas=self.update_emas)
        fake_logits = self.run_D(fake, gen_c, growth, blur_sigma)
        real_logits = self.run_D(real_img, real_c, growth, blur_sigma)
        if self.loss == "logistic":
            loss = F.softplus(fake_logits) + F.softplus(-real_logits)
            stats = {}
        else:
            loss = fake_logits - real_logits + self.wgan_epsilon * real_logits.square()
            gp = self._gradient_penalty(real_img, fake, real_c, growth, blur_sigma)
            loss = loss + gp
            stats = {"Loss/D/gp": gp.detach()}
        loss.mean().mul(gain).backward()
        return {**stats, "Loss/scores/fake": fake_logits.detach(), "Loss/scores/real": real_logits.detach(),
                "Loss/signs/real": real_logits.detach().sign(), "Loss/D/loss": loss.detach()}

    def _gradient_penalty(self, real_img, fake_img, c, growth, blur_sigma):
        u = torch.rand([real_img.shape[0], 1, 1, 1], device=real_img.device, dtype=real_img.dtype)
        mixed = torch.lerp(real_img, fake_img, u).detach().requires_grad_(True)
        grads, = torch.autograd.grad(self.run_D(mixed, c, growth, blur_sigma).sum(), mixed, create_graph=True)
        norms = grads.square().sum([1, 2, 3]).sqrt()
        return (norms - self.wgan_target).square().unsqueeze(1) * (self.wgan_lambda / self.wgan_target ** 2)

    def _r1(self, real_img, real_c, gain, growth, blur_sigma):
        real = real_img.detach().requires_grad_(True)
        logits = self.run_D(real, real_c, growth, blur_sigma)
        grads, = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grads.square().sum([1, 2, 3])
        (penalty * (self.r1_gamma / 2)).mean().mul(gain).backward()
        # D's signs on these reals count for ADA too (NVIDIA's loss reports them from its R1 pass as well).
        return {"Loss/r1_penalty": penalty.detach(), "Loss/signs/real": logits.detach().sign()}

