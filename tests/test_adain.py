"""adain and style_epilogue: against the reference, gradients to second order, numerics of the plane statistics."""

import pytest
import torch
from hypothesis import strategies as st

from stylegan_ops import adain, style_epilogue
from helpers import assert_matches, assert_within_error_budget, randn
from op_battery import Call, OpBattery

ops = torch.ops.stylegan_ops
OPS = {"adain": adain, "style_epilogue": style_epilogue}

# The bad inputs' well-formed arguments.
X, S = torch.randn(2, 3, 4, 5), torch.randn(2, 3)


@st.composite
def case(draw):
    return dict(
        shape=(draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 12))),
        epilogue=draw(st.booleans()),
        noise=draw(st.sampled_from(["none", "per-sample", "shared"])),
        strength=draw(st.sampled_from(["scalar", "per-channel"])),
        with_bias=draw(st.booleans()),
        channels_last=draw(st.booleans()),
        alpha=draw(st.floats(0, 1)),
        gain=draw(st.floats(-2, 2)),
        eps=draw(st.sampled_from([1e-8, 1e-5, 0.1])),
        offset=draw(st.sampled_from([0.0, 3.0, -50.0])),  # a plane mean far from 0
    )


def call_of(op: str, x, noise, noise_strength, b, style_scale, style_bias, **kwargs) -> Call:
    """A Call of adain (which takes x and the styles only) or style_epilogue, from every layer input."""
    if op == "adain":
        return Call(adain, (x, style_scale, style_bias), kwargs)
    return Call(style_epilogue, (x, noise, noise_strength, b, style_scale, style_bias), kwargs)


def layer_inputs(shape, device, dtype=torch.float64, requires_grad=False, channels_last=False):
    """x [N, C, H, W], noise [N, 1, H, W], noise_strength and b [C], style_scale and style_bias [N, C]."""
    n, c, h, w = shape
    x = randn(*shape, dtype=dtype, device=device)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    return (x.requires_grad_(requires_grad),
            *[randn(*s, dtype=dtype, device=device, requires_grad=requires_grad)
              for s in ((n, 1, h, w), (c,), (c,), (n, c), (n, c))])


