import math

import pytest
import torch
from hypothesis import strategies as st

from stylegan_ops import ACTIVATIONS, bias_act
from helpers import LOW_PRECISION, assert_matches, randn
from op_battery import Call, OpBattery

ACTS = sorted(ACTIVATIONS)
PIECEWISE_LINEAR = [a for a in ACTS if ACTIVATIONS[a].grad_from_output]
SMOOTH = [a for a in ACTS if not ACTIVATIONS[a].grad_from_output]
ops = torch.ops.stylegan_ops


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


class TestBiasAct(OpBattery):
    module = "stylegan_ops.bias_act"

    random_cases = bias_act_case()

    def random_call(self, case, device, dtype, requires_grad=False):
        x = (torch.randn(case["shape"], dtype=dtype, device=device) * case["scale"]).requires_grad_(requires_grad)
        b = None
        if case["with_bias"]:
            b = randn(case["shape"][case["dim"]], dtype=dtype, device=device, requires_grad=requires_grad)
        kwargs = {k: case[k] for k in ("dim", "act", "alpha", "gain", "clamp")}
        return Call(bias_act, (x, b), kwargs)

    gradcheck_cases = [dict(act=act, clamp=clamp) for act in ACTS for clamp in (None, 0.6)]

    def gradcheck_call(self, case, device):
        return Call(bias_act, (randn(3, 4, 5, device=device, requires_grad=True),
                               randn(4, device=device, requires_grad=True)), case)

    low_precision_cases = [dict(act=act, clamp=2.5) for act in ACTS]

    def low_precision_call(self, case, device):
        return Call(bias_act, (randn(4, 16, 9, 9, device=device) * 2, randn(16, device=device)), case)

    low_precision_gradient_cases = [dict(act=act) for act in ("lrelu", "swish")]

    def low_precision_gradient_call(self, case, device):
        return Call(bias_act, (randn(4, 8, 6, device=device, requires_grad=True),), case)

    layout_cases = [dict(act=act, clamp=1.5) for act in ("lrelu", "swish")]

    def layout_call(self, case, device):
        return Call(bias_act, (randn(3, 6, 5, 7, device=device), randn(6, device=device)), case)

    nonfinite_cases = [dict(act=act, clamp=clamp) for act in ACTS for clamp in (None, 2.0)]

    def nonfinite_call(self, case, device):
        x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0, -1.0, 30.0, -30.0, 100.0],
                         dtype=torch.float32, device=device)
        return Call(bias_act, (x,), case)

    empty_cases = [dict(shape=shape, act=act) for shape in [(0,), (0, 3), (2, 0, 4), (3, 4, 0)]
                   for act in ("lrelu", "tanh")]

    def empty_call(self, case, device):
        shape = case["shape"]
        x = torch.randn(shape, device=device, requires_grad=True)
        b = torch.randn(shape[1], device=device, requires_grad=True) if len(shape) > 1 else None
        return Call(bias_act, (x, b), dict(act=case["act"]))

    def opcheck_samples(self, device):
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

    bad_inputs = {
        "x not a tensor": (TypeError, "x must be a torch.Tensor", lambda: bias_act([1.0, 2.0])),
        "x integer dtype": (TypeError, "x must have dtype", lambda: bias_act(torch.ones(3, dtype=torch.int32))),
        "b dtype": (TypeError, "b must have dtype float32",
                    lambda: bias_act(torch.randn(2, 3), torch.randn(3, dtype=torch.float64))),
        "b device": (ValueError, "b is on meta", lambda: bias_act(torch.randn(2, 3), torch.randn(3, device="meta"))),
        "b length": (ValueError, r"b has 4 elements but x.shape\[1\] is 3",
                     lambda: bias_act(torch.randn(2, 3), torch.randn(4))),
        "b rank": (ValueError, "b must be 1-D", lambda: bias_act(torch.randn(2, 3), torch.randn(1, 3))),
        **{f"dim {dim} out of range": (ValueError, "dim", lambda dim=dim: bias_act(torch.randn(2, 3), torch.randn(3),
                                                                                   dim=dim))
           for dim in (2, -3, 5)},
        "unknown act": (ValueError, "act must be one of", lambda: bias_act(torch.randn(2), act="gelu")),
        "alpha of an activation without one": (ValueError, "alpha is not a parameter",
                                               lambda: bias_act(torch.randn(2), act="tanh", alpha=0.1)),
        "negative alpha": (ValueError, "alpha must be >= 0", lambda: bias_act(torch.randn(2), act="lrelu", alpha=-0.1)),
        "negative clamp": (ValueError, "clamp must be >= 0", lambda: bias_act(torch.randn(2), clamp=-1)),
        "non-finite gain": (ValueError, "gain must be finite", lambda: bias_act(torch.randn(2), gain=float("nan"))),
        "unknown impl": (ValueError, "impl must be one of", lambda: bias_act(torch.randn(2), impl="cuda")),
        # The kernels check the direct op calls too.
        "op: unknown activation": (ValueError, "unknown activation",
                                   lambda: ops.bias_act(torch.randn(2), None, 0, "nope", 0.0, 1.0, None)),
        "op: b shape": (ValueError, "b must have shape",
                        lambda: ops.bias_act(torch.randn(2, 3), torch.randn(2), 1, "linear", 0.0, 1.0, None)),
        "op: b dtype": (TypeError, "b must have the dtype",
                        lambda: ops.bias_act(torch.randn(2, 3), torch.randn(3).double(), 1, "linear", 0.0, 1.0, None)),
        "op: dim": (ValueError, "dim 4 is out of range",
                    lambda: ops.bias_act(torch.randn(2, 3), torch.randn(3), 4, "linear", 0.0, 1.0, None)),
        "op: x dtype": (TypeError, "x must be float16",
                        lambda: ops.bias_act(torch.ones(2, dtype=torch.int64), None, 0, "linear", 0.0, 1.0, None)),
        "op: grad shape": (ValueError, "grad must have the shape",
                           lambda: ops.bias_act_grad_from_output(torch.randn(3), torch.randn(4), "relu", 0.0, 1.0,
                                                                 None)),
        "op: smooth activation from its output": (
            ValueError, "differentiated from its input",
            lambda: ops.bias_act_grad_from_output(torch.randn(3), torch.randn(3), "tanh", 0.0, 1.0, None)),
        "op: order": (ValueError, "order must be 1 or 2",
                      lambda: ops.bias_act_grad_from_input(torch.randn(3), torch.randn(3), None, 0, "tanh", 0.0, 1.0,
                                                           None, 3)),
    }


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
def test_bias_along_any_dimension_and_strided(act, device):
    # The bias along the innermost or an inner dimension, and a bias that is itself a strided view.
    x = torch.randn(3, 6, 5, 7, device=device, dtype=torch.float64)
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


def test_scalar_tensor_without_bias(device):
    x = torch.tensor(0.5, device=device)
    assert_matches(bias_act(x, act="lrelu", impl="fused"), bias_act(x, act="lrelu", impl="ref"))


def test_defaults_follow_the_activation_table():
    x = torch.randn(5, 6)
    assert_matches(bias_act(x, act="lrelu", impl="fused"), torch.nn.functional.leaky_relu(x, 0.2) * math.sqrt(2))
    assert_matches(bias_act(x, act="swish", impl="fused"), x * torch.sigmoid(x) * math.sqrt(2))
    assert_matches(bias_act(x, act="tanh", impl="fused"), torch.tanh(x))
    assert_matches(bias_act(x, impl="fused"), x)
    assert_matches(bias_act(x, act="relu", impl="ref"), torch.relu(x) * math.sqrt(2))
