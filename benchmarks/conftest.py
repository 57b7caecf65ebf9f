"""Benchmark fixtures: devices, device synchronisation, the copy-bandwidth ceiling, the three ways to run an op
(fused, reference, torch.compile of the reference) and a side-by-side summary of them (speed-ups, GB/s, fraction of
the copy bandwidth) printed after pytest-benchmark's tables. The process keeps the memory it frees, as training on
the CPU does (stylegan.cpu_memory): timings do not include the kernel's page faults for every fresh tensor."""

import functools
import time

import pytest
import torch

from stylegan.cpu_memory import keep_freed_memory

MEMORY_KEPT = keep_freed_memory()

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
IMPLS = ["fused", "ref", "compiled"]  # compiled: torch.compile of the reference path (inductor), compiled untimed


def with_impl(op, impl: str):
    """op with its `impl` keyword set: 'fused' or 'ref', or for 'compiled' the reference path under torch.compile
    (static shapes; measure() runs a function once untimed, so the compilation is not timed)."""
    if impl == "compiled":
        return torch.compile(functools.partial(op, impl="ref"), dynamic=False)
    return functools.partial(op, impl=impl)
_results = []  # (group, impl, median seconds, bytes moved)
_copy_bandwidth = {}


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth(device) -> float:
    """Bytes per second of a large device-to-device copy, counting bytes read plus bytes written."""
    if device not in _copy_bandwidth:
        src = torch.empty(256 * 2**20, dtype=torch.uint8, device=device).random_()
        dst = torch.empty_like(src)
        best = float("inf")
        for _ in range(10):
            synchronize(device)
            start = time.perf_counter()
            dst.copy_(src)
            synchronize(device)
            best = min(best, time.perf_counter() - start)
        _copy_bandwidth[device] = 2 * src.numel() / best
    return _copy_bandwidth[device]


@pytest.fixture(autouse=True)
def _fresh_compile_caches():
    """Each benchmark compiles its own functions: dynamo keeps at most a few compilations per code object (and the
    ops share wrappers), beyond which it runs the function uncompiled, silently."""
    torch._dynamo.reset()


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def measure(benchmark):
    """measure(fn, group=..., impl=..., device=..., bytes_moved=...) times fn (which must synchronize the device
    itself) in pytest-benchmark group `group`, after one untimed call (a compiled fn compiles there), and records it
    for the summary (GB/s only when bytes_moved is given)."""

    def run(fn, *, group, impl, device, bytes_moved=None):
        fn()
        benchmark.group = group
        benchmark.extra_info.update(impl=impl, device=device, bytes_moved=bytes_moved)
        benchmark(fn)
        if benchmark.stats is not None:  # None when benchmarks are disabled
            median = benchmark.stats.stats.median
            if bytes_moved is not None:
                benchmark.extra_info["GB/s"] = bytes_moved / median / 1e9
            _results.append((group, impl, device, median, bytes_moved))

    return run


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    write = terminalreporter.write_line
    write("")
    write("fused vs reference vs torch.compile(reference) (medians; GB/s counts the bytes the fused op must move: "
          "inputs read once, outputs written once)")
    write(f"{'group':<58} {'fused ms':>9} {'ref ms':>9} {'speed-up':>8} {'compiled ms':>11} {'vs compiled':>11} "
          f"{'GB/s':>7} {'of copy':>8}")
    groups = {}
    for group, impl, device, median, nbytes in _results:
        groups.setdefault(group, {"device": device, "bytes": nbytes})[impl] = median
    for group, r in groups.items():
        fused, ref, compiled = r.get("fused"), r.get("ref"), r.get("compiled")  # compiled: torch.compile(reference)
        ceiling = copy_bandwidth(r["device"])
        cells = [f"{group:<58}", f"{fused * 1e3:>9.3f}" if fused else f"{'-':>9}",
                 f"{ref * 1e3:>9.3f}" if ref else f"{'-':>9}",
                 f"{ref / fused:>7.2f}x" if fused and ref else f"{'-':>8}",
                 f"{compiled * 1e3:>11.3f}" if compiled else f"{'-':>11}",
                 f"{compiled / fused:>10.2f}x" if fused and compiled else f"{'-':>11}"]
        if fused and r["bytes"] is not None:
            gbs = r["bytes"] / fused / 1e9
            cells += [f"{gbs:>7.1f}", f"{100 * gbs * 1e9 / ceiling:>7.0f}%"]
        write(" ".join(cells))
    write(f"freed memory kept in the process (stylegan.cpu_memory): {'yes' if MEMORY_KEPT else 'no'}")
    for device in sorted({r["device"] for r in groups.values()}):
        write(f"copy bandwidth on {device}: {copy_bandwidth(device) / 1e9:.1f} GB/s (read + write)")
