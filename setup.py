"""Builds stylegan_ops._C against the torch installed in this environment.

Install with ``pip install --no-build-isolation .`` (or ``-e .``). Environment variables:

- ``STYLEGAN_OPS_BUILD``: ``auto`` (default: CUDA when torch has CUDA and a CUDA toolkit is found), ``cuda`` or
  ``cpu``.
- ``CUDA_HOME`` (or ``CUDA_PATH``): the CUDA toolkit's root, holding ``bin/nvcc`` and ``include/cuda_runtime_api.h``.
  Found without it from the ``nvcc`` on the PATH (through symlinks and wrapper scripts) or ``/usr/local/cuda``.
- ``TORCH_CUDA_ARCH_LIST``: GPU architectures to compile for, e.g. ``"8.0;9.0"`` (torch's default otherwise:
  the GPUs it sees).
- ``STYLEGAN_OPS_DEBUG=1``: no optimisation, debug symbols, device line info.
- ``STYLEGAN_OPS_WERROR=1``: warnings in our code are errors (CI's CUDA build check).
- ``MAX_JOBS``: parallel compile jobs (ninja).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup

try:
    import torch
    from torch.utils import cpp_extension
except ImportError:
    sys.exit(
        "stylegan builds its kernels against the torch already installed in your environment, but torch cannot be\n"
        "imported here. Either torch is not installed (install it first: pip install torch==2.13.0), or pip is\n"
        "building in an isolated environment. Install with:\n\n"
        "    pip install --no-build-isolation .\n"
    )

MIN_TORCH = (2, 4)
if tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) < MIN_TORCH:
    sys.exit(f"stylegan needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]} (torch.library.register_autograd, register_fake);"
             f" this environment has {torch.__version__}. Upgrade torch first, pinned to a version, then reinstall.")

ROOT = Path(__file__).parent.resolve()


def is_cuda_toolkit(root) -> bool:
    return root is not None and (Path(root) / "bin" / "nvcc").is_file() and \
        (Path(root) / "include" / "cuda_runtime_api.h").is_file()


def nvcc_reported_root(nvcc: str):
    """The toolkit root that nvcc reports for itself: `nvcc --dryrun` names its own folder (_HERE_), which sees
    through wrapper scripts."""
    try:
        report = subprocess.run([nvcc, "--dryrun", "-x", "cu", "-c", os.devnull, "-o", os.devnull],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (report.stdout + report.stderr).splitlines():
        if line.startswith("#$ _HERE_="):
            return Path(line.split("=", 1)[1].strip()).resolve().parent
    return None


def find_cuda_home(fallbacks=("/usr/local/cuda",)):
    """The CUDA toolkit's root folder, or None when there is none.

    CUDA_HOME (then CUDA_PATH) wins and must be a toolkit: a wrong value stops the build rather than being replaced.
    Otherwise the nvcc on the PATH, after following symlinks, or where that nvcc says it lives (a wrapper script in
    /usr/local/bin is not a toolkit root), then `fallbacks`."""
    for name in ("CUDA_HOME", "CUDA_PATH"):
        value = os.environ.get(name)
        if value:
            if not is_cuda_toolkit(value):
                sys.exit(f"{name}={value} is not a CUDA toolkit (no bin/nvcc and include/cuda_runtime_api.h there). "
                         f"Set CUDA_HOME to the toolkit's root, e.g. /usr/local/cuda, or unset it.")
            return Path(value).resolve()
    nvcc = shutil.which("nvcc")
    candidates = [Path(nvcc).resolve().parent.parent, nvcc_reported_root(nvcc)] if nvcc else []
    for root in [*candidates, *map(Path, fallbacks)]:
        if is_cuda_toolkit(root):
            return root.resolve()
    return None


def build_mode():
    """'cuda' or 'cpu', from STYLEGAN_OPS_BUILD and what this machine has. For 'cuda', points torch's extension
    builder at the CUDA toolkit (its own guess takes the folder above the nvcc on the PATH, wrong for a wrapper)."""
    requested = os.environ.get("STYLEGAN_OPS_BUILD", "auto").strip().lower()
    if requested not in ("auto", "cuda", "cpu"):
        sys.exit(f"STYLEGAN_OPS_BUILD must be auto, cuda or cpu, got {requested!r}")
    if requested == "cpu" or (requested == "auto" and torch.version.cuda is None):
        return "cpu"
    if torch.version.cuda is None:
        sys.exit(f"STYLEGAN_OPS_BUILD=cuda, but torch {torch.__version__} has no CUDA: install a CUDA build of torch.")
    cuda_home = find_cuda_home()
    if cuda_home is None:
        if requested == "auto":
            print("stylegan_ops: torch has CUDA but no CUDA toolkit was found (set CUDA_HOME to build the CUDA "
                  "kernels)", file=sys.stderr)
            return "cpu"
        sys.exit("STYLEGAN_OPS_BUILD=cuda, but no CUDA toolkit was found: no nvcc on the PATH and none in "
                 "/usr/local/cuda. Set CUDA_HOME to the toolkit's root (the folder holding bin/nvcc and "
                 "include/cuda_runtime_api.h).")
    os.environ["CUDA_HOME"] = str(cuda_home)
    cpp_extension.CUDA_HOME = str(cuda_home)
    return "cuda"


def sources(*patterns):
    return sorted(str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern))


def extension():
    mode = build_mode()
    debug = os.environ.get("STYLEGAN_OPS_DEBUG", "0") not in ("", "0")
    werror = os.environ.get("STYLEGAN_OPS_WERROR", "0") not in ("", "0")
    arch_list = os.environ.get("TORCH_CUDA_ARCH_LIST", "") if mode == "cuda" else ""
    defines = [
        ("STYLEGAN_OPS_WITH_CUDA", "1" if mode == "cuda" else "0"),
        ("STYLEGAN_OPS_CUDA_ARCH_LIST", f'"{arch_list or ("torch default" if mode == "cuda" else "")}"'),
        ("STYLEGAN_OPS_DEBUG", "1" if debug else "0"),
        ("STYLEGAN_OPS_TORCH_VERSION", f'"{torch.__version__}"'),
    ]
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # at::parallel_for is a header template over OpenMP here: without -fopenmp it would run on one thread.
    # -fno-trapping-math lets the compiler vectorize loops with a select such as lrelu's (we never read FP traps).
    # -ffp-contract=off keeps a*b+c two roundings everywhere, so that the vectorized and scalar forms of a formula
    # (and the AVX2/AVX-512 clones and the baseline) give the same bits: the kernels rely on it, e.g. a constant plane
    # must normalize to exactly zero.
    openmp = ["-fopenmp"] if torch.backends.openmp.is_available() else []
    cxx = opt + ["-Wall", "-Wno-unused-parameter", "-fno-trapping-math", "-ffp-contract=off"] + openmp
    cxx += ["-Werror"] if werror else []
    files = sources("csrc/*.cpp", "csrc/cpu/*.cpp")
    kwargs = dict(name="stylegan_ops._C", define_macros=defines, include_dirs=[str(ROOT / "csrc")],
                  extra_link_args=openmp)
    if mode == "cpu":
        print("stylegan_ops: building the CPU-only extension", file=sys.stderr)
        return cpp_extension.CppExtension(sources=files, extra_compile_args={"cxx": cxx}, **kwargs)
    nvcc = (["-O0", "-G"] if debug else ["-O3", "-lineinfo"]) + ["-std=c++17"]
    nvcc += ["-Werror", "all-warnings", "-Xcompiler", "-Wall,-Werror"] if werror else []
    files += sources("csrc/cuda/*.cpp", "csrc/cuda/*.cu")
    print(f"stylegan_ops: building the CUDA extension (arch list: {arch_list or 'torch default'})", file=sys.stderr)
    return cpp_extension.CUDAExtension(sources=files, extra_compile_args={"cxx": cxx, "nvcc": nvcc}, **kwargs)


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it to check find_cuda_home
    setup(
        ext_modules=[extension()],
        cmdclass={"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)},
    )
