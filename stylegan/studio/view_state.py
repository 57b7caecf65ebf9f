"""What the studio page asks to see, read from its JSON: the latent (a point of the 2-D seed plane), truncation, noise,
style mixing, edits, a projection, StyleGAN3's transform and the view (the image or one layer's channels). Every value
is checked, and a bad one is a ValueError naming its field; `command_line` is the generate command that renders the
same image."""

import math
import shlex
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..networks.synthesis import NOISE_MODES

SEED_ROW = 100  # the seed plane: the point (x, y) with integer coordinates is seed x + SEED_ROW * y (mod 2**32)
MAX_NOISE_STRENGTH = 100.0
VIEW_MODES = ("channel", "grid")


@dataclass(frozen=True)
class Edit:
    """A move along direction `index` of the direction set `set_id` by `strength` at the ws lo..hi (all when None)."""

    set_id: str
    index: int
    strength: float
    layers: Optional[Tuple[int, int]]


@dataclass(frozen=True)
class ViewState:
    x: float = 0.0
    y: float = 0.0
    space: str = "z"
    class_idx: Optional[int] = None
    psi: float = 1.0
    cutoff: Optional[int] = None
    noise_mode: str = "const"
    noise_strength: float = 1.0
    mix_seed: Optional[int] = None
    mix_layers: Optional[Tuple[int, int]] = None
    edits: Tuple[Edit, ...] = ()
    projection: Optional[str] = None
    translate: Tuple[float, float] = (0.0, 0.0)
    rotate: float = 0.0
    layer: str = "output"
    mode: str = "channel"
    channel: int = 0

    def seed_weights(self) -> List[Tuple[int, float]]:
        """The seeds at the corners of the plane's cell around (x, y) with their bilinear weights (those above 0)."""
        ix, iy = math.floor(self.x), math.floor(self.y)
        fx, fy = self.x - ix, self.y - iy
        corners = [(ix, iy, (1 - fx) * (1 - fy)), (ix + 1, iy, fx * (1 - fy)), (ix, iy + 1, (1 - fx) * fy),
                   (ix + 1, iy + 1, fx * fy)]
        return [(plane_seed(cx, cy), weight) for cx, cy, weight in corners if weight > 0]

    @property
    def transformed(self) -> bool:
        return self.translate != (0.0, 0.0) or self.rotate != 0.0


def plane_seed(x: int, y: int) -> int:
    """The seed at the integer point (x, y) of the seed plane."""
    return (x + SEED_ROW * y) % 2**32


def _number(data: dict, key: str, default: float, lo: float = -math.inf, hi: float = math.inf) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        bounds = "" if (lo, hi) == (-math.inf, math.inf) else f" in [{lo:g}, {hi:g}]"
        raise ValueError(f"{key}: expected a finite number{bounds}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{key}: expected a finite number, got {value!r}")
    return float(value)


def _integer(value, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key}: expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _choice(data: dict, key: str, default: str, choices) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ValueError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")
    return value


def _layer_range(value, key: str, num_ws: int) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{key}: expected [first, last] w indices, got {value!r}")
    lo, hi = (_integer(v, key, 0, num_ws - 1) for v in value)
    if hi < lo:
        raise ValueError(f"{key}: the range [{lo}, {hi}] runs backwards")
    return lo, hi


