"""One real-browser test: Debian chromium driven by Playwright against the served app."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.sim, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"app exited: {proc.stdout.read()}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def image_pixels(page, elem_id: str, settle_s: float = 10.0) -> np.ndarray:
    """The frame shown in an image component, once it has rendered (streamed updates swap the
    <img> and it is briefly empty)."""
    from io import BytesIO

    from PIL import Image

    deadline = time.time() + settle_s
    while True:
        # The largest <img> in the component is the frame (the others are icons).
        images = page.locator(f"#{elem_id} img")
        areas = [(b["width"] * b["height"] if (b := images.nth(i).bounding_box()) else 0) for i in range(images.count())]
        pixels = np.asarray(Image.open(BytesIO(images.nth(int(np.argmax(areas))).screenshot())).convert("RGB"))
        if pixels.std() > 10 or time.time() > deadline:
            return pixels
        time.sleep(0.5)


def test_load_click_type_run_and_probe_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        # A persistent context in tmp_path is a fresh, empty profile every run.
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, viewport={"width": 1400, "height": 1300}
        )
        page = browser.new_page()
        page.goto(server, wait_until="load")
        page.get_by_role("button", name="Load scene").click()
        page.get_by_text("Loaded", exact=False).first.wait_for(timeout=90_000)

        # A click on the table adds a move to the actions box and a marker on the image.
        textarea = page.locator("#actions-text textarea")
        textarea.fill("")
        box = page.locator("#sim-image img").first.bounding_box()
        page.locator("#sim-image img").first.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.65})
        page.locator("#status").get_by_text("Target 1", exact=False).wait_for(timeout=30_000)
        clicked = textarea.input_value()
        page.screenshot(path=str(shots / "browser_click.png"), full_page=True)

        textarea.fill(clicked + "\nclose; up 4cm")
        page.get_by_role("button", name="Run", exact=True).click()
        page.locator("#status").get_by_text("Executed", exact=False).wait_for(timeout=90_000)
        frame = image_pixels(page, "sim-image")
        prediction = image_pixels(page, "pred-image")
        plot_traces = page.locator("#divergence-plot .scatterlayer .trace").count()
        page.screenshot(path=str(shots / "browser_run.png"), full_page=True)

        page.get_by_role("tab", name="Object permanence").click()
        page.get_by_role("button", name="Run the occlusion probe").click()
        page.get_by_text("Mean presence after it reappears", exact=False).first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "browser_probe.png"), full_page=True)
        browser.close()
    assert clicked.startswith("move ")
    assert frame.std() > 10, "simulator image is blank"
    assert prediction.std() > 10, "prediction image is blank"
    assert plot_traces >= 2, "the divergence plot did not render its PSNR and SSIM traces"
