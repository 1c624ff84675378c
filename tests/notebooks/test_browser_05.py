"""Notebook 05 (spectra) in a real browser, as notebook 01 is checked (test_browser.py): `marimo edit` driven by
Playwright in headless Debian Chromium, IDSLAB_QUICK=1, tests/notebooks/browser.py's checks (no cell in error, no
"Ancestor stopped", nothing stale, nothing cut at 610 px, no traceback) after opening and after every step.

Opens computed with one hint line (the estimate); the velocity slider moves [O III] 5008 to λ0 (1 + v/c) and the
shift slider changes the velocity a shift implies; the s_l slider redraws the weight-space numbers; *Pre-train and
compare* shows live progress, then the sentences (the best trained encoder against the floor; the lesson: which
views keep the physics, which destroy velocity, what weight noise does), the table with the first method
(idslab.notebook.FIRST_05) first and the controls by name, the figures; the 2-D embedding switches to UMAP; both
save buttons; no button left unpressed; marimo's ■ during run 3-5 of 16 ends it with one line, the finished runs
kept, and the next press reuses them.
"""
import json
import re

from idslab.notebook import FIRST_05
from idslab.plots.training import condition_name

from . import browser as B
from .conftest import ROOT, SCREENSHOTS, quick_env
from .test_browser import check_first_screen, chromium, opened, pytestmark  # noqa: F401 (fixture, markers)

NOTEBOOK = ROOT / "notebooks" / "05_spectra.py"


def _shows(page, watch: str, want: str) -> str:
    """Wait until the element `watch` shows `want` (cells rerun one after another: a first change is not yet the
    last), then until the notebook settles; its text."""
    page.wait_for_function("([sel, w]) => { const e = document.querySelector(sel); "
                           "return e && e.innerText.includes(w); }", arg=[watch, want], timeout=60_000)
    B.settle(page)
    return page.locator(watch).inner_text()


def _move(page, slider, key: str, times: int, watch: str, want: str) -> str:
    slider.focus()
    for _ in range(times):
        slider.press(key)
    return _shows(page, watch, want)


def _start(page, status, progress) -> None:
    """Press *Pre-train and compare* until it runs (a long estimate asks once: "Not started ... press again")."""
    page.get_by_role("button", name="Pre-train and compare").click()
    for _ in range(600):
        if progress.count():
            return
        if status.count() and status.inner_text().startswith("Not started"):
            page.get_by_role("button", name="Pre-train and compare").click()
            return
        page.wait_for_timeout(200)