class TestAdain(OpBattery):
    module = "stylegan_ops.adain"

    random_cases = case()

    def random_call(self, c, device, dtype, requires_grad=False):
        n, ch, h, w = c["shape"]
        x = torch.randn(c["shape"], dtype=dtype, device=device) + c["offset"]
        if c["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        style_scale, style_bias = randn(n, ch, dtype=dtype, device=device), randn(n, ch, dtype=dtype, device=device)
        noise = strength = b = None
        if c["epilogue"]:
            if c["noise"] == "per-sample":
                noise = torch.randn(n, 1, h, w, dtype=dtype, device=device)
            elif c["noise"] == "shared":
                noise = torch.randn(1, 1, h, w, dtype=dtype, device=device).expand(n, 1, h, w)
            if noise is not None:
                strength = torch.randn([] if c["strength"] == "scalar" else [ch], dtype=dtype, device=device)
            b = torch.randn(ch, dtype=dtype, device=device) if c["with_bias"] else None
        tensors = [x, noise, strength, b, style_scale, style_bias]
        if requires_grad:
            tensors = [t.detach().requires_grad_(True) if t is not None else None for t in tensors]
        # float32 statistics: compare where the plane's spread is not lost in its mean.
        tolerance = {} if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4 * (1 + abs(c["offset"])))
        if c["epilogue"]:
            return Call(style_epilogue, tuple(tensors), dict(alpha=c["alpha"], gain=c["gain"], eps=c["eps"]),
                        tolerance)
        return Call(adain, (tensors[0], *tensors[4:]), dict(eps=c["eps"]), tolerance)

    gradcheck_cases = [dict(op=op, channels_last=cl) for cl in (False, True) for op in OPS]

    def gradcheck_call(self, case, device):
        return call_of(case["op"], *layer_inputs((2, 3, 4, 5), device, requires_grad=True,
                                                 channels_last=case["channels_last"]))

    low_precision_cases = [dict(op=op, channels_last=cl) for cl in (False, True) for op in OPS]

    def low_precision_call(self, case, device):
        x, *others = layer_inputs((2, 8, 16, 16), device, channels_last=case["channels_last"])
        return call_of(case["op"], x * 2 + 1, *others)

    low_precision_gradient_cases = [dict(op=op) for op in OPS]

    def low_precision_gradient_call(self, case, device):
        x, *others = layer_inputs((2, 8, 12, 12), device)
        return call_of(case["op"], (x * 2 + 1).requires_grad_(True), *[t.requires_grad_(True) for t in others])

    layout_cases = [dict(op=op) for op in OPS]

    def layout_call(self, case, device):
        x, _, strength, b, _, style_bias = layer_inputs((2, 3, 6, 5), device)
        noise = randn(2, 1, 12, 5, device=device)[:, :, ::2]  # strided noise planes
        style_scale = randn(3, 2, device=device).t()  # [N, C], transposed
        return call_of(case["op"], x, noise, strength, b, style_scale, style_bias)

    nonfinite_cases = [dict(op=op, hw=hw, channels_last=cl) for op in OPS for hw in ((4, 4), (100, 100))
                       for cl in (False, True)]

    def nonfinite_call(self, case, device):
        x = torch.randn(1, 3, *case["hw"], device=device)
        x[0, 0, 1, 2] = float("nan")
        x[0, 1, 0, 0] = float("inf")
        if case["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        s, b = torch.randn(1, 3, device=device), torch.randn(1, 3, device=device)
        # NaN exactly where the reference has NaN; the finite plane to float32 precision over 10^4 pixels.
        tolerance = dict(rtol=1e-4, atol=1e-4)
        return Call(adain, (x, s, b), tolerance=tolerance) if case["op"] == "adain" else \
            Call(style_epilogue, (x, None, None, None, s, b), tolerance=tolerance)

    empty_cases = [dict(op=op, shape=shape) for shape in [(0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4)] for op in OPS]

    def empty_call(self, case, device):
        n, c, h, w = case["shape"]
        x = torch.randn(case["shape"], device=device, requires_grad=True)
        style_scale = torch.randn(n, c, device=device, requires_grad=True)
        style_bias = torch.randn(n, c, device=device, requires_grad=True)
        return call_of(case["op"], x, torch.randn(n, 1, h, w, device=device), torch.tensor(0.5, device=device), None,
                       style_scale, style_bias)

    def opcheck_samples(self, device):
        def t(*shape, grad=True):
            return torch.randn(shape, device=device, requires_grad=grad)

        x, scale, bias = t(2, 3, 4, 5), t(2, 3), t(2, 3)
        xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
        noise, strength, b = t(2, 1, 4, 5), t(3), t(3)
        g = t(2, 3, 4, 5)
        _, mean, rstd = ops.adain(x.detach(), scale.detach(), bias.detach(), 1e-8)
        _, mean2, rstd2 = ops.style_epilogue(x.detach(), noise.detach(), strength.detach(), b.detach(),
                                             scale.detach(), bias.detach(), 0.2, 1.41, 1e-8)
        return [
            (ops.adain.default, (x, scale, bias, 1e-8)),
            (ops.adain.default, (xc, scale, bias, 1e-5)),
            (ops.adain_backward.default, (g, x, scale, mean, rstd, 1e-8)),
            (ops.style_epilogue.default, (x, noise, strength, b, scale, bias, 0.2, 1.41, 1e-8)),
            (ops.style_epilogue.default, (xc, None, None, None, scale, bias, 0.2, 1.41, 1e-8)),
            (ops.style_epilogue_backward.default, (g, x, noise, strength, b, scale, mean2, rstd2, 0.2, 1.41, 1e-8)),
        ]

    bad_inputs = {
        "x rank": (ValueError, "x must be 4-D", lambda: adain(X[0], S, S)),
        "style_scale shape": (ValueError, r"style_scale must have shape \[2, 3\]",
                              lambda: adain(X, torch.randn(3), S)),
        "style_bias shape": (ValueError, r"style_bias must have shape \[2, 3\]",
                             lambda: style_epilogue(X, None, None, None, S, torch.randn(2, 4))),
        "style_scale dtype": (TypeError, "style_scale must have dtype float32", lambda: adain(X, S.double(), S)),
        "style_bias device": (ValueError, "style_bias is on meta",
                              lambda: adain(X, S, torch.randn(2, 3, device="meta"))),
        **{f"eps {eps}": (ValueError, "eps must be", lambda eps=eps: adain(X, S, S, eps=eps))
           for eps in (0, -1e-8, float("nan"))},
        "noise without noise_strength": (ValueError, "noise_strength is required with noise",
                                         lambda: style_epilogue(X, torch.randn(2, 1, 4, 5), None, None, S, S)),
        "noise_strength shape": (ValueError, "noise_strength must hold one value or one per channel",
                                 lambda: style_epilogue(X, torch.randn(2, 1, 4, 5), torch.randn(2), None, S, S)),
        "negative alpha": (ValueError, "alpha must be >= 0",
                           lambda: style_epilogue(X, None, None, None, S, S, alpha=-0.2)),
        # The kernels check the direct op calls too.
        "op: style_scale shape": (ValueError, "style_scale must have shape",
                                  lambda: ops.adain(X, torch.randn(3), S, 1e-8)),
        "op: eps": (ValueError, "eps must be positive", lambda: ops.adain(X, S, S, 0.0)),
        "op: mean dtype": (TypeError, "mean must have dtype Float",
                           lambda: ops.adain_backward(X, X, S, S.double(), S, 1e-8)),
        "op: grad shape": (ValueError, "grad must have the shape of x",
                           lambda: ops.adain_backward(X[:1], X, S, S, S, 1e-8)),
        "op: noise shape": (ValueError, "noise must have shape",
                            lambda: ops.style_epilogue(X, torch.randn(2, 1, 4, 4), torch.tensor(1.0), None, S, S, 0.2,
                                                       1.0, 1e-8)),
    }


@pytest.mark.parametrize("hw", [(4, 4), (64, 64), (1, 1), (300, 7)])
def test_plane_sizes(hw, device):
    x = torch.randn(2, 5, *hw, device=device, dtype=torch.float64)
    scale, bias = torch.randn(2, 5, device=device, dtype=torch.float64), torch.randn(2, 5, device=device,
                                                                                      dtype=torch.float64)
    assert_matches(adain(x, scale, bias, impl="fused"), adain(x, scale, bias, impl="ref"))


def assert_both_ops_match_the_reference(inputs, dy):
    """style_epilogue of inputs (x, noise, noise_strength, b, style_scale, style_bias) and adain of (x, style_scale,
    style_bias): outputs and every input's gradient for the output gradient dy, fused against the reference."""
    x, scale, bias = inputs[0], inputs[4], inputs[5]
    results = []
    for impl in ("fused", "ref"):
        y = style_epilogue(*inputs, impl=impl)
        results.append((y,) + torch.autograd.grad(y, inputs, dy))
        y = adain(x, scale, bias, impl=impl)
        results[-1] += (y,) + torch.autograd.grad(y, [x, scale, bias], dy)
    for f, r in zip(*results):
        assert_matches(f, r)


@pytest.mark.parametrize("shape", [(3, 70, 5, 5), (2, 130, 9, 7), (2, 3, 70, 65)], ids=str)
@pytest.mark.parametrize("channels_last", [False, True])
def test_kernel_paths(shape, channels_last, device):
    # Blocks of small planes past the first (N*C > 64), channel blocks past the first (C > 64), and planes of more
    # than one summation chunk (H*W > 4096), forward and backward, with every layer input.
    n, c, h, w = shape

    def t(*s):
        return torch.randn(s, dtype=torch.float64, device=device, requires_grad=True)

    x = t(*shape)
    if channels_last:
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    inputs = [x, t(n, 1, h, w), t(c), t(c), t(n, c), t(n, c)]
    assert_both_ops_match_the_reference(inputs, torch.randn(shape, dtype=torch.float64, device=device))


def test_inputs_from_memory():
    # The CPU kernels' path for inputs of 16 MiB and more (csrc/cpu/prefetch.h): smaller blocks of planes, each one's
    # inputs fetched while the previous one is written, and 2103 planes, so that the last block is a partial one.
    dtype, shape = torch.float64, (3, 701, 32, 32)
    n, c, h, w = shape
    assert n * c * h * w * dtype.itemsize >= 16 << 20

    def t(*s):
        return torch.randn(s, dtype=dtype, requires_grad=True)

    inputs = [t(*shape), t(n, 1, h, w), t(c), t(c), t(n, c), t(n, c)]
    assert_both_ops_match_the_reference(inputs, torch.randn(shape, dtype=dtype))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 70, 9, 7), (1, 2, 70, 65)], ids=str)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_noise", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_style_epilogue_backward_sums_grad_x_per_plane(shape, channels_last, with_noise, dtype, device):
    # The op's fourth output: per plane sum(grad_x) and sum(grad_x * noise), in the accumulation type, the second 0
    # without noise (planes of one and of two summation chunks, blocks of channels and of planes).
    n, c, h, w = shape
    x, noise, strength, b, scale, _ = layer_inputs(shape, device, dtype=dtype, channels_last=channels_last)
    if not with_noise:
        noise = strength = None
    grad = randn(*shape, dtype=dtype, device=device)
    _, mean, rstd = ops.style_epilogue(x, noise, strength, b, scale, scale, 0.2, 1.4, 1e-8)
    grad_x, _, _, sums = ops.style_epilogue_backward(grad, x, noise, strength, b, scale, mean, rstd, 0.2, 1.4, 1e-8)
    assert sums.shape == (n, c, 2) and sums.dtype == mean.dtype
    exact = grad_x.double()
    weighted = exact * noise.double() if with_noise else torch.zeros_like(exact)
    expected = torch.stack([exact.sum((2, 3)), weighted.sum((2, 3))], dim=2)
    # What is summed (the kernel's grad_x before rounding to the dtype of x) differs from grad_x by its rounding.
    scale_of_terms = exact.abs().sum((2, 3)).max().item() * (1 + (noise.abs().max().item() if with_noise else 0))
    atol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3}[dtype] * scale_of_terms
    torch.testing.assert_close(sums.double(), expected, rtol=0, atol=atol)


