"""Loading the compiled library, the fallback to the reference path when it is missing, and the info report."""

import os
import subprocess
import sys
import sysconfig

import pytest

import stylegan_ops
from stylegan_ops import _extension

# Uses two ops through the public API with impl='auto' (twice each, forward and backward), then impl='fused'.
PROBE = """
import warnings
import torch
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import stylegan_ops
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    f = stylegan_ops.setup_filter([1, 3, 3, 1])
    for _ in range(2):
        y = stylegan_ops.bias_act(stylegan_ops.upsample2d(x, f), torch.randn(3), act="lrelu")
        y.square().sum().backward()
assert x.grad is not None and x.grad.abs().sum() > 0
print("warnings:", len([w for w in caught if "reference ops" in str(w.message)]))
try:
    stylegan_ops.bias_act(x, impl="fused")
except RuntimeError as e:
    print("fused:", e)
"""


def run_python(code, cwd=None, **env):
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def with_library_replaced(code, library=None):
    """`code` run with the import of stylegan_ops._C answered as if the library were missing (library None) or
    were the file `library`, whatever way the package is installed."""
    prelude = f"""
import importlib.abc, importlib.util, sys
class _Replace(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "stylegan_ops._C":
            return None
        if {str(library)!r} == "None":
            raise ModuleNotFoundError("No module named 'stylegan_ops._C'", name=name)
        return importlib.util.spec_from_file_location(name, {str(library)!r})
sys.meta_path.insert(0, _Replace())
"""
    return prelude + code


def test_library_is_loaded_in_this_environment():
    assert _extension._load_error is None, _extension._load_error
    assert stylegan_ops.unavailable_reason("cpu") is None
    assert stylegan_ops.unavailable_reason("mps") == "stylegan_ops has no kernels for device type 'mps'"


def test_disabled_library_falls_back_with_one_warning():
    out = run_python(PROBE, STYLEGAN_OPS_DISABLE_EXTENSION="1")
    assert "warnings: 1" in out
    assert "fused: bias_act: impl='fused' is unavailable on cpu: disabled by STYLEGAN_OPS_DISABLE_EXTENSION" in out


def test_missing_library_falls_back_and_says_how_to_build():
    out = run_python(with_library_replaced(PROBE))
    assert "warnings: 1" in out
    assert "stylegan_ops._C is not built; build it with `pip install --no-build-isolation .`" in out


def test_broken_library_falls_back_and_says_why(tmp_path):
    library = tmp_path / ("_C" + sysconfig.get_config_var("EXT_SUFFIX"))
    library.write_bytes(b"not a shared library")
    out = run_python(with_library_replaced(PROBE, library))
    assert "warnings: 1" in out
    assert "stylegan_ops._C failed to load (ImportError" in out


def test_info_reports_build_and_backends():
    out = run_python("import runpy; runpy.run_module('stylegan_ops.info', run_name='__main__')")
    assert "_C            loaded from" in out
    assert "ops           " + ", ".join(stylegan_ops.OPS) in out
    assert "cpu kernels   yes" in out


def test_info_says_why_when_the_library_is_missing():
    out = run_python(with_library_replaced("import runpy; runpy.run_module('stylegan_ops.info', run_name='__main__')"))
    assert "_C            not loaded" in out
    assert "cpu kernels   no: stylegan_ops._C is not built" in out


@pytest.mark.parametrize("impl", stylegan_ops.IMPLS)
def test_impl_choice(impl):
    import torch
    assert stylegan_ops.check_impl("caller", impl) == impl
    assert _extension.use_fused("bias_act", impl, torch.device("cpu")) == (impl != "ref")


def test_unknown_impl_names_the_caller_and_the_choices():
    with pytest.raises(ValueError, match=r"^caller: impl must be one of \('auto', 'fused', 'ref'\), got 'cuda'$"):
        stylegan_ops.check_impl("caller", "cuda")
