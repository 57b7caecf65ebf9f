"""The op battery: the conformance tests that every op of stylegan_ops takes, in the spirit of torchvision's
RoIOpTester. An op's test module subclasses OpBattery (class Test<Op>) and declares its cases; each section runs on
them, on every device of the `device` fixture (and on the emulated CUDA kernels through tools/test_cuda_emulated.py).

A section is declared by `<section>_cases` (a list of parameters; the test ids are made from them) and
`<section>_call(case, device)`, which builds one Call of the op from a parameter:

    random                  random_cases is a hypothesis strategy; random_call(case, device, dtype, requires_grad)
    gradcheck               float64 inputs requiring grad: gradcheck and gradgradcheck of the fused op
    low_precision           float64 inputs, compared in float16 and bfloat16 within the error budget
    low_precision_gradient  the same for the gradients of the inputs that require grad
    layout                  x in each memory layout of helpers.strided_variants, against the reference
    nonfinite               NaN and inf in the inputs
    empty                   tensors without elements, inputs requiring grad

and opcheck_samples(device) (torch.library.opcheck), bad_inputs ({id: (error type, message pattern, thunk)}) and
`module` (the stylegan_ops module whose kernels impl='ref' must not touch). The fused result is judged against the
reference by assert_fused_matches (an op may override it) within the Call's tolerance. A section that an op cannot
take is set to None in its class, with the reason.
"""

import dataclasses
from typing import Callable

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import LOW_PRECISION, assert_matches, assert_within_error_budget, forbid_fused_ops, strided_variants


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of an op: fn(*args, impl=impl, **kwargs). args[0] is x; the tensors of args that require grad are the
    inputs the gradient sections differentiate. tolerance: assert_matches's keywords for fused against reference."""

    fn: Callable
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    tolerance: dict = dataclasses.field(default_factory=dict)

    def __call__(self, impl: str):
        return self.fn(*self.args, impl=impl, **self.kwargs)

    def with_x(self, x: torch.Tensor) -> "Call":
        return dataclasses.replace(self, args=(x, *self.args[1:]))

    def cast(self, dtype: torch.dtype) -> "Call":
        """The same call with every tensor of x's dtype converted to `dtype` (as leaves, requiring grad as before)."""
        def convert(a):
            if isinstance(a, torch.Tensor) and a.dtype == self.args[0].dtype:
                return a.detach().to(dtype).requires_grad_(a.requires_grad)
            return a

        return dataclasses.replace(self, args=tuple(convert(a) for a in self.args))

    def inputs(self) -> list:
        return [a for a in self.args if isinstance(a, torch.Tensor) and a.requires_grad]

    def of_inputs(self, impl: str):
        """(fn, inputs): the call as a function of its inputs, for gradcheck."""
        positions = [i for i, a in enumerate(self.args) if isinstance(a, torch.Tensor) and a.requires_grad]

        def fn(*tensors):
            args = list(self.args)
            for i, t in zip(positions, tensors):
                args[i] = t
            return self.fn(*args, impl=impl, **self.kwargs)

        return fn, tuple(self.args[i] for i in positions)


def case_id(case) -> str:
    if isinstance(case, dict):
        return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in case.items())
    return str(case)


def assert_same_or_both_zero(fused, ref, msg: str) -> None:
    """Gradients that agree, where None (no path to that input) counts as zeros."""
    if fused is None or ref is None:
        assert (fused is None or not fused.any()) and (ref is None or not ref.any()), msg
    else:
        assert_matches(fused, ref, msg=msg)


# The parameters of the battery's tests, by argument name: the attribute of the op's class listing them.
SECTION_CASES = {
    "gradcheck_case": "gradcheck_cases",
    "low_precision_case": "low_precision_cases",
    "low_precision_gradient_case": "low_precision_gradient_cases",
    "layout_case": "layout_cases",
    "nonfinite_case": "nonfinite_cases",
    "empty_case": "empty_cases",
    "bad_input": "bad_inputs",
}


