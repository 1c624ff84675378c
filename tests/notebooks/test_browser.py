"""The notebooks in a real browser, as the README opens them: `marimo edit` (what `make notebook` runs) on
127.0.0.1, driven by Playwright in headless Debian Chromium, with IDSLAB_QUICK=1.

- every notebook opens computed (pyproject.toml [tool.marimo.runtime] auto_instantiate): its first screen
  (1400 x 900) shows a rendered heading, every cell finishes without an error, and no cell output is cut (marimo's
  edit mode scrolls any output taller than 610 px inside its cell: scrollHeight > clientHeight);
- notebook 01 (one server): the same first-screen checks; the s_l slider changes the weight-space numbers and the
  cloud plot; "Pre-train and compare" shows the results table and the figures with the controls, and nothing is
  cut afterwards either.
Opening a notebook in `marimo edit` must not rewrite it (the file is compared before and after).
Screenshots go to screenshots/ (ignored by git). Chromium comes from Debian (scripts/setup_browser.sh); Playwright
never downloads a browser here.
"""
import contextlib
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from .conftest import BIN, NOTEBOOKS, ROOT, SCREENSHOTS, quick_env

CHROMIUM = os.environ.get("IDSLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FIRST_SCREEN = {"width": 1400, "height": 900}
SETTLE_S = 240  # a loaded 2-core CPU: imports, data, the warm-up encoder

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} missing: run scripts/setup_browser.sh (Debian chromium)")]

# JavaScript run in the page: cell outputs that scroll inside their cell (cut), cells still busy, cells in error.
CUT_JS = """() => [...document.querySelectorAll('.marimo-cell .output-area')]
    .filter(e => e.scrollHeight > e.clientHeight + 2)
    .map(e => `${e.scrollHeight}px > ${e.clientHeight}px: ${(e.innerText || '').slice(0, 80)}`)"""
BUSY_JS = """() => [...document.querySelectorAll('.marimo-cell [data-status]')]
    .filter(e => ['running', 'queued'].includes(e.getAttribute('data-status'))).length"""
ERRORS_JS = """() => [...document.querySelectorAll('.marimo-cell .marimo-error')].map(e => e.innerText.slice(0, 300))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"marimo exited early with rc {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"marimo did not answer on {url} within {timeout} s")


@contextlib.contextmanager
def marimo(mode: str, notebook, log_path, **env):
    """`marimo edit|run NOTEBOOK` on a free port (headless, no token) for the duration; yields the URL.
    env: extra environment variables (on top of quick_env)."""
    port = _free_port()
    extra = ["--skip-update-check"] if mode == "edit" else []
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(BIN / "marimo"), mode, str(notebook.relative_to(ROOT)), "--host", "127.0.0.1",
                                 "--port", str(port), "--headless", "--no-token", *extra],
                                cwd=ROOT, env=quick_env(**env), stdout=log, stderr=subprocess.STDOUT,
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
    print(open(log_path).read()[-3000:])


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def settle(page, timeout_s: float = SETTLE_S) -> None:
    """Wait until cells have started and none is running or queued any more, then let plotly draw."""
    page.wait_for_selector(".marimo-cell", timeout=timeout_s * 1000)
    end = time.monotonic() + timeout_s
    idle_since = None
    while time.monotonic() < end:
        if page.evaluate(BUSY_JS) == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 2.0:        # idle for 2 s: not just between two cells
                page.wait_for_timeout(1000)
                return
        else:
            idle_since = None
        page.wait_for_timeout(300)
    raise TimeoutError(f"cells still running after {timeout_s} s")


def check_nothing_cut(page, where: str) -> None:
    cut = page.evaluate(CUT_JS)
    assert not cut, f"{where}: cell outputs cut at marimo's 610 px (scroll inside the cell): {cut}"


def in_first_screen(page, selector: str) -> bool:
    """Whether the element is rendered and at least partly inside the first screen (marimo scrolls its app)."""
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] < FIRST_SCREEN["height"] and box["y"] + box["height"] > 0


def check_first_screen(page, notebook) -> None:
    """Computed on open: the title is rendered markdown (a cell's output) inside the first screen, not code
    waiting for a run button; no cell failed; no output is cut."""
    page.screenshot(path=str(SCREENSHOTS / f"{notebook.stem}_edit_first_screen.png"))
    assert in_first_screen(page, ".marimo-cell .output-area h1"), "first screen shows no computed output"
    assert page.locator(".marimo-cell .output-area h1").first.inner_text().strip()
    assert page.evaluate(ERRORS_JS) == [], "cells failed"
    check_nothing_cut(page, notebook.name)


MAIN = ROOT / "notebooks" / "01_ids_vs_flip.py"     # tested below, with its controls


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n != MAIN], ids=lambda p: p.stem)
def test_opens_computed_in_marimo_edit(notebook, browser, tmp_path):
    source = notebook.read_text()
    with marimo("edit", notebook, tmp_path / "marimo.log") as url:
        page = browser.new_page(viewport=FIRST_SCREEN)
        page.goto(url)
        settle(page)
        check_first_screen(page, notebook)
        page.close()
    assert notebook.read_text() == source, "marimo edit rewrote the notebook: run `marimo check --fix` on it"


def test_notebook01_in_marimo_edit_first_screen_slider_and_run_button(browser, tmp_path):
    notebook, source = MAIN, MAIN.read_text()
    with marimo("edit", notebook, tmp_path / "marimo.log") as url:
        page = browser.new_page(viewport=FIRST_SCREEN)
        page.goto(url)
        stats = page.locator("#ids-stats")
        stats.wait_for(timeout=SETTLE_S * 1000)                # data, warm-up encoder, diagnostics computed
        settle(page)
        check_first_screen(page, notebook)
        assert in_first_screen(page, "#intro")
        before = stats.inner_text()
        assert "s_l = 0.020" in before
        assert page.locator("#data-summary").count() == 1
        plots_before = page.locator(".js-plotly-plot").count()
        assert plots_before >= 3                               # views grid, cloud, similarity histograms
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
        settle(page)
        assert page.locator(".js-plotly-plot").nth(1).inner_html() != cloud_before   # the cloud redrew

        assert page.locator("#run-results").count() == 0
        page.get_by_role("button", name="Pre-train and compare").click()
        results = page.locator("#run-results")
        results.wait_for(timeout=SETTLE_S * 1000)
        settle(page)
        text = results.inner_text()
        assert "meteor" in text and "IDS s_l" in text
        body = page.locator("body").inner_text()
        for shown in ("flip + rotation", "no augmentation", "random init (floor)", "supervised (ceiling)"):
            assert shown in body                                # the conditions and controls, by the same names
        assert page.locator(".js-plotly-plot").count() >= plots_before + 3   # accuracies, loss + diagnostics, 2-D
        assert page.evaluate(ERRORS_JS) == []
        check_nothing_cut(page, "notebook 01 after Pre-train and compare")
        page.set_viewport_size({"width": 1400, "height": 7000})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SCREENSHOTS / "01_edit_after_run.png"))
        page.set_viewport_size(FIRST_SCREEN)

        page.close()
    assert notebook.read_text() == source, "marimo edit rewrote the notebook: run `marimo check --fix` on it"