@pytest.mark.parametrize("strength_shape", [[], [5]], ids=["scalar", "per-channel"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_style_epilogue_gradients_with_and_without_a_graph_agree(strength_shape, channels_last, device):
    # Without create_graph the gradients of b and noise_strength come from the kernel's per-plane sums; with it, from
    # differentiable sums of grad_x. Both match the reference.
    x, noise, _, b, scale, bias = layer_inputs((3, 5, 6, 7), device, requires_grad=True, channels_last=channels_last)
    strength = randn(*strength_shape, dtype=torch.float64, device=device, requires_grad=True)
    inputs = [x, noise, strength, b, scale, bias]
    dy = randn(3, 5, 6, 7, dtype=torch.float64, device=device)
    expected = torch.autograd.grad(style_epilogue(*inputs, impl="ref"), inputs, dy)
    for create_graph in (False, True):
        got = torch.autograd.grad(style_epilogue(*inputs, impl="fused"), inputs, dy, create_graph=create_graph)
        for g, e in zip(got, expected):
            assert_matches(g, e)


@pytest.mark.parametrize("with_noise", [False, True], ids=["no noise", "noise"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["no b", "b"])
def test_style_epilogue_gradient_of_each_input_alone(with_noise, with_bias, device):
    # The autograd (csrc/autograd.cpp) counts only the tensors given as inputs of the graph: with noise or b absent,
    # each present input's gradient must still be its own.
    x, noise, strength, b, scale, bias = layer_inputs((2, 3, 4, 5), device)
    inputs = [x, noise if with_noise else None, strength if with_noise else None, b if with_bias else None, scale, bias]
    dy = randn(2, 3, 4, 5, dtype=torch.float64, device=device)
    for i in [i for i, t in enumerate(inputs) if t is not None]:
        args = list(inputs)
        args[i] = args[i].clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(style_epilogue(*args, impl="ref"), args[i], dy)
        (got,) = torch.autograd.grad(style_epilogue(*args, impl="fused"), args[i], dy)
        assert_matches(got, expected)


@pytest.mark.parametrize("op", ["adain", "style_epilogue"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_constant_planes_give_the_bias_and_finite_gradients(op, channels_last, device):
    x = torch.full((2, 3, 5, 5), 7.0, device=device)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    scale, bias = torch.randn(2, 3, device=device), torch.randn(2, 3, device=device)
    if op == "adain":
        y = adain(x, scale, bias, impl="fused")
    else:
        y = style_epilogue(x, None, None, None, scale, bias, impl="fused")
    torch.testing.assert_close(y, bias[:, :, None, None].expand_as(y))
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("hw", [(4, 4), (100, 100)])
def test_eps_below_the_float32_range_still_counts(hw, device):
    x = torch.full((1, 2, *hw), 3.0, device=device)  # constant planes: the result is the bias, through 1 / sqrt(eps)
    s, b = torch.randn(1, 2, device=device), torch.randn(1, 2, device=device)
    torch.testing.assert_close(adain(x, s, b, eps=1e-46, impl="fused"), b[:, :, None, None].expand_as(x))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("hw", [(4, 4), (16, 16), (100, 100)])
def test_tiny_variance_under_a_large_mean(channels_last, hw, device):
    # Mean 1e4, standard deviation 1e-2: float32 statistics must neither cancel nor round the centring at the
    # mean's scale. The fused float32 result stays within the error budget of the float32 reference.
    x = (1e4 + 1e-2 * torch.randn(2, 4, *hw, dtype=torch.float64, device=device)).float()
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    scale, bias = torch.ones(2, 4, device=device), torch.zeros(2, 4, device=device)
    truth = adain(x.double(), scale.double(), bias.double(), impl="ref")  # exact statistics of the float32 input
    fused = adain(x, scale, bias, impl="fused")
    assert torch.isfinite(fused).all()
    assert_within_error_budget(fused, adain(x, scale, bias, impl="ref"), truth)


def test_statistics_are_float32_for_half_inputs(device):
    x = torch.randn(2, 3, 4, 4, device=device, dtype=torch.float16)
    y, mean, rstd = ops.adain(x, torch.ones(2, 3, device=device, dtype=torch.float16),
                              torch.zeros(2, 3, device=device, dtype=torch.float16), 1e-8)
    assert y.dtype == torch.float16 and mean.dtype == rstd.dtype == torch.float32
    torch.testing.assert_close(mean, x.float().mean((2, 3)))


def test_the_old_keywords_are_deprecated():
    x, noise, strength, b, scale, bias = layer_inputs((2, 3, 4, 5), "cpu")
    with pytest.warns(DeprecationWarning, match="'scale' is deprecated; use 'style_scale'"), \
            pytest.warns(DeprecationWarning, match="'bias' is deprecated; use 'style_bias'"):
        y = adain(x, scale=scale, bias=bias)
    assert_matches(y, adain(x, style_scale=scale, style_bias=bias))
    with pytest.warns(DeprecationWarning) as caught:
        y = style_epilogue(x, noise, b=b, noise_weight=strength, scale=scale, bias=bias)
    assert sorted(str(w.message) for w in caught) == [
        f"style_epilogue: the keyword {old!r} is deprecated; use {new!r}"
        for old, new in (("bias", "style_bias"), ("noise_weight", "noise_strength"), ("scale", "style_scale"))]
    assert_matches(y, style_epilogue(x, noise, strength, b, scale, bias))
