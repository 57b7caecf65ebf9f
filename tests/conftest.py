import os

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
