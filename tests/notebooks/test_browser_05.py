"""Notebook 05 (spectra) in a real browser: `marimo edit` driven by Playwright in headless Debian Chromium, quick mode.

Opens computed (the first screen's checks of test_browser), moves the velocity slider (the line's landing place is
recomputed) and the shift slider (the velocity a shift implies changes), then presses "Pre-train and compare": the
results table with the controls, the physics probes and the 2-D embedding appear, nothing fails or is cut.
"""
from .conftest import ROOT, SCREENSHOTS
from .test_browser import (ERRORS_JS, FIRST_SCREEN, SETTLE_S, browser, check_first_screen,  # noqa: F401 (fixture)
                           check_nothing_cut, marimo, pytestmark, settle)

NOTEBOOK = ROOT / "notebooks" / "05_spectra.py"


def _shows(page, watch: str, want: str) -> str:
    """Wait until the element `watch` shows `want` (cells rerun one after another: a first change is not yet the
    last, and a cell downstream may not have rerun yet); its text."""
    page.wait_for_function("([sel, w]) => { const e = document.querySelector(sel); "
                           "return e && e.innerText.includes(w); }", arg=[watch, want], timeout=60_000)
    return page.locator(watch).inner_text()


def _move(page, slider, key: str, times: int, watch: str, want: str) -> str:
    """Press `key` on the slider `times` times, then wait until `watch` shows `want`."""
    slider.focus()
    for _ in range(times):
        slider.press(key)
    return _shows(page, watch, want)


def test_notebook05_sliders_and_run_button(browser, tmp_path):  # noqa: F811 (the browser fixture)
    source = NOTEBOOK.read_text()
    with marimo("edit", NOTEBOOK, tmp_path / "marimo.log") as url:
        page = browser.new_page(viewport=FIRST_SCREEN)
        page.goto(url)
        page.locator("#ids-stats").wait_for(timeout=SETTLE_S * 1000)      # data, warm-up encoder, clouds done
        settle(page)
        check_first_screen(page, NOTEBOOK)

        stats = page.locator("#spec-stats").inner_text()
        assert "+600 km/s" in stats and "5018.26 Å" in stats                 # 5008.24 (1 + 600 / c)
        sliders = page.locator("[role=slider]")                             # velocity, SNR, line SNR, shift, s_l
        after = _move(page, sliders.nth(0), "ArrowRight", 4, "#spec-stats", "+800 km/s")
        assert "5021.60 Å" in after                                          # 5008.24 (1 + 800 / c)

        _shows(page, "#shift-velocity", "+1840 km/s")   # +15 bins from +800 km/s: c ((1 + v/c) 10^(15e-4) - 1)
        _move(page, sliders.nth(3), "ArrowLeft", 5, "#shift-velocity", "+1493 km/s")   # +10 bins

        assert page.locator("#run-results").count() == 0
        plots_before = page.locator(".js-plotly-plot").count()
        page.get_by_role("button", name="Pre-train and compare").click()
        results = page.locator("#run-results")
        results.wait_for(timeout=SETTLE_S * 1000)
        settle(page)
        assert "spectra" in results.inner_text() and "CNN1D-512" in results.inner_text()
        body = page.locator("body").inner_text()
        for shown in ("reversal + shift", "FFT band mask", "no augmentation", "random init (floor)",
                      "supervised (ceiling)", "real vs reversed spectrum"):
            assert shown in body, shown
        assert page.locator(".js-plotly-plot").count() >= plots_before + 3   # accuracies, physics, 2-D embedding
        assert page.evaluate(ERRORS_JS) == []
        check_nothing_cut(page, "notebook 05 after Pre-train and compare")
        page.set_viewport_size({"width": 1400, "height": 7000})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SCREENSHOTS / "05_edit_after_run.png"))
        page.close()
    assert NOTEBOOK.read_text() == source, "marimo edit rewrote the notebook: run `marimo check --fix` on it"
