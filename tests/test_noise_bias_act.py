import pytest
import torch
from hypothesis import strategies as st

from stylegan_ops import ACTIVATIONS, noise_bias_act
from helpers import assert_matches, randn
from op_battery import Call, OpBattery

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


# The bad inputs' well-formed arguments.
X, NOISE, S = torch.randn(2, 3, 4, 5), torch.randn(2, 1, 4, 5), torch.tensor(0.1)


def layer_inputs(shape, device, dtype=torch.float64, strength_shape=(), requires_grad=False, x_scale=1.0):
    """x [N, C, H, W] (times x_scale), noise [N, 1, H, W], noise_strength and b [C]."""
    n, c, h, w = shape
    x = (randn(*shape, dtype=dtype, device=device) * x_scale).requires_grad_(requires_grad)
    return (x, randn(n, 1, h, w, dtype=dtype, device=device, requires_grad=requires_grad),
            randn(*strength_shape, dtype=dtype, device=device, requires_grad=requires_grad),
            randn(c, dtype=dtype, device=device, requires_grad=requires_grad))


class TestNoiseBiasAct(OpBattery):
    module = "stylegan_ops.noise_bias_act"

    random_cases = case()

    def random_call(self, c, device, dtype, requires_grad=False):
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
        return Call(noise_bias_act, tuple(tensors), {k: c[k] for k in ("act", "alpha", "gain", "clamp")})

    gradcheck_cases = [dict(act=act, strength_shape=shape) for act in ("lrelu", "linear", "tanh")
                       for shape in ((), (3,))]

    def gradcheck_call(self, case, device):
        inputs = layer_inputs((2, 3, 4, 5), device, strength_shape=case["strength_shape"], requires_grad=True)
        return Call(noise_bias_act, inputs, dict(act=case["act"], clamp=1.0))

    low_precision_cases = [dict(channels_last=False), dict(channels_last=True)]

    def low_precision_call(self, case, device):
        x, noise, strength, b = layer_inputs((4, 16, 8, 8), device, strength_shape=(16,), x_scale=3)
        if case["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        return Call(noise_bias_act, (x, noise, strength, b), dict(clamp=4.0))

    low_precision_gradient_cases = [dict(act="lrelu"), dict(act="swish")]

    def low_precision_gradient_call(self, case, device):
        inputs = layer_inputs((2, 8, 6, 6), device, strength_shape=(8,), requires_grad=True, x_scale=2)
        return Call(noise_bias_act, inputs, dict(act=case["act"], clamp=4.0))

    layout_cases = [dict(act="lrelu")]

    def layout_call(self, case, device):
        x, noise, _, b = layer_inputs((2, 3, 6, 5), device, dtype=torch.float32)
        return Call(noise_bias_act, (x, noise, torch.tensor(0.5, device=device), b), case)

    nonfinite_cases = [dict(clamp=None), dict(clamp=1.0)]

    def nonfinite_call(self, case, device):
        x = torch.randn(1, 2, 3, 3, device=device)
        x[0, 0, 1, 1] = float("nan")
        x[0, 1, 0, 2] = float("inf")
        noise = torch.randn(1, 1, 3, 3, device=device)
        noise[0, 0, 2, 2] = -float("inf")
        return Call(noise_bias_act, (x, noise, torch.tensor(1.0, device=device)), case)

    empty_cases = [(0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4)]

    def empty_call(self, shape, device):
        n, c, h, w = shape
        x = torch.randn(shape, device=device, requires_grad=True)
        noise = torch.randn(n, 1, h, w, device=device, requires_grad=True)
        s = torch.randn(c, device=device, requires_grad=True) if c > 0 else torch.tensor(0.1, device=device,
                                                                                         requires_grad=True)
        return Call(noise_bias_act, (x, noise, s))

    def opcheck_samples(self, device):
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

    bad_inputs = {
        "x rank": (ValueError, "x must be 4-D", lambda: noise_bias_act(X[0])),
        "noise shape": (ValueError, r"noise must have shape \[2, 1, 4, 5\]",
                        lambda: noise_bias_act(X, torch.randn(2, 3, 4, 5), S)),
        "noise without noise_strength": (ValueError, "noise_strength is required with noise",
                                         lambda: noise_bias_act(X, NOISE)),
        "noise_strength without noise": (ValueError, "noise_strength is given without noise",
                                         lambda: noise_bias_act(X, None, S)),
        "noise_strength shape": (ValueError, "noise_strength must hold one value or one per channel",
                                 lambda: noise_bias_act(X, NOISE, torch.randn(2))),
        "noise dtype": (TypeError, "noise must have dtype float32", lambda: noise_bias_act(X, NOISE.double(), S)),
        "b dtype": (TypeError, "b must have dtype float32",
                    lambda: noise_bias_act(X, b=torch.randn(3, dtype=torch.float16))),
        "device mismatch": (ValueError, "noise_strength is on meta",
                            lambda: noise_bias_act(X, NOISE, torch.tensor(0.1, device="meta"))),
        "b shape": (ValueError, r"b must have shape \[3\]", lambda: noise_bias_act(X, b=torch.randn(4))),
        "unknown act": (ValueError, "act must be one of", lambda: noise_bias_act(X, act="gelu")),
        "negative clamp": (ValueError, "clamp must be >= 0", lambda: noise_bias_act(X, clamp=-1)),
        # The kernels check the direct op calls too.
        "op: noise shape": (ValueError, "noise must have shape",
                            lambda: ops.noise_bias_act(X, torch.randn(2, 1, 4, 4), S, None, "lrelu", 0.2, 1.0, None)),
        "op: noise without noise_strength": (
            ValueError, "noise_strength is required with noise",
            lambda: ops.noise_bias_act(X, NOISE, None, None, "lrelu", 0.2, 1.0, None)),
        "op: noise_strength dtype": (
            TypeError, "noise_strength must have the dtype of x",
            lambda: ops.noise_bias_act(X, NOISE, S.double(), None, "lrelu", 0.2, 1.0, None)),
        "op: unknown activation": (ValueError, "unknown activation",
                                   lambda: ops.noise_bias_act(X, None, None, None, "gelu", 0.2, 1.0, None)),
    }


def test_strength_is_a_deprecated_keyword_for_noise_strength():
    x, noise, s = torch.randn(2, 3, 4, 5), torch.randn(2, 1, 4, 5), torch.tensor(0.3)
    with pytest.warns(DeprecationWarning, match="'strength' is deprecated; use 'noise_strength'"):
        y = noise_bias_act(x, noise, strength=s)
    assert_matches(y, noise_bias_act(x, noise, noise_strength=s))
    with pytest.raises(TypeError, match="got both 'strength' .deprecated. and 'noise_strength'"):
        noise_bias_act(x, noise, strength=s, noise_strength=s)


@pytest.mark.parametrize("with_noise", [False, True], ids=["no noise", "noise"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["no b", "b"])
@pytest.mark.parametrize("act", ["lrelu", "linear", "tanh"])
def test_gradient_of_each_input_alone(with_noise, with_bias, act, device):
    # The autograd (csrc/autograd.cpp) counts only the tensors given as inputs of the graph: with noise or b absent,
    # each present input's gradient must still be its own, whatever the activation keeps for the backward.
    x, noise, strength, b = layer_inputs((2, 3, 4, 5), device, strength_shape=(3,))
    inputs = [x, noise if with_noise else None, strength if with_noise else None, b if with_bias else None]
    dy = randn(2, 3, 4, 5, dtype=torch.float64, device=device)
    for i in [i for i, t in enumerate(inputs) if t is not None]:
        args = list(inputs)
        args[i] = args[i].clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(noise_bias_act(*args, act=act, impl="ref"), args[i], dy)
        (got,) = torch.autograd.grad(noise_bias_act(*args, act=act, impl="fused"), args[i], dy)
        assert_matches(got, expected)
