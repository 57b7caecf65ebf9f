"""Builds stylegan_ops._C against the torch installed in this environment.

Install with ``pip install --no-build-isolation .`` (or ``-e .``). Environment variables:

- ``STYLEGAN_OPS_BUILD``: ``auto`` (default: CUDA when torch has CUDA and nvcc is found), ``cuda`` or ``cpu``.
- ``TORCH_CUDA_ARCH_LIST``: GPU architectures to compile for, e.g. ``"8.0;9.0"`` (torch's default otherwise:
  the GPUs it sees).
- ``STYLEGAN_OPS_DEBUG=1``: no optimisation, debug symbols, device line info.
- ``MAX_JOBS``: parallel compile jobs (ninja).
"""

import os
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


def build_mode():
    """'cuda' or 'cpu', from STYLEGAN_OPS_BUILD and what this machine has."""
    requested = os.environ.get("STYLEGAN_OPS_BUILD", "auto").strip().lower()
    if requested not in ("auto", "cuda", "cpu"):
        sys.exit(f"STYLEGAN_OPS_BUILD must be auto, cuda or cpu, got {requested!r}")
    has_cuda = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
    if requested == "cuda" and not has_cuda:
        why = "torch has no CUDA" if torch.version.cuda is None else "nvcc was not found (set CUDA_HOME)"
        sys.exit(f"STYLEGAN_OPS_BUILD=cuda, but {why}.")
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    return requested


def sources(*patterns):
    return sorted(str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern))


def extension():
    mode = build_mode()
    debug = os.environ.get("STYLEGAN_OPS_DEBUG", "0") not in ("", "0")
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
    files = sources("csrc/*.cpp", "csrc/cpu/*.cpp")
    kwargs = dict(name="stylegan_ops._C", define_macros=defines, include_dirs=[str(ROOT / "csrc")],
                  extra_link_args=openmp)
    if mode == "cpu":
        print("stylegan_ops: building the CPU-only extension", file=sys.stderr)
        return cpp_extension.CppExtension(sources=files, extra_compile_args={"cxx": cxx}, **kwargs)
    nvcc = (["-O0", "-G"] if debug else ["-O3", "-lineinfo"]) + ["-std=c++17"]
    files += sources("csrc/cuda/*.cpp", "csrc/cuda/*.cu")
    print(f"stylegan_ops: building the CUDA extension (arch list: {arch_list or 'torch default'})", file=sys.stderr)
    return cpp_extension.CUDAExtension(sources=files, extra_compile_args={"cxx": cxx, "nvcc": nvcc}, **kwargs)


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)},
)
