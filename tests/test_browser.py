"""One real-browser test: Debian chromium driven by Playwright against the served app."""

import contextlib
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


def screenshots() -> Path:
    """The git-ignored folder the browser tests save their screenshots to."""
    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    return shots


@contextlib.contextmanager
def studio_page(server: str, tmp_path: Path):
    """A fresh headless chromium on the studio page, its default scene loaded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # A persistent context in tmp_path is a fresh, empty profile every run.
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, viewport={"width": 1400, "height": 1300}
        )
        try:
            page = browser.new_page()
            page.goto(server, wait_until="load")
            page.get_by_role("button", name="Load scene").click()
            page.get_by_text("Loaded", exact=False).first.wait_for(timeout=90_000)
            yield page
        finally:
            browser.close()


def test_load_click_type_run_and_probe_in_a_real_browser(server, tmp_path):
    shots = screenshots()
    with studio_page(server, tmp_path) as page:
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
    assert clicked.startswith("move ")
    assert frame.std() > 10, "simulator image is blank"
    assert prediction.std() > 10, "prediction image is blank"
    assert plot_traces >= 2, "the divergence plot did not render its PSNR and SSIM traces"


def test_drive_drag_and_fork_in_a_real_browser(server, tmp_path):
    """Keys drive both envs and fill the latency readout; a drag adds markers; a fork shows two branches."""
    shots = screenshots()
    with studio_page(server, tmp_path) as page:
        sim_before, pred_before = image_pixels(page, "sim-image"), image_pixels(page, "pred-image")

        # Drive: one press, then a held key (its repeats are merged while a chunk runs).
        page.locator("#drive-enable input").check()
        page.locator("#status").click()  # focus out of any text box: keys there are typing, not driving
        page.keyboard.press("d")
        page.locator("#drive-latency").get_by_text("total", exact=False).wait_for(timeout=60_000)
        page.keyboard.down("ArrowRight")
        time.sleep(1.5)
        page.keyboard.up("ArrowRight")
        page.locator("#status").get_by_text("Drive:", exact=False).wait_for(timeout=60_000)
        time.sleep(3)  # let the last merged press finish
        latency = page.locator("#drive-latency").inner_text()
        sim_after, pred_after = image_pixels(page, "sim-image"), image_pixels(page, "pred-image")
        page.screenshot(path=str(shots / "browser_drive.png"), full_page=True)

        # Two gripper toggles pressed while a chunk runs cancel out; a single one toggles.
        page.keyboard.press("d")
        page.keyboard.press(" ")
        page.keyboard.press(" ")
        time.sleep(4)
        after_two_toggles = page.locator("#status").inner_text()
        page.keyboard.press(" ")
        page.locator("#status").get_by_text("Drive: close", exact=False).wait_for(timeout=60_000)

        # Drag a stroke across the table.
        page.locator("#actions-text textarea").fill("")
        box = page.locator("#sim-image img").first.bounding_box()
        x0, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.62
        page.mouse.move(x0, y)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x0 + k * box["width"] * 0.03, y + k * 2)
        live_points = page.locator("#physgen-stroke polyline").get_attribute("points").split()  # drawn while the button is down
        page.mouse.up()
        page.locator("#status").get_by_text("Stroke:", exact=False).wait_for(timeout=30_000)
        stroke_text = page.locator("#actions-text textarea").input_value()
        marked = image_pixels(page, "sim-image")
        page.screenshot(path=str(shots / "browser_drag.png"), full_page=True)

        # Fork at chunk 1 and drive another way: branch A appears next to the new branch.
        page.locator("#fork-chunk input").fill("1")
        page.get_by_role("button", name="Fork here").click()
        page.locator("#status").get_by_text("Forked at chunk 1", exact=False).wait_for(timeout=60_000)
        page.locator("#status").click()
        page.keyboard.press("a")  # left
        page.locator("#status").get_by_text("→ chunk 2", exact=False).wait_for(timeout=60_000)
        branch = image_pixels(page, "branch-image")
        traces = page.locator("#divergence-plot .scatterlayer .trace").count()
        page.screenshot(path=str(shots / "browser_fork.png"), full_page=True)
    assert np.abs(sim_after.astype(int) - sim_before.astype(int)).mean() > 0.5, "the simulator image did not change"
    assert np.abs(pred_after.astype(int) - pred_before.astype(int)).mean() > 0.5, "the prediction did not change"
    assert "model" in latency and "simulator" in latency and "ms" in latency
    assert "Drive: right" in after_two_toggles and "close" not in after_two_toggles
    assert len(live_points) >= 10, "the stroke was not drawn while dragging"
    assert stroke_text.count("move ") >= 2
    yellow = (marked[..., 0] > 200) & (marked[..., 1] > 180) & (marked[..., 2] < 80)
    assert yellow.sum() > 20, "no stroke markers on the simulator image"
    assert branch.std() > 10, "branch A is not shown"
    assert traces >= 4, "the divergence plot should show both branches"
