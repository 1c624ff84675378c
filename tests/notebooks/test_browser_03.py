"""Notebook 03 (your own data) in a real browser: `marimo run` driven by Playwright in headless Debian Chromium.

Types a missing path (a clear error appears, no traceback), clears it, presses "Make an example file", checks the
summary, presses "Pre-train IDS and the baseline" (accuracies, loss curves, embeddings appear) and "Save" (the
model and embedding files are listed). Screenshots go to screenshots/ (ignored by git).
"""
import re

import pytest

from .conftest import ROOT, SCREENSHOTS
from .test_browser import ARGS, CHROMIUM, marimo, pytestmark  # noqa: F401  (same markers, skip)


@pytest.fixture
def server03(tmp_path):
    with marimo("run", ROOT / "notebooks" / "03_your_data.py", tmp_path / "marimo.log",
                IDSLAB_DATA=str(tmp_path / "data")) as url:
        yield url


def test_notebook03_pick_train_save(server03):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 6000})
            page.goto(server03)
            page.get_by_role("button", name="Make an example file").wait_for(timeout=120_000)

            box = page.get_by_role("textbox").first                  # "or type a path"
            box.fill("/no/such/file.h5")
            box.press("Enter")
            page.get_by_text("This input cannot be used").wait_for(timeout=60_000)
            page.get_by_text("does not exist").first.wait_for(timeout=10_000)     # the loader's own message
            assert page.get_by_text("Traceback").count() == 0
            box.fill("")
            box.press("Enter")

            page.get_by_role("button", name="Make an example file").click()
            summary = page.locator("#data-summary")
            summary.wait_for(timeout=180_000)
            text = summary.inner_text()
            assert "hdf5" in text and "mask" in text
            page.wait_for_timeout(1500)
            page.screenshot(path=str(SCREENSHOTS / "03_data.png"), full_page=True)

            page.get_by_role("button", name="Pre-train IDS and the baseline").click()
            results = page.locator("#run-results")
            results.wait_for(timeout=240_000)
            page.wait_for_timeout(2000)
            page.get_by_text("MLP probe").first.wait_for(timeout=10_000)
            assert page.get_by_text(re.compile(r"^\d+\.\d% \[\d+\.\d, \d+\.\d\]$")).count() >= 4  # 2 probes x 2
            assert page.locator(".js-plotly-plot").count() >= 3                   # tiles, loss curves, embeddings
            page.screenshot(path=str(SCREENSHOTS / "03_trained.png"), full_page=True)

            page.get_by_role("button", name="Save the models").click()
            saved = page.locator("#saved")
            saved.wait_for(timeout=180_000)
            page.get_by_text("embeddings_ids.npz").first.wait_for(timeout=10_000)
            page.get_by_text("model_ids.pt").first.wait_for(timeout=10_000)
            page.screenshot(path=str(SCREENSHOTS / "03_saved.png"), full_page=True)
        finally:
            browser.close()
