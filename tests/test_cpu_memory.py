"""keep_freed_memory: glibc's malloc keeps freed tensor memory in the process (run in subprocesses: it changes the
whole process)."""

import subprocess
import sys

import pytest

PROBE = """
import os, sys, torch
from stylegan.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = resident()
t = torch.ones(64 << 20, dtype=torch.uint8)  # 64 MiB, every page touched
del t
print(resident() - before)
"""


def resident_growth_after_free(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc on Linux only")
def test_freed_tensor_memory_stays_in_the_process():
    # By default the 64 MiB go back to the kernel when the tensor is freed; kept, they stay resident for reuse.
    assert resident_growth_after_free("default") < 16 << 20
    assert resident_growth_after_free("keep") > 48 << 20
