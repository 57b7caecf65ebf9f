"""After `pip install --no-build-isolation .`, Python started in the checkout imports the source folders, which hold
no compiled _C, instead of the installed copy: the warning says so, where each copy is, and what to do."""

import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import stylegan_ops

# Started in the checkout (the current directory comes first on sys.path), as after a non-editable install (no
# editable-install finder, which would find this checkout's own _C). Prints the warning of the fallback to the
# reference ops, then the reason once the installed copy is no longer on sys.path.
PROBE = """
import sys, warnings
sys.meta_path = [finder for finder in sys.meta_path if not finder.__module__.startswith("__editable__")]
import torch
from stylegan_ops import _extension
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    _extension.use_fused("bias_act", "auto", torch.device("cpu"))
print(caught[0].message)
sys.path = [p for p in sys.path if p != sys.argv[1]]
print(_extension._not_built_reason())
"""


def test_the_source_tree_does_not_hide_the_installed_kernels_silently(tmp_path):
    checkout, site = tmp_path / "checkout", tmp_path / "site-packages"
    shutil.copytree(Path(stylegan_ops.__file__).parent, checkout / "stylegan_ops",
                    ignore=lambda folder, names: [n for n in names if not n.endswith(".py")])
    (checkout / "setup.py").write_text("")
    (site / "stylegan_ops").mkdir(parents=True)
    (site / "stylegan_ops" / f"_C{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")  # the installed one
    env = {k: v for k, v in os.environ.items() if k != "STYLEGAN_OPS_DISABLE_EXTENSION"}
    result = subprocess.run([sys.executable, "-c", PROBE, str(site)], cwd=checkout, capture_output=True, text=True,
                            timeout=120, env={**env, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    warning, alone = result.stdout.splitlines()
    assert warning == (f"stylegan_ops: using the slow reference ops: stylegan_ops was imported from the source tree at "
                       f"{checkout}, which has no compiled _C, while an installed copy with its kernels is at "
                       f"{site / 'stylegan_ops'}: run from another directory (so that the installed copy is imported), "
                       f"or build in the source tree with `pip install --no-build-isolation -e .`")
    assert alone == (f"stylegan_ops._C is not built; build it with `pip install --no-build-isolation .` (or `-e .`) in "
                     f"the source tree ({checkout / 'stylegan_ops'} has no compiled _C for this Python)")
