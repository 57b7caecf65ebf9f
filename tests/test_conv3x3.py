import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from stylegan_ops import conv3x3, reference
from helpers import (LOW_PRECISION, assert_matches, assert_within_error_budget, forbid_fused_ops,
                     strided_variants)

ops = torch.ops.stylegan_ops


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


@given(c=case())
def test_matches_reference_random(c, device):
    x, w = make(c, device, torch.float64)
    y = conv3x3(x, w, impl="fused")
    assert_matches(y, F.conv2d(x, w, padding=1))
    if not x.is_contiguous():  # channels_last in, channels_last out
        assert y.is_contiguous(memory_format=torch.channels_last)
    x32, w32 = x.float(), w.float()
    # Winograd F(4x4, 3x3) in float32: within about 1e-5 of the output's magnitude (the direct form: about 1e-7).
    assert relative_error(conv3x3(x32, w32, impl="fused"), F.conv2d(x, w, padding=1)) < 5e-5


@given(c=case())
def test_weight_grad_matches_reference_random(c, device):
    x, _ = make(c, device, torch.float64)
    grad = torch.randn(c["n"], c["k"], c["h"], c["w"], dtype=torch.float64, device=device)
    assert_matches(ops.conv3x3_weight_grad(grad, x), reference.conv3x3_weight_grad(grad, x))
    expected = reference.conv3x3_weight_grad(grad, x)
    assert relative_error(ops.conv3x3_weight_grad(grad.float(), x.float()), expected) < 5e-5


@pytest.mark.parametrize("size", [(5, 7), (16, 18)], ids=["direct", "tiles"])
def test_gradcheck_and_gradgradcheck(size, device):
    x = torch.randn(2, 3, *size, dtype=torch.float64, device=device, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, device=device, requires_grad=True)
    grad = torch.randn(2, 4, *size, dtype=torch.float64, device=device, requires_grad=True)

    def fn(x, w):
        return conv3x3(x, w, impl="fused")

    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))
    assert torch.autograd.gradcheck(ops.conv3x3_weight_grad, (grad, x))
    assert torch.autograd.gradgradcheck(ops.conv3x3_weight_grad, (grad, x))


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


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("size", [8, 24], ids=["direct", "tiles"])
def test_low_precision_error_budget(dtype, size, device):
    x64 = torch.randn(2, 16, size, size, dtype=torch.float64, device=device)
    w64 = torch.randn(8, 16, 3, 3, dtype=torch.float64, device=device) / 12
    ref64 = conv3x3(x64, w64, impl="ref")
    x, w = x64.to(dtype), w64.to(dtype)
    if device.type == "cpu" and dtype == torch.float16 and not _cpu_half_conv_supported():
        pytest.skip("this torch has no float16 conv2d on the CPU to compare with")
    assert_within_error_budget(conv3x3(x, w, impl="fused"), conv3x3(x, w, impl="ref"), ref64)


def _cpu_half_conv_supported() -> bool:
    try:
        F.conv2d(torch.zeros(1, 1, 3, 3, dtype=torch.float16), torch.zeros(1, 1, 3, 3, dtype=torch.float16))
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("size", [7, 21], ids=["direct", "tiles"])
def test_memory_layouts(size, device):
    x0 = torch.randn(2, 5, size, size + 3, dtype=torch.float64, device=device)
    w = torch.randn(6, 5, 3, 3, dtype=torch.float64, device=device)
    expected = F.conv2d(x0, w, padding=1)
    for name, x in strided_variants(x0):
        assert_matches(conv3x3(x, w, impl="fused"), expected, msg=name)
    w_strided = torch.randn(6, 5, 3, 6, dtype=torch.float64, device=device)[..., ::2]
    assert_matches(conv3x3(x0, w_strided, impl="fused"), F.conv2d(x0, w_strided, padding=1))


@pytest.mark.parametrize("shape", [(0, 3, 20, 20), (2, 0, 20, 20), (2, 3, 0, 20), (2, 3, 5, 0)])
def test_empty_tensors(shape, device):
    x = torch.randn(shape, device=device, requires_grad=True)
    w = torch.randn(4, shape[1], 3, 3, device=device, requires_grad=True)
    y = conv3x3(x, w, impl="fused")
    assert y.shape == (shape[0], 4, shape[2], shape[3]) and not y.any()  # a sum over no channels is zero
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape and not w.grad.any()


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


def opcheck_samples(device):
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


def test_opcheck(device):
    for op, args in opcheck_samples(device):
        torch.library.opcheck(op, args)


def test_compiles_fullgraph(device):
    x = torch.randn(2, 3, 16, 16, device=device)
    w = torch.randn(4, 3, 3, 3, device=device)
    compiled = torch.compile(lambda x, w: conv3x3(x, w, impl="fused"), fullgraph=True, backend="eager")
    assert_matches(compiled(x, w), conv3x3(x, w, impl="fused"))


def test_reference_impl_does_not_touch_the_kernels(monkeypatch):
    forbid_fused_ops(monkeypatch, "stylegan_ops.conv3x3")
    x = torch.randn(1, 2, 20, 20, requires_grad=True)
    conv3x3(x, torch.randn(3, 2, 3, 3), impl="ref").sum().backward()


class TestBadInput:
    x = torch.randn(2, 3, 8, 8)
    w = torch.randn(4, 3, 3, 3)

    def test_x_rank(self):
        with pytest.raises(ValueError, match="conv3x3: x must be 4-D"):
            conv3x3(torch.randn(3, 8, 8), self.w)

    def test_w_shape(self):
        with pytest.raises(ValueError, match=r"w must have shape \[K, 3, 3, 3\]"):
            conv3x3(self.x, torch.randn(4, 3, 5, 5))
        with pytest.raises(ValueError, match=r"w must have shape \[K, 3, 3, 3\]"):
            conv3x3(self.x, torch.randn(4, 2, 3, 3))

    def test_w_dtype(self):
        with pytest.raises(TypeError, match="w must have the dtype of x"):
            conv3x3(self.x, self.w.double())

    def test_integer_x(self):
        with pytest.raises(TypeError, match="x must have dtype"):
            conv3x3(self.x.long(), self.w)

    def test_not_a_tensor(self):
        with pytest.raises(TypeError, match="w must be a torch.Tensor"):
            conv3x3(self.x, [[1.0]])

    def test_bad_impl(self):
        with pytest.raises(ValueError, match="impl must be one of"):
            conv3x3(self.x, self.w, impl="fast")

    def test_kernel_checks_too(self):
        with pytest.raises(ValueError, match=r"conv3x3: w must have shape \[K, 3, 3, 3\]"):
            ops.conv3x3(self.x, torch.randn(4, 3, 2, 2))
        with pytest.raises(ValueError, match=r"conv3x3_weight_grad: grad must have shape \[2, K, 8, 8\]"):
            ops.conv3x3_weight_grad(torch.randn(2, 4, 7, 8), self.x)