class OpBattery:
    """The shared sections; subclasses declare the cases (see the module's docstring)."""

    module: str

    def pytest_generate_tests(self, metafunc):
        for name, attr in SECTION_CASES.items():
            if name in metafunc.fixturenames:
                cases = list(getattr(self, attr))
                metafunc.parametrize(name, cases, ids=[case_id(c) for c in cases])
        if "low_precision_dtype" in metafunc.fixturenames:
            metafunc.parametrize("low_precision_dtype", LOW_PRECISION, ids=lambda d: str(d).replace("torch.", ""))

    def assert_fused_matches(self, fused: torch.Tensor, call: Call) -> None:
        """How the fused result of `call` is judged: equal to the reference within the call's tolerance."""
        assert_matches(fused, call("ref"), **call.tolerance)

    @given(data=st.data())
    def test_matches_reference_random(self, data, device):
        case = data.draw(self.random_cases, label="case")
        for dtype in (torch.float64, torch.float32):
            call = self.random_call(case, device, dtype)
            fused = call("fused")
            self.assert_fused_matches(fused, call)
            x = call.args[0]
            if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
                assert fused.is_contiguous(memory_format=torch.channels_last)  # channels_last in, channels_last out

    @given(data=st.data())
    def test_gradients_match_reference_random(self, data, device):
        # First order, and second order as R1 takes it: the gradient of <first-order gradients, v> with respect to
        # the inputs and to the incoming gradient dy.
        call = self.random_call(data.draw(self.random_cases, label="case"), device, torch.float64,
                                requires_grad=True)
        inputs = call.inputs()
        shape = call("ref").shape
        dy = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
        vs = [torch.randn_like(t) for t in inputs]
        results = []
        for impl in ("fused", "ref"):
            first = torch.autograd.grad(call(impl), inputs, dy, create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(first, vs))
            results.append((first, torch.autograd.grad(dot, [*inputs, dy], allow_unused=True)))
        for i, (f, r) in enumerate(zip(results[0][0], results[1][0])):
            assert_matches(f, r, msg=f"first-order gradient of input {i}")
        for i, (f, r) in enumerate(zip(results[0][1], results[1][1])):
            assert_same_or_both_zero(f, r, f"second-order gradient of input {i} (the last: dy)")

    def test_gradcheck_and_gradgradcheck(self, gradcheck_case, device):
        fn, inputs = self.gradcheck_call(gradcheck_case, device).of_inputs("fused")
        assert torch.autograd.gradcheck(fn, inputs)
        assert torch.autograd.gradgradcheck(fn, inputs)

    def test_low_precision_error_budget(self, low_precision_case, low_precision_dtype, device):
        with torch.no_grad():
            call64 = self.low_precision_call(low_precision_case, device)
            call = call64.cast(low_precision_dtype)
            assert_within_error_budget(call("fused"), call("ref"), call64("ref"))

    def test_low_precision_gradients(self, low_precision_gradient_case, low_precision_dtype, device):
        call64 = self.low_precision_gradient_call(low_precision_gradient_case, device)
        y64 = call64("ref")
        dy64 = torch.randn(y64.shape, dtype=torch.float64, device=device)
        truth = torch.autograd.grad(y64, call64.inputs(), dy64, allow_unused=True)
        call = call64.cast(low_precision_dtype)
        fused, ref = [torch.autograd.grad(call(impl), call.inputs(), dy64.to(low_precision_dtype), allow_unused=True)
                      for impl in ("fused", "ref")]
        for f, r, t in zip(fused, ref, truth):
            if t is not None:
                assert_within_error_budget(f, r, t)

    def test_memory_layouts(self, layout_case, device):
        call = self.layout_call(layout_case, device)
        expected = call("ref")
        for name, x in strided_variants(call.args[0]):
            out = call.with_x(x)("fused")
            assert_matches(out, expected, msg=name, **call.tolerance)
            if name == "channels_last":
                assert out.is_contiguous(memory_format=torch.channels_last)

    def test_nan_and_inf_propagate_like_the_reference(self, nonfinite_case, device):
        call = self.nonfinite_call(nonfinite_case, device)
        self.assert_fused_matches(call("fused"), call)

    def test_empty_tensors(self, empty_case, device):
        call = self.empty_call(empty_case, device)
        results = []
        for impl in ("fused", "ref"):
            y = call(impl)
            results.append((y, *torch.autograd.grad(y.sum(), call.inputs())))
        for f, r in zip(*results):
            assert_matches(f, r)

    def test_opcheck(self, device):
        for op, args in self.opcheck_samples(device):
            torch.library.opcheck(op, args)

    @pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
    def test_compiles_fullgraph(self, device, dynamic):
        # The first gradcheck case, traced whole by dynamo (the fake kernels) with its keyword arguments as inputs of
        # the traced function (dynamic=True makes their numbers symbolic, as well as the shapes); a fresh cache, so
        # that it compiles.
        call = self.gradcheck_call(self.gradcheck_cases[0], device)
        torch.compiler.reset()
        compiled = torch.compile(lambda args, kwargs: call.fn(*args, impl="fused", **kwargs), fullgraph=True,
                                 dynamic=dynamic, backend="eager")
        assert_matches(compiled(call.args, call.kwargs), call("fused"))

    def test_reference_impl_does_not_touch_the_kernels(self, monkeypatch):
        forbid_fused_ops(monkeypatch, self.module)
        for case in self.gradcheck_cases:
            call = self.gradcheck_call(case, torch.device("cpu"))
            torch.autograd.grad(call("ref").sum(), call.inputs())

    def test_bad_input(self, bad_input):
        error, match, thunk = self.bad_inputs[bad_input]
        with pytest.raises(error, match=match):
            thunk()
