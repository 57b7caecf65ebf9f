
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from stylegan_ops import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from helpers import (LOW_PRECISION, assert_matches, assert_within_error_budget, forbid_fused_ops,
                     strided_variants)

ops = torch.ops.stylegan_ops


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


def make(case, device, dtype=torch.float64, requires_grad=False):
    x = torch.randn(case["x_shape"], dtype=dtype, device=device, requires_grad=requires_grad)
    f = torch.randn(case["f_shape"], dtype=torch.float64 if dtype == torch.float64 else torch.float32,
                    device=device)
    kwargs = {k: case[k] for k in ("up", "down", "padding", "flip_filter", "gain")}
    return x, f, kwargs


@given(case=upfirdn2d_case())
def test_matches_reference_random(case, device):
    for dtype in (torch.float64, torch.float32):
        x, f, kwargs = make(case, device, dtype)
        assert_matches(upfirdn2d(x, f, impl="fused", **kwargs), upfirdn2d(x, f, impl="ref", **kwargs))


@given(case=upfirdn2d_case())
def test_gradients_match_reference_random(case, device):
    x, f, kwargs = make(case, device, requires_grad=True)
    dy = torch.randn_like(upfirdn2d(x, f, impl="ref", **kwargs)).requires_grad_(True)
    v = torch.randn_like(x)
    grads = []
    for impl in ("fused", "ref"):
        (g,) = torch.autograd.grad(upfirdn2d(x, f, impl=impl, **kwargs), x, dy, create_graph=True)
        # Second order, as in R1: the gradient of <grad_x, v> with respect to the incoming gradient.
        (gg,) = torch.autograd.grad((g * v).sum(), dy)
        grads.append((g, gg))
    assert_matches(grads[0][0], grads[1][0])
    assert_matches(grads[0][1], grads[1][1])


@pytest.mark.parametrize("f_shape", [(4,), (3, 5), (8,)])
@pytest.mark.parametrize("up,down", [(2, 1), (1, 2), ((1, 3), (2, 1))])
def test_gradcheck_and_gradgradcheck(f_shape, up, down, device):
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, device=device, requires_grad=True)
    f = torch.randn(f_shape, dtype=torch.float64, device=device)

    def fn(x):
        return upfirdn2d(x, f, up=up, down=down, padding=(2, 1, 3, 0), gain=2.0, impl="fused")

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_layouts(device):
    x = torch.randn(2, 5, 9, 11, dtype=torch.float64, device=device)
    for f in (setup_filter([1, 3, 3, 1]).double(), torch.randn(8, dtype=torch.float64)):
        f = f.to(device)
        for up, down, pad in [(2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (1, 1, (1, 2, -1, 3)), (3, 2, 1)]:
            expected = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref")
            for name, xv in strided_variants(x):
                out = upfirdn2d(xv, f, up=up, down=down, padding=pad, impl="fused")
                assert_matches(out, expected, msg=f"{name}, up={up}, down={down}")
                if name == "channels_last":
                    assert out.is_contiguous(memory_format=torch.channels_last)


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


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("resample", ["up", "down", "filter", "separable"])
def test_low_precision_error_budget(dtype, resample, device):
    x64 = torch.randn(2, 8, 16, 16, dtype=torch.float64, device=device) * 3
    f = setup_filter([1, 3, 3, 1], device=device)
    if resample == "separable":
        f = setup_filter([1, 2, 4, 7, 7, 4, 2, 1], device=device)

    def run(x, impl):
        fn = {"up": upsample2d, "down": downsample2d}.get(resample, filter2d)
        return fn(x, f, impl=impl)

    ref64 = run(x64, "ref")
    x = x64.to(dtype)
    assert_within_error_budget(run(x, "fused"), run(x, "ref"), ref64)


def test_nan_and_inf_propagate_like_the_reference(device):
    x = torch.randn(1, 2, 8, 8, device=device)
    x[0, 0, 2, 3] = float("nan")
    x[0, 1, 5, 5] = float("inf")
    x[0, 1, 0, 7] = -float("inf")
    for f in (setup_filter([1, 3, 3, 1], device=device), setup_filter([1, 2, 1], device=device),
              torch.ones(9, device=device) / 9):
        for up, down in [(1, 1), (2, 1), (1, 2)]:
            pad = f.shape[0] // 2
            assert_matches(upfirdn2d(x, f, up=up, down=down, padding=pad, impl="fused"),
                           upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref"))


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 0, 4, 4)])
def test_empty_tensors(shape, device):
    x = torch.randn(shape, device=device, requires_grad=True)
    f = setup_filter([1, 3, 3, 1], device=device)
    y = upsample2d(x, f, impl="fused")
    assert y.shape == (shape[0], shape[1], 8, 8)
    y.sum().backward()
    assert x.grad.shape == x.shape


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


