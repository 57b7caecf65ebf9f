"""The studio's network process: the one generator it serves and everything computed with it (frames, layer views,
dissection, editing directions, exported ws). The server (stylegan.studio.server) runs these functions in a process of
their own, so that a slow frame never blocks the page's other requests and a crash never takes the server down."""

import base64
import contextlib
import io
import itertools
import math
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from PIL import Image

from ..checks import pick_device
from ..images import grid_image, to_uint8
from ..latents import class_labels, scaled_noise, z_from_seed
from ..loading import load_generator
from ..tools.edit import apply_direction, ganspace_directions, load_directions, sefa_directions
from ..tools.style_mixing import PRESETS, mix_ws, preset_styles, ws_resolutions
from ..transforms import input_transform
from .view_state import ViewState, command_line, parse_view_state

MAX_DIRECTIONS = 64
MAX_DISSECT_SAMPLES, MAX_DISSECT_TOP = 1024, 32
GANSPACE_SAMPLES = 5000
GRID_CHANNELS = 64  # channels shown by a layer's grid view
TOP_CHANNELS = 8


def png_data_url(image: np.ndarray) -> str:
    """A uint8 HWC (or HW) array as a data: URL of a PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def normalized(maps: torch.Tensor) -> torch.Tensor:
    """Maps [..., H, W] scaled each to [-1, 1] by its own minimum and maximum (a constant map is -1)."""
    lo = maps.amin(dim=(-2, -1), keepdim=True)
    hi = maps.amax(dim=(-2, -1), keepdim=True)
    return (maps - lo) / (hi - lo).clamp_min(1e-12) * 2 - 1


def heat_colors(maps: torch.Tensor) -> np.ndarray:
    """Maps [N, H, W] in [-1, 1] as uint8 [N, H, W, 3] in a black-red-yellow-white scale."""
    v = (maps.float() + 1) / 2
    rgb = torch.stack([(3 * v).clamp(0, 1), (3 * v - 1).clamp(0, 1), (3 * v - 2).clamp(0, 1)], dim=-1)
    return (rgb * 255).round().to(torch.uint8).numpy()


@contextlib.contextmanager
def captured_output(module: torch.nn.Module) -> Iterator[dict]:
    """Within the block, the dict yielded holds under 'x' the tensor `module` last returned (the first of a tuple)."""
    out = {}

    def hook(_module, _inputs, output):
        out["x"] = output[0] if isinstance(output, tuple) else output

    handle = module.register_forward_hook(hook)
    try:
        yield out
    finally:
        handle.remove()


class StudioNetwork:
    """A generator opened for the studio: its description for the page (info), the direction sets made so far, and
    rendering of view states."""

    def __init__(self, path: str, device: str = "auto"):
        self.path = str(path)
        self.G = load_generator(path, pick_device(device))
        local = Path(self.path)
        self.command_path = str(local.resolve()) if local.exists() else self.path  # what the command line names
        self.device = next(self.G.parameters()).device
        self.transformable = isinstance(getattr(getattr(self.G.synthesis, "input", None), "transform", None),
                                        torch.Tensor)  # StyleGAN3: translate / rotate
        self.modules = dict(self.G.synthesis.named_modules())
        self.layers = self._probe_layers()
        self.directions: Dict[str, dict] = {}
        self._set_ids = itertools.count(1)

    @torch.no_grad()
    def _probe_layers(self) -> List[dict]:
        """The viewable layers (those reading a w) with the resolution and channel count of their output."""
        names = list(dict.fromkeys(layer.name for w in self.G.synthesis.w_inputs() for layer in w.layers))
        outputs = {}
        with contextlib.ExitStack() as stack:
            for name in names:
                outputs[name] = stack.enter_context(captured_output(self.modules[name]))
            self.G.synthesis(self._mapped(torch.zeros([1, self.G.z_dim], device=self.device),
                                          0 if self.G.c_dim else None), noise_mode="const")
        return [dict(name=name, resolution=int(outputs[name]["x"].shape[-1]), channels=int(outputs[name]["x"].shape[1]))
                for name in names]

    def _mapped(self, z: torch.Tensor, class_idx: Optional[int], psi: float = 1,
                cutoff: Optional[int] = None) -> torch.Tensor:
        c = class_labels(self.G, class_idx, batch=len(z), device=self.device)
        return self.G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff, update_w_avg=False)

    def info(self) -> dict:
        G = self.G
        groups = {}
        for preset in PRESETS:
            try:
                groups[preset] = preset_styles(G, preset)
            except ValueError:  # a small network without that group
                groups[preset] = []
        return dict(path=self.path, architecture=G.variant, resolution=G.img_resolution, img_channels=G.img_channels,
                    z_dim=G.z_dim, w_dim=G.w_dim, c_dim=G.c_dim, num_ws=G.num_ws,
                    truncatable=hasattr(G.mapping, "w_avg"),
                    transformable=self.transformable,
                    has_noise=any(w.has_noise for w in G.synthesis.w_inputs()),
                    ws_resolutions=ws_resolutions(G), groups=groups, layers=self.layers,
                    directions=[self._set_summary(set_id) for set_id in self.directions])

    def parse(self, data) -> ViewState:
        state = parse_view_state(data, self.G.num_ws, self.G.c_dim, {layer["name"] for layer in self.layers})
        if state.psi != 1 and not hasattr(self.G.mapping, "w_avg"):
            raise ValueError("psi: this network keeps no w_avg, so it cannot be truncated; leave psi at 1")
        return state

    # The ws of a view state.

    @torch.no_grad()
    def _seed_ws(self, state: ViewState) -> torch.Tensor:
        weights = state.seed_weights()
        if state.space == "z":
            z = sum(weight * z_from_seed(self.G, seed, self.device) for seed, weight in weights)
            return self._mapped(z, state.class_idx, state.psi, state.cutoff)
        return sum(weight * self._mapped(z_from_seed(self.G, seed, self.device), state.class_idx, state.psi,
                                         state.cutoff) for seed, weight in weights)

    @torch.no_grad()
    def ws(self, state: ViewState, projection: Optional[np.ndarray] = None) -> torch.Tensor:
        """ws [1, num_ws, w_dim] of the state: the seed plane's (or the projection's, truncated alike), mixed with
        the second seed's and moved along the edits' directions."""
        G = self.G
        if state.projection is not None:
            if projection is None or projection.shape != (1, G.num_ws, G.w_dim):
                raise ValueError(f"projection: no finished projection {state.projection!r} for this network")
            ws = G.mapping.truncate(torch.from_numpy(projection).float().to(self.device), state.psi, state.cutoff)
        else:
            ws = self._seed_ws(state)
        if state.mix_seed is not None:
            mix = self._mapped(z_from_seed(G, state.mix_seed, self.device), state.class_idx, state.psi, state.cutoff)
            lo, hi = state.mix_layers
            ws = mix_ws(ws[0], mix[0], range(lo, hi + 1)).unsqueeze(0)
        for edit in state.edits:
            ws = self._edited(ws, edit)
        return ws

    def _edited(self, ws: torch.Tensor, edit) -> torch.Tensor:
        entry = self.directions.get(edit.set_id)
        if entry is None:
            raise ValueError(f"edits.set: no direction set {edit.set_id!r} (make one first)")
        directions = entry["directions"]
        if edit.index >= len(directions):
            raise ValueError(f"edits.index: the set {edit.set_id!r} has {len(directions)} directions, got {edit.index}")
        scale = 1.0 if entry["stddev"] is None else float(entry["stddev"][edit.index])
        layers = None if edit.layers is None else range(edit.layers[0], edit.layers[1] + 1)
        return apply_direction(ws, directions[edit.index].to(self.device), edit.strength * scale, layers)

    # Frames.

    @torch.no_grad()
    def _synthesize(self, state: ViewState, ws: torch.Tensor, layer: Optional[str] = None):
        """(images, the output of `layer` or None) rendered from ws with the state's noise and transform."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(scaled_noise(self.G, state.noise_strength))
            if state.transformed:
                stack.enter_context(input_transform(self.G, state.translate, state.rotate))
            captured = stack.enter_context(captured_output(self.modules[layer])) if layer else {}
            images = self.G.synthesis(ws, noise_mode=state.noise_mode)
            return images, captured.get("x")

    def render(self, data, projection: Optional[np.ndarray] = None) -> dict:
        """The frame of the page's view state `data`: the image (or the chosen layer's channels) as a PNG data URL,
        the time it took, the command line reproducing the image, and for a layer view its top channels."""
        start = time.perf_counter()
        state = self.parse(data)
        if state.transformed and not self.transformable:
            raise ValueError("translate/rotate: only StyleGAN3 networks can be translated or rotated")
        ws = self.ws(state, projection)
        layer = None if state.layer == "output" else state.layer
        images, features = self._synthesize(state, ws, layer)
        reply = dict(command=command_line(state, self.command_path), layer=None)
        if features is None:
            picture = to_uint8(images[0])
        else:
            maps = features[0].float()
            if state.channel >= len(maps):
                raise ValueError(f"view.channel: the layer {layer} has {len(maps)} channels, got {state.channel}")
            means = maps.mean(dim=(1, 2))
            top = means.argsort(descending=True)[:TOP_CHANNELS]
            reply["layer"] = dict(name=layer, channels=len(maps),
                                  top_channels=[[int(c), float(means[c])] for c in top])
            if state.mode == "channel":
                picture = to_uint8(normalized(maps[state.channel])[None])
            else:
                shown = normalized(maps[:GRID_CHANNELS])[:, None]
                picture = grid_image(shown, columns=math.ceil(math.sqrt(len(shown))), min_cell=1)
        reply.update(image=png_data_url(picture), width=int(picture.shape[1]), height=int(picture.shape[0]))
        reply["render_ms"] = (time.perf_counter() - start) * 1000
        return reply

    def export_w(self, data, projection: Optional[np.ndarray] = None) -> bytes:
        """The state's ws as the bytes of a w.npz file ('w' [1, num_ws, w_dim] float32, stylegan.generate --ws)."""
        ws = self.ws(self.parse(data), projection).float().cpu().numpy()
        buffer = io.BytesIO()
        np.savez(buffer, w=ws)
        return buffer.getvalue()

    # Dissection.

    @torch.no_grad()
    def dissect(self, data, layer: str, channel: int, samples: int = 64, top: int = 8) -> dict:
        """The `top` of seeds 0..samples-1 (the state's truncation, class and noise) whose `layer` output has the
        largest mean in `channel`, each with its image and that channel's map as a heat map."""
        state = self.parse(data)
        if layer not in {entry["name"] for entry in self.layers}:
            raise ValueError(f"layer: this network has no layer {layer!r}")
        channels = next(entry["channels"] for entry in self.layers if entry["name"] == layer)
        for value, name, lo, hi in ((channel, "channel", 0, channels - 1), (samples, "samples", 1, MAX_DISSECT_SAMPLES),
                                    (top, "top", 1, MAX_DISSECT_TOP)):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name}: expected an integer in [{lo}, {hi}], got {value!r}")
        z = torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, self.G.z_dim)
                                             for s in range(samples)])).float().to(self.device)
        scores, maps, images = [], [], []
        for chunk in z.split(16):
            ws = self._mapped(chunk, state.class_idx, state.psi, state.cutoff)
            batch, features = self._synthesize(state, ws, layer)
            scores.append(features[:, channel].float().mean(dim=(1, 2)).cpu())
            maps.append(features[:, channel].float().cpu())
            images.append(batch.float().cpu())
        scores, maps, images = torch.cat(scores), torch.cat(maps), torch.cat(images)
        best = scores.argsort(descending=True)[:top]
        heat = torch.nn.functional.interpolate(normalized(maps[best])[:, None], size=images.shape[-2:],
                                               mode="nearest")[:, 0]
        items = [dict(seed=int(i), score=float(scores[i]), image=png_data_url(to_uint8(images[i])),
                      heatmap=png_data_url(h)) for i, h in zip(best.tolist(), heat_colors(heat))]
        return dict(layer=layer, channel=channel, samples=samples, items=items)

    # Editing directions.

    def _set_summary(self, set_id: str) -> dict:
        entry = self.directions[set_id]
        return dict(id=set_id, label=entry["label"], method=entry["method"], count=len(entry["directions"]),
                    layers=entry["layers"], has_stddev=entry["stddev"] is not None)

    def _add_set(self, label: str, method: str, directions: torch.Tensor, stddev: Optional[torch.Tensor],
                 layers: Optional[List[int]]) -> dict:
        set_id = f"{method}-{next(self._set_ids)}"
        span = [min(layers), max(layers)] if layers else None
        self.directions[set_id] = dict(label=label, method=method, directions=directions.float().cpu(),
                                       stddev=None if stddev is None else stddev.float().cpu(), layers=span)
        return self._set_summary(set_id)

    def make_directions(self, method: str, count: int = 8) -> dict:
        """A new direction set: GANSpace's principal axes of w (strengths in stddevs) or SeFa's factorization of all
        the style affines, `count` directions."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= min(MAX_DIRECTIONS, self.G.w_dim):
            raise ValueError(f"count: expected an integer in [1, {min(MAX_DIRECTIONS, self.G.w_dim)}], got {count!r}")
        if method == "ganspace":
            directions, stddev, _ = ganspace_directions(self.G, GANSPACE_SAMPLES, count)
            return self._add_set(f"GANSpace ({count})", method, directions, stddev, None)
        if method == "sefa":
            directions, _ = sefa_directions(self.G, None, count)
            return self._add_set(f"SeFa ({count})", method, directions, None, None)
        raise ValueError(f"method: must be ganspace or sefa, got {method!r}")

    def load_directions_file(self, path: str, name: str) -> dict:
        """A direction set read from a file written by `python -m stylegan.edit` (its layers, its stddev units)."""
        data = load_directions(path, self.G.w_dim, name=name)
        layers = data["layers"]
        if layers and not all(0 <= i < self.G.num_ws for i in layers):
            raise ValueError(f"{name}: its layers {layers} are not all ws of this network (0..{self.G.num_ws - 1})")
        return self._add_set(f"{Path(name).name} ({data['method']}, {len(data['directions'])})", data["method"],
                             data["directions"], data["stddev"], layers)


# The process's network and the functions the server calls in it.

_network: Optional[StudioNetwork] = None


def open_network(path: str, device: str = "auto") -> dict:
    """Opens the network this process serves; its info."""
    global _network
    _network = StudioNetwork(path, device)
    return _network.info()


def call(method: str, *args, **kwargs):
    """StudioNetwork.`method`(*args, **kwargs) on this process's network."""
    if _network is None:
        raise ValueError("no network is open")
    return getattr(_network, method)(*args, **kwargs)
