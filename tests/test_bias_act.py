import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stylegan_ops import ACTIVATIONS, bias_act
from helpers import (LOW_PRECISION, assert_matches, assert_within_error_budget, forbid_fused_ops,
                     strided_variants)

ACTS = sorted(ACTIVATIONS)
PIECEWISE_LINEAR = [a for a in ACTS if ACTIVATIONS[a].grad_from_output]
SMOOTH = [a for a in ACTS if not ACTIVATIONS[a].grad_from_output]
ops = torch.ops.stylegan_ops


def both(x, b=None, **kwargs):
    return bias_act(x, b, impl="fused", **kwargs), bias_act(x, b, impl="ref", **kwargs)


@st.composite
def bias_act_case(draw):
    ndim = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(1, 7), min_size=ndim, max_size=ndim))
    act = draw(st.sampled_from(ACTS))
    return dict(
        shape=shape,
        dim=draw(st.integers(-ndim, ndim - 1)),
        with_bias=draw(st.booleans()),
        act=act,
        alpha=draw(st.one_of(st.none(), st.floats(0, 1))) if act == "lrelu" else None,
        gain=draw(st.one_of(st.none(), st.floats(-3, 3))),
        clamp=draw(st.one_of(st.none(), st.floats(0, 2))),
        scale=draw(st.sampled_from([0.1, 1.0, 10.0])),
    )


def make_inputs(case, device, dtype, requires_grad=False):
    x = (torch.randn(case["shape"], dtype=dtype, device=device) * case["scale"]).requires_grad_(requires_grad)
    b = None
    if case["with_bias"]:
        b = torch.randn(case["shape"][case["dim"]], dtype=dtype, device=device).requires_grad_(requires_grad)
    kwargs = dict(dim=case["dim"], act=case["act"], alpha=case["alpha"], gain=case["gain"], clamp=case["clamp"])
    return x, b, kwargs


@given(case=bias_act_case())
def test_matches_reference_random(case, device):
    for dtype in (torch.float64, torch.float32):
        x, b, kwargs = make_inputs(case, device, dtype)
        fused, ref = both(x, b, **kwargs)
        assert_matches(fused, ref)


@given(case=bias_act_case())
def test_gradients_match_reference_random(case, device):
    x, b, kwargs = make_inputs(case, device, torch.float64, requires_grad=True)
    inputs = [x] + ([b] if b is not None else [])
    dy = torch.randn_like(x)
    vs = [torch.randn_like(t) for t in inputs]
    grads = {}
    for impl in ("fused", "ref"):
        y = bias_act(x, b, impl=impl, **kwargs)
        first = torch.autograd.grad(y, inputs, dy, create_graph=True)
        # Second order: the gradient of <first, v> with respect to the inputs.
        dot = sum((g * v).sum() for g, v in zip(first, vs))
        second = torch.autograd.grad(dot, inputs, allow_unused=True) if dot.requires_grad else [None] * len(inputs)
        grads[impl] = (first, second)
    for f, r in zip(grads["fused"][0], grads["ref"][0]):
        assert_matches(f, r)
    for f, r in zip(grads["fused"][1], grads["ref"][1]):
        if f is None or r is None:  # no path to that input: zero either way
            assert (f is None or not f.any()) and (r is None or not r.any())
        else:
            assert_matches(f, r)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamp", [None, 0.6])
def test_gradcheck_and_gradgradcheck(act, clamp, device):
    x = torch.randn(3, 4, 5, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, device=device, requires_grad=True)

    def fn(x, b):
        return bias_act(x, b, act=act, clamp=clamp, impl="fused")

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("act", ["linear", "lrelu", "swish"])
def test_clamped_low_precision_outputs_get_no_gradient(dtype, act, device):
    # 0.9 and 362.04 (256 * sqrt 2, the fp16 layers' bound) are not float16 or bfloat16 values: a clamped output is
    # stored a little below the bound, and the backward from the output must still see it as clamped.
    for clamp in (0.9, 256 * math.sqrt(2)):
        x = torch.tensor([1.5, 2.0, 3.0, 50.0], device=device).mul(clamp).to(dtype).requires_grad_(True)
        y = bias_act(x, act=act, clamp=clamp, impl="fused")
        assert_matches(y, bias_act(x, act=act, clamp=clamp, impl="ref"))
        (g,) = torch.autograd.grad(y.sum(), x)
        assert not g.any(), (clamp, g)