def test_notebook05_every_control_button_save_and_stop(chromium, tmp_path):  # noqa: F811 (the fixture)
    with B.unchanged(NOTEBOOK), B.marimo("edit", NOTEBOOK.relative_to(ROOT), tmp_path / "marimo.log",
                                         quick_env()) as url:
        page = opened(chromium, url, accept_downloads=True)
        check_first_screen(page, "05")
        B.check(page, "05 after opening")
        hints = page.locator(".run-hint")
        assert hints.count() == 1 and f"on {B.device_words()}" in hints.first.inner_text()
        assert page.locator("#run-results").count() == 0

        # section 1: the velocity moves the line to λ0 (1 + v/c); section 2: the velocity a shift implies
        assert "+600 km/s" in page.locator("#spec-stats").inner_text()
        assert "5018.26 Å" in page.locator("#spec-stats").inner_text()      # 5008.24 (1 + 600 / c)
        sliders = page.locator("[role=slider]")       # velocity, SNR, line SNR, shift, s_l, epochs, seeds
        assert "5021.60 Å" in _move(page, sliders.nth(0), "ArrowRight", 4, "#spec-stats", "+800 km/s")
        _shows(page, "#shift-velocity", "+1840 km/s")   # +15 bins from +800 km/s: c ((1 + v/c) 10^(15e-4) - 1)
        _move(page, sliders.nth(3), "ArrowLeft", 5, "#shift-velocity", "+1493 km/s")   # +10 bins
        # section 4: the s_l slider redraws the weight-space numbers
        assert "s_l = 0.020" in page.locator("#ids-stats").inner_text()
        _move(page, sliders.nth(4), "ArrowRight", 2, "#ids-stats", "s_l = 0.030")
        B.check(page, "05 after the sliders")

        # section 5: the comparison, its sentences, table and figures under the legends' names
        plots = page.locator(".js-plotly-plot").count()
        B.press(page, "Pre-train and compare")
        B.check(page, "05 after Pre-train and compare")
        status = page.locator("#compare-status")
        assert status.inner_text().startswith("Done: 8 runs"), status.inner_text()
        text = page.locator("#run-results").inner_text()
        assert "spectra" in text and "CNN1D-512" in text
        body = page.locator("body").inner_text()
        assert "Identical views (no augmentation) reach" in body and "IDS − no augmentation:" in body
        first = condition_name(FIRST_05["label"])
        assert "The best trained encoder here is" in body and first in body
        lesson = page.locator("#lessons").inner_text()
        assert "Weight noise (IDS) against identical views: MLP" in lesson, lesson
        assert "Keep the physics as far as one seed tells" in lesson or "Destroy velocity" in lesson, lesson
        for shown in ("reversal + shift", "FFT band mask", "no augmentation", "random init (floor)",
                      "supervised (ceiling)"):
            assert shown in body, shown
        # the physics figure's right panel, inside the plot (the figures are in shadow DOM: a locator reads them)
        physics = page.locator(".js-plotly-plot").filter(has_text="real vs reversed spectrum")
        assert physics.count() == 1, "the physics figure's panel 'real vs reversed spectrum' is not drawn"
        assert page.locator(".js-plotly-plot").count() >= plots + 5   # bars, curves, diagnostics, physics, 2-D

        # the 2-D embedding as UMAP (PCA until chosen)
        page.get_by_label(re.compile("2-D embedding of h")).select_option("UMAP")
        B.settle(page)
        B.check(page, "05 with UMAP")

        # the save row: a browser download of the records, and the same file on the server
        with page.expect_download() as dl:
            page.get_by_role("link", name="Download JSON").first.click()
        saved = json.loads(open(dl.value.path()).read())
        assert len(saved["records"]) == 8 and saved["table"]
        assert saved["table"][0]["label"] == FIRST_05["label"]          # the first method first
        B.press(page, "Save on the server")
        path = ROOT / re.search(r"Saved (\S+\.json)", page.locator(".saved").first.inner_text()).group(1)
        assert json.loads(path.read_text())["records"] == saved["records"]
        B.check(page, "05 after saving")
        left = [b for b in B.action_buttons(page) if b not in ("Pre-train and compare", "Save on the server")]
        assert not left, f"05: buttons this test does not press: {left}"
        B.shoot(page, SCREENSHOTS / "05_after_every_button.png", tall=7000)

        # marimo's stop: one line, the finished runs kept, and the next press reuses them
        epochs, seeds = sliders.nth(5), sliders.nth(6)
        epochs.focus()
        for _ in range(4):                        # 5 epochs and 2 seeds (16 runs): long enough to stop in the middle
            epochs.press("ArrowRight")
        seeds.focus()
        seeds.press("ArrowRight")
        B.settle(page)
        assert (epochs.get_attribute("aria-valuenow"), seeds.get_attribute("aria-valuenow")) == ("5", "2")
        shown = page.locator(".marimo-cell .output-area")
        _start(page, status, shown.get_by_text(re.compile(r"\(run \d+ of 16\)")))
        progress = shown.get_by_text(re.compile(r"\(run [3-5] of 16\) · epoch"))
        progress.first.wait_for(timeout=120_000)
        page.locator("[data-testid=interrupt-button]").click()
        try:
            page.wait_for_function("() => /^stopped: /.test((document.querySelector('#compare-status') || {})"
                                   ".innerText || '')", timeout=60_000)
        finally:
            page.screenshot(path=str(SCREENSHOTS / "05_stop_clicked.png"))
        B.settle(page)
        kept = re.match(r"stopped: (\d+) of 16 runs kept; press again to resume \(about .+ to go\)$",
                        status.inner_text())
        assert kept and int(kept.group(1)) >= 2, status.inner_text()
        B.check(page, "05 after marimo's stop")
        B.press(page, "Pre-train and compare", timeout_s=400)
        if status.inner_text().startswith("Not started"):   # what is left is still long: it asks once
            B.press(page, "Pre-train and compare", timeout_s=400)
        again = re.match(r"Done: 16 runs in .+ \((\d+) reused from the store\)\.$", status.inner_text())
        assert again and int(again.group(1)) >= int(kept.group(1)), status.inner_text()
        B.check(page, "05 after resuming")
        page.close()

