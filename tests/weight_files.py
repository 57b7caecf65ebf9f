"""What the tests of weight-file lookups share: an empty cache of their own with downloads forbidden (no test reaches
the internet or the user's cache), and small weight files in the published files' layouts."""


import torch

from stylegan.perceptual import VGG16Features

WEIGHT_VARS = ("STYLEGAN_VGG16", "STYLEGAN_LPIPS", "STYLEGAN_INCEPTION")
TINY_WIDTHS = (4, 4, 8, 8, 8)


def empty_cache(tmp_path, monkeypatch):
    """Sets the cache directory to an empty one under `tmp_path` and STYLEGAN_OFFLINE=1, and unsets the variables
    that name weight files; returns the cache directory (for a fixture of each test module)."""
    monkeypatch.setenv("STYLEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLEGAN_OFFLINE", "1")
    for var in WEIGHT_VARS:
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "cache"


def vgg16_state_dict(widths=TINY_WIDTHS, seed=1) -> dict:
    """A random VGG16 in torchvision's layout, with a classifier key as the real file has."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in VGG16Features(widths).features.state_dict().items()}
    state["classifier.0.weight"] = torch.randn(10, 8)
    return state


def lpips_state_dict(widths=TINY_WIDTHS, seed=2) -> dict:
    """Random non-negative LPIPS linear layers in the lpips package's layout (linK.model.1.weight, [1, C, 1, 1])."""
    generator = torch.Generator().manual_seed(seed)
    return {f"lin{i}.model.1.weight": torch.rand(1, width, 1, 1, generator=generator)
            for i, width in enumerate(widths)}
