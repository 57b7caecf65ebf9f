"""Metrics of generated images against data: FID, KID, precision/recall (features of the FID's Inception-v3 or any
feature extractor), perceptual path length, the sliced Wasserstein distance on Laplacian pyramids (ProGAN) and
StyleGAN3's equivariance PSNRs; by name through compute_metrics, and from the command line:
python -m stylegan.metrics."""

from .equivariance import equivariance_psnr
from .features import FeatureExtractor, FeatureStats, RandomFeatures
from .fid import fid_from_features, frechet_distance
from .inception import InceptionV3, load_inception
from .kid import kernel_inception_distance
from .ppl import perceptual_path_length, pixel_distance
from .precision_recall import precision_recall
from .runner import MetricResult, append_jsonl, compute_metric, compute_metrics, evaluate_metrics, parse_metric
from .stats_cache import dataset_feature_stats
from .swd import SWDAccumulator, laplacian_pyramid, patch_descriptors, reconstruct_laplacian_pyramid, \
    sliced_wasserstein_distance

__all__ = ["FeatureExtractor", "FeatureStats", "InceptionV3", "MetricResult", "RandomFeatures", "SWDAccumulator",
           "append_jsonl", "compute_metric", "compute_metrics", "dataset_feature_stats", "equivariance_psnr",
           "evaluate_metrics", "fid_from_features", "frechet_distance", "kernel_inception_distance",
           "laplacian_pyramid", "load_inception", "parse_metric", "patch_descriptors", "perceptual_path_length",
           "pixel_distance", "precision_recall", "reconstruct_laplacian_pyramid", "sliced_wasserstein_distance"]
