"""Wall time of each `idslab reproduce` command, from an empty results folder (the data cache may be warm).

    python benchmarks/bench_reproduce.py --quick                 # the CPU-sized versions (minutes on 2 cores)
    python benchmarks/bench_reproduce.py table1 table2 fig3      # the full grids (a GPU: about an hour in all)

Each grid runs in a subprocess (`python -m idslab.cli reproduce ...`), so the times include start-up and data
loading, as a user would see them. Prints one Markdown row per grid: runs, wall seconds, seconds per run.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("grids", nargs="*", default=["table1", "table2", "fig3"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--cifar-dir", default=None)
    p.add_argument("--stack", default="auto", choices=("auto", "on", "off"))
    p.add_argument("--results", default=None, help="results folder (default: a fresh temporary one)")
    args = p.parse_args(argv)
    results = Path(args.results or tempfile.mkdtemp(prefix="idslab_bench_"))
    rows = []
    for g in args.grids:
        cmd = [sys.executable, "-m", "idslab.cli", "reproduce", g, "--results", str(results), "--device", args.device,
               "--data-dir", args.data_dir, "--stack", args.stack, "--quiet"] + (["--quick"] if args.quick else [])
        if args.cifar_dir:
            cmd += ["--cifar-dir", args.cifar_dir]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        folder = results / (g + ("_quick" if args.quick else ""))
        runs = len([f for f in folder.glob("*.json") if f.name != "grid.json"])
        dev = json.loads(next(f for f in folder.glob("*.json") if f.name != "grid.json").read_text())
        rows.append((g, runs, wall, f"{dev['device']} ({dev.get('device_name')})"))
    print(f"\nidslab reproduce{' --quick' if args.quick else ''}, {platform.node()}, "
          f"{datetime.datetime.now():%Y-%m-%d %H:%M}")
    print("| command | runs | wall s | s/run | device |\n|---|---:|---:|---:|---|")
    for g, runs, wall, dev in rows:
        print(f"| idslab reproduce {g}{' --quick' if args.quick else ''} | {runs} | {wall:.0f} | {wall / runs:.1f} "
              f"| {dev} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
