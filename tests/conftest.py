import os
import sys

import pytest
import torch
from hypothesis import HealthCheck, settings

# No test downloads weights or networks; tests/test_downloads.py turns this off for its own server on 127.0.0.1.
os.environ.setdefault("STYLEGAN_OFFLINE", "1")

# Every op test runs on the CPU and, where a GPU is present, the same test on CUDA.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# The fixtures used with @given (device, the autouse seed) hold nothing that one example could change for the next.
_common = dict(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("default", max_examples=40, **_common)
settings.register_profile("ci", max_examples=40, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def stand_ins(tmp_path_factory, monkeypatch):
    """NVIDIA's torch_utils.persistence and dnnlib.util stand-ins on sys.path (tests/nvidia_format.py)."""
    from nvidia_format import install_stand_ins

    root = tmp_path_factory.mktemp("nvidia_modules")
    monkeypatch.setattr("sys.path", list(sys.path))
    install_stand_ins(root)
    yield root
    for name in ("torch_utils.persistence", "torch_utils", "dnnlib.util", "dnnlib"):
        sys.modules.pop(name, None)


def tiny_generator(variant: str = "stylegan2", c_dim: int = 0, resolution: int = 16, seed: int = 0):
    """A small generator with random (not zero-initialised) weights and a w_avg, for the tools' tests."""
    from stylegan.networks import Generator

    torch.manual_seed(seed)
    G = Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=resolution, img_channels=3, variant=variant,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=32))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or name.endswith("noise_weight"):
                p.fill_(0.1)  # noise visible, so noise modes differ
        G.mapping.w_avg.copy_(G.mapping(torch.randn(256, G.z_dim), None if c_dim == 0 else
                                        torch.eye(c_dim)[torch.randint(c_dim, [256])])[:, 0].mean(0))
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def tiny_network_file(tmp_path_factory):
    """Path of a saved tiny StyleGAN2 generator (our safetensors format), 16x16 RGB, unconditional."""
    from stylegan import save_network

    path = tmp_path_factory.mktemp("networks") / "tiny-G.safetensors"
    save_network(tiny_generator(), path)
    return path
