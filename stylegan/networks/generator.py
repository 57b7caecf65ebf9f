"""The generator: mapping network + StyleGAN3, StyleGAN2 or StyleGAN synthesis."""

from typing import Optional

import torch

from .layers import OpsModule, set_impl
from .mapping import MappingNetwork
from .synthesis import SynthesisNetwork
from .synthesis_adain import AdaINSynthesisNetwork
from .synthesis_alias_free import CONFIGS, MAPPING_DEFAULTS, AliasFreeSynthesisNetwork

VARIANTS = ("stylegan2", "stylegan", *CONFIGS)


class Generator(OpsModule):
    """z [N, z_dim] (and c [N, c_dim]) -> images [N, img_channels, img_resolution, img_resolution].

    variant 'stylegan2' (modulated convolutions; synthesis_kwargs as NVIDIA's: channel_base, channel_max,
    num_fp16_res, conv_clamp, architecture), 'stylegan' (AdaIN) or 'stylegan3-t' / 'stylegan3-r' (alias-free;
    NVIDIA's configurations T and R, a 2-layer mapping network, synthesis_kwargs overriding the configuration's). G(z, c) = G.synthesis(G.mapping(z, c)); style
    mixing is feeding different ws to different layers of G.synthesis. impl selects the fused or reference ops for
    every layer ('auto', 'fused', 'ref'; see stylegan.networks.set_impl)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 variant: str = "stylegan2", mapping_kwargs: Optional[dict] = None,
                 synthesis_kwargs: Optional[dict] = None, impl: str = "auto"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, variant=variant, mapping_kwargs=dict(mapping_kwargs or {}),
                                synthesis_kwargs=dict(synthesis_kwargs or {}))
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels, self.variant = img_resolution, img_channels, variant
        mapping_kwargs, synthesis_kwargs = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
        if variant in CONFIGS:
            synthesis = AliasFreeSynthesisNetwork
            mapping_kwargs, synthesis_kwargs = {**MAPPING_DEFAULTS, **mapping_kwargs}, {**CONFIGS[variant],
                                                                                      **synthesis_kwargs}
        else:
            synthesis = SynthesisNetwork if variant == "stylegan2" else AdaINSynthesisNetwork
        self.synthesis = synthesis(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **mapping_kwargs)
        set_impl(self, impl)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "random", **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)
