"""`python -m stylegan_ops.info`: how the kernels were built and which backends each op can use here."""

import platform
import sys

import torch

import stylegan_ops
from stylegan_ops import _extension


def report() -> str:
    """The build and availability report, as text."""
    lines = [
        f"python        {platform.python_version()} ({sys.executable})",
        f"torch         {torch.__version__} (CUDA {torch.version.cuda or 'none'};"
        f" GPU {'available: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'not available'})",
    ]
    if _extension.REGISTERED:
        b = _extension.BUILD_INFO
        built = f"CUDA (nvcc {b['nvcc']}, arch list {b['cuda_arch_list']})" if b["cuda"] else "CPU only"
        lines += [
            f"_C            loaded from {_extension._C.__file__}",
            f"  built for   {built}",
            f"  compilers   {b['cxx']}" + (f", nvcc {b['nvcc']}" if b["cuda"] else ""),
            f"  against     torch {b['torch']}" + (", debug build" if b["debug"] else ""),
        ]
    else:
        lines.append("_C            not loaded")
    lines.append("")
    lines.append(f"ops           {', '.join(stylegan_ops.OPS)}")
    for device in ("cpu", "cuda"):
        reason = _extension.unavailable_reason(device)
        lines.append(f"{device + ' kernels':<14}{'yes' if reason is None else 'no: ' + reason}")
    lines.append("reference     yes (every op, any device)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
