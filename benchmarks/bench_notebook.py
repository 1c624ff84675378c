"""How long notebook 01 keeps a reader waiting at the CPU defaults (issue 17: first screen within 30 s of
`make notebook` on a fresh clone, every button within 20 s), measured in headless Chromium as a reader meets it.

    python benchmarks/bench_notebook.py [--keep] [--buttons "Pre-train and compare,Run the s_l sweep,Train both heads"]

What it does: `git clone` this checkout's HEAD into a temporary folder (a fresh clone: no data cache, no results
store, no screenshots), links the checkout's .venv into it (so nothing is installed), and starts what `make
notebook` starts, `marimo edit notebooks/01_ids_vs_flip.py` (headless, no token), with the clone first on
PYTHONPATH and no IDSLAB_DATA / IDSLAB_QUICK, i.e. the CPU defaults and a cold meteor cache in the clone's data/.
Chromium (1400 x 900) then opens it.

- first screen: seconds from starting marimo until the title, the controls and the data summary are rendered and
  no cell in the first 900 px is running or queued (the data generation included);
- all computed: until no cell at all is running or queued;
- each button: seconds from the click until no cell is running or queued (training, probes, every figure drawn
  by the kernel), pressed in order on the default settings; then a stale / error / cut check of the page;
- beside each, the CPU seconds of the marimo server and kernel over the same span (tree_cpu_s): on a quiet
  machine about the wall time, on a shared one the part of it that is this notebook's own work.
Prints a Markdown table with the device, the load average before and after, and the date; --json writes it too.
Not a test: the numbers depend on the machine and what else runs on it (docs/BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.notebooks import browser as B  # noqa: E402

DEFAULT_BUTTONS = ("Pre-train and compare", "Run the s_l sweep", "Train both heads")
FIRST_SCREEN_JS = """() => {
    const h = window.innerHeight;
    const cells = [...document.querySelectorAll('.marimo-cell')].filter(c => {
        const r = c.getBoundingClientRect(); return r.top < h && r.bottom > 0; });
    const busy = cells.filter(c => [...c.querySelectorAll('[data-status]')].some(
        s => ['running', 'queued'].includes(s.getAttribute('data-status')))).length;
    return {busy, title: !!document.querySelector('.marimo-cell .output-area h1'),
            summary: !!document.querySelector('#data-summary'), cells: cells.length};
}"""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system, exited children included) of process `root` and all its descendants: the
    marimo server and the kernel it spawns. On a quiet 2-core machine a button's wall time is about its kernel's
    CPU time (torch runs one thread; the browser draws on the other core), so this figure stays meaningful when
    other jobs share the cores and stretch the wall time."""
    tick, stats = os.sysconf("SC_CLK_TCK"), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))  # ppid; u+s+cu+cs
    tree, grew = {root}, True
    while grew:
        new = {pid for pid, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= new
        grew = bool(new)
    return sum(stats[pid][1] for pid in tree if pid in stats) / tick


def fresh_clone(dest: Path) -> Path:
    """A clone of this checkout's HEAD at dest/idslab, sharing the checkout's virtual environment."""
    clone = dest / "idslab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    venv = (ROOT / ".venv").resolve()
    (clone / ".venv").symlink_to(venv)
    return clone


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buttons", default=",".join(DEFAULT_BUTTONS), help="comma-separated, pressed in order")
    p.add_argument("--keep", action="store_true", help="keep the clone (its data cache and results store)")
    p.add_argument("--json", type=Path, help="also write the measurements here")
    p.add_argument("--screenshots", type=Path, default=ROOT / "screenshots" / "bench_notebook")
    args = p.parse_args(argv)
    if not Path(B.CHROMIUM).exists():
        print(f"{B.CHROMIUM} missing: run scripts/setup_browser.sh", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.screenshots.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="idslab_bench_nb_"))
    out = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "device": f"{cpu_name()}, {os.cpu_count()} cores",
           "load_before": os.getloadavg(), "buttons": {}}
    try:
        clone = fresh_clone(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("IDSLAB_DATA", "IDSLAB_QUICK", "IDSLAB_CIFAR_DIR")}
        env.update(PYTHONPATH=str(clone), PYTHONUNBUFFERED="1")
        marimo_bin = str(clone / ".venv" / "bin" / "marimo")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=B.CHROMIUM, headless=True, args=B.ARGS)
            t0 = time.monotonic()
            with B.marimo("edit", Path("notebooks/01_ids_vs_flip.py"), tmp / "marimo.log", env, cwd=clone,
                          marimo_bin=marimo_bin) as url:
                sid = B.LAST_PID[0]
                cpu = lambda: round(tree_cpu_s(sid), 1)
                out["server_s"] = round(time.monotonic() - t0, 1)
                page = browser.new_page(viewport=B.FIRST_SCREEN)
                page.goto(url)
                while True:
                    s = page.evaluate(FIRST_SCREEN_JS)
                    if s["title"] and s["summary"] and s["cells"] and not s["busy"]:
                        break
                    if time.monotonic() - t0 > 600:
                        raise TimeoutError(f"first screen not computed after 600 s: {s}")
                    page.wait_for_timeout(100)
                out["first_screen_s"], out["first_screen_cpu_s"] = round(time.monotonic() - t0, 1), cpu()
                page.screenshot(path=str(args.screenshots / "first_screen.png"))
                out["all_computed_s"] = round(B.settle(page, timeout_s=600, quiet_s=1.0) - t0, 1)
                out["all_computed_cpu_s"] = cpu()
                out["problems_on_open"] = B.problems(page)
                for name in [b.strip() for b in args.buttons.split(",") if b.strip()]:
                    before = cpu()
                    out["buttons"][name] = round(B.press(page, name, timeout_s=900), 1)
                    out.setdefault("buttons_cpu_s", {})[name] = round(cpu() - before, 1)
                    status = page.locator("#compare-status, #sweep-status, #heads-status").all_inner_texts()
                    out.setdefault("status", {})[name] = status[-1] if status else None
                    out.setdefault("problems", {})[name] = B.problems(page)
                B.shoot(page, args.screenshots / "after_buttons.png", tall=9000)
                page.close()
            browser.close()
    finally:
        out["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            out["clone"] = str(tmp / "idslab")
    load = lambda v: "/".join(f"{x:.1f}" for x in v)
    print(f"notebook 01, CPU defaults, fresh clone; {out['date']}; {out['device']}; load average (1/5/15 min) "
          f"before {load(out['load_before'])}, after {load(out['load_after'])}\n")
    print("| step | wall s | marimo + kernel CPU s | target (quiet machine) |\n|---|---|---|---|")
    print(f"| marimo answering | {out.get('server_s', '–')} | | |")
    print(f"| first screen computed (data generated) | {out.get('first_screen_s', '–')} | "
          f"{out.get('first_screen_cpu_s', '–')} | 30 |")
    print(f"| every cell computed | {out.get('all_computed_s', '–')} | {out.get('all_computed_cpu_s', '–')} | |")
    for name, s in out["buttons"].items():
        print(f"| *{name}* | {s} | {out.get('buttons_cpu_s', {}).get(name, '–')} | 20 |")
    for name, st in (out.get("status") or {}).items():
        print(f"\n{name}: {st}")
    bad = {k: v for k, v in {"open": out.get("problems_on_open"), **(out.get("problems") or {})}.items() if v}
    print("\nproblems on the page: " + (json.dumps(bad) if bad else "none"))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
