"""The notebooks in a real browser, as the README opens them: `marimo edit` (what `make notebook` runs), driven by
Playwright in headless Debian Chromium, IDSLAB_QUICK=1 (tiny sizes).

Every notebook opens computed (a rendered title on the first 1400 x 900 screen) and then, before and after pressing
every one of its buttons, shows none of what a reader must never see (tests/notebooks/browser.py: cells in error,
"Ancestor stopped" boxes, stale cells, outputs cut at marimo's 610 px, tracebacks). The first test proves those
checks can fail: a copy of a notebook with one cell of each kind injected must trip every one of them. Notebook 01
also: the s_l slider redraws the weight-space numbers and clouds; each section's button shows its results under the
same names as the legends; the save buttons download the JSON and write it on the server; marimo's stop ends a
comparison with one line, keeps the finished runs, and the next press reuses them; with CIFAR-10 chosen nothing is
stopped or in error. Opening a notebook must not rewrite it. Screenshots go to screenshots/ (ignored by git).
"""
import json
import os
import re

import pytest

from . import browser as B
from .conftest import NOTEBOOKS, ROOT, SCREENSHOTS, quick_env

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(B.CHROMIUM),
                                 reason=f"{B.CHROMIUM} missing: run scripts/setup_browser.sh (Debian chromium)")]

MAIN = ROOT / "notebooks" / "01_ids_vs_flip.py"
OWN_TESTS = {"01_ids_vs_flip", "03_your_data", "04_objectives", "05_spectra"}   # driven below / in test_browser_0N.py
# The buttons each notebook has, pressed in this order (a notebook not listed: every button found on the page).
BUTTONS = {"00_meteor_radar": [], "02_reproduce": ["Launch the quick grid"]}


def _reports_02(page):
    """Notebook 02 in each of its report states: every grid, quick and full (the committed reports, in tabs)."""
    box = page.get_by_label("quick (CPU-sized) version")
    for name, title in (("table1", "Table 1"), ("table2", "Table 2"), ("fig3", "Figure 3")):
        page.get_by_label("result").select_option(name)
        for _ in range(2):                          # full, then quick again
            box.click()
            quick = box.is_checked()
            yield f"{name}, quick={quick}", f"{title}{' (quick, CPU-sized)' if quick else ':'}"


# Controls each notebook is put through before its buttons, checking the page in every state they reach.
STATES = {"02_reproduce": _reports_02}


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=B.CHROMIUM, headless=True, args=B.ARGS)
        try:
            yield b
        finally:
            b.close()


def opened(chromium, url, accept_downloads=False):
    page = chromium.new_page(viewport=B.FIRST_SCREEN, accept_downloads=accept_downloads)
    page.goto(url)
    B.settle(page)
    return page


def check_first_screen(page, name: str) -> None:
    """Computed on open: the title is rendered markdown inside the first screen, not code waiting for a run."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}_first_screen.png"))
    title = page.locator(".marimo-cell .output-area h1").first
    box = title.bounding_box()
    assert box is not None and box["y"] < B.FIRST_SCREEN["height"], f"{name}: no computed title on the first screen"
    assert title.inner_text().strip()


def test_the_checks_fail_on_what_a_reader_must_not_see(chromium, tmp_path):
    """A copy of notebook 00 with four injected cells: one that raises, one downstream of mo.stop, a pure-markdown
    cell (marimo 0.25 leaves it stale after opening) and one taller than 610 px. Every check must see its cell, so
    a notebook with any of them fails; and the selector the old test used (`.marimo-error`) finds nothing."""
    src = (ROOT / "notebooks" / "00_meteor_radar.py").read_text()
    injected = '''
@app.cell
def _():
    raise ValueError("injected on purpose")
    return


@app.cell
def _(mo):
    mo.stop(True)
    stopped_value = 1
    return (stopped_value,)


@app.cell
def _(mo, stopped_value):
    mo.md(f"never shown {stopped_value}")
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## A pure markdown cell
    """)
    return


@app.cell
def _(mo):
    mo.Html('<div style="height: 1400px; background: #eee">a tall output</div>')
    return


@app.cell
def _(mo):
    injected_button = mo.ui.run_button(label="an injected button")
    injected_button
    return (injected_button,)