@pytest.mark.parametrize("act", SMOOTH)
def test_third_order_is_a_clear_error_for_smooth_activations(act, device):
    x = torch.randn(6, dtype=torch.float64, device=device, requires_grad=True)
    y = bias_act(x, act=act, impl="fused").sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="third order"):
        torch.autograd.grad(gg.sum(), x)


@pytest.mark.parametrize("act", PIECEWISE_LINEAR)
def test_any_order_for_piecewise_linear_activations(act, device):
    x = torch.randn(2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, device=device, requires_grad=True)
    results = []
    for impl in ("fused", "ref"):
        y = bias_act(x, b, act=act, clamp=1.0, impl=impl)
        g = torch.autograd.grad((y ** 3).sum(), x, create_graph=True)[0]
        gg = torch.autograd.grad((g ** 2).sum(), x, create_graph=True)[0]
        ggg = torch.autograd.grad(gg.sum(), (x, b))
        results.append((g, gg) + ggg)
    for f, r in zip(*results):
        assert_matches(f, r)


def saved_by_forward(fn):
    """The tensors autograd saves while running fn(), and fn's result."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = fn()
    return saved, out


def test_backward_keeps_the_output_for_piecewise_linear_and_the_input_for_smooth():
    x = torch.randn(4, 8, requires_grad=True)
    b = torch.randn(8, requires_grad=True)
    saved, y = saved_by_forward(lambda: bias_act(x, b, act="lrelu", impl="fused"))
    assert [t.data_ptr() for t in saved] == [y.data_ptr()]  # y, which the next layer keeps anyway; not x
    saved, y = saved_by_forward(lambda: bias_act(x, b, act="linear", impl="fused"))
    assert saved == []  # the derivative is the constant gain
    saved, y = saved_by_forward(lambda: bias_act(x, b, act="tanh", impl="fused"))
    assert sorted(t.data_ptr() for t in saved) == sorted([x.data_ptr(), b.data_ptr()])


@pytest.mark.parametrize("act", ["lrelu", "swish"])
def test_layouts(act, device):
    x = torch.randn(3, 6, 5, 7, device=device, dtype=torch.float64)
    b = torch.randn(6, device=device, dtype=torch.float64)
    expected = bias_act(x, b, act=act, clamp=1.5, impl="ref")
    for name, xv in strided_variants(x):
        out = bias_act(xv, b, act=act, clamp=1.5, impl="fused")
        assert_matches(out, expected, msg=name)
        if name == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)
    # The bias along the innermost or an inner dimension, and a bias that is itself a strided view.
    for dim in (0, 2, 3, -1):
        bd = torch.randn(2 * x.shape[dim], device=device, dtype=torch.float64)[::2]
        assert_matches(bias_act(x, bd, dim=dim, act=act, impl="fused"), bias_act(x, bd, dim=dim, act=act, impl="ref"))


@pytest.mark.parametrize("shape,dim", [((50001, 3), 1), ((5, 3, 41, 37), 1), ((3, 7, 2, 4999), 1), ((400, 7, 3, 5), 1),
                                       ((9, 4096), 0)], ids=str)
def test_tensors_split_across_threads(shape, dim, device):
    # More than one parallel chunk (32768 elements on the CPU), with bias runs that straddle the chunk boundaries:
    # channels innermost, long spans, short spans (the expanded-pattern path) and a bias along the outer dimension.
    x = torch.randn(shape, dtype=torch.float64, device=device)
    b = torch.randn(shape[dim], dtype=torch.float64, device=device)
    for act in ("lrelu", "tanh"):
        assert_matches(bias_act(x, b, dim=dim, act=act, impl="fused"), bias_act(x, b, dim=dim, act=act, impl="ref"))


def test_gradient_with_a_differently_laid_out_grad(device):
    x = torch.randn(2, 5, 4, 3, device=device, dtype=torch.float64).to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    b = torch.randn(5, device=device, dtype=torch.float64, requires_grad=True)
    grads = []
    for impl in ("fused", "ref"):
        y = bias_act(x, b, act="tanh", impl=impl)
        dy = torch.randn(y.shape, device=device, dtype=torch.float64, generator=torch.Generator(device).manual_seed(3))
        grads.append(torch.autograd.grad(y, (x, b), dy.transpose(1, 3).contiguous().transpose(1, 3)))
    for f, r in zip(*grads):
        assert_matches(f, r)


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("act", ACTS)
def test_low_precision_error_budget(dtype, act, device):
    x64 = torch.randn(4, 16, 9, 9, dtype=torch.float64, device=device) * 2
    b64 = torch.randn(16, dtype=torch.float64, device=device)
    kwargs = dict(act=act, clamp=2.5)
    ref64 = bias_act(x64, b64, impl="ref", **kwargs)
    x, b = x64.to(dtype), b64.to(dtype)
    assert_within_error_budget(bias_act(x, b, impl="fused", **kwargs), bias_act(x, b, impl="ref", **kwargs), ref64)


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_gradients(dtype, device):
    x64 = torch.randn(4, 8, 6, dtype=torch.float64, device=device, requires_grad=True)
    dy64 = torch.randn(4, 8, 6, dtype=torch.float64, device=device)
    for act in ("lrelu", "swish"):
        (ref64,) = torch.autograd.grad(bias_act(x64, act=act, impl="ref"), x64, dy64)
        x = x64.detach().to(dtype).requires_grad_(True)
        grads = [torch.autograd.grad(bias_act(x, act=act, impl=impl), x, dy64.to(dtype))[0]
                 for impl in ("fused", "ref")]
        assert_within_error_budget(grads[0], grads[1], ref64)


def test_nan_and_inf_propagate_like_the_reference(device):
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0, -1.0, 30.0, -30.0, 100.0],
                     dtype=torch.float32, device=device)
    for act in ACTS:
        for clamp in (None, 2.0):
            fused, ref = both(x, act=act, clamp=clamp)
            assert_matches(fused, ref, msg=f"{act}, clamp={clamp}")


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4), (3, 4, 0)])
def test_empty_tensors(shape, device):
    x = torch.randn(shape, device=device, requires_grad=True)
    b = torch.randn(shape[1], device=device, requires_grad=True) if len(shape) > 1 else None
    for act in ("lrelu", "tanh"):
        y = bias_act(x, b, act=act, impl="fused")
        assert y.shape == x.shape
        y.sum().backward()
        assert x.grad.shape == x.shape


def test_scalar_tensor_without_bias(device):
    x = torch.tensor(0.5, device=device)
    assert_matches(bias_act(x, act="lrelu", impl="fused"), bias_act(x, act="lrelu", impl="ref"))


def opcheck_samples(device):
    """Sample calls of every bias_act op: (op, args)."""
    x = torch.randn(2, 3, 4, 5, device=device, requires_grad=True)
    b = torch.randn(3, device=device, requires_grad=True)
    g = torch.randn(2, 3, 4, 5, device=device, requires_grad=True)
    y = torch.randn(2, 3, 4, 5, device=device)
    xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    return [
        (ops.bias_act.default, (x, b, 1, "lrelu", 0.2, math.sqrt(2), 0.5)),
        (ops.bias_act.default, (xc, b, 1, "swish", 0.0, 1.0, None)),
        (ops.bias_act.default, (x, None, 0, "tanh", 0.0, 1.0, None)),
        (ops.bias_act_grad_from_output.default, (g, y, "lrelu", 0.2, 1.4, 1.0)),
        (ops.bias_act_grad_from_input.default, (g, x, b, 1, "softplus", 0.0, 1.0, None, 1)),
        # The second-derivative op has no derivative of its own (third order): checked without autograd.
        (ops.bias_act_grad_from_input.default, (g.detach(), x.detach(), b.detach(), 1, "elu", 0.0, 1.0, 0.3, 2)),
    ]


def test_opcheck(device):
    for op, args in opcheck_samples(device):
        torch.library.opcheck(op, args)


def test_reference_impl_does_not_touch_the_kernels(monkeypatch):
    forbid_fused_ops(monkeypatch, "stylegan_ops.bias_act")
    x = torch.randn(3, 4, requires_grad=True)
    y = bias_act(x, act="relu", impl="ref")
    y.sum().backward()
    assert_matches(y, torch.relu(x) * math.sqrt(2))


def test_defaults_follow_the_activation_table():
    x = torch.randn(5, 6)
    assert_matches(bias_act(x, act="lrelu", impl="fused"), torch.nn.functional.leaky_relu(x, 0.2) * math.sqrt(2))
    assert_matches(bias_act(x, act="swish", impl="fused"), x * torch.sigmoid(x) * math.sqrt(2))
    assert_matches(bias_act(x, act="tanh", impl="fused"), torch.tanh(x))
    assert_matches(bias_act(x, impl="fused"), x)


class TestBadInput:
    def test_x_not_a_tensor(self):
        with pytest.raises(TypeError, match="x must be a torch.Tensor"):
            bias_act([1.0, 2.0])

    def test_x_integer_dtype(self):
        with pytest.raises(TypeError, match="x must have dtype"):
            bias_act(torch.ones(3, dtype=torch.int32))

    def test_b_dtype(self):
        with pytest.raises(TypeError, match="b must have dtype float32"):
            bias_act(torch.randn(2, 3), torch.randn(3, dtype=torch.float64))

    def test_b_device(self):
        with pytest.raises(ValueError, match="b is on meta"):
            bias_act(torch.randn(2, 3), torch.randn(3, device="meta"))

    def test_b_length(self):
        with pytest.raises(ValueError, match=r"b has 4 elements but x.shape\[1\] is 3"):
            bias_act(torch.randn(2, 3), torch.randn(4))

    def test_b_rank(self):
        with pytest.raises(ValueError, match="b must be 1-D"):
            bias_act(torch.randn(2, 3), torch.randn(1, 3))

    @pytest.mark.parametrize("dim", [2, -3, 5])
    def test_dim_out_of_range(self, dim):
        with pytest.raises(ValueError, match="dim"):
            bias_act(torch.randn(2, 3), torch.randn(3), dim=dim)

    def test_unknown_act(self):
        with pytest.raises(ValueError, match="act must be one of"):
            bias_act(torch.randn(2), act="gelu")

    def test_alpha_of_an_activation_without_one(self):
        with pytest.raises(ValueError, match="alpha is not a parameter"):
            bias_act(torch.randn(2), act="tanh", alpha=0.1)

    def test_negative_alpha(self):
        with pytest.raises(ValueError, match="alpha must be >= 0"):
            bias_act(torch.randn(2), act="lrelu", alpha=-0.1)

    def test_negative_clamp(self):
        with pytest.raises(ValueError, match="clamp must be >= 0"):
            bias_act(torch.randn(2), clamp=-1)

    def test_non_finite_gain(self):
        with pytest.raises(ValueError, match="gain must be finite"):
            bias_act(torch.randn(2), gain=float("nan"))

    def test_unknown_impl(self):
        with pytest.raises(ValueError, match="impl must be one of"):
            bias_act(torch.randn(2), impl="cuda")

    def test_direct_op_calls_are_checked(self):
        with pytest.raises(ValueError, match="unknown activation"):
            ops.bias_act(torch.randn(2), None, 0, "nope", 0.0, 1.0, None)
        with pytest.raises(ValueError, match="b must have shape"):
            ops.bias_act(torch.randn(2, 3), torch.randn(2), 1, "linear", 0.0, 1.0, None)
        with pytest.raises(TypeError, match="b must have the dtype"):
            ops.bias_act(torch.randn(2, 3), torch.randn(3).double(), 1, "linear", 0.0, 1.0, None)
        with pytest.raises(ValueError, match="dim 4 is out of range"):
            ops.bias_act(torch.randn(2, 3), torch.randn(3), 4, "linear", 0.0, 1.0, None)
        with pytest.raises(TypeError, match="x must be float16"):
            ops.bias_act(torch.ones(2, dtype=torch.int64), None, 0, "linear", 0.0, 1.0, None)
        with pytest.raises(ValueError, match="grad must have the shape"):
            ops.bias_act_grad_from_output(torch.randn(3), torch.randn(4), "relu", 0.0, 1.0, None)
        with pytest.raises(ValueError, match="differentiated from its input"):
            ops.bias_act_grad_from_output(torch.randn(3), torch.randn(3), "tanh", 0.0, 1.0, None)
        with pytest.raises(ValueError, match="order must be 1 or 2"):
            ops.bias_act_grad_from_input(torch.randn(3), torch.randn(3), None, 0, "tanh", 0.0, 1.0, None, 3)
