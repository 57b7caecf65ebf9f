"""Loading the compiled library stylegan_ops._C, and choosing between fused kernels and the reference path.

Nothing is compiled here: _C is built by `pip install --no-build-isolation .`. When it is missing or fails to load,
every op runs its reference implementation after one warning, and `python -m stylegan_ops.info` says why.
Set STYLEGAN_OPS_DISABLE_EXTENSION=1 to skip loading it.
"""

import importlib
import importlib.machinery
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import torch

# The implementations every op can run: 'auto' (the fused kernel when available, else the reference after one
# warning), 'fused' (the kernel or an error) and 'ref' (the pure-PyTorch reference).
IMPLS = ("auto", "fused", "ref")

_C = None
_load_error: Optional[str] = None


def _not_built_reason() -> str:
    """Why there is no _C to import, and what to do. The usual case: after `pip install .`, Python started in the
    checkout imports its source folders (the current directory comes first on sys.path), which hold no _C, instead of
    the installed copy that does."""
    here = Path(__file__).resolve().parent
    where = f"the source tree at {here.parent}" if (here.parent / "setup.py").is_file() else str(here)
    for entry in sys.path:
        other = (Path(entry or os.getcwd()) / here.name).resolve()
        suffixes = importlib.machinery.EXTENSION_SUFFIXES
        if other != here and any((other / f"_C{suffix}").is_file() for suffix in suffixes):
            return (f"{here.name} was imported from {where}, which has no compiled _C, while an installed copy with "
                    f"its kernels is at {other}: run from another directory (so that the installed copy is imported), "
                    f"or build in the source tree with `pip install --no-build-isolation -e .`")
    return (f"{here.name}._C is not built; build it with `pip install --no-build-isolation .` (or `-e .`) in the "
            f"source tree ({here} has no compiled _C for this Python)")


if os.environ.get("STYLEGAN_OPS_DISABLE_EXTENSION", "0") not in ("", "0"):
    _load_error = "disabled by STYLEGAN_OPS_DISABLE_EXTENSION"
else:
    try:
        _C = importlib.import_module(f"{__package__}._C")  # loading the library registers the ops with torch
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}._C":
            _load_error = f"{type(e).__name__}: {e}"
        else:
            _load_error = _not_built_reason()
    except (ImportError, OSError) as e:
        _load_error = f"stylegan_ops._C failed to load ({type(e).__name__}: {e}); rebuild it against this torch"

BUILD_INFO: dict = _C.build_info() if _C is not None else {}
if _C is not None and BUILD_INFO.get("torch") != torch.__version__:
    _load_error = (f"stylegan_ops._C was built against torch {BUILD_INFO.get('torch')} but torch "
                   f"{torch.__version__} is running; rebuild it")

REGISTERED = _C is not None  # the ops exist in torch.ops.stylegan_ops (whether or not they may be used)
_warned = set()


def unavailable_reason(device_type: str) -> Optional[str]:
    """Why the fused kernels cannot run on `device_type` ('cpu', 'cuda', ...), or None if they can."""
    if _load_error is not None:
        return _load_error
    if device_type in ("cpu", "meta"):
        return None
    if device_type == "cuda":
        return None if BUILD_INFO.get("cuda") else "stylegan_ops._C was built without CUDA"
    return f"stylegan_ops has no kernels for device type '{device_type}'"


def check_impl(caller: str, impl: str) -> str:
    """`impl` if it is one of IMPLS, else a ValueError that names `caller`."""
    if impl not in IMPLS:
        raise ValueError(f"{caller}: impl must be one of {IMPLS}, got {impl!r}")
    return impl


def use_fused(op: str, impl: str, device: torch.device) -> bool:
    """Whether `op` runs its fused kernel for tensors on `device` under `impl` (one of IMPLS).

    'auto' falls back to the reference path, with one warning per reason, when no kernel is available; 'fused'
    raises instead."""
    if check_impl(op, impl) == "ref":
        return False
    reason = unavailable_reason(device.type)
    if reason is None:
        return True
    if impl == "fused":
        raise RuntimeError(f"{op}: impl='fused' is unavailable on {device.type}: {reason}")
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"stylegan_ops: using the slow reference ops: {reason}", RuntimeWarning, stacklevel=3)
    return False
