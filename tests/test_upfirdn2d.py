import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume
from hypothesis import strategies as st

from stylegan_ops import conv2d_resample, downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from helpers import assert_matches, assert_within_error_budget, randn
from op_battery import Call, OpBattery

ops = torch.ops.stylegan_ops
X, F_BAD = torch.randn(1, 1, 4, 4), setup_filter([1, 3, 3, 1])  # the bad inputs' well-formed arguments


def out_size(n, up, down, pad0, pad1, taps):
    return (n * up + pad0 + pad1 - taps) // down + 1


@st.composite
def upfirdn2d_case(draw):
    separable = draw(st.booleans())
    fw = draw(st.integers(1, 9))
    fh = fw if separable else draw(st.integers(1, 9))
    up = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    down = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    padding = draw(st.tuples(*[st.integers(-4, 6)] * 4))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    assume(out_size(w, up[0], down[0], padding[0], padding[1], fw) >= 1)
    assume(out_size(h, up[1], down[1], padding[2], padding[3], fh) >= 1)
    return dict(
        x_shape=(draw(st.integers(1, 3)), draw(st.integers(1, 4)), h, w),
        f_shape=(fw,) if separable else (fh, fw),
        up=up, down=down, padding=padding,
        flip_filter=draw(st.booleans()),
        gain=draw(st.sampled_from([1.0, 4.0, -0.5])),
    )


RESAMPLERS = {"up": upsample2d, "down": downsample2d, "filter": filter2d, "separable": filter2d}


