"""The mapping network z (and class label c) -> w, with the running average of w and truncation."""

from typing import Optional

import torch

from .layers import FullyConnectedLayer, OpsModule, normalize_2nd_moment


class MappingNetwork(OpsModule):
    """z [N, z_dim] (and c [N, c_dim]) -> ws [N, num_ws, w_dim].

    z and the label embedding are each normalized by their second moment and concatenated, then go through
    `num_layers` fully connected layers (lrelu, learning rate multiplier `lr_multiplier`). During training the
    running average w_avg is tracked (w_avg = lerp(batch mean, w_avg, w_avg_beta)). Truncation moves w towards
    w_avg: w_avg + psi * (w - w_avg), on the first `truncation_cutoff` ws (all when None). num_ws None returns
    [N, w_dim] (the discriminator's label mapping)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: Optional[int], num_layers: int = 8,
                 embed_features: Optional[int] = None, layer_features: Optional[int] = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01, w_avg_beta: Optional[float] = 0.995):
        super().__init__()
        if z_dim < 0 or c_dim < 0 or z_dim + c_dim == 0:
            raise ValueError(f"MappingNetwork: needs z_dim > 0 or c_dim > 0, got z_dim={z_dim}, c_dim={c_dim}")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim > 0 else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: Optional[torch.Tensor], c: Optional[torch.Tensor], truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, update_w_avg: Optional[bool] = None) -> torch.Tensor:
        """ws for z and c; update_w_avg defaults to self.training."""
        parts = []
        if self.z_dim > 0:
            _check_input("z", z, self.z_dim)
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            _check_input("c", c, self.c_dim)
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        if (self.training if update_w_avg is None else update_w_avg) and hasattr(self, "w_avg"):
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return self.truncate(x, truncation_psi, truncation_cutoff)

    def truncate(self, ws: torch.Tensor, psi: float = 1, cutoff: Optional[int] = None) -> torch.Tensor:
        """w_avg + psi * (ws - w_avg) on the first `cutoff` ws of [N, num_ws, w_dim] (all when None)."""
        if psi == 1:
            return ws
        if not hasattr(self, "w_avg"):
            raise ValueError("truncation needs w_avg, which this mapping network does not track")
        if cutoff is None:
            return self.w_avg.lerp(ws, psi)
        if not 0 <= cutoff <= ws.shape[1]:
            raise ValueError(f"truncation_cutoff must be in [0, {ws.shape[1]}], got {cutoff}")
        return torch.cat([self.w_avg.lerp(ws[:, :cutoff], psi), ws[:, cutoff:]], dim=1)


def _check_input(name: str, t: Optional[torch.Tensor], dim: int) -> None:
    if t is None or not isinstance(t, torch.Tensor) or t.ndim != 2 or t.shape[1] != dim:
        got = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"MappingNetwork: {name} must be a tensor of shape [N, {dim}], got {got}")
