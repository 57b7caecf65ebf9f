"""filtered_lrelu (StyleGAN3's fused resampling nonlinearity) against its reference, through the op battery, plus
the sign bits, the gradient ops of any order, and dynamic-shape compilation."""

import math

import pytest
import torch
from hypothesis import strategies as st

from stylegan_ops import filtered_lrelu, reference, setup_filter
from helpers import assert_matches
from op_battery import Call, OpBattery

ops = torch.ops.stylegan_ops


def make_filter(kind, taps, device, generator=None):
    """None, a 1-D filter of `taps` taps or a taps x taps 2-D one (random, mixed signs), float32."""
    if kind == "none":
        return None
    shape = [taps] if kind == "1d" else [taps, taps]
    return (torch.randn(shape, generator=generator) * 0.5 + 0.5).to(device)


@st.composite
def case(draw):
    up, down = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 8)), draw(st.integers(1, 8))),
        up=up, down=down,
        fu=draw(st.sampled_from(["none", "1d", "2d"])), fu_taps=draw(st.integers(1, 3 * up + 2)),
        fd=draw(st.sampled_from(["none", "1d", "2d"])), fd_taps=draw(st.integers(1, 3 * down + 2)),
        padding=tuple(draw(st.integers(-2, 6)) for _ in range(4)),
        gain=draw(st.floats(0.1, 3)), slope=draw(st.floats(0, 1)),
        clamp=draw(st.one_of(st.none(), st.floats(0.1, 2))),
        flip_filter=draw(st.booleans()), with_bias=draw(st.booleans()), channels_last=draw(st.booleans()),
        seed=draw(st.integers(0, 2 ** 16)),
    )


def fit_padding(shape, fu, fd, up, down, padding):
    """padding, widened at the far sides until the output has at least one pixel."""
    px0, px1, py0, py1 = padding
    ones = torch.ones([1, 1])
    while True:
        h, w = reference.filtered_lrelu_output_size(shape[2:], fu if fu is not None else ones,
                                                    fd if fd is not None else ones, up, down, (px0, px1, py0, py1))
        if h >= 1 and w >= 1:
            return px0, px1, py0, py1
        px1, py1 = px1 + (w < 1), py1 + (h < 1)


