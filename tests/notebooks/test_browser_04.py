"""Notebook 04 (objectives) in a real browser: `marimo edit` driven by Playwright in headless Debian Chromium,
IDSLAB_QUICK=1 (tiny sizes).

Opens computed with one hint line before its button and the study's measured table for the default objective
(BYOL, the paper's head); choosing another objective and head redraws that table and its sentences; "Train and
watch" trains no augmentation beside IDS with the floor and shows the status line, the collapse sentences, the
per-epoch curves and the table; the save buttons download the JSON and write it on the server. After opening and
after every step the page shows nothing a reader must never see (tests/notebooks/browser.py; the check is proved
able to fail by test_browser.py's injected copy).
"""
import json
import re

from . import browser as B
from .conftest import ROOT, SCREENSHOTS, quick_env
from .test_browser import check_first_screen, chromium, opened, pytestmark  # noqa: F401  (markers, fixture)

NOTEBOOK = ROOT / "notebooks" / "04_objectives.py"


def test_notebook04_choose_train_watch_save(chromium, tmp_path):
    with B.unchanged(NOTEBOOK), B.marimo("edit", NOTEBOOK.relative_to(ROOT), tmp_path / "marimo.log",
                                         quick_env()) as url:
        page = opened(chromium, url, accept_downloads=True)
        check_first_screen(page, "04")
        B.check(page, "04 after opening")
        assert B.action_buttons(page) == ["Train and watch"]
        hint = page.locator(".run-hint")
        assert hint.count() == 1 and f"on {B.device_words()}" in hint.inner_text()
        assert page.locator("#run-results").count() == 0
        measured = page.locator("#measured")
        assert measured.inner_text().startswith("BYOL, paper's head (meteor, CNN-")
        section = page.locator(".marimo-cell .output-area", has=measured).inner_text()
        assert "With BYOL and the paper's head, no augmentation reaches" in section

        page.get_by_label("objective").select_option(label="SimSiam")
        page.get_by_label("projection head").select_option(label="batch-normalised (SimCLR's own)")
        B.settle(page)
        assert measured.inner_text().startswith("SimSiam, batch-normalised head")
        assert "With SimSiam and the batch-normalised head" in \
            page.locator(".marimo-cell .output-area", has=measured).inner_text()
        B.check(page, "04 with SimSiam and the BN head")

        B.press(page, "Train and watch")
        B.check(page, "04 after Train and watch")
        assert re.match(r"Done: 3 runs in \d+ s\.$", page.locator("#train-status").inner_text())
        text = page.locator(".marimo-cell .output-area", has=page.locator("#run-results")).inner_text()
        assert "With SimSiam and the batch-normalised head, after 2 epoch(s)" in text
        assert "no augmentation: k-NN" in text and "IDS: k-NN" in text
        assert "Identical views (no augmentation) reach" in text
        curves = page.locator(".js-plotly-plot")
        assert curves.count() == 1
        legend = curves.first.inner_text()
        for name in ("no augmentation", "IDS", "random init (floor)"):
            assert name in legend, name
        assert "z_std (0 = collapsed)" in legend and "effective rank of h" in legend

        with page.expect_download() as dl:
            page.get_by_role("link", name="Download JSON").click()
        saved = json.loads(open(dl.value.path()).read())
        assert [r["label"] for r in saved["records"]] == ["none", "ids", "floor"]
        assert {r["config"]["objective"] for r in saved["records"]} == {"simsiam"}
        B.press(page, "Save on the server")
        where = page.locator(".saved").inner_text()
        assert json.loads((ROOT / re.search(r"Saved (\S+\.json)", where).group(1)).read_text())["records"] \
            == saved["records"]
        B.check(page, "04 after saving")
        B.shoot(page, SCREENSHOTS / "04_after_buttons.png", tall=3500)
        page.close()