class TestUpfirdn2d(OpBattery):
    module = "stylegan_ops.upfirdn2d"

    random_cases = upfirdn2d_case()

    def random_call(self, case, device, dtype, requires_grad=False):
        x = torch.randn(case["x_shape"], dtype=dtype, device=device, requires_grad=requires_grad)
        f = torch.randn(case["f_shape"], dtype=torch.float64 if dtype == torch.float64 else torch.float32,
                        device=device)
        return Call(upfirdn2d, (x, f), {k: case[k] for k in ("up", "down", "padding", "flip_filter", "gain")})

    gradcheck_cases = [dict(f_shape=f_shape, up=up, down=down) for f_shape in [(4,), (3, 5), (8,)]
                       for up, down in [(2, 1), (1, 2), ((1, 3), (2, 1))]]

    def gradcheck_call(self, case, device):
        return Call(upfirdn2d, (randn(2, 3, 6, 7, device=device, requires_grad=True),
                                randn(*case["f_shape"], device=device)),
                    dict(up=case["up"], down=case["down"], padding=(2, 1, 3, 0), gain=2.0))

    low_precision_cases = [dict(resample=r) for r in RESAMPLERS]

    def low_precision_call(self, case, device):
        taps = [1, 2, 4, 7, 7, 4, 2, 1] if case["resample"] == "separable" else [1, 3, 3, 1]
        return Call(RESAMPLERS[case["resample"]], (randn(2, 8, 16, 16, device=device) * 3,
                                                   setup_filter(taps, device=device)))

    low_precision_gradient_cases = low_precision_cases

    def low_precision_gradient_call(self, case, device):
        call = self.low_precision_call(case, device)
        return call.with_x(call.args[0].requires_grad_(True))

    layout_cases = [dict(f=f, up=up, down=down, padding=padding) for f in ("[1, 3, 3, 1]", "random 8 taps")
                    for up, down, padding in [(2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (1, 1, (1, 2, -1, 3)),
                                              (3, 2, 1)]]

    def layout_call(self, case, device):
        f = setup_filter([1, 3, 3, 1]) if case["f"] == "[1, 3, 3, 1]" else torch.randn(8)
        return Call(upfirdn2d, (randn(2, 5, 9, 11, device=device), f.to(device, torch.float64)),
                    {k: case[k] for k in ("up", "down", "padding")})

    nonfinite_cases = [dict(taps=taps, up=up, down=down) for taps in ("[1, 3, 3, 1]", "[1, 2, 1]", "9 x 1/9")
                       for up, down in [(1, 1), (2, 1), (1, 2)]]

    def nonfinite_call(self, case, device):
        x = torch.randn(1, 2, 8, 8, device=device)
        x[0, 0, 2, 3] = float("nan")
        x[0, 1, 5, 5] = float("inf")
        x[0, 1, 0, 7] = -float("inf")
        f = {"[1, 3, 3, 1]": lambda: setup_filter([1, 3, 3, 1], device=device),
             "[1, 2, 1]": lambda: setup_filter([1, 2, 1], device=device),
             "9 x 1/9": lambda: torch.ones(9, device=device) / 9}[case["taps"]]()
        return Call(upfirdn2d, (x, f), dict(up=case["up"], down=case["down"], padding=f.shape[0] // 2))

    empty_cases = [(0, 3, 4, 4), (2, 0, 4, 4)]

    def empty_call(self, shape, device):
        return Call(upsample2d, (torch.randn(shape, device=device, requires_grad=True),
                                 setup_filter([1, 3, 3, 1], device=device)))

    def opcheck_samples(self, device):
        x = torch.randn(2, 3, 8, 7, device=device, requires_grad=True)
        xc = x.detach().to(memory_format=torch.channels_last).requires_grad_(True)
        f2 = setup_filter([1, 3, 3, 1], device=device)
        f1 = setup_filter([1, 2, 3, 4, 4, 3, 2, 1], device=device)
        return [
            (ops.upfirdn2d.default, (x, f2, [2, 2], [1, 1], [2, 1, 2, 1], False, 4.0)),
            (ops.upfirdn2d.default, (xc, f2, [1, 1], [2, 2], [1, 1, 1, 1], False, 1.0)),
            (ops.upfirdn2d.default, (x, f1, [1, 2], [3, 1], [0, 3, -1, 2], True, 0.5)),
            # Separable on a channels_last image whose intermediate (after the row pass) is 1x1: the output keeps x's
            # memory format through both passes, as the fake kernel says.
            (ops.upfirdn2d.default, (torch.randn(2, 3, 1, 4, device=device).to(memory_format=torch.channels_last),
                                     torch.ones(4, device=device), [1, 8], [8, 1], [0, 0, 0, 0], False, 1.0)),
        ]

    bad_inputs = {
        "x rank": (ValueError, "x must be 4-D", lambda: upfirdn2d(torch.randn(3, 4, 4), F_BAD)),
        "x dtype": (TypeError, "x must have dtype", lambda: upfirdn2d(X.long(), F_BAD)),
        "filter rank": (ValueError, "f must be 1-D .* or 2-D", lambda: upfirdn2d(X, torch.ones(2, 2, 2))),
        "filter dtype": (TypeError, "f must have dtype", lambda: upfirdn2d(X, torch.ones(2, dtype=torch.int32))),
        "filter empty": (ValueError, "f must not be empty", lambda: upfirdn2d(X, torch.ones(0))),
        "filter device": (ValueError, "f is on meta", lambda: upfirdn2d(X, torch.ones(2, device="meta"))),
        "filter requiring grad": (ValueError, "f requires grad",
                                  lambda: upfirdn2d(X, torch.ones(2, requires_grad=True))),
        **{f"up {up}": (ValueError, "up", lambda up=up: upfirdn2d(X, F_BAD, up=up, padding=2))
           for up in (0, -1, (1, 0), (1, 2, 3))},
        **{f"down {down}": (ValueError, "down", lambda down=down: upfirdn2d(X, F_BAD, down=down, padding=2))
           for down in (0, (0, 1))},
        "non-integer factor": (TypeError, "up must be an int", lambda: upfirdn2d(X, F_BAD, up=1.5)),
        **{f"padding {padding}": (ValueError, "padding must be",
                                  lambda padding=padding: upfirdn2d(X, F_BAD, padding=padding))
           for padding in ((1, 2, 3), (1, 2, 3, 4, 5))},
        **{f"{name} past 32 bits": (ValueError, rf"{name} must be below 2\^31",
                                    lambda name=name: upfirdn2d(X, F_BAD, **{name: 2**33}))
           for name in ("up", "down", "padding")},
        "factors past 32-bit indexing": (
            ValueError, "too large for the kernels' 32-bit indexing",
            lambda: upfirdn2d(torch.randn(1, 1, 1, 3), None, up=(2**30, 1), down=(2**30, 1), impl="fused")),
        "padding past 32-bit indexing": (
            ValueError, "too large",
            lambda: upfirdn2d(torch.randn(1, 1, 1, 3), None, up=(3, 1), padding=(2**30, 2**30, 0, 0), impl="fused")),
        "padding that leaves no output": (ValueError, "padding .* leaves no output",
                                          lambda: upfirdn2d(X, F_BAD, padding=-1)),
        # The kernels check the direct op calls too.
        "op: up": (ValueError, "up must be positive",
                   lambda: ops.upfirdn2d(X, F_BAD, [0, 1], [1, 1], [0, 0, 0, 0], False, 1.0)),
        "op: no output": (ValueError, "leaves no output",
                          lambda: ops.upfirdn2d(X, F_BAD, [1, 1], [1, 1], [-2, 0, 0, 0], False, 1.0)),
        "op: filter rank": (ValueError, "f must be 1-D or 2-D",
                            lambda: ops.upfirdn2d(X, torch.ones(1, 1, 1), [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)),
        "op: x rank": (ValueError, "x must be 4-D",
                       lambda: ops.upfirdn2d(torch.randn(4, 4), F_BAD, [1, 1], [1, 1], [2, 1, 2, 1], False, 1.0)),
        "op: filter dtype": (TypeError, "f must be a floating-point",
                             lambda: ops.upfirdn2d(X, torch.ones(2, dtype=torch.int64), [1, 1], [1, 1], [0, 0, 0, 0],
                                                   False, 1.0)),
        "op: gain": (ValueError, "gain must be finite",
                     lambda: ops.upfirdn2d(X, F_BAD, [1, 1], [1, 1], [2, 1, 2, 1], False, float("inf"))),
    }


@pytest.mark.parametrize("taps", [45, 70])
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2)])
def test_long_filters(taps, up, down, device):
    # More taps per row (and per phase) than the CPU kernel's unrolled chunks of 32.
    x = torch.randn(1, 2, 9, 80, dtype=torch.float64, device=device)
    for f in (torch.randn(taps, dtype=torch.float64, device=device),
              torch.randn(3, taps, dtype=torch.float64, device=device)):
        pad = (taps // 2, taps // 2, f.shape[0] // 2, f.shape[0] // 2)
        assert_matches(upfirdn2d(x, f, up=up, down=down, padding=pad, impl="fused"),
                       upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_channels_last_over_many_channels(dtype, up, down, device):
    # 70 channels: whole blocks of the CPU kernel's channel accumulators (32 floats, 16 doubles) and a partial one; a
    # filter that is not symmetric, flipped or not, so that each tap's weight and place are checked.
    x = torch.randn(2, 70, 9, 7, device=device).to(dtype=dtype, memory_format=torch.channels_last)
    f = torch.randn(4, 3, device=device)
    for flip in (False, True):
        args = dict(up=up, down=down, padding=(2, 1, 1, 2), flip_filter=flip, gain=1.5)
        out = upfirdn2d(x, f, impl="fused", **args)
        assert out.is_contiguous(memory_format=torch.channels_last)
        if dtype in (torch.float16, torch.bfloat16):
            truth = upfirdn2d(x.double(), f, impl="ref", **args)
            assert_within_error_budget(out, upfirdn2d(x, f, impl="ref", **args), truth)
        else:
            assert_matches(out, upfirdn2d(x, f, impl="ref", **args))


def test_separable_gain_applies_where_the_reference_applies_it(device):
    # The intermediate of the two passes is half precision: with the gain in the row pass, 60000 * 0.25 stays finite.
    x = torch.full((1, 1, 4, 4), 60000.0, dtype=torch.float16, device=device)
    f = torch.ones(2, device=device)
    assert_matches(upfirdn2d(x, f, padding=(0, 1, 0, 1), gain=0.25, impl="fused"),
                   upfirdn2d(x, f, padding=(0, 1, 0, 1), gain=0.25, impl="ref"))


def test_zero_size_image_with_padding_gives_zeros(device):
    x = torch.randn(1, 2, 0, 3, device=device)
    out = upfirdn2d(x, torch.ones(2, 2, device=device), padding=(0, 0, 2, 1), impl="fused")
    assert out.shape == (1, 2, 2, 2) and not out.any()


class TestHelpers:
    def test_setup_filter(self):
        f = setup_filter([1, 3, 3, 1])
        assert f.shape == (4, 4) and f.dtype == torch.float32
        torch.testing.assert_close(f.sum(), torch.tensor(1.0))
        torch.testing.assert_close(f, torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1])) / 64)
        assert setup_filter(list(range(1, 9))).shape == (8,)  # 8 taps or more stay separable
        assert setup_filter([1, 2, 1], separable=True).shape == (3,)
        torch.testing.assert_close(setup_filter([1, 2], normalize=False, flip_filter=True, separable=True),
                                   torch.tensor([2.0, 1.0]))
        torch.testing.assert_close(setup_filter([1, 1], gain=4).sum(), torch.tensor(4.0))
        torch.testing.assert_close(setup_filter([1, 1], gain=4, separable=True).sum(), torch.tensor(2.0))
        assert setup_filter(None).shape == (1, 1)

    def test_setup_filter_bad_input(self):
        with pytest.raises(ValueError, match="sum to zero"):
            setup_filter([1, -1])
        with pytest.raises(ValueError, match="gain must be >= 0 for a separable filter"):
            setup_filter([1, 2, 1], gain=-4, separable=True)
        with pytest.raises(ValueError, match="needs a 1-D filter"):
            setup_filter([[1, 2], [3, 4]], separable=True)
        with pytest.raises(ValueError, match="non-empty 1-D or 2-D"):
            setup_filter([])

    def test_box_filters_are_nearest_upsampling_and_average_pooling(self, device):
        x = torch.randn(2, 3, 6, 8, device=device)
        box = setup_filter([1, 1], device=device)
        torch.testing.assert_close(upsample2d(x, box, impl="fused"), F.interpolate(x, scale_factor=2, mode="nearest"))
        torch.testing.assert_close(downsample2d(x, box, impl="fused"), F.avg_pool2d(x, 2))

    @pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 2, 1], [1] * 8])
    def test_sizes_and_constant_images(self, taps, device):
        # A constant image stays constant away from the borders: the filters are normalized, upsampling keeps the
        # brightness.
        x = torch.full((1, 2, 12, 12), 3.0, device=device)
        f = setup_filter(taps, device=device)
        up, down, same = upsample2d(x, f, impl="fused"), downsample2d(x, f, impl="fused"), filter2d(x, f, impl="fused")
        assert up.shape == (1, 2, 24, 24) and down.shape == (1, 2, 6, 6) and same.shape == x.shape
        m = len(taps)
        for y in (up, down, same):
            torch.testing.assert_close(y[..., m:-m, m:-m], torch.full_like(y[..., m:-m, m:-m], 3.0))

    def test_asymmetric_factors_and_padding_forms(self, device):
        x = torch.randn(1, 2, 5, 6, device=device)
        f = setup_filter([1, 3, 3, 1], device=device)
        assert upsample2d(x, f, up=(2, 4)).shape == (1, 2, 20, 12)
        assert downsample2d(x, f, down=(1, 5), padding=(0, 2)).shape == (1, 2, 1, 6)
        a = upfirdn2d(x, f, padding=1, impl="fused")
        b = upfirdn2d(x, f, padding=(1, 1), impl="fused")
        c = upfirdn2d(x, f, padding=(1, 1, 1, 1), impl="fused")
        assert_matches(a, b)
        assert_matches(b, c)

    def test_resampling_helpers_check_the_filter(self):
        x = torch.randn(1, 1, 4, 4)
        with pytest.raises(TypeError, match="upsample2d: f must be a torch.Tensor"):
            upsample2d(x, [1, 3, 3, 1])
        with pytest.raises(ValueError, match="filter2d: f must be 1-D"):
            filter2d(x, torch.tensor(1.0))
        with pytest.raises(ValueError, match="downsample2d: x must be 4-D"):
            downsample2d(x[0], setup_filter([1, 1]))

    def test_none_filter_is_identity(self, device):
        x = torch.randn(1, 2, 3, 4, device=device)
        assert_matches(upfirdn2d(x, None, impl="fused"), x)


