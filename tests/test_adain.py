"""adain and style_epilogue: against the reference, gradients to second order, numerics of the plane statistics."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stylegan_ops import adain, style_epilogue
from helpers import LOW_PRECISION, assert_matches, assert_within_error_budget, forbid_fused_ops

ops = torch.ops.stylegan_ops


@st.composite
def case(draw):
    return dict(
        shape=(draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 12))),
        epilogue=draw(st.booleans()),
        noise=draw(st.sampled_from(["none", "per-sample", "shared"])),
        weight=draw(st.sampled_from(["scalar", "per-channel"])),
        with_bias=draw(st.booleans()),
        channels_last=draw(st.booleans()),
        alpha=draw(st.floats(0, 1)),
        gain=draw(st.floats(-2, 2)),
        eps=draw(st.sampled_from([1e-8, 1e-5, 0.1])),
        offset=draw(st.sampled_from([0.0, 3.0, -50.0])),  # a plane mean far from 0
    )


def make(c, device, dtype, requires_grad=False):
    n, ch, h, w = c["shape"]
    x = torch.randn(c["shape"], dtype=dtype, device=device) + c["offset"]
    if c["channels_last"]:
        x = x.to(memory_format=torch.channels_last)
    scale, bias = torch.randn(n, ch, dtype=dtype, device=device), torch.randn(n, ch, dtype=dtype, device=device)
    noise = weight = b = None
    if c["epilogue"]:
        if c["noise"] == "per-sample":
            noise = torch.randn(n, 1, h, w, dtype=dtype, device=device)
        elif c["noise"] == "shared":
            noise = torch.randn(1, 1, h, w, dtype=dtype, device=device).expand(n, 1, h, w)
        if noise is not None:
            weight = torch.randn([] if c["weight"] == "scalar" else [ch], dtype=dtype, device=device)
        b = torch.randn(ch, dtype=dtype, device=device) if c["with_bias"] else None
    tensors = dict(x=x, noise=noise, noise_weight=weight, b=b, scale=scale, bias=bias)
    if requires_grad:
        tensors = {k: (v.detach().requires_grad_(True) if v is not None else None) for k, v in tensors.items()}
    return tensors


def run(c, t, impl):
    if c["epilogue"]:
        return style_epilogue(t["x"], t["noise"], t["noise_weight"], t["b"], t["scale"], t["bias"], alpha=c["alpha"],
                              gain=c["gain"], eps=c["eps"], impl=impl)
    return adain(t["x"], t["scale"], t["bias"], eps=c["eps"], impl=impl)


@given(c=case())
def test_matches_reference_random(c, device):
    for dtype in (torch.float64, torch.float32):
        t = make(c, device, dtype)
        fused = run(c, t, "fused")
        # float32 statistics: compare where the plane's spread is not lost in its mean.
        tolerance = {} if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4 * (1 + abs(c["offset"])))
        assert_matches(fused, run(c, t, "ref"), **tolerance)


@given(c=case())
def test_gradients_match_reference_random(c, device):
    t = make(c, device, torch.float64, requires_grad=True)
    names = [k for k, v in t.items() if v is not None and (c["epilogue"] or k in ("x", "scale", "bias"))]
    inputs = [t[k] for k in names]
    dy = torch.randn(c["shape"], dtype=torch.float64, device=device)
    vs = [torch.randn_like(v) for v in inputs]
    results = []
    for impl in ("fused", "ref"):
        first = torch.autograd.grad(run(c, t, impl), inputs, dy, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(first, vs))
        second = torch.autograd.grad(dot, inputs, allow_unused=True)
        results.append((first, second))
    for name, f, r in zip(names, results[0][0], results[1][0]):
        assert_matches(f, r, msg=f"first-order gradient of {name}")
    for name, f, r in zip(names, results[0][1], results[1][1]):
        if f is None or r is None:
            assert (f is None or not f.any()) and (r is None or not r.any())
        else:
            assert_matches(f, r, msg=f"second-order gradient of {name}")


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradcheck_and_gradgradcheck(channels_last, device):
    def t(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    x = t(2, 3, 4, 5)
    if channels_last:
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    noise, weight, b, scale, bias = t(2, 1, 4, 5), t(3), t(3), t(2, 3), t(2, 3)

    def fn_adain(x, scale, bias):
        return adain(x, scale, bias, impl="fused")

    def fn_epilogue(x, noise, weight, b, scale, bias):
        return style_epilogue(x, noise, weight, b, scale, bias, impl="fused")

    assert torch.autograd.gradcheck(fn_adain, (x, scale, bias))
    assert torch.autograd.gradgradcheck(fn_adain, (x, scale, bias))
    assert torch.autograd.gradcheck(fn_epilogue, (x, noise, weight, b, scale, bias))
    assert torch.autograd.gradgradcheck(fn_epilogue, (x, noise, weight, b, scale, bias))


@pytest.mark.parametrize("hw", [(4, 4), (64, 64), (1, 1), (300, 7)])
def test_plane_sizes(hw, device):
    x = torch.randn(2, 5, *hw, device=device, dtype=torch.float64)
    scale, bias = torch.randn(2, 5, device=device, dtype=torch.float64), torch.randn(2, 5, device=device,
                                                                                      dtype=torch.float64)
    assert_matches(adain(x, scale, bias, impl="fused"), adain(x, scale, bias, impl="ref"))


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
    dy = torch.randn(shape, dtype=torch.float64, device=device)
    results = []
    for impl in ("fused", "ref"):
        y = style_epilogue(*inputs, impl=impl)
        results.append((y,) + torch.autograd.grad(y, inputs, dy))
        y = adain(x, inputs[4], inputs[5], impl=impl)
        results[-1] += (y,) + torch.autograd.grad(y, [x, inputs[4], inputs[5]], dy)
    for f, r in zip(*results):
        assert_matches(f, r)


def test_strided_inputs(device):
    x = torch.randn(2, 3, 6, 10, device=device, dtype=torch.float64)[..., ::2]  # not contiguous in either layout
    noise = torch.randn(2, 1, 12, 5, device=device, dtype=torch.float64)[:, :, ::2]  # strided noise planes
    w, b = torch.randn(3, device=device, dtype=torch.float64), torch.randn(3, device=device, dtype=torch.float64)
    scale = torch.randn(3, 2, device=device, dtype=torch.float64).t()  # [N, C], transposed
    bias = torch.randn(2, 3, device=device, dtype=torch.float64)
    assert_matches(adain(x, scale, bias, impl="fused"), adain(x, scale, bias, impl="ref"))
    assert_matches(style_epilogue(x, noise, w, b, scale, bias, impl="fused"),
                   style_epilogue(x, noise, w, b, scale, bias, impl="ref"))


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


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("hw", [(4, 4), (100, 100)])
def test_nan_and_inf_propagate_like_the_reference(channels_last, hw, device):
    x = torch.randn(1, 3, *hw, device=device)
    x[0, 0, 1, 2] = float("nan")
    x[0, 1, 0, 0] = float("inf")
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    s, b = torch.randn(1, 3, device=device), torch.randn(1, 3, device=device)
    # NaN exactly where the reference has NaN; the finite plane to float32 precision over 10^4 pixels.
    tolerance = dict(rtol=1e-4, atol=1e-4)
    assert_matches(adain(x, s, b, impl="fused"), adain(x, s, b, impl="ref"), **tolerance)
    assert_matches(style_epilogue(x, None, None, None, s, b, impl="fused"),
                   style_epilogue(x, None, None, None, s, b, impl="ref"), **tolerance)


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


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("channels_last", [False, True])
def test_low_precision_error_budget(dtype, channels_last, device):
    x64 = torch.randn(2, 8, 16, 16, dtype=torch.float64, device=device) * 2 + 1
    if channels_last:
        x64 = x64.to(memory_format=torch.channels_last)
    noise64 = torch.randn(2, 1, 16, 16, dtype=torch.float64, device=device)
    w64, b64 = torch.randn(8, dtype=torch.float64, device=device), torch.randn(8, dtype=torch.float64, device=device)
    s64, bias64 = torch.randn(2, 8, dtype=torch.float64, device=device), torch.randn(2, 8, dtype=torch.float64,
                                                                                     device=device)
    args64 = (x64, noise64, w64, b64, s64, bias64)
    args = [a.to(dtype) for a in args64]
    assert_within_error_budget(style_epilogue(*args, impl="fused"), style_epilogue(*args, impl="ref"),
                               style_epilogue(*args64, impl="ref"))
    assert_within_error_budget(adain(args[0], args[4], args[5], impl="fused"),
                               adain(args[0], args[4], args[5], impl="ref"), adain(x64, s64, bias64, impl="ref"))


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_gradients(dtype, device):
    def t(*s):
        return torch.randn(s, dtype=torch.float64, device=device)

    args64 = [t(2, 8, 12, 12) * 2 + 1, t(2, 1, 12, 12), t(8), t(8), t(2, 8), t(2, 8)]
    dy64 = t(2, 8, 12, 12)
    for op in (style_epilogue, lambda x, n, w, b, s, bias, impl: adain(x, s, bias, impl=impl)):
        inputs64 = [a.clone().requires_grad_(True) for a in args64]
        ref64 = torch.autograd.grad(op(*inputs64, impl="ref"), inputs64, dy64, allow_unused=True)
        low = [a.to(dtype).requires_grad_(True) for a in args64]
        grads = [torch.autograd.grad(op(*low, impl=impl), low, dy64.to(dtype), allow_unused=True)
                 for impl in ("fused", "ref")]
        for fused, ref, truth in zip(grads[0], grads[1], ref64):
            if truth is not None:
                assert_within_error_budget(fused, ref, truth)


def test_statistics_are_float32_for_half_inputs(device):
    x = torch.randn(2, 3, 4, 4, device=device, dtype=torch.float16)
    y, mean, rstd = ops.adain(x, torch.ones(2, 3, device=device, dtype=torch.float16),
                              torch.zeros(2, 3, device=device, dtype=torch.float16), 1e-8)
    assert y.dtype == torch.float16 and mean.dtype == rstd.dtype == torch.float32
    torch.testing.assert_close(mean, x.float().mean((2, 3)))


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4)])
def test_empty_tensors(shape, device):
    n, c, h, w = shape
    x = torch.randn(shape, device=device, requires_grad=True)
    scale = torch.randn(n, c, device=device, requires_grad=True)
    bias = torch.randn(n, c, device=device, requires_grad=True)
    y = adain(x, scale, bias, impl="fused")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape and scale.grad.shape == scale.shape
    y = style_epilogue(x, torch.randn(n, 1, h, w, device=device), torch.tensor(0.5, device=device), None, scale, bias,
                       impl="fused")
    assert y.shape == x.shape


def opcheck_samples(device):
    def t(*shape, grad=True):
        return torch.randn(shape, device=device, requires_grad=grad)

    x, scale, bias = t(2, 3, 4, 5), t(2, 3), t(2, 3)
    xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    noise, weight, b = t(2, 1, 4, 5), t(3), t(3)
    g = t(2, 3, 4, 5)
    _, mean, rstd = ops.adain(x.detach(), scale.detach(), bias.detach(), 1e-8)
    _, mean2, rstd2 = ops.style_epilogue(x.detach(), noise.detach(), weight.detach(), b.detach(), scale.detach(),
                                         bias.detach(), 0.2, 1.41, 1e-8)
    return [
        (ops.adain.default, (x, scale, bias, 1e-8)),
        (ops.adain.default, (xc, scale, bias, 1e-5)),
        (ops.adain_backward.default, (g, x, scale, mean, rstd, 1e-8)),
        (ops.style_epilogue.default, (x, noise, weight, b, scale, bias, 0.2, 1.41, 1e-8)),
        (ops.style_epilogue.default, (xc, None, None, None, scale, bias, 0.2, 1.41, 1e-8)),
        (ops.style_epilogue_backward.default, (g, x, noise, weight, b, scale, mean2, rstd2, 0.2, 1.41, 1e-8)),
    ]


def test_opcheck(device):
    for op, args in opcheck_samples(device):
        torch.library.opcheck(op, args)


def test_reference_impl_does_not_touch_the_kernels(monkeypatch):
    forbid_fused_ops(monkeypatch, "stylegan_ops.adain")
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    s, b = torch.randn(1, 2), torch.randn(1, 2)
    adain(x, s, b, impl="ref").sum().backward()
    style_epilogue(x, None, None, None, s, b, impl="ref").sum().backward()


class TestBadInput:
    x = torch.randn(2, 3, 4, 5)
    s = torch.randn(2, 3)

    def test_x_rank(self):
        with pytest.raises(ValueError, match="x must be 4-D"):
            adain(torch.randn(3, 4, 5), self.s, self.s)

    def test_scale_shape(self):
        with pytest.raises(ValueError, match=r"scale must have shape \[2, 3\]"):
            adain(self.x, torch.randn(3), self.s)
        with pytest.raises(ValueError, match=r"bias must have shape \[2, 3\]"):
            style_epilogue(self.x, None, None, None, self.s, torch.randn(2, 4))

    def test_scale_dtype_and_device(self):
        with pytest.raises(TypeError, match="scale must have dtype float32"):
            adain(self.x, self.s.double(), self.s)
        with pytest.raises(ValueError, match="bias is on meta"):
            adain(self.x, self.s, torch.randn(2, 3, device="meta"))

    @pytest.mark.parametrize("eps", [0, -1e-8, float("nan")])
    def test_eps(self, eps):
        with pytest.raises(ValueError, match="eps must be"):
            adain(self.x, self.s, self.s, eps=eps)

    def test_noise_weight(self):
        with pytest.raises(ValueError, match="noise_weight is required with noise"):
            style_epilogue(self.x, torch.randn(2, 1, 4, 5), None, None, self.s, self.s)
        with pytest.raises(ValueError, match="noise_weight must hold one value or one per channel"):
            style_epilogue(self.x, torch.randn(2, 1, 4, 5), torch.randn(2), None, self.s, self.s)

    def test_negative_alpha(self):
        with pytest.raises(ValueError, match="alpha must be >= 0"):
            style_epilogue(self.x, None, None, None, self.s, self.s, alpha=-0.2)

    def test_direct_op_calls_are_checked(self):
        with pytest.raises(ValueError, match="scale must have shape"):
            ops.adain(self.x, torch.randn(3), self.s, 1e-8)
        with pytest.raises(ValueError, match="eps must be positive"):
            ops.adain(self.x, self.s, self.s, 0.0)
        with pytest.raises(TypeError, match="mean must have dtype Float"):
            ops.adain_backward(self.x, self.x, self.s, self.s.double(), self.s, 1e-8)
        with pytest.raises(ValueError, match="grad must have the shape of x"):
            ops.adain_backward(self.x[:1], self.x, self.s, self.s, self.s, 1e-8)
        with pytest.raises(ValueError, match="noise must have shape"):
            ops.style_epilogue(self.x, torch.randn(2, 1, 4, 4), torch.tensor(1.0), None, self.s, self.s, 0.2, 1.0, 1e-8)
