import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stylegan_ops import ACTIVATIONS, noise_bias_act
from helpers import LOW_PRECISION, assert_matches, assert_within_error_budget, forbid_fused_ops

ACTS = sorted(ACTIVATIONS)
ops = torch.ops.stylegan_ops


@st.composite
def case(draw):
    act = draw(st.sampled_from(ACTS))
    return dict(
        shape=(draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 9)), draw(st.integers(1, 9))),
        noise=draw(st.sampled_from(["none", "per-sample", "shared", "strided"])),
        strength=draw(st.sampled_from(["scalar", "one", "per-channel"])),
        with_bias=draw(st.booleans()),
        channels_last=draw(st.booleans()),
        act=act,
        alpha=draw(st.one_of(st.none(), st.floats(0, 1))) if act == "lrelu" else None,
        gain=draw(st.one_of(st.none(), st.floats(-3, 3))),
        clamp=draw(st.one_of(st.none(), st.floats(0, 2))),
    )


def make(c, device, dtype, requires_grad=False):
    n, ch, h, w = c["shape"]
    x = torch.randn(c["shape"], dtype=dtype, device=device)
    if c["channels_last"]:
        x = x.to(memory_format=torch.channels_last)
    noise = strength = None
    if c["noise"] == "per-sample":
        noise = torch.randn(n, 1, h, w, dtype=dtype, device=device)
    elif c["noise"] == "shared":  # one buffer expanded over the batch: batch stride 0
        noise = torch.randn(1, 1, h, w, dtype=dtype, device=device).expand(n, 1, h, w)
    elif c["noise"] == "strided":
        noise = torch.randn(n, 1, 2 * h, w, dtype=dtype, device=device)[:, :, ::2]
    if noise is not None:
        shape = {"scalar": [], "one": [1], "per-channel": [ch]}[c["strength"]]
        strength = torch.randn(shape, dtype=dtype, device=device)
    b = torch.randn(ch, dtype=dtype, device=device) if c["with_bias"] else None
    tensors = [x, noise, strength, b]
    if requires_grad:
        tensors = [t.detach().requires_grad_(True) if t is not None else None for t in tensors]
    kwargs = dict(act=c["act"], alpha=c["alpha"], gain=c["gain"], clamp=c["clamp"])
    return tensors, kwargs


@given(c=case())
def test_matches_reference_random(c, device):
    for dtype in (torch.float64, torch.float32):
        tensors, kwargs = make(c, device, dtype)
        fused = noise_bias_act(*tensors, impl="fused", **kwargs)
        assert_matches(fused, noise_bias_act(*tensors, impl="ref", **kwargs))
        if c["channels_last"] and c["shape"][1] > 1 and c["shape"][2] * c["shape"][3] > 1:
            assert fused.is_contiguous(memory_format=torch.channels_last)


@given(c=case())
def test_gradients_match_reference_random(c, device):
    tensors, kwargs = make(c, device, torch.float64, requires_grad=True)
    inputs = [t for t in tensors if t is not None]
    dy = torch.randn(c["shape"], dtype=torch.float64, device=device)
    vs = [torch.randn_like(t) for t in inputs]
    results = []
    for impl in ("fused", "ref"):
        y = noise_bias_act(*tensors, impl=impl, **kwargs)
        first = torch.autograd.grad(y, inputs, dy, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(first, vs))
        second = torch.autograd.grad(dot, inputs, allow_unused=True) if dot.requires_grad else [None] * len(inputs)
        results.append((first, second))
    for f, r in zip(results[0][0], results[1][0]):
        assert_matches(f, r)
    for f, r in zip(results[0][1], results[1][1]):
        if f is None or r is None:
            assert (f is None or not f.any()) and (r is None or not r.any())
        else:
            assert_matches(f, r)


