"""Driving the notebooks in a real browser: `marimo edit` (what `make notebook` runs) on 127.0.0.1 and Playwright
in headless Debian Chromium (scripts/setup_browser.sh; Playwright never downloads a browser here).

What marimo 0.25.2 renders, read from its DOM (tests/notebooks/test_browser.py proves each check can fail):
- a cell that raised: `.marimo-cell.has-error` (the error text inside; there is no `.marimo-error` element);
- a cell not run because an ancestor called mo.stop: `.marimo-cell.stopped` ("Ancestor stopped");
- a stale cell (marimo's yellow run button: "outdated", e.g. a pure-markdown cell after opening, or a cell
  queued behind an interrupted one): `.marimo-cell.needs-run` or a `[data-status=outdated]` status;
- a cell still working: `[data-status=running|queued]`;
- an output taller than edit mode's 610 px scrolls inside its cell: `.output-area` with scrollHeight > clientHeight;
- UI elements (buttons, inputs) inside shadow DOM: found with Playwright locators, not querySelectorAll; a
  mo.download is a link, not a button.
Used by the browser tests and by benchmarks/bench_notebook.py.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("IDSLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FIRST_SCREEN = {"width": 1400, "height": 900}
LAST_PID = [0]   # the last marimo server started by marimo()


def device_words() -> str:
    """Where the notebooks' estimates say they run ("this CPU", or the GPU's name on a CUDA machine): the notebooks
    pick the device with TrainConfig's "auto", on this same machine, so a hint is checked against this, not a
    hard-coded "this CPU" that fails wherever a GPU is present."""
    from idslab.live import device_words as words
    from idslab.train import TrainConfig
    return words(TrainConfig())

# JavaScript run in the page. Each returns a list of short descriptions (empty: nothing wrong).
_CELL_TEXT = "(c.querySelector('.output-area') || c).innerText.replace(/\\s+/g, ' ').slice(0, 160)"
ERRORS_JS = f"""() => [...document.querySelectorAll('.marimo-cell.has-error')].map(c => {_CELL_TEXT})"""
STOPPED_JS = f"""() => [...document.querySelectorAll('.marimo-cell')]
    .filter(c => c.classList.contains('stopped') || /Ancestor (stopped|prevented)/.test(c.innerText))
    .map(c => {_CELL_TEXT})"""
STALE_JS = f"""() => [...document.querySelectorAll('.marimo-cell')]
    .filter(c => c.classList.contains('needs-run') || c.querySelector('[data-status=outdated]')
                 || /This cell was interrupted/.test(c.innerText))
    .map(c => {_CELL_TEXT})"""
CUT_JS = """() => [...document.querySelectorAll('.marimo-cell .output-area')]
    .filter(e => e.scrollHeight > e.clientHeight + 2)
    .map(e => `${e.scrollHeight}px > ${e.clientHeight}px: ${(e.innerText || '').replace(/\\s+/g, ' ').slice(0, 80)}`)"""
TRACEBACK_JS = f"""() => [...document.querySelectorAll('.marimo-cell')]
    .filter(c => /Traceback \\(most recent call last\\)/.test(c.innerText)).map(c => {_CELL_TEXT})"""
BUSY_JS = """() => [...document.querySelectorAll('.marimo-cell [data-status]')]
    .filter(e => ['running', 'queued'].includes(e.getAttribute('data-status'))).length"""


@contextlib.contextmanager
def unchanged(notebook: Path):
    """Around a test that opens `notebook` in `marimo edit`: the file must be the same afterwards (marimo rewrites
    a notebook it would format differently, and saves whatever a stray keystroke typed into a cell). A changed
    file is put back and the test fails."""
    source = notebook.read_text()
    try:
        yield
    finally:
        now = notebook.read_text()
        if now != source:
            notebook.write_text(source)
    assert now == source, f"marimo edit rewrote {notebook.name} (put back): run `marimo check --fix` on it"


def action_buttons(page) -> list[str]:
    """The names of the buttons a reader can press in the cell outputs (marimo's UI elements live in shadow DOM,
    which Playwright's locators pierce and querySelectorAll does not): not tabs, accordion or dropdown triggers,
    and not marimo's own cell controls."""
    names = []
    buttons = page.locator(".marimo-cell .output-area").get_by_role("button")
    for i in range(buttons.count()):
        b = buttons.nth(i)
        if b.get_attribute("aria-expanded") is None and b.get_attribute("aria-haspopup") is None \
                and b.is_visible() and b.inner_text().strip():
            names.append(b.inner_text().strip())
    return list(dict.fromkeys(names))


def free_port() -> int:
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
def marimo(mode: str, notebook: Path, log_path: Path, env: dict, cwd: Path = ROOT, marimo_bin: str | None = None):
    """`marimo edit|run NOTEBOOK` on a free port (headless, no token) for the duration; yields the URL."""
    port = free_port()
    extra = ["--skip-update-check"] if mode == "edit" else []
    exe = marimo_bin or str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "marimo")
    if not Path(exe).exists():
        import sys
        exe = str(Path(sys.executable).parent / "marimo")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([exe, mode, str(notebook), "--host", "127.0.0.1", "--port", str(port),
                                 "--headless", "--no-token", *extra],
                                cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        LAST_PID[0] = proc.pid              # its session id too (start_new_session): benchmarks read its CPU time
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


def settle(page, timeout_s: float = 240, quiet_s: float = 2.0) -> float:
    """Wait until cells exist and none is running or queued for `quiet_s`, then let plotly draw; returns the time
    (monotonic) when the last cell finished."""
    page.wait_for_selector(".marimo-cell", timeout=timeout_s * 1000)
    end = time.monotonic() + timeout_s
    idle_since = None
    while time.monotonic() < end:
        if page.evaluate(BUSY_JS) == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > quiet_s:
                page.wait_for_timeout(500)
                return idle_since
        else:
            idle_since = None
        page.wait_for_timeout(200)
    raise TimeoutError(f"cells still running after {timeout_s} s")


def problems(page) -> dict[str, list[str]]:
    """Everything a reader should never see: cells in error, 'Ancestor stopped' boxes, stale cells, outputs cut at
    marimo's 610 px, tracebacks. {kind: [descriptions]}, only kinds that occur."""
    found = {kind: page.evaluate(js) for kind, js in (("error", ERRORS_JS), ("ancestor stopped", STOPPED_JS),
                                                      ("stale", STALE_JS), ("cut", CUT_JS),
                                                      ("traceback", TRACEBACK_JS))}
    return {k: v for k, v in found.items() if v}


def check(page, where: str) -> None:
    """AssertionError naming every problem on the page (see problems)."""
    found = problems(page)
    assert not found, f"{where}: " + "; ".join(f"{k}: {v}" for k, v in found.items())


def press(page, name: str, timeout_s: float = 240) -> float:
    """Click the button called `name` and wait until the notebook settles; returns the seconds it took."""
    t0 = time.monotonic()
    page.get_by_role("button", name=name).first.click()
    page.wait_for_timeout(700)
    return settle(page, timeout_s) - t0


def shoot(page, path: Path, tall: int | None = None) -> None:
    """A screenshot of the first screen, or of the whole notebook (tall: that viewport height) for reading."""
    if tall:
        page.set_viewport_size({"width": FIRST_SCREEN["width"], "height": tall})
        page.wait_for_timeout(1500)
    page.screenshot(path=str(path), timeout=120_000)
    if tall:
        page.set_viewport_size(FIRST_SCREEN)
