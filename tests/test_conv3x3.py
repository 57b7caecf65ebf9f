import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from stylegan_ops import conv3x3, reference
from helpers import assert_matches
from op_battery import Call, OpBattery

ops = torch.ops.stylegan_ops

# The bad inputs' well-formed arguments.
X, W = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)


@st.composite
def case(draw):
    # Sizes on both sides of the 16x16 switch to the tile algorithm, ragged edges (not multiples of 4) included.
    return dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 70)), k=draw(st.integers(1, 70)),
                h=draw(st.integers(1, 37)), w=draw(st.integers(1, 37)), channels_last=draw(st.booleans()))


def make(c, device, dtype):
    x = torch.randn(c["n"], c["c"], c["h"], c["w"], dtype=dtype, device=device)
    if c["channels_last"]:
        x = x.to(memory_format=torch.channels_last)
    return x, torch.randn(c["k"], c["c"], 3, 3, dtype=dtype, device=device) / (3 * c["c"] ** 0.5)


def relative_error(actual, expected):
    return ((actual.double() - expected.double()).abs().max() / expected.double().abs().max().clamp_min(1e-30)).item()


def weight_grad(grad, x, *, impl):
    """conv3x3_weight_grad as an op with an impl: the kernel, or the reference."""
    return ops.conv3x3_weight_grad(grad, x) if impl == "fused" else reference.conv3x3_weight_grad(grad, x)


def _cpu_half_conv_supported() -> bool:
    try:
        F.conv2d(torch.zeros(1, 1, 3, 3, dtype=torch.float16), torch.zeros(1, 1, 3, 3, dtype=torch.float16))
    except RuntimeError:
        return False
    return True


class TestConv3x3(OpBattery):
    module = "stylegan_ops.conv3x3"

    def assert_fused_matches(self, fused, call):
        if fused.dtype == torch.float64:
            return super().assert_fused_matches(fused, call)
        # Winograd F(4x4, 3x3) in float32: within about 1e-5 of the output's magnitude (the direct form: about 1e-7).
        assert relative_error(fused, call.cast(torch.float64)("ref")) < 5e-5

    random_cases = case()

    def random_call(self, c, device, dtype, requires_grad=False):
        x, w = make(c, device, dtype)
        return Call(conv3x3, (x.requires_grad_(requires_grad), w.requires_grad_(requires_grad)))

    gradcheck_cases = [dict(op=op, size=size) for op in ("conv3x3", "weight_grad") for size in ((16, 18), (5, 7))]

    def gradcheck_call(self, case, device):
        def t(*shape):
            return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

        if case["op"] == "conv3x3":
            return Call(conv3x3, (t(2, 3, *case["size"]), t(4, 3, 3, 3)))
        return Call(weight_grad, (t(2, 4, *case["size"]), t(2, 3, *case["size"])))

    low_precision_cases = [dict(size=8), dict(size=24)]  # direct, tiles

    def low_precision_call(self, case, device):
        x = torch.randn(2, 16, case["size"], case["size"], dtype=torch.float64, device=device)
        return Call(conv3x3, (x, torch.randn(8, 16, 3, 3, dtype=torch.float64, device=device) / 12))

    def test_low_precision_error_budget(self, low_precision_case, low_precision_dtype, device):
        if device.type == "cpu" and low_precision_dtype == torch.float16 and not _cpu_half_conv_supported():
            pytest.skip("this torch has no float16 conv2d on the CPU to compare with")
        super().test_low_precision_error_budget(low_precision_case, low_precision_dtype, device)

    low_precision_gradient_cases = low_precision_cases

    def low_precision_gradient_call(self, case, device):
        x, w = self.low_precision_call(case, device).args
        return Call(conv3x3, (x.requires_grad_(True), w.requires_grad_(True)))

    def test_low_precision_gradients(self, low_precision_gradient_case, low_precision_dtype, device):
        if device.type == "cpu" and low_precision_dtype == torch.float16 and not _cpu_half_conv_supported():
            pytest.skip("this torch has no float16 conv2d on the CPU to compare with")
        super().test_low_precision_gradients(low_precision_gradient_case, low_precision_dtype, device)

    layout_cases = [dict(size=7), dict(size=21)]  # direct, tiles

    def layout_call(self, case, device):
        x = torch.randn(2, 5, case["size"], case["size"] + 3, dtype=torch.float64, device=device)
        return Call(conv3x3, (x, torch.randn(6, 5, 3, 3, dtype=torch.float64, device=device)))

    # Winograd's tile transforms add and subtract inputs, so an inf becomes NaN where the direct form keeps it.
    test_nan_and_inf_propagate_like_the_reference = None

    empty_cases = [(0, 3, 20, 20), (2, 0, 20, 20), (2, 3, 0, 20), (2, 3, 5, 0)]

    def empty_call(self, shape, device):
        return Call(conv3x3, (torch.randn(shape, device=device, requires_grad=True),
                              torch.randn(4, shape[1], 3, 3, device=device, requires_grad=True)))

    def opcheck_samples(self, device):
        x = torch.randn(2, 3, 17, 18, device=device, requires_grad=True)
        xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
        small = torch.randn(2, 3, 5, 6, device=device, requires_grad=True)
        w = torch.randn(4, 3, 3, 3, device=device, requires_grad=True)
        grad = torch.randn(2, 4, 17, 18, device=device, requires_grad=True)
        return [
            (ops.conv3x3.default, (x, w)),
            (ops.conv3x3.default, (xc, w)),
            (ops.conv3x3.default, (small, w)),
            (ops.conv3x3_weight_grad.default, (grad, x)),
            (ops.conv3x3_weight_grad.default, (grad.detach().to(memory_format=torch.channels_last), xc)),
        ]

    bad_inputs = {
        "x rank": (ValueError, "conv3x3: x must be 4-D", lambda: conv3x3(X[0], W)),
        "w kernel size": (ValueError, r"w must have shape \[K, 3, 3, 3\]", lambda: conv3x3(X, torch.randn(4, 3, 5, 5))),
        "w channels": (ValueError, r"w must have shape \[K, 3, 3, 3\]", lambda: conv3x3(X, torch.randn(4, 2, 3, 3))),
        "w dtype": (TypeError, "w must have the dtype of x", lambda: conv3x3(X, W.double())),
        "integer x": (TypeError, "x must have dtype", lambda: conv3x3(X.long(), W)),
        "not a tensor": (TypeError, "w must be a torch.Tensor", lambda: conv3x3(X, [[1.0]])),
        "unknown impl": (ValueError, "impl must be one of", lambda: conv3x3(X, W, impl="fast")),
        # The kernels check the direct op calls too.
        "op: w shape": (ValueError, r"conv3x3: w must have shape \[K, 3, 3, 3\]",
                        lambda: ops.conv3x3(X, torch.randn(4, 3, 2, 2))),
        "op: grad shape": (ValueError, r"conv3x3_weight_grad: grad must have shape \[2, K, 8, 8\]",
                           lambda: ops.conv3x3_weight_grad(torch.randn(2, 4, 7, 8), X)),
    }