@pytest.mark.parametrize("act", ["lrelu", "linear", "tanh"])
@pytest.mark.parametrize("strength_shape", [[], [3]])
def test_gradcheck_and_gradgradcheck(act, strength_shape, device):
    def t(*shape):
        return torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)

    x, noise, strength, b = t(2, 3, 4, 5), t(2, 1, 4, 5), t(*strength_shape), t(3)

    def fn(x, noise, strength, b):
        return noise_bias_act(x, noise, strength, b, act=act, clamp=1.0, impl="fused")

    assert torch.autograd.gradcheck(fn, (x, noise, strength, b))
    assert torch.autograd.gradgradcheck(fn, (x, noise, strength, b))


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("channels_last", [False, True])
def test_low_precision_error_budget(dtype, channels_last, device):
    x64 = torch.randn(4, 16, 8, 8, dtype=torch.float64, device=device) * 3
    if channels_last:
        x64 = x64.to(memory_format=torch.channels_last)
    noise64 = torch.randn(4, 1, 8, 8, dtype=torch.float64, device=device)
    s64, b64 = torch.randn(16, dtype=torch.float64, device=device), torch.randn(16, dtype=torch.float64, device=device)
    ref64 = noise_bias_act(x64, noise64, s64, b64, clamp=4.0, impl="ref")
    low = [t.to(dtype) for t in (x64, noise64, s64, b64)]
    assert_within_error_budget(noise_bias_act(*low, clamp=4.0, impl="fused"),
                               noise_bias_act(*low, clamp=4.0, impl="ref"), ref64)


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("act", ["lrelu", "swish"])
def test_low_precision_gradients(dtype, act, device):
    args64 = [torch.randn(2, 8, 6, 6, dtype=torch.float64, device=device) * 2,
              torch.randn(2, 1, 6, 6, dtype=torch.float64, device=device),
              torch.randn(8, dtype=torch.float64, device=device), torch.randn(8, dtype=torch.float64, device=device)]
    dy64 = torch.randn(2, 8, 6, 6, dtype=torch.float64, device=device)
    inputs64 = [a.clone().requires_grad_(True) for a in args64]
    truth = torch.autograd.grad(noise_bias_act(*inputs64, act=act, clamp=4.0, impl="ref"), inputs64, dy64)
    low = [a.to(dtype).requires_grad_(True) for a in args64]
    grads = [torch.autograd.grad(noise_bias_act(*low, act=act, clamp=4.0, impl=impl), low, dy64.to(dtype))
             for impl in ("fused", "ref")]
    for fused, ref, t in zip(grads[0], grads[1], truth):
        assert_within_error_budget(fused, ref, t)


def test_non_contiguous_input(device):
    x = torch.randn(2, 3, 6, 10, device=device)[..., ::2]
    noise = torch.randn(2, 1, 6, 5, device=device)
    s, b = torch.tensor(0.5, device=device), torch.randn(3, device=device)
    assert_matches(noise_bias_act(x, noise, s, b, impl="fused"), noise_bias_act(x, noise, s, b, impl="ref"))


def test_nan_and_inf_propagate_like_the_reference(device):
    x = torch.randn(1, 2, 3, 3, device=device)
    x[0, 0, 1, 1] = float("nan")
    x[0, 1, 0, 2] = float("inf")
    noise = torch.randn(1, 1, 3, 3, device=device)
    noise[0, 0, 2, 2] = -float("inf")
    for clamp in (None, 1.0):
        assert_matches(noise_bias_act(x, noise, torch.tensor(1.0, device=device), clamp=clamp, impl="fused"),
                       noise_bias_act(x, noise, torch.tensor(1.0, device=device), clamp=clamp, impl="ref"))


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4)])
def test_empty_tensors(shape, device):
    n, c, h, w = shape
    x = torch.randn(shape, device=device, requires_grad=True)
    noise = torch.randn(n, 1, h, w, device=device, requires_grad=True)
    s = torch.randn(c, device=device, requires_grad=True) if c > 0 else torch.tensor(0.1, device=device,
                                                                                     requires_grad=True)
    y = noise_bias_act(x, noise, s, impl="fused")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape and noise.grad.shape == noise.shape and not s.grad.any()


