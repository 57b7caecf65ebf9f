import os
import sys

import pytest
import torch
from hypothesis import HealthCheck, settings

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