def opcheck_samples(device):
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


def test_opcheck(device):
    for op, args in opcheck_samples(device):
        torch.library.opcheck(op, args)


def test_reference_impl_does_not_touch_the_kernels(monkeypatch):
    forbid_fused_ops(monkeypatch, "stylegan_ops.upfirdn2d")
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    upsample2d(x, setup_filter([1, 1]), impl="ref").sum().backward()


class TestBadInput:
    f = setup_filter([1, 3, 3, 1])

    def test_x_rank(self):
        with pytest.raises(ValueError, match="x must be 4-D"):
            upfirdn2d(torch.randn(3, 4, 4), self.f)

    def test_x_dtype(self):
        with pytest.raises(TypeError, match="x must have dtype"):
            upfirdn2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), self.f)

    def test_filter_rank(self):
        with pytest.raises(ValueError, match="f must be 1-D .* or 2-D"):
            upfirdn2d(torch.randn(1, 1, 4, 4), torch.ones(2, 2, 2))

    def test_filter_dtype(self):
        with pytest.raises(TypeError, match="f must have dtype"):
            upfirdn2d(torch.randn(1, 1, 4, 4), torch.ones(2, dtype=torch.int32))

    def test_filter_empty(self):
        with pytest.raises(ValueError, match="f must not be empty"):
            upfirdn2d(torch.randn(1, 1, 4, 4), torch.ones(0))

    def test_filter_device(self):
        with pytest.raises(ValueError, match="f is on meta"):
            upfirdn2d(torch.randn(1, 1, 4, 4), torch.ones(2, device="meta"))

    def test_filter_requiring_grad(self):
        with pytest.raises(ValueError, match="f requires grad"):
            upfirdn2d(torch.randn(1, 1, 4, 4), torch.ones(2, requires_grad=True))

    @pytest.mark.parametrize("up", [0, -1, (1, 0), (1, 2, 3)])
    def test_bad_up(self, up):
        with pytest.raises(ValueError, match="up"):
            upfirdn2d(torch.randn(1, 1, 4, 4), self.f, up=up, padding=2)

    @pytest.mark.parametrize("down", [0, (0, 1)])
    def test_bad_down(self, down):
        with pytest.raises(ValueError, match="down"):
            upfirdn2d(torch.randn(1, 1, 4, 4), self.f, down=down, padding=2)

    def test_non_integer_factor(self):
        with pytest.raises(TypeError, match="up must be an int"):
            upfirdn2d(torch.randn(1, 1, 4, 4), self.f, up=1.5)

    @pytest.mark.parametrize("padding", [(1, 2, 3), (1, 2, 3, 4, 5)])
    def test_bad_padding_form(self, padding):
        with pytest.raises(ValueError, match="padding must be"):
            upfirdn2d(torch.randn(1, 1, 4, 4), self.f, padding=padding)

    def test_factors_past_32_bit_indexing(self):
        x = torch.randn(1, 1, 1, 3)
        with pytest.raises(ValueError, match="too large for the kernels' 32-bit indexing"):
            upfirdn2d(x, None, up=(2**30, 1), down=(2**30, 1), impl="fused")
        with pytest.raises(ValueError, match="too large"):
            upfirdn2d(x, None, up=(3, 1), padding=(2**30, 2**30, 0, 0), impl="fused")

    def test_padding_that_leaves_no_output(self):
        with pytest.raises(ValueError, match="padding .* leaves no output"):
            upfirdn2d(torch.randn(1, 1, 4, 4), self.f, padding=-1)

    def test_direct_op_calls_are_checked(self):
        x = torch.randn(1, 1, 4, 4)
        with pytest.raises(ValueError, match="up must be positive"):
            ops.upfirdn2d(x, self.f, [0, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
        with pytest.raises(ValueError, match="leaves no output"):
            ops.upfirdn2d(x, self.f, [1, 1], [1, 1], [-2, 0, 0, 0], False, 1.0)
        with pytest.raises(ValueError, match="f must be 1-D or 2-D"):
            ops.upfirdn2d(x, torch.ones(1, 1, 1), [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
        with pytest.raises(ValueError, match="x must be 4-D"):
            ops.upfirdn2d(torch.randn(4, 4), self.f, [1, 1], [1, 1], [2, 1, 2, 1], False, 1.0)
        with pytest.raises(TypeError, match="f must be a floating-point"):
            ops.upfirdn2d(x, torch.ones(2, dtype=torch.int64), [1, 1], [1, 1], [0, 0, 0, 0], False, 1.0)
        with pytest.raises(ValueError, match="gain must be finite"):
            ops.upfirdn2d(x, self.f, [1, 1], [1, 1], [2, 1, 2, 1], False, float("inf"))
