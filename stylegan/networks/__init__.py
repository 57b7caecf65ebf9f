"""StyleGAN and StyleGAN2 networks on stylegan_ops."""

from .discriminator import Discriminator, DiscriminatorBlock, DiscriminatorEpilogue, MinibatchStdLayer
from .generator import VARIANTS, Generator
from .layers import (Conv2dLayer, FullyConnectedLayer, conv2d_resample, modulated_conv2d, normalize_2nd_moment,
                     set_impl, set_low_precision)
from .mapping import MappingNetwork
from .synthesis import SynthesisBlock, SynthesisLayer, SynthesisNetwork, ToRGBLayer
from .synthesis_adain import AdaINLayer, AdaINSynthesisNetwork

__all__ = ["AdaINLayer", "AdaINSynthesisNetwork", "Conv2dLayer", "Discriminator", "DiscriminatorBlock",
           "DiscriminatorEpilogue", "FullyConnectedLayer", "Generator", "MappingNetwork", "MinibatchStdLayer",
           "SynthesisBlock", "SynthesisLayer", "SynthesisNetwork", "ToRGBLayer", "VARIANTS", "conv2d_resample",
           "modulated_conv2d", "normalize_2nd_moment", "set_impl", "set_low_precision"]