def opcheck_samples(device):
    x = torch.randn(2, 3, 4, 5, device=device, requires_grad=True)
    xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
    noise = torch.randn(2, 1, 4, 5, device=device, requires_grad=True)
    s0 = torch.tensor(0.3, device=device, requires_grad=True)
    s1 = torch.randn(3, device=device, requires_grad=True)
    b = torch.randn(3, device=device, requires_grad=True)
    return [
        (ops.noise_bias_act.default, (x, noise, s0, b, "lrelu", 0.2, 1.41, 256.0)),
        (ops.noise_bias_act.default, (xc, noise, s1, b, "lrelu", 0.2, 1.41, None)),
        (ops.noise_bias_act.default, (x, None, None, b, "swish", 0.0, 1.0, None)),
        (ops.noise_bias_act.default, (x, noise, s1, None, "tanh", 0.0, 1.0, 0.5)),
    ]


def test_opcheck(device):
    for op, args in opcheck_samples(device):
        torch.library.opcheck(op, args)


def test_reference_impl_does_not_touch_the_kernels(monkeypatch):
    forbid_fused_ops(monkeypatch, "stylegan_ops.noise_bias_act")
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    noise_bias_act(x, torch.randn(1, 1, 3, 3), torch.tensor(0.1), impl="ref").sum().backward()


class TestBadInput:
    x = torch.randn(2, 3, 4, 5)
    noise = torch.randn(2, 1, 4, 5)
    s = torch.tensor(0.1)

    def test_x_rank(self):
        with pytest.raises(ValueError, match="x must be 4-D"):
            noise_bias_act(torch.randn(3, 4, 5))

    def test_noise_shape(self):
        with pytest.raises(ValueError, match=r"noise must have shape \[2, 1, 4, 5\]"):
            noise_bias_act(self.x, torch.randn(2, 3, 4, 5), self.s)

    def test_noise_without_strength(self):
        with pytest.raises(ValueError, match="strength is required with noise"):
            noise_bias_act(self.x, self.noise)

    def test_strength_without_noise(self):
        with pytest.raises(ValueError, match="strength is given without noise"):
            noise_bias_act(self.x, None, self.s)

    def test_strength_shape(self):
        with pytest.raises(ValueError, match="strength must hold one value or one per channel"):
            noise_bias_act(self.x, self.noise, torch.randn(2))

    def test_dtype_mismatch(self):
        with pytest.raises(TypeError, match="noise must have dtype float32"):
            noise_bias_act(self.x, self.noise.double(), self.s)
        with pytest.raises(TypeError, match="b must have dtype float32"):
            noise_bias_act(self.x, b=torch.randn(3, dtype=torch.float16))

    def test_device_mismatch(self):
        with pytest.raises(ValueError, match="strength is on meta"):
            noise_bias_act(self.x, self.noise, torch.tensor(0.1, device="meta"))

    def test_bias_shape(self):
        with pytest.raises(ValueError, match=r"b must have shape \[3\]"):
            noise_bias_act(self.x, b=torch.randn(4))

    def test_activation_arguments(self):
        with pytest.raises(ValueError, match="act must be one of"):
            noise_bias_act(self.x, act="gelu")
        with pytest.raises(ValueError, match="clamp must be >= 0"):
            noise_bias_act(self.x, clamp=-1)

    def test_direct_op_calls_are_checked(self):
        with pytest.raises(ValueError, match="noise must have shape"):
            ops.noise_bias_act(self.x, torch.randn(2, 1, 4, 4), self.s, None, "lrelu", 0.2, 1.0, None)
        with pytest.raises(ValueError, match="strength is required with noise"):
            ops.noise_bias_act(self.x, self.noise, None, None, "lrelu", 0.2, 1.0, None)
        with pytest.raises(TypeError, match="strength must have the dtype of x"):
            ops.noise_bias_act(self.x, self.noise, self.s.double(), None, "lrelu", 0.2, 1.0, None)
        with pytest.raises(ValueError, match="unknown activation"):
            ops.noise_bias_act(self.x, None, None, None, "gelu", 0.2, 1.0, None)