def resample_then_convolve(x, w, f, up, down, padding, groups, flip_weight):
    """conv2d_resample in its plain order (NVIDIA's generic fallback), on the reference ops: upsample by zeros, pad
    and filter (the image kept centred), convolve, filter and keep every down-th pixel."""
    fw, fh = f.shape[-1], f.shape[0]
    px0, px1, py0, py1 = padding
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=(px0, px1, py0, py1), gain=up ** 2, impl="ref")
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    return upfirdn2d(x, f, down=down, impl="ref") if down > 1 else x


class TestConv2dResample:
    @pytest.mark.parametrize("kernel,padding", [(3, (1, 1, 1, 1)), (1, (0, 0, 0, 0)), (3, (2, 0, 1, 1))], ids=str)
    @pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2)], ids=str)
    @pytest.mark.parametrize("groups", [1, 2])
    @pytest.mark.parametrize("flip_weight", [True, False])
    def test_every_order_matches_the_plain_one(self, kernel, padding, up, down, groups, flip_weight, device):
        x = torch.randn(2, 4, 9, 10, dtype=torch.float64, device=device)
        w = torch.randn(6, 4 // groups, kernel, kernel, dtype=torch.float64, device=device)
        for f in (setup_filter([1, 3, 3, 1]), setup_filter([1, 2, 3, 4, 4, 3, 2, 1])):
            f = f.to(device, torch.float64)
            assert_matches(conv2d_resample(x, w, f, up=up, down=down, padding=padding, groups=groups,
                                           flip_weight=flip_weight, impl="fused"),
                           resample_then_convolve(x, w, f, up, down, padding, groups, flip_weight))

    def test_bad_input(self):
        x, w = torch.randn(1, 2, 8, 8), torch.randn(3, 2, 3, 3)
        with pytest.raises(ValueError, match="conv2d_resample: w must be 4-D"):
            conv2d_resample(x, w[0])
        with pytest.raises(ValueError, match="conv2d_resample: up must be >= 1"):
            conv2d_resample(x, w, up=0)
        with pytest.raises(ValueError, match="conv2d_resample: impl must be one of"):
            conv2d_resample(x, w, impl="fast")
