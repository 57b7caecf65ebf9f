"""Shared test helpers: comparison against the reference, and the low-precision error budget."""

import importlib

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, **kwargs) -> None:
    """Equal up to the dtype's default tolerance, NaN where the reference has NaN, same shape and dtype."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    torch.testing.assert_close(actual, expected, equal_nan=True, **kwargs)


def assert_within_error_budget(fused: torch.Tensor, ref_low: torch.Tensor, ref64: torch.Tensor, slack: float = 2.0):
    """The flash-attention rule: the fused low-precision result may err from the float64 reference by at most about
    `slack` times what the reference op computed in the same low precision errs (plus a floor of a few ulps)."""
    assert fused.dtype == ref_low.dtype
    fused_err = (fused.double() - ref64).abs().max().item()
    ref_err = (ref_low.double() - ref64).abs().max().item()
    eps = torch.finfo(fused.dtype).eps
    floor = 4 * eps * max(ref64.abs().max().item(), 1.0)
    assert fused_err <= slack * ref_err + floor, f"fused error {fused_err:.3g} > {slack} x reference error " \
                                                  f"{ref_err:.3g} + {floor:.3g}"


def randn(*shape, dtype=torch.float64, device="cpu", requires_grad=False) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def strided_variants(x: torch.Tensor):
    """The same values as x (4-D) in other memory layouts: channels_last, a transposed view, a strided slice."""
    yield "contiguous", x
    yield "channels_last", x.to(memory_format=torch.channels_last)
    yield "transposed", x.transpose(2, 3).contiguous().transpose(2, 3)
    wide = torch.zeros(x.shape[0], x.shape[1], x.shape[2], 2 * x.shape[3], dtype=x.dtype, device=x.device)
    wide[..., ::2] = x
    yield "strided", wide[..., ::2]


def forbid_fused_ops(monkeypatch, module: str) -> None:
    """Makes any use of torch.ops.stylegan_ops from `module` fail the test."""
    class Forbidden:
        def __getattr__(self, name):
            raise AssertionError(f"fused op {name} called from {module} with impl='ref'")

    monkeypatch.setattr(importlib.import_module(module), "_ops", Forbidden())


def read_png(path):
    """An image file as a uint8 HWC RGB array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as f:
        return np.asarray(f.convert("RGB"))


def with_defaults(argv, defaults: dict) -> list:
    """argv (items converted with str) followed by each flag of `defaults` and its value that argv does not give."""
    argv = [str(a) for a in argv]
    return argv + [str(x) for flag, value in defaults.items() if flag not in argv for x in (flag, value)]
