"""Index arithmetic past 2^31 elements (CUDA only: too slow and large for CPU test machines)."""

import pytest
import torch

from stylegan_ops import bias_act, setup_filter, upsample2d
from helpers import assert_matches


def needs_cuda_memory(gib):
    if not torch.cuda.is_available():
        return pytest.mark.skip(reason="needs a CUDA GPU")
    free, _ = torch.cuda.mem_get_info()
    return pytest.mark.skipif(free < gib * 2**30, reason=f"needs {gib} GiB of free GPU memory")


@needs_cuda_memory(12)
def test_bias_act_past_2_31_elements():
    channels = 96
    rows = (2**31 + 10 * channels) // channels + 1
    x = torch.randn(rows, channels, device="cuda", dtype=torch.float16)
    b = torch.randn(channels, device="cuda", dtype=torch.float16)
    assert x.numel() > 2**31
    y = bias_act(x, b, act="lrelu", clamp=1.0, impl="fused")
    for start in (0, rows // 2, 2**31 // channels - 2, rows - 3):
        rows_slice = slice(start, start + 3)
        assert_matches(y[rows_slice], bias_act(x[rows_slice], b, act="lrelu", clamp=1.0, impl="ref"))
    del y
    # Channels_last keeps the bias index innermost all the way through.
    x4 = x[: rows - rows % 16].view(-1, 4, 4, channels).permute(0, 3, 1, 2)  # NCHW view of NHWC memory
    y4 = bias_act(x4, b, act="lrelu", impl="fused")
    assert y4.is_contiguous(memory_format=torch.channels_last)
    last = slice(x4.shape[0] - 2, x4.shape[0])
    assert_matches(y4[last], bias_act(x4[last], b, act="lrelu", impl="ref"))


@needs_cuda_memory(12)
def test_upsample2d_output_past_2_31_elements():
    x = torch.randn(1, 520, 1024, 1024, device="cuda", dtype=torch.float16)
    f = setup_filter([1, 3, 3, 1], device="cuda")
    y = upsample2d(x, f, impl="fused")
    assert y.numel() > 2**31
    for c in (0, 259, 519):
        assert_matches(y[:, c:c + 1], upsample2d(x[:, c:c + 1], f, impl="ref"), rtol=2e-3, atol=2e-3)
