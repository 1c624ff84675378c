"""Notebook 03 (your own data) in a real browser: `marimo edit` driven by Playwright in headless Debian Chromium,
IDSLAB_QUICK=1 and a fresh IDSLAB_DATA (no example file yet).

Types a missing path (a clear error appears, no traceback), clears it, presses "Make an example file", checks the
summary, presses "Pre-train IDS and the baseline" (accuracies beside the floor and the trivial baseline, under
notebook 01's names; curves; embeddings) and the save button (files listed, offered as downloads). After opening and
after every button the page shows nothing a reader must never see (tests/notebooks/browser.py).
"""
import re

from . import browser as B
from .conftest import ROOT, SCREENSHOTS, quick_env
from .test_browser import chromium, opened, pytestmark  # noqa: F401  (same markers, skip; the browser fixture)

NOTEBOOK = ROOT / "notebooks" / "03_your_data.py"


def test_notebook03_pick_train_save(chromium, tmp_path):
    with B.unchanged(NOTEBOOK), B.marimo("edit", NOTEBOOK.relative_to(ROOT), tmp_path / "marimo.log",
                                         quick_env(IDSLAB_DATA=str(tmp_path / "data"))) as url:
        page = opened(chromium, url, accept_downloads=True)
        B.check(page, "03 after opening")
        assert page.get_by_role("button", name="Pre-train IDS and the baseline").count() == 1
        assert page.locator(".run-hint").count() == 0                 # no data yet: nothing to estimate

        box = page.get_by_label("or type a path")      # (edit mode: role=textbox would be a cell's code)
        box.fill("/no/such/file.h5")
        box.press("Enter")
        outputs = page.locator(".marimo-cell .output-area")       # edit mode: the code is on the page too
        outputs.get_by_text("This input cannot be used").wait_for(timeout=60_000)
        outputs.get_by_text("does not exist").first.wait_for(timeout=10_000)     # the loader's own message
        B.settle(page)
        B.check(page, "03 with a missing path")
        box.fill("")
        box.press("Enter")
        B.settle(page)

        B.press(page, "Make an example file")
        text = page.locator("#data-summary").inner_text()
        assert "hdf5" in text and "mask" in text
        assert f"on {B.device_words()}" in page.locator(".run-hint").inner_text()
        B.check(page, "03 after making the example")
        page.screenshot(path=str(SCREENSHOTS / "03_data.png"))

        B.press(page, "Pre-train IDS and the baseline")
        B.check(page, "03 after pre-training")
        assert page.locator("#train-status").inner_text().startswith("Done: 4 runs")
        table = page.locator(".marimo-cell .output-area", has=page.locator("#run-results")).inner_text()
        for name in ("IDS", "FFT band mask", "random init (floor) (control)", "trivial (tile statistics) (control)"):
            assert name in table, name
        assert len(re.findall(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]", table)) >= 7     # 3 runs x 2 probes + trivial
        assert page.locator(".js-plotly-plot").count() >= 3                        # tiles, curves, embeddings
        B.shoot(page, SCREENSHOTS / "03_trained.png", tall=4000)

        B.press(page, "Save the models and the embeddings of every tile")
        B.check(page, "03 after saving")
        page.locator("#saved").wait_for(timeout=10_000)
        body = page.locator("body").inner_text()
        assert "embeddings_ids.npz" in body and "model_ids.pt" in body and "model_floor" not in body
        with page.expect_download() as dl:
            page.get_by_role("link", name="Download embeddings_ids.npz").click()
        assert dl.value.suggested_filename == "embeddings_ids.npz"
        B.shoot(page, SCREENSHOTS / "03_saved.png", tall=4000)
        page.close()
