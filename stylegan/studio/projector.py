"""The studio's projection process: projects uploaded images into the open network (stylegan.tools.project) and
reports each job's progress (step, distance, a preview of the current projection) on a queue the server reads."""

import os
import time
from typing import Optional

import torch

from ..checks import pick_device
from ..images import load_image, to_uint8
from ..latents import images_from_ws
from ..loading import load_generator
from ..tools.project import project
from .renderer import png_data_url

MAX_STEPS = 5000
PREVIEW_SECONDS = 0.25  # at most this often a preview of the projection is rendered and sent

_queue = None
_networks = {}  # path -> generator: the one network of the studio this process projects into


def init(queue) -> None:
    """The process's initializer: where progress goes."""
    global _queue
    _queue = queue


def _network(path: str, device: str) -> torch.nn.Module:
    if path not in _networks:
        _networks.clear()
        _networks[path] = load_generator(path, pick_device(device))
    return _networks[path]


def run(job: str, network: str, device: str, image_path: str, steps: int, w_plus: bool) -> None:
    """Projects the image file into the network, putting ('progress', job, fields) on the queue as it goes and
    ('done', job, {'ws': array [1, num_ws, w_dim]}) or ('error', job, {'error': message}) at the end."""
    try:
        G = _network(network, device)
        target = load_image(image_path, G.img_resolution, G.img_channels)
        _queue.put(("progress", job, dict(step=0, steps=steps, target=png_data_url(to_uint8(target[0])))))
        last = [0.0]

        def on_step(step: int, ws: torch.Tensor, dist: float) -> None:
            fields = dict(step=step + 1, dist=dist)
            now = time.monotonic()
            if now - last[0] >= PREVIEW_SECONDS or step + 1 == steps:
                last[0] = now
                fields["image"] = png_data_url(to_uint8(images_from_ws(G, ws[None])[0]))
            _queue.put(("progress", job, fields))

        with open(os.devnull, "w") as quiet:
            result = project(G, target.to(next(G.parameters()).device), num_steps=steps, w_plus=w_plus,
                             stream=quiet, on_step=on_step)
        _queue.put(("done", job, dict(ws=result.ws[-1:].float().cpu().numpy())))
    except Exception as error:  # reported on the page; the process goes on serving jobs
        _queue.put(("error", job, dict(error=f"{type(error).__name__}: {error}" if not isinstance(
            error, (ValueError, OSError)) else str(error))))
    finally:
        try:
            os.unlink(image_path)
        except OSError:
            pass


def check_steps(steps: Optional[int]) -> int:
    """The number of projection steps asked for, checked."""
    if steps is None or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps: expected an integer in [1, {MAX_STEPS}], got {steps}")
    return steps