'''
    broken = src.replace('\nif __name__ == "__main__":', injected + '\nif __name__ == "__main__":')
    assert broken != src
    folder = ROOT / "build" / "notebooks"          # under the repo: its pyproject.toml opens notebooks computed
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "zz_injected_faults.py"
    path.write_text(broken)
    try:
        with B.marimo("edit", path.relative_to(ROOT), tmp_path / "marimo.log", quick_env()) as url:
            page = opened(chromium, url)
            found = B.problems(page)
            with pytest.raises(AssertionError, match="injected on purpose"):
                B.check(page, "the injected copy")
            assert page.locator(".marimo-cell .marimo-error").count() == 0   # what the old test looked for
            buttons = B.action_buttons(page)
            page.close()
    finally:
        path.unlink()
    assert any("injected on purpose" in e for e in found.get("error", [])), found
    assert any("Ancestor stopped" in e for e in found.get("ancestor stopped", [])), found
    assert any("A pure markdown cell" in e for e in found.get("stale", [])), found
    assert any("a tall output" in e for e in found.get("cut", [])), found
    assert buttons == ["an injected button"]               # what the every-button test would have to press


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n.stem not in OWN_TESTS], ids=lambda p: p.stem)
def test_opens_clean_and_every_button_leaves_it_clean(notebook, chromium, tmp_path):
    with B.unchanged(notebook), B.marimo("edit", notebook.relative_to(ROOT), tmp_path / "marimo.log",
                                         quick_env()) as url:
        page = opened(chromium, url)
        check_first_screen(page, notebook.stem)
        B.check(page, f"{notebook.name} after opening")
        for state, shown in STATES.get(notebook.stem, lambda page: ())(page):
            B.settle(page)
            B.check(page, f"{notebook.name} with {state}")
            assert shown in page.locator(".marimo-cell .output-area h2").first.inner_text(), state
        names = BUTTONS.get(notebook.stem)
        if names is None:
            names = B.action_buttons(page)
        for name in names:
            B.press(page, name)
            B.check(page, f"{notebook.name} after pressing {name!r}")
        left = [b for b in B.action_buttons(page) if not any(b.startswith(n) for n in names)]
        assert not left, f"{notebook.name}: buttons this test does not press: {left} (add them to BUTTONS)"
        B.shoot(page, SCREENSHOTS / f"{notebook.stem}_after_buttons.png", tall=4000)
        page.close()


def test_notebook01_every_section_button_save_and_stop(chromium, tmp_path):
    with B.unchanged(MAIN), B.marimo("edit", MAIN.relative_to(ROOT), tmp_path / "marimo.log", quick_env()) as url:
        page = opened(chromium, url, accept_downloads=True)
        check_first_screen(page, "01")
        assert page.locator("#intro").bounding_box()["y"] < B.FIRST_SCREEN["height"]
        B.check(page, "01 after opening")
        # one hint line per section before its button: the estimate on this device
        hints = page.locator(".run-hint")
        assert hints.count() == 3 and all(f"on {B.device_words()}" in hints.nth(i).inner_text() for i in range(3))
        assert page.locator("#run-results, #sweep-results, #heads-results").count() == 0

        # the s_l slider redraws the weight-space numbers and the clouds
        stats = page.locator("#ids-stats")
        before = stats.inner_text()
        assert "s_l = 0.020" in before
        cloud_before = page.locator(".js-plotly-plot").nth(1).inner_html()
        slider = page.locator("[role=slider]").first
        slider.focus()
        for _ in range(4):
            slider.press("ArrowRight")
        page.wait_for_function("b => !document.querySelector('#ids-stats').innerText.startsWith(b)",
                               arg=before.split(":")[0], timeout=60_000)
        B.settle(page)
        assert "s_l = 0.020" not in stats.inner_text()
        assert page.locator(".js-plotly-plot").nth(1).inner_html() != cloud_before
        B.check(page, "01 after the s_l slider")

        # section 3: the comparison, its results in words and figures, under the legends' names
        plots = page.locator(".js-plotly-plot").count()
        B.press(page, "Pre-train and compare")
        B.check(page, "01 after Pre-train and compare")
        assert page.locator("#compare-status").inner_text().startswith("Done: 6 runs")
        text = page.locator("#run-results").inner_text()
        assert "meteor" in text and "IDS s_l" in text
        body = page.locator("body").inner_text()
        assert "Identical views (no augmentation) reach" in body and "IDS − no augmentation:" in body
        for shown in ("flip + rotation", "no augmentation", "random init (floor)", "supervised (ceiling)"):
            assert shown in body
        assert page.locator(".js-plotly-plot").count() >= plots + 5   # bars, curves, diagnostics, physics, 2-D

        # its save buttons: a browser download of the JSON, and the same file on the server
        with page.expect_download() as dl:
            page.get_by_role("link", name="Download JSON").first.click()
        saved = json.loads(open(dl.value.path()).read())
        assert len(saved["records"]) == 6 and saved["table"]
        B.press(page, "Save on the server")
        where = page.locator(".saved").first.inner_text()
        path = ROOT / re.search(r"Saved (\S+\.json)", where).group(1)   # quick mode: a temporary folder
        assert json.loads(path.read_text())["records"] == saved["records"]
        B.check(page, "01 after saving")

        # section 4: the sweep; section 5: both heads, with the per-epoch monitor
        B.press(page, "Run the s_l sweep")
        B.check(page, "01 after the sweep")
        assert page.locator("#sweep-results").count() == 1
        assert "At s_l = 0 (identical views) the MLP probe reaches" in page.locator("body").inner_text()
        B.press(page, "Train both heads")
        B.check(page, "01 after both heads")
        heads = page.locator("#heads-results").inner_text()
        assert "BN head, s_l = 0: k-NN" in heads and "paper head, s_l = 0.02: k-NN" in heads
        saves = page.get_by_role("button", name="Save on the server")
        assert saves.count() == 3 and page.get_by_role("link", name="Download JSON").count() == 3
        for i in range(3):
            saves.nth(i).click()
            B.settle(page)
        assert page.locator(".saved").count() == 3
        B.check(page, "01 after every save button")
        B.shoot(page, SCREENSHOTS / "01_after_every_button.png", tall=7000)

        # marimo's stop: one line, the finished runs kept, and the next press reuses them
        epochs, seeds = page.locator("[role=slider]").nth(1), page.locator("[role=slider]").nth(2)   # section 3
        epochs.focus()
        epochs.press("End")                        # 50 epochs and 2 seeds (12 runs): long enough to stop in the middle
        seeds.focus()
        seeds.press("ArrowRight")
        B.settle(page)
        assert (epochs.get_attribute("aria-valuenow"), seeds.get_attribute("aria-valuenow")) == ("50", "2")
        page.get_by_role("button", name="Pre-train and compare").click()
        progress = page.locator(".marimo-cell .output-area").get_by_text(re.compile(r"\(run ([3-9]|1[0-2]) of 12\) · epoch"))
        progress.first.wait_for(timeout=120_000)
        page.locator("[data-testid=interrupt-button]").click()
        status = page.locator("#compare-status")
        try:
            page.wait_for_function("() => /^stopped: /.test((document.querySelector('#compare-status') || {})"
                                   ".innerText || '')", timeout=60_000)
        finally:
            page.screenshot(path=str(SCREENSHOTS / "01_stop_clicked.png"))
        B.settle(page)
        kept = re.match(r"stopped: (\d+) of 12 runs kept; press again to resume \(about .+ to go\)$",
                        status.inner_text())
        assert kept and int(kept.group(1)) >= 2, status.inner_text()
        B.check(page, "01 after marimo's stop")
        B.shoot(page, SCREENSHOTS / "01_after_stop.png")
        B.press(page, "Pre-train and compare")
        again = re.match(r"Done: 12 runs in .+ \((\d+) reused from the store\)\.$", status.inner_text())
        # the kept runs, and the floor if the first comparison stored it (epochs = 0: the same run at any epochs)
        assert again and int(again.group(1)) >= int(kept.group(1)), status.inner_text()
        B.check(page, "01 after resuming")

        # CIFAR-10 chosen: its data (or, without a CIFAR folder, a callout with the fix) and nothing stopped below
        page.get_by_label("dataset").select_option(label="CIFAR-10 vehicle / animal")
        B.settle(page)
        B.check(page, "01 with CIFAR-10 chosen")
        loaded = page.locator("#data-summary, #data-error").first.inner_text()
        assert loaded.startswith("Data: cifar") or loaded.startswith("Cannot load cifar"), loaded
        page.close()
