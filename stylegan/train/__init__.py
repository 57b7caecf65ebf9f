"""Training: `python -m stylegan.train` (see --help), or run() with a dict of options from Python."""

from .launch import build_networks, run
from .options import TrainingOptions, resolve_options

__all__ = ["TrainingOptions", "build_networks", "resolve_options", "run"]
