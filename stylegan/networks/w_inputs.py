"""Which w drives which layer: the description a synthesis network gives of its ws input ([N, num_ws, w_dim]).

Every synthesis network has `w_inputs()`, a list with one WInput per w index. Tools (style mixing, editing,
projection), the training loss (style mixing regularization while growing) and the metrics read a network's structure
from it and from nothing else, so a new network type works with them by describing itself."""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch


@dataclass(frozen=True, eq=False)
class StyleLayer:
    """A layer reading a w: its module name in the synthesis network (say 'b8.conv0'), its output resolution, the
    affine layer mapping w to its styles (weight [channels, w_dim] and weight_gain), and its constant noise buffer
    ([R, R], what noise_mode='const' adds) or None for a layer without noise."""

    name: str
    resolution: int
    affine: torch.nn.Module
    noise: Optional[torch.Tensor] = None


@dataclass(frozen=True, eq=False)
class WInput:
    """One w index and the layers it drives (a StyleGAN2 block's ToRGB shares its w with the next block's first
    convolution)."""

    index: int
    layers: Tuple[StyleLayer, ...]

    @property
    def resolution(self) -> int:
        """The lowest resolution among the layers: where this w acts first."""
        return min(layer.resolution for layer in self.layers)

    @property
    def has_noise(self) -> bool:
        return any(layer.noise is not None for layer in self.layers)


def style_layer(name: str, module: torch.nn.Module, resolution: int) -> StyleLayer:
    """The StyleLayer of a module with an `affine`, and a `noise_const` buffer when its `use_noise` is set."""
    return StyleLayer(name, resolution, module.affine, module.noise_const if getattr(module, "use_noise", False) else None)


def num_ws_read(w_inputs: Sequence[WInput], resolution: int) -> int:
    """How many leading ws a network rendering at `resolution` (progressive growing) reads: those up to the last w
    whose layers all run at or below that resolution."""
    read = [w.index for w in w_inputs if max(layer.resolution for layer in w.layers) <= resolution]
    return max(read) + 1 if read else 0


def noise_buffers(w_inputs: Sequence[WInput]) -> List[torch.Tensor]:
    """The distinct constant-noise buffers of the layers, in w order (empty for a network without noise)."""
    seen, out = set(), []
    for w in w_inputs:
        for layer in w.layers:
            if layer.noise is not None and id(layer.noise) not in seen:
                seen.add(id(layer.noise))
                out.append(layer.noise)
    return out
