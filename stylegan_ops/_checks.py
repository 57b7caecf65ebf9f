"""Argument checks shared by the public ops: each error names the argument at fault."""

import math
import numbers
from typing import Optional

import torch

KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensor(op: str, name: str, t, dtypes=KERNEL_DTYPES, ndim: Optional[int] = None) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if dtypes is not None and t.dtype not in dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{op}: {name} must have dtype {names}; got {str(t.dtype).replace('torch.', '')}")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {list(t.shape)}")


def check_same_device(op: str, name: str, t: torch.Tensor, x: torch.Tensor) -> None:
    if t.device != x.device:
        raise ValueError(f"{op}: {name} is on {t.device} but x is on {x.device}; move them to one device")


def check_float(op: str, name: str, v, *, minimum: Optional[float] = None, allow_none: bool = False):
    """`v` as a finite float (>= minimum when given); None passes through when allowed."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not -math.inf < v < math.inf:  # not math.isfinite: this also traces when dynamo makes v symbolic
        raise ValueError(f"{op}: {name} must be finite, got {v}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {v}")
    return v


def check_int(op: str, name: str, v, *, minimum: Optional[int] = None) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    v = int(v)
    if minimum is not None and v < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {v}")
    return v
