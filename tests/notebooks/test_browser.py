"""Notebook 01 in a real browser: `marimo run` on 127.0.0.1 driven by Playwright in headless Debian Chromium.

Moves the s_l slider and checks the weight-space numbers and figures change; presses "Pre-train and compare" and
checks accuracies, loss curves and embeddings appear. Screenshots go to screenshots/ (ignored by git).
Chromium comes from Debian (scripts/setup_browser.sh); Playwright never downloads a browser here.
"""
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from .conftest import BIN, ROOT, SCREENSHOTS, quick_env

CHROMIUM = os.environ.get("IDSLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} missing: run scripts/setup_browser.sh (Debian chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"marimo run exited early with rc {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"marimo run did not answer on {url} within {timeout} s")


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    log = open(tmp_path / "marimo.log", "w")
    proc = subprocess.Popen([str(BIN / "marimo"), "run", "notebooks/01_ids_vs_flip.py", "--host", "127.0.0.1",
                             "--port", str(port), "--headless", "--no-token"],
                            cwd=ROOT, env=quick_env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        print((tmp_path / "marimo.log").read_text()[-3000:])


def test_notebook01_slider_and_run_button(server):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 7000})  # marimo scrolls inside its app
            page.goto(server)
            stats = page.locator("#ids-stats")
            stats.wait_for(timeout=180_000)                      # data, warm-up encoder, diagnostics computed
            page.wait_for_timeout(1500)                          # let plotly draw
            page.screenshot(path=str(SCREENSHOTS / "01_initial.png"), full_page=True)
            before = stats.inner_text()
            assert "s_l = 0.020" in before
            plots_before = page.locator(".js-plotly-plot").count()
            assert plots_before >= 3                             # views grid, cloud, similarity histograms
            cloud_before = page.locator(".js-plotly-plot").nth(1).inner_html()

            slider = page.locator("[role=slider]").first           # the s_l slider is the first on the page
            assert slider.get_attribute("aria-valuenow") == "0.02"
            slider.focus()
            for _ in range(4):
                slider.press("ArrowRight")
            page.wait_for_function("b => { const e = document.querySelector('#ids-stats');"
                                   " return e && !e.innerText.startsWith(b); }",
                                   arg=before.split(":")[0], timeout=60_000)
            after = stats.inner_text()
            assert after != before and "s_l = 0.020" not in after
            assert float(slider.get_attribute("aria-valuenow")) > 0.02
            page.wait_for_timeout(1500)
            assert page.locator(".js-plotly-plot").nth(1).inner_html() != cloud_before   # the cloud redrew
            page.screenshot(path=str(SCREENSHOTS / "01_after_slider.png"), full_page=True)

            assert page.locator("#run-results").count() == 0
            page.get_by_role("button", name="Pre-train and compare").click()
            results = page.locator("#run-results")
            results.wait_for(timeout=180_000)
            page.wait_for_timeout(2000)
            text = results.inner_text()
            assert "meteor" in text and "IDS s_l" in text
            body = page.locator("body").inner_text()
            assert "MLP probe" in body and "%" in body
            assert page.locator(".js-plotly-plot").count() >= plots_before + 2   # loss curves + embeddings
            page.screenshot(path=str(SCREENSHOTS / "01_after_run.png"), full_page=True)
        finally:
            browser.close()
