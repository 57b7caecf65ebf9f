"""Translating and rotating a StyleGAN3 generator's output (NVIDIA's gen_images.py --translate / --rotate): the
network's Fourier-feature input keeps a 3x3 `transform` buffer holding the inverse of the image transform. A translate
(x, y) moves the content x image widths to the right and y image heights down; a positive rotate turns it
counterclockwise as displayed."""

import contextlib
import math
from typing import Iterator, Optional, Sequence

import torch

__all__ = ["image_transform", "input_transform", "parse_translate"]


def parse_translate(text: str, name: str = "--translate") -> tuple:
    """'x,y' -> (x, y), two finite numbers; a ValueError naming `name` for anything else."""
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{name}: expected two numbers 'x,y' such as '0.3,1', got {text!r}") from None
    return x, y


def image_transform(translate: Sequence[float] = (0, 0), rotate: float = 0) -> torch.Tensor:
    """NVIDIA's make_transform as a float64 [3, 3] tensor: [[c, s, x], [-s, c, y], [0, 0, 1]] with c, s the cosine and
    sine of `rotate` degrees and (x, y) = translate. ValueErrors name --translate / --rotate for values that are not
    finite."""
    if len(translate) != 2 or not all(math.isfinite(v) for v in translate):
        raise ValueError(f"--translate: expected two finite numbers, got {tuple(translate)}")
    if not math.isfinite(rotate):
        raise ValueError(f"--rotate: expected a finite angle in degrees, got {rotate}")
    c, s = math.cos(math.radians(rotate)), math.sin(math.radians(rotate))
    return torch.tensor([[c, s, translate[0]], [-s, c, translate[1]], [0, 0, 1]], dtype=torch.float64)


@contextlib.contextmanager
def input_transform(G: torch.nn.Module, translate: Optional[Sequence[float]] = None,
                    rotate: Optional[float] = None) -> Iterator[None]:
    """Within the block, G renders translated by `translate` and rotated by `rotate` degrees: its
    `synthesis.input.transform` holds the inverse of image_transform(translate, rotate), as NVIDIA's gen_images.py
    sets it; the buffer is restored on exit. Nothing changes when both are None; a ValueError naming the flag given
    for a network without that buffer (only StyleGAN3 networks have it)."""
    if translate is None and rotate is None:
        yield
        return
    buffer = getattr(getattr(G.synthesis, "input", None), "transform", None)
    if not isinstance(buffer, torch.Tensor):
        flag = "--translate" if translate is not None else "--rotate"
        raise ValueError(f"{flag}: this network's input cannot be transformed (only StyleGAN3 networks can be "
                         f"translated or rotated); leave {flag} out")
    matrix = torch.linalg.inv(image_transform((0, 0) if translate is None else translate, rotate or 0))
    saved = buffer.clone()
    buffer.copy_(matrix)
    try:
        yield
    finally:
        buffer.copy_(saved)
