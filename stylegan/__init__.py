"""stylegan: StyleGAN and StyleGAN2 networks on the fused ops of stylegan_ops, and their network files (NVIDIA's
pickles read safely; our own safetensors checkpoints). Training: stylegan.train; metrics: stylegan.metrics;
augmentation: stylegan.augment; the tools (generate, style_mixing, interpolate, edit, project): stylegan.tools. Every
command runs as `stylegan COMMAND` (stylegan --help lists them) or `python -m stylegan.COMMAND`."""

from .network_io import load_network, load_nvidia_pickle, save_network
from .networks import Discriminator, Generator, MappingNetwork, set_impl

__all__ = ["Discriminator", "Generator", "MappingNetwork", "load_network", "load_nvidia_pickle", "save_network",
           "set_impl"]