def layer(shape, device, dtype=torch.float64, up=2, down=2, taps=(12, 12), separable=(True, True), clamp=None,
          requires_grad=False, x_scale=1.0, channels_last=False):
    """A StyleGAN3-like call: Kaiser-like lowpass filters of `taps` (normalized), padding that keeps the size."""
    fu = setup_filter(torch.hann_window(taps[0] + 2, periodic=False)[1:-1], separable=separable[0]).to(device) \
        if up > 1 else None
    fd = setup_filter(torch.hann_window(taps[1] + 2, periodic=False)[1:-1], separable=separable[1]).to(device) \
        if down > 1 else None
    n, c, h, w = shape
    x = torch.randn(shape, dtype=dtype, device=device) * x_scale
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    b = torch.randn(c, dtype=dtype, device=device)
    fu_t, fd_t = (taps[0] if up > 1 else 1), (taps[1] if down > 1 else 1)
    pad = [(fu_t + fd_t - 2 + up - down) // 2 + (up - 1), 0, 0, 0]
    pad[1] = (fu_t + fd_t - 2) - pad[0] + (up - 1)
    pad[2:] = pad[:2]
    x, b = x.requires_grad_(requires_grad), b.requires_grad_(requires_grad)
    return Call(filtered_lrelu, (x, fu, fd, b), dict(up=up, down=down, padding=pad, clamp=clamp))


def exact_in_half(call: Call) -> Call:
    """The call with x and b rounded to values that float16 and bfloat16 hold exactly, so that the float64 truth and
    the low-precision runs see the same inputs: otherwise rounding x alone can move a buffer value across the kink,
    and the leaky slope then applies on one side only (a gradient error no kernel can avoid)."""
    def rounded(t):
        if t is None:
            return None
        return t.detach().to(torch.bfloat16).to(t.dtype).requires_grad_(t.requires_grad)

    x, fu, fd, b = call.args
    return Call(call.fn, (rounded(x), fu, fd, rounded(b)), call.kwargs, call.tolerance)


class TestFilteredLrelu(OpBattery):
    module = "stylegan_ops.filtered_lrelu"

    random_cases = case()

    def random_call(self, c, device, dtype, requires_grad=False):
        g = torch.Generator().manual_seed(c["seed"])
        fu = make_filter(c["fu"], c["fu_taps"], device, g)
        fd = make_filter(c["fd"], c["fd_taps"], device, g)
        padding = fit_padding(c["shape"], fu, fd, c["up"], c["down"], c["padding"])
        x = torch.randn(c["shape"], generator=g, dtype=dtype).to(device)
        if c["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        b = torch.randn(c["shape"][1], generator=g, dtype=dtype).to(device) if c["with_bias"] else None
        tensors = [x, b]
        if requires_grad:
            tensors = [t.detach().requires_grad_(True) if t is not None else None for t in tensors]
        tolerance = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
        return Call(filtered_lrelu, (tensors[0], fu, fd, tensors[1]),
                    dict(up=c["up"], down=c["down"], padding=padding, gain=c["gain"], slope=c["slope"],
                         clamp=c["clamp"], flip_filter=c["flip_filter"]), tolerance)

    # NVIDIA's configurations (up/down 2 with 12 taps, up 4 with 24, critically sampled), 2-D filters, a clamp.
    gradcheck_cases = [dict(up=2, down=2, taps=(12, 12)), dict(up=2, down=2, taps=(4, 4), separable=(False, False)),
                       dict(up=4, down=2, taps=(8, 4), clamp=0.5), dict(up=1, down=1, taps=(1, 1)),
                       dict(up=2, down=1, taps=(6, 1), separable=(True, False)), dict(up=1, down=2, taps=(1, 6))]

    def gradcheck_call(self, case, device):
        return layer((2, 2, 5, 5), device, requires_grad=True, **case)

    low_precision_cases = [dict(channels_last=False), dict(channels_last=True)]

    def low_precision_call(self, case, device):
        return exact_in_half(layer((2, 4, 16, 16), device, x_scale=3, clamp=4.0, **case))

    low_precision_gradient_cases = [dict(separable=(True, True)), dict(separable=(True, False))]

    def low_precision_gradient_call(self, case, device):
        return exact_in_half(layer((2, 4, 8, 8), device, requires_grad=True, x_scale=2, clamp=4.0, taps=(12, 12),
                                   **case))

    layout_cases = [dict(up=2, down=2, taps=(12, 12)), dict(up=1, down=1, taps=(1, 1))]

    def layout_call(self, case, device):
        return layer((2, 3, 6, 5), device, dtype=torch.float32, **case)

    nonfinite_cases = [dict(clamp=None), dict(clamp=1.0)]

    def nonfinite_call(self, case, device):
        call = layer((1, 2, 6, 6), device, dtype=torch.float32, up=2, down=2, taps=(4, 4), **case)
        x = call.args[0].detach().clone()
        x[0, 0, 1, 1] = float("nan")
        x[0, 1, 3, 4] = float("inf")
        return call.with_x(x)

    empty_cases = [(0, 3, 4, 4), (2, 0, 4, 4)]

    def empty_call(self, shape, device):
        x = torch.randn(shape, device=device, requires_grad=True)
        fu = setup_filter([1, 3, 3, 1]).to(device)
        return Call(filtered_lrelu, (x, fu, fu), dict(up=2, down=2, padding=2))

    def opcheck_samples(self, device):
        x = torch.randn(2, 3, 5, 6, device=device, requires_grad=True)
        xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
        b = torch.randn(3, device=device, requires_grad=True)
        f1, f2 = torch.rand(8, device=device), torch.rand(3, 3, device=device)
        _, signs = ops.filtered_lrelu(x.detach(), f1, f2, b.detach(), 2, 2, [5, 4, 5, 4], 1.4, 0.2, 1.0, False, True)
        return [
            (ops.filtered_lrelu.default, (x, f1, f2, b, 2, 2, [5, 4, 5, 4], 1.4, 0.2, 1.0, False, True)),
            (ops.filtered_lrelu.default, (xc, f2, f1, None, 1, 2, [4, 4, 3, 5], 1.0, 0.1, None, True, True)),
            (ops.filtered_lrelu.default, (x.detach(), f1, f1, None, 4, 1, [3, 3, 3, 3], 2.0, 0.2, None, False, False)),
            (ops.filtered_lrelu_signed.default,
             (torch.randn(2, 3, 5, 6, device=device, requires_grad=True), f2, f1, signs, 2, 2, [2, 3, 2, 3], 0.7,
              0.2, True, [-3, -2])),
        ]

    bad_inputs = {
        "x rank": (ValueError, "x must be 4-D", lambda: filtered_lrelu(torch.randn(3, 4, 4))),
        "fu rank": (ValueError, "fu must be a non-empty 1-D", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4),
                                                                                     torch.ones(1, 2, 2))),
        "fd empty": (ValueError, "fd must be a non-empty", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), None,
                                                                                   torch.ones(0))),
        "fu requires grad": (ValueError, "fu requires grad", lambda: filtered_lrelu(
            torch.randn(1, 1, 4, 4), torch.ones(3, requires_grad=True))),
        "b shape": (ValueError, r"b must be \[2\]", lambda: filtered_lrelu(torch.randn(1, 2, 4, 4), b=torch.ones(3))),
        "b dtype": (ValueError, r"b must be \[2\] of x's dtype", lambda: filtered_lrelu(
            torch.randn(1, 2, 4, 4), b=torch.ones(2, dtype=torch.float64))),
        "up": (ValueError, "up must be >= 1", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), up=0)),
        "down type": (TypeError, "down must be an int", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), down=2.0)),
        "gain": (ValueError, "gain must be > 0", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), gain=0)),
        "slope": (ValueError, "slope must be >= 0", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), slope=-0.1)),
        "clamp": (ValueError, "clamp must be >= 0", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), clamp=-1)),
        "clamp nan": (ValueError, "clamp must be finite", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4),
                                                                                  clamp=math.nan)),
        "padding length": (ValueError, "padding must be an int, .x, y. or", lambda: filtered_lrelu(
            torch.randn(1, 1, 4, 4), padding=(1, 2, 3))),
        "no output": (ValueError, "leaves no output", lambda: filtered_lrelu(torch.randn(1, 1, 4, 4), padding=-2)),
        "op: signs dtype": (TypeError, "signs must be uint8", lambda: ops.filtered_lrelu_signed(
            torch.randn(1, 1, 4, 4), torch.ones(1, 1), torch.ones(1, 1), torch.zeros(1, 1, 4, 1), 1, 1, [0, 0, 0, 0],
            1.0, 0.2, False, [0, 0])),
        "op: gain": (ValueError, "gain must be finite and positive", lambda: ops.filtered_lrelu(
            torch.randn(1, 1, 4, 4), torch.ones(1, 1), torch.ones(1, 1), None, 1, 1, [0, 0, 0, 0], -1.0, 0.2, None,
            False, False)),
    }