def parse_view_state(data, num_ws: int, c_dim: int, layer_names) -> ViewState:
    """The ViewState of the page's JSON `data` for a network with `num_ws` ws, `c_dim` classes and the viewable layers
    `layer_names`; a ValueError naming the field for anything out of place."""
    if not isinstance(data, dict):
        raise ValueError(f"the view state must be a JSON object, got {type(data).__name__}")
    latent = data.get("latent", {})
    if not isinstance(latent, dict):
        raise ValueError("latent: expected an object {x, y, space}")
    plane = 2.0**40  # beyond this the fraction between two seeds is lost to float rounding
    x, y = _number(latent, "x", 0, -plane, plane), _number(latent, "y", 0, -plane, plane)
    space = _choice(latent, "space", "z", ("z", "w"))
    class_idx = data.get("class_idx")
    if c_dim == 0 and class_idx is not None:
        raise ValueError("class_idx: this network is unconditional; leave it out")
    if c_dim > 0:
        if class_idx is None:
            raise ValueError(f"class_idx: this network is conditional ({c_dim} classes); pick a class")
        _integer(class_idx, "class_idx", 0, c_dim - 1)
    cutoff = data.get("cutoff")
    if cutoff is not None:
        _integer(cutoff, "cutoff", 0, num_ws)
    mix = data.get("mix")
    mix_seed = mix_layers = None
    if mix is not None:
        if not isinstance(mix, dict):
            raise ValueError("mix: expected null or an object {seed, layers}")
        mix_seed = _integer(mix.get("seed"), "mix.seed", 0, 2**32 - 1)
        mix_layers = _layer_range(mix.get("layers"), "mix.layers", num_ws)
        if mix_layers is None:
            raise ValueError("mix.layers: expected [first, last] w indices")
    edits = data.get("edits", [])
    if not isinstance(edits, list) or len(edits) > 256:
        raise ValueError("edits: expected a list of at most 256 edits")
    parsed_edits = []
    for edit in edits:
        if not isinstance(edit, dict) or not isinstance(edit.get("set"), str):
            raise ValueError("edits: each edit is an object {set, index, strength, layers}")
        parsed_edits.append(Edit(edit["set"], _integer(edit.get("index"), "edits.index", 0, 2**31),
                                 _number(edit, "strength", 0, -1e4, 1e4),
                                 _layer_range(edit.get("layers"), "edits.layers", num_ws)))
    projection = data.get("projection")
    if projection is not None and not isinstance(projection, str):
        raise ValueError(f"projection: expected a job id or null, got {projection!r}")
    translate = data.get("translate", [0, 0])
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ValueError(f"translate: expected [x, y], got {translate!r}")
    translate = tuple(_number({"translate": v}, "translate", 0, -1e3, 1e3) for v in translate)
    view = data.get("view", {})
    if not isinstance(view, dict):
        raise ValueError("view: expected an object {layer, mode, channel}")
    layer = view.get("layer", "output")
    if layer != "output" and layer not in layer_names:
        raise ValueError(f"view.layer: this network has no layer {layer!r}")
    return ViewState(
        x=x, y=y, space=space, class_idx=class_idx,
        psi=_number(data, "psi", 1, -100, 100), cutoff=cutoff,
        noise_mode=_choice(data, "noise_mode", "const", NOISE_MODES),
        noise_strength=_number(data, "noise_strength", 1, 0, MAX_NOISE_STRENGTH),
        mix_seed=mix_seed, mix_layers=mix_layers, edits=tuple(parsed_edits), projection=projection,
        translate=translate, rotate=_number(data, "rotate", 0, -1e4, 1e4),
        layer=layer, mode=_choice(view, "mode", "channel", VIEW_MODES),
        channel=_integer(view.get("channel", 0), "view.channel", 0, 2**31))


def needs_ws_file(state: ViewState) -> bool:
    """Whether the image needs more than a seed and generate's flags (then the command reads an exported w.npz)."""
    return (state.mix_seed is not None or bool(state.edits) or state.projection is not None
            or len(state.seed_weights()) > 1)


def command_line(state: ViewState, network: str) -> str:
    """The `python -m stylegan.generate` command that writes the image of `state` (its w from an exported w.npz when
    needs_ws_file)."""
    args = ["python", "-m", "stylegan.generate", "--network", network]
    if needs_ws_file(state):
        args += ["--ws", "w.npz"]  # truncation, mixing and edits are in the saved ws
    else:
        args += ["--seeds", str(state.seed_weights()[0][0])]
        if state.psi != 1:
            args += [f"--trunc={state.psi!r}"]
        if state.cutoff is not None and state.psi != 1:
            args += ["--trunc-cutoff", str(state.cutoff)]
        if state.class_idx is not None:
            args += ["--class", str(state.class_idx)]
    if state.noise_mode != "const":
        args += ["--noise-mode", state.noise_mode]
    if state.noise_strength != 1:
        args += ["--noise-strength", repr(state.noise_strength)]
    if state.translate != (0.0, 0.0):
        args += [f"--translate={state.translate[0]!r},{state.translate[1]!r}"]
    if state.rotate != 0:
        args += [f"--rotate={state.rotate!r}"]
    return shlex.join(args + ["--outdir", "out"])