@given(c=case())
def test_weight_grad_matches_reference_random(c, device):
    x, _ = make(c, device, torch.float64)
    grad = torch.randn(c["n"], c["k"], c["h"], c["w"], dtype=torch.float64, device=device)
    assert_matches(ops.conv3x3_weight_grad(grad, x), reference.conv3x3_weight_grad(grad, x))
    expected = reference.conv3x3_weight_grad(grad, x)
    assert relative_error(ops.conv3x3_weight_grad(grad.float(), x.float()), expected) < 5e-5


def test_r1_style_double_backward_matches_reference(device):
    # What R1 does through D: differentiate the input gradient's norm with respect to the weights.
    x0 = torch.randn(3, 8, 20, 20, dtype=torch.float64, device=device)
    w0 = torch.randn(6, 8, 3, 3, dtype=torch.float64, device=device)
    results = []
    for impl in ("fused", "ref"):
        x, w = x0.clone().requires_grad_(True), w0.clone().requires_grad_(True)
        y = F.leaky_relu(conv3x3(x, w, impl=impl), 0.2)
        gx, = torch.autograd.grad(y.sum(), x, create_graph=True)
        results.append(torch.autograd.grad(gx.square().sum(), w))
    assert_matches(results[0][0], results[1][0])


@pytest.mark.parametrize("size", [7, 21], ids=["direct", "tiles"])
def test_strided_weight(size, device):
    x = torch.randn(2, 5, size, size + 3, dtype=torch.float64, device=device)
    w_strided = torch.randn(6, 5, 3, 6, dtype=torch.float64, device=device)[..., ::2]
    assert_matches(conv3x3(x, w_strided, impl="fused"), F.conv2d(x, w_strided, padding=1))


def test_no_output_channels(device):
    x = torch.randn(2, 3, 20, 20, device=device, requires_grad=True)
    y = conv3x3(x, torch.randn(0, 3, 3, 3, device=device), impl="fused")
    assert y.shape == (2, 0, 20, 20)


def test_large_batch_runs_in_chunks(device):
    # More images than one chunk of tiles holds (4 MB of transformed tiles): chunks must meet seamlessly.
    x = torch.randn(40, 32, 48, 48, dtype=torch.float64, device=device)
    w = torch.randn(16, 32, 3, 3, dtype=torch.float64, device=device)
    assert_matches(conv3x3(x, w, impl="fused"), F.conv2d(x, w, padding=1))
    grad = torch.randn(40, 16, 48, 48, dtype=torch.float64, device=device)
    assert_matches(ops.conv3x3_weight_grad(grad, x), reference.conv3x3_weight_grad(grad, x))
