"""Builds the whole CUDA extension against a CUDA build of torch and checks it on a machine without a GPU.

A venv outside the checkout holds torch 2.14.1 (a CUDA 13.0 build; made on first use, reused after). The checkout's
files are copied to a scratch folder and installed into that venv with STYLEGAN_OPS_BUILD=cuda for sm_80 and sm_90,
our code's warnings as errors. Then, in that venv and away from the checkout:
- the extension imports without a GPU and `python -m stylegan_ops.info` reports the CUDA build and its archs;
- every schema declared in csrc/ops.cpp has a CUDA kernel registered (and a CPU one);
- the CPU op tests pass under this second torch version.

    python tools/check_cuda_build.py [--venv DIR] [--arch 8.0 --arch 9.0]      # make check-cuda-build
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH = "2.14.1"
DEFAULT_VENV = Path.home() / ".cache" / "stylegan-ci" / f"torch-{TORCH}"
VENV_PACKAGES = [f"torch=={TORCH}", "numpy", "setuptools>=64", "wheel", "ninja", "pytest>=7", "hypothesis>=6"]
CPU_OP_TESTS = ["test_bias_act.py", "test_noise_bias_act.py", "test_upfirdn2d.py", "test_adain.py",
                "test_conv3x3.py", "test_kernel_edges.py", "test_extension.py"]

# Run in the venv: the build facts and the CUDA and CPU registration of each schema of csrc/ops.cpp.
CHECK_REGISTRATIONS = r"""
import sys, torch, stylegan_ops
from stylegan_ops import _extension, info
schemas, archs = sys.argv[1].split(","), sys.argv[2]
report = info.report()
print(report)
assert _extension.REGISTERED and _extension.BUILD_INFO["cuda"], "the extension was not built with CUDA"
assert _extension.BUILD_INFO["cuda_arch_list"] == archs, _extension.BUILD_INFO["cuda_arch_list"]
assert f"arch list {archs}" in report and "cuda kernels  yes" in report, "info does not report the CUDA build"
missing = [(name, key) for name in schemas for key in ("CUDA", "CPU")
           if not torch._C._dispatch_has_kernel_for_dispatch_key(f"stylegan_ops::{name}", key)]
assert not missing, f"schemas without a kernel: {missing}"
print(f"check_cuda_build: {len(schemas)} schemas, each with a CUDA and a CPU kernel")
"""


def run(cmd, **kwargs):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = f"import torch, sys; sys.exit(not (torch.__version__.startswith('{TORCH}') and torch.version.cuda))"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python
    print(f"check_cuda_build: making {venv} with torch {TORCH} (CUDA build, about 5.5 GB)", flush=True)
    run([sys.executable, "-m", "venv", "--clear", venv])
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *VENV_PACKAGES])
    return python


def schemas():
    """Names of the ops declared in csrc/ops.cpp."""
    return re.findall(r'm\.def\(\s*"(\w+)\(', (ROOT / "csrc" / "ops.cpp").read_text())


def copy_checkout(dest: Path):
    """The tracked and untracked (not ignored) files, as a fresh clone plus local edits would have them."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get("STYLEGAN_CUDA_VENV", DEFAULT_VENV)))
    parser.add_argument("--arch", action="append", help="compute capability, e.g. 9.0 (default: 8.0 and 9.0)")
    args = parser.parse_args()
    archs = ";".join(args.arch or ["8.0", "9.0"])
    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory(prefix="stylegan-cuda-build-") as scratch:
        source, away = Path(scratch) / "src", Path(scratch) / "run"
        copy_checkout(source)
        away.mkdir()
        env = dict(os.environ, STYLEGAN_OPS_BUILD="cuda", TORCH_CUDA_ARCH_LIST=archs, STYLEGAN_OPS_WERROR="1")
        start = time.monotonic()
        run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-build-isolation", "--no-deps",
             "--force-reinstall", source], env=env)
        print(f"check_cuda_build: built the CUDA extension for {archs} with torch {TORCH} in "
              f"{time.monotonic() - start:.0f} s", flush=True)
        run([python, "-c", CHECK_REGISTRATIONS, ",".join(schemas()), archs], cwd=away)
        # Away from the checkout, whose stylegan_ops folder has no _C for this torch.
        run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ROOT,
             *[ROOT / "tests" / t for t in CPU_OP_TESTS]], cwd=away)


if __name__ == "__main__":
    sys.exit(main())
