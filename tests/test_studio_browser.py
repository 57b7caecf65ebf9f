"""The studio's page end to end in headless Chromium (Playwright) against the real server on a 64x64 StyleGAN2
network with random weights: every control tried changes the image's pixels, and errors show in #message without
breaking the page. Skipped without Playwright or Chromium, except under CI=true (then it fails)."""

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio_server import launch_chromium, require_browser, save_test_network, studio_server, wait_for_frame


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    require_browser()
    folder = tmp_path_factory.mktemp("studio")
    network = save_test_network(folder / "test-G.safetensors", 64)
    with studio_server(network, folder) as url:
        yield url


@pytest.fixture(scope="module")
def browser(studio_url):
    sync_playwright = require_browser()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, studio_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(studio_url)
    wait_for_frame(page, 0, timeout=60_000)
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def pixels(page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator("#image").screenshot())).convert("RGB"), dtype=np.float32)


def assert_changed(before: np.ndarray, after: np.ndarray, what: str):
    if before.shape == after.shape:
        change = float(np.abs(before - after).mean())
        assert change > 2, f"{what}: the image hardly changed (mean absolute difference {change:.2f} of 255)"


def set_range(page, selector: str, value):
    page.eval_on_selector(selector, "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", str(value))


def test_every_control_changes_the_image(page, tmp_path):
    frames = page.evaluate("window.studio.frames")
    assert page.locator("#image").get_attribute("data-frame") == str(frames)
    assert page.locator("#controls").is_enabled()
    shown = pixels(page)

    page.fill("#seed", "7")
    frames = wait_for_frame(page, frames)
    assert page.evaluate("window.studio.state.latent") == {"x": 7, "y": 0, "space": "z"}
    shown, before = pixels(page), shown
    assert_changed(before, shown, "seed")

    set_range(page, "#psi", 0.3)
    frames = wait_for_frame(page, frames)
    assert page.evaluate("window.studio.state.psi") == 0.3
    shown, before = pixels(page), shown
    assert_changed(before, shown, "truncation psi")

    page.click("#sec-layers > summary")  # open the collapsed section
    layer = page.eval_on_selector("#layer", "e => [...e.options].find(o => o.text.includes('16px')).value")
    page.select_option("#layer", layer)
    page.select_option("#view-mode", "grid")
    frames = wait_for_frame(page, frames)
    assert page.evaluate("window.studio.state.view") == {"layer": layer, "mode": "grid", "channel": 0}
    assert page.locator("#top-channels button").count() > 0
    assert_changed(shown, pixels(page), f"layer {layer} as a grid")

    page.select_option("#layer", "output")
    frames = wait_for_frame(page, frames)
    shown = pixels(page)
    page.click("#sec-edit > summary")
    page.select_option("#direction-method", "ganspace")
    page.fill("#direction-count", "4")
    page.click("#compute-directions")
    sliders = page.locator("#edits .edit-slider")
    sliders.nth(3).wait_for(timeout=30_000)
    assert sliders.count() == 4
    set_range(page, "#edits .edit-slider >> nth=0", 4)
    frames = wait_for_frame(page, frames)
    edits = page.evaluate("window.studio.state.edits")
    assert len(edits) == 1 and edits[0]["index"] == 0 and edits[0]["strength"] == 4
    assert_changed(shown, pixels(page), "a GANSpace edit")

    assert re.search(r"render \d+(\.\d+)? ms", page.text_content("#render-time"))
    assert "--network" in page.text_content("#command")
    assert page.text_content("#message") == ""
    folder = Path(os.environ.get("STUDIO_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "studio.png"), full_page=True)


def test_errors_show_and_the_page_keeps_working(page):
    frames = page.evaluate("window.studio.frames")
    page.fill("#network-path", "no/such/network.pkl")
    page.click("#open-network")
    page.wait_for_function("(t => t && !t.startsWith('opening'))(document.getElementById('message').textContent)",
                           timeout=30_000)

    page.fill("#cutoff", "999")  # more ws than the network has
    page.wait_for_function("document.getElementById('message').textContent.includes('cutoff')", timeout=30_000)
    assert page.evaluate("window.studio.frames") == frames

    page.fill("#cutoff", "")
    page.fill("#seed", "3")
    wait_for_frame(page, frames)
    assert page.text_content("#message") == ""
    assert page.evaluate("window.studio.state.cutoff") is None