def test_signs_record_negative_and_clamped_elements():
    # Identity filters: the buffer is x itself, so the codes can be read off x.
    x = torch.tensor([[[[-1.0, 0.0, 0.5, 3.0, -9.0]]]])
    y, signs = ops.filtered_lrelu(x, torch.ones(1, 1), torch.ones(1, 1), None, 1, 1, [0, 0, 0, 0], 1.0, 0.2, 1.0,
                                  False, True)
    assert_matches(y, torch.tensor([[[[-0.2, 0.0, 0.5, 1.0, -1.0]]]]))
    codes = [(int(signs[0, 0, 0, j // 4]) >> (2 * (j % 4))) & 3 for j in range(5)]
    assert codes == [1, 1, 0, 2, 3]  # bit 0: not positive; bit 1: clamped
    assert signs.shape == (1, 1, 1, 2) and signs.dtype == torch.uint8


@pytest.mark.parametrize("kind", ["kink", "clamp"])
def test_gradients_at_the_kink_and_at_the_clamp_match_the_reference(kind, device):
    # Buffer values exactly 0 (zero input and bias: the slope applies, as for torch's leaky_relu) and values far past
    # the clamp (no gradient), against the reference's autograd.
    call = layer((1, 2, 6, 6), device, requires_grad=True, clamp=0.5 if kind == "clamp" else None)
    x, fu, fd, b = call.args
    with torch.no_grad():
        x[:, 0] = 0 if kind == "kink" else 50
        b[0] = 0
    dy = torch.randn_like(call("ref"))
    fused = torch.autograd.grad(call("fused"), [x, b], dy)
    ref = torch.autograd.grad(call("ref"), [x, b], dy)
    for f, r in zip(fused, ref):
        assert_matches(f, r)


def test_third_order_gradients_match_the_reference(device):
    call = layer((1, 2, 5, 5), device, up=2, down=2, taps=(6, 6), requires_grad=True)
    x = call.args[0]
    dy = torch.randn_like(call("ref"), requires_grad=True)
    out = []
    for impl in ("fused", "ref"):
        gx, = torch.autograd.grad(call(impl), x, dy, create_graph=True)
        gdy, = torch.autograd.grad((gx * gx).sum(), dy, create_graph=True)
        out.append(torch.autograd.grad(gdy.square().sum(), dy)[0])
    assert_matches(out[0], out[1])


def test_no_signs_without_gradients():
    call = layer((1, 2, 8, 8), "cpu", dtype=torch.float32)
    x, fu, fd, b = call.args
    _, signs = ops.filtered_lrelu(x, fu, fd, b, 2, 2, call.kwargs["padding"], 1.4, 0.2, None, False, False)
    assert signs.numel() == 0


def peak_cpu_allocation(fn) -> int:
    """The most bytes that torch's CPU allocator held at once during fn(), beyond what was held before."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # Allocations are charged to the op that made them; frees outside any op are "[memory]" events.
    changes = sorted((e.time_range.start, e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
                     for e in prof.events())
    live = peak = 0
    for _, change in changes:
        live += change
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_cpu_forward_allocates_only_its_output_and_signs(dtype, channels_last):
    # The StyleGAN3-like layer (up 2, down 2, 12 taps) with gradients wanted: the fused forward must hold no more than
    # y and the 2-bit signs (the upsampled buffer, 4x the input, stays in per-thread rows); the reference, which
    # materialises it, shows that the measure sees such buffers.
    call = layer((4, 16, 52, 52), "cpu", dtype=dtype, requires_grad=True, channels_last=channels_last)
    x, fu, fd, b = call.args
    buf_h, buf_w = reference.filtered_lrelu_buffer_size(x.shape[2:], fu, 2, call.kwargs["padding"])
    allowed = call("fused").nbytes + x.shape[0] * x.shape[1] * buf_h * math.ceil(buf_w / 4)
    assert peak_cpu_allocation(lambda: call("fused")) <= allowed
    assert peak_cpu_allocation(lambda: call("ref")) > 10 * allowed
