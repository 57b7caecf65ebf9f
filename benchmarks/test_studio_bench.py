"""The studio's interactive latency in headless Chromium: from moving the truncation slider (#psi, an 'input' event)
to the new image loaded in the page, as the page itself measures it (window.studio.lastLatencyMs: the server's
render, the PNG's encoding, the HTTP round trip and the browser's decoding), on a 64x64 StyleGAN2 network (small
channels) and a 256x256 one (the package's default channels). The server renders on its default device.
pytest-benchmark's times include Playwright's own round trips; the page's median is in extra_info and printed."""

import statistics
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from studio_server import launch_chromium, require_browser, save_test_network, studio_server, wait_for_frame  # noqa

ROUNDS = 30


@pytest.fixture(scope="session")
def studio_networks(tmp_path_factory):
    """Network files by resolution, each saved once per session."""
    folder, saved = tmp_path_factory.mktemp("studio-networks"), {}

    def network(resolution):
        if resolution not in saved:
            saved[resolution] = save_test_network(folder / f"G{resolution}.safetensors", resolution)
        return saved[resolution]

    return network


@pytest.mark.parametrize("resolution", [64, 256])
def test_studio_slider_latency(benchmark, studio_networks, tmp_path, resolution):
    sync_playwright = require_browser()
    network = studio_networks(resolution)
    with studio_server(network, tmp_path) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        page.goto(url)
        frames = wait_for_frame(page, 0, timeout=120_000)
        latencies, values = [], iter([f"{0.3 + 0.01 * i:.2f}" for i in range(1000)])  # a new psi every round

        def move_slider():
            nonlocal frames
            page.eval_on_selector("#psi", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }",
                                  next(values))
            frames = wait_for_frame(page, frames, timeout=120_000)
            latencies.append(page.evaluate("window.studio.lastLatencyMs"))

        for _ in range(3):  # warm-up: the server's first frames, the browser's caches
            move_slider()
        latencies.clear()
        benchmark.group = "studio: slider to new image"
        benchmark.pedantic(move_slider, rounds=ROUNDS, iterations=1)
        browser.close()
    median = statistics.median(latencies)
    benchmark.extra_info.update(resolution=resolution, page_latency_median_ms=median,
                                page_latency_min_ms=min(latencies), page_latency_max_ms=max(latencies))
    print(f"\nstudio {resolution}x{resolution}: slider to new image, median {median:.1f} ms "
          f"(min {min(latencies):.1f}, max {max(latencies):.1f}) over {len(latencies)} rounds")
