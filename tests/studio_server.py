"""Helpers for the studio's browser test and benchmark (tests/test_studio_browser.py, benchmarks/test_studio_bench.py):
a test network, the studio server in a subprocess, and headless Chromium through Playwright."""

import contextlib
import importlib.util
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
URL_LINE = re.compile(r"http://127\.0\.0\.1:\d+/")


def require_browser():
    """playwright.sync_api.sync_playwright; skips the test when Playwright, Chromium or the server's FastAPI and
    uvicorn are missing, except under CI (CI=true), where that fails the test: CI must run the browser tests."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
    for module in ("fastapi", "uvicorn"):  # the studio extra, which the server needs
        if missing is None and importlib.util.find_spec(module) is None:
            missing = f"{module} is not installed (pip install --no-build-isolation '.[studio]')"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"Chromium is not at {CHROMIUM}"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the studio's browser tests must run in CI, but {missing}")
        pytest.skip(missing)
    return sync_playwright


def save_test_network(path, resolution: int = 64):
    """A StyleGAN2 generator with random weights saved at `path`: at 64, a small one (z/w 64, 64 channels at most)
    with visible noise and a w_avg that makes truncation change the image; otherwise the package's default channels."""
    import torch

    from stylegan import save_network
    from stylegan.networks import Generator

    torch.manual_seed(0)
    if resolution == 64:
        G = Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=64, img_channels=3, variant="stylegan2",
                      mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=1024, channel_max=64))
    else:
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or name.endswith("noise_weight"):
                p.fill_(0.1)
        G.mapping.w_avg.copy_(G.mapping(torch.randn(256, G.z_dim), None)[:, 0].mean(0))
    save_network(G.eval(), path)
    return Path(path)


@contextlib.contextmanager
def studio_server(network, cwd, timeout: float = 60):
    """Runs `python -m stylegan.studio --network NETWORK --port 0 --no-browser` in `cwd`; yields its URL once it
    listens. Fails when it does not come up in `timeout` seconds, or when it died before the end."""
    import stylegan

    env = dict(os.environ)
    root = str(Path(stylegan.__file__).resolve().parent.parent)  # the stylegan this process imports, for the server
    paths = [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen([sys.executable, "-m", "stylegan.studio", "--network", str(network), "--port", "0",
                                "--no-browser"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace",
                               start_new_session=True)  # its own process group: its workers go with it at the end
    output, lines = [], queue.Queue()

    def drain():  # keeps reading, so that the server never blocks on a full pipe
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    url, deadline = None, time.monotonic() + timeout
    while url is None:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"the studio server did not print its URL within {timeout} s (exit code "
                        f"{process.returncode}); its output:\n{''.join(output)}")
        match = URL_LINE.search(line)
        if match:
            url = match.group(0)
    try:
        yield url
    finally:
        died = process.poll()
        if died is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of the group outlived the server (its worker processes)
    if died is not None:
        pytest.fail(f"the studio server died during the test (exit code {died}); its output:\n{''.join(output)}")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_for_frame(page, after: int, timeout: float = 30_000) -> int:
    """Waits until the page shows a frame newer than frame `after` and no render is pending; the new frame count."""
    page.wait_for_function("n => window.studio && window.studio.frames > n && !window.studio.busy", arg=after,
                           timeout=timeout)
    return page.evaluate("window.studio.frames")
