"""Compile-checks the CUDA sources on a machine without a CUDA build of torch.

Every csrc/cuda/*.cu is compiled with plain nvcc (no torch headers) for each architecture, warnings as errors, and
ptxas's register, shared-memory and spill report is summarised. The CUDA binding files (csrc/cuda/*.cpp) are then
syntax-checked against torch's headers and the CUDA toolkit's, which catches API misuse without linking.

    python tools/check_cuda.py [--arch 80 --arch 90] [--verbose]

Exits non-zero on any compile error or warning; prints 'skipped' and exits 0 when nvcc is absent.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = re.compile(r"Compiling entry function '(\w+)' for 'sm_(\d+)'")
USAGE = re.compile(r"Used (\d+) registers(?:.*?, (\d+) bytes smem)?")
SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def demangle(names):
    if not names or shutil.which("c++filt") is None:
        return names
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.split("\n")
    return [re.sub(r"\(anonymous namespace\)::|stylegan_ops::", "", n) for n in out[: len(names)]]


# torch's extension build passes these to nvcc; the kernels must compile with them.
TORCH_NVCC_DEFINES = ["-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__",
                      "-D__CUDA_NO_BFLOAT16_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__", "--expt-relaxed-constexpr"]


def compile_cu(nvcc, source, arch, verbose):
    cmd = [nvcc, "-std=c++17", "-O3", f"-arch=sm_{arch}", "-Werror", "all-warnings", "-Xcompiler", "-Wall,-Wextra",
           *TORCH_NVCC_DEFINES, "--resource-usage", "-c", str(source), "-o", os.devnull]
    result = subprocess.run(cmd, capture_output=True, text=True)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        print(log)
        raise SystemExit(f"FAILED: {' '.join(cmd)}")
    kernels, current = [], None
    for line in log.splitlines():
        if m := ENTRY.search(line):
            current = {"name": m.group(1), "regs": 0, "smem": 0, "spill": 0}
            kernels.append(current)
        elif current and (m := SPILL.search(line)):
            current["spill"] = int(m.group(2)) + int(m.group(3))
        elif current and (m := USAGE.search(line)):
            current["regs"] = int(m.group(1))
            current["smem"] = int(m.group(2) or 0)
    spilling = [k for k in kernels if k["spill"]]
    print(f"  {source.name:<18} sm_{arch}: {len(kernels):>3} kernels, registers <= "
          f"{max((k['regs'] for k in kernels), default=0)}, shared memory <= "
          f"{max((k['smem'] for k in kernels), default=0)} B, {len(spilling)} spilling")
    shown = kernels if verbose else spilling
    for kernel, name in zip(shown, demangle([k["name"] for k in shown])):
        print(f"      {kernel['regs']:>3} regs {kernel['smem']:>6} B smem {kernel['spill']:>4} B spilled  {name}")


def cuda_include_dir(nvcc):
    """The CUDA toolkit's include directory: from CUDA_HOME or CUDA_PATH, next to nvcc, or /usr/local/cuda."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), Path(nvcc).resolve().parent.parent,
                  "/usr/local/cuda"]
    for home in filter(None, candidates):
        if (Path(home) / "include" / "cuda_runtime_api.h").exists():
            return Path(home) / "include"
    raise SystemExit("check_cuda: cannot find the CUDA headers (cuda_runtime_api.h); set CUDA_HOME")


def check_bindings(cuda_include):
    try:
        import torch.utils.cpp_extension as ext
    except ImportError:
        print("  bindings: skipped (torch is not installed)")
        return
    includes = [f"-isystem{p}" for p in ext.include_paths()] + [f"-isystem{cuda_include}", f"-I{ROOT / 'csrc'}"]
    # A CPU-only torch ships the c10/cuda headers without their generated configuration header.
    flags = ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE"]
    for source in sorted((ROOT / "csrc" / "cuda").glob("*.cpp")):
        result = subprocess.run(["g++", *flags, *includes, str(source)], capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr)
            raise SystemExit(f"FAILED: syntax check of {source}")
        print(f"  {source.name:<26} syntax OK against torch's and CUDA's headers")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", action="append", help="compute capability without the dot (default: 80 and 90)")
    parser.add_argument("--verbose", action="store_true", help="list every kernel, not only those that spill")
    args = parser.parse_args()
    nvcc = shutil.which("nvcc") or (os.environ.get("CUDA_HOME") and str(Path(os.environ["CUDA_HOME"]) / "bin/nvcc"))
    if not nvcc or not Path(nvcc).exists():
        print("check_cuda: skipped (nvcc not found)")
        return
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    print(f"check_cuda: {nvcc} ({version})")
    for source in sorted((ROOT / "csrc" / "cuda").glob("*.cu")):
        for arch in args.arch or ["80", "90"]:
            compile_cu(nvcc, source, arch, args.verbose)
    check_bindings(cuda_include_dir(nvcc))


if __name__ == "__main__":
    sys.exit(main())
