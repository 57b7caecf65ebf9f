"""Metrics of generated images against data: the sliced Wasserstein distance on Laplacian pyramids (ProGAN)."""

from .swd import SWDAccumulator, laplacian_pyramid, patch_descriptors, reconstruct_laplacian_pyramid, \
    sliced_wasserstein_distance

__all__ = ["SWDAccumulator", "laplacian_pyramid", "patch_descriptors", "reconstruct_laplacian_pyramid",
           "sliced_wasserstein_distance"]
