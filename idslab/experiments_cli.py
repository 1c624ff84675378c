"""`idslab reproduce table1|table2|fig3 [--quick]`: run (or resume) a paper grid, then write its report.
`idslab reproduce all`: the whole study (idslab.study): every grid's cells in one order that makes a cut useful,
inside --budget-s, with an estimate first and one archive of records and tables in --out."""
from __future__ import annotations

import dataclasses
import sys
import time

from .checks import check_folder
from .datasets.cache import data_dir
from .encoders import ENCODERS
from .experiments import (GRID_NAMES, control_path, get_grid, grid_dir, load_records, read_control_record, read_record,
                          record_path, run_grid)
from .report import write_report


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce", help="regenerate the paper's Table 1, Table 2 or Figure 3 (resumable), then report it",
        description="Runs every cell of the grid (skipping runs whose record exists), writes one JSON record per "
                    "run under RESULTS/<grid>[_quick]/ and the report (Markdown, CSV, sweep figure) to --report-dir.",
        epilog="example: idslab reproduce fig3 --quick --report-dir docs/results")
    p.add_argument("grid", choices=GRID_NAMES + ("all",), help="which paper result to regenerate ('all': all three)")
    p.add_argument("--quick", action="store_true", help="CPU-sized version: fewer encoders, samples and epochs")
    p.add_argument("--results", default="results", help="folder of run records (default: results)")
    p.add_argument("--report-dir", default=None, help="where to write the report (default: the results folder)")
    p.add_argument("--encoders", default=None,
                   help="run only these rows of the grid, comma-separated (e.g. cnn8,cnn16 for a CPU); the report "
                        "then holds only them")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda or mps")
    p.add_argument("--data-dir", default=None, help="dataset cache folder (default: $IDSLAB_DATA, else ./data)")
    p.add_argument("--cifar-dir", default=None,
                   help="CIFAR-10 images in class sub-folders (default: $IDSLAB_CIFAR_DIR)")
    p.add_argument("--stack", choices=("auto", "on", "off"), default="auto",
                   help="train compatible CNN runs several at a time (idslab.multi); auto: on CUDA only")
    p.add_argument("--report-only", action="store_true", help="write the report from existing records, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("the whole study (grid 'all', idslab.study)")
    g.add_argument("--grids", default="table1,table2,fig3", help="which results the study runs, comma-separated")
    g.add_argument("--budget-s", type=float, default=None,
                   help="stop before the next batch of cells whose estimate would pass this many seconds (the "
                        "records so far are kept; rerun to continue)")
    g.add_argument("--dry-run", action="store_true", help="print every cell, the order and the estimate; run nothing")
    g.add_argument("--out", default=None, help="folder for study.tar.gz (records + tables + manifest), e.g. $OUT")
    g.add_argument("--tiny", action="store_true", help="test sizes (CNN-8/16, 2 seeds, 1 epoch): the code path, "
                                                       "not a result")
    g.add_argument("--prefetch", choices=("auto", "on", "off"), default="auto",
                   help="generate the data sets in a worker process while training (auto: on CUDA only)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    if args.grid == "all" and not args.report_only:
        return cmd_study(args)
    names = GRID_NAMES if args.grid == "all" else (args.grid,)
    stack = {"auto": "auto", "on": True, "off": False}[args.stack]
    # every folder checked before the first run, so a bad path never costs a finished grid
    check_folder(args.results, "--results", write=not (args.report_only and args.report_dir))
    if args.report_dir is not None:
        check_folder(args.report_dir, "--report-dir")
    check_folder(data_dir(args.data_dir), "--data-dir" if args.data_dir is not None else "$IDSLAB_DATA",
                 write=False)
    args.on_interrupt = f"every finished run is stored in {args.results}: rerun the same command to resume"
    for name in names:
        grid = _select(get_grid(name, quick=args.quick), args.encoders)
        t0 = time.perf_counter()
        if args.report_only:
            folder = grid_dir(args.results, grid)
            records, damaged = load_records(folder, grid), damaged_records(folder, grid)
            fix = (f"{len(damaged)} record file(s) of {grid.name} are damaged (half-written, edited or of another "
                   f"idslab version): {', '.join(map(str, damaged))}: delete them and run without --report-only to "
                   "rerun those cells" if damaged else "")
            if not records:  # an empty report would look like a result; most likely --results points elsewhere
                raise FileNotFoundError(f"--report-only: no finished runs of {grid.name} under {folder}: "
                                        f"{fix or 'check --results, or run without --report-only first'}")
            if damaged:      # the report goes on without them: say which cells it lacks
                print(f"idslab: warning: {fix}", file=sys.stderr, flush=True)
        else:
            records = run_grid(grid, args.results, progress=None if args.quiet else _bar(grid.title), stack=stack,
                               device=args.device, data_dir=args.data_dir, cifar_dir=args.cifar_dir)
        wall = time.perf_counter() - t0
        paths = write_report(records, name, args.report_dir or grid_dir(args.results, grid), quick=args.quick,
                             title=grid.report_title)
        print(f"{grid.title}: {len(records)}/{len(grid.configs()) + len(grid.baseline_configs())} runs, {wall:.1f} s wall; report: "
              + ", ".join(map(str, paths)), flush=True)
    return 0


def cmd_study(args) -> int:
    """`idslab reproduce all`: plan, estimate (printed first), run inside the budget, pack (idslab.study)."""
    from . import study
    from .checks import check_float
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.budget_s is not None:
        args.budget_s = check_float("budget_s", args.budget_s, lo=0.0, above=True,
                                    fix="seconds the study may take, e.g. 540 for a 9-minute GPU slot")
    grids = tuple(g.strip() for g in args.grids.split(",") if g.strip())
    encoders = tuple(e.strip() for e in args.encoders.split(",") if e.strip()) if args.encoders else None
    if not args.dry_run:
        check_folder(args.results, "--results")
        if args.out is not None:
            check_folder(args.out, "--out")
        check_folder(data_dir(args.data_dir), "--data-dir" if args.data_dir is not None else "$IDSLAB_DATA",
                     write=False)
    cells = study.plan(size, grids, encoders, args.results, device=args.device, data_dir=args.data_dir,
                       cifar_dir=args.cifar_dir)
    on_cuda = args.device.startswith("cuda")
    if args.device == "auto" and not args.dry_run:
        from .train import resolve_device
        on_cuda = resolve_device("auto").type == "cuda"
    stack = {"auto": on_cuda, "on": True, "off": False}[args.stack]
    device = "cuda" if on_cuda else "cpu"
    est = study.estimate(cells, device, stack=stack)
    print(study.estimate_text(est, cells_listed=args.dry_run or not args.quiet), flush=True)
    if args.dry_run:
        return 0
    study.check_sources(cells, args.cifar_dir, args.data_dir)
    args.on_interrupt = f"every finished cell is stored in {args.results}: rerun the same command to resume"
    prefetch = {"auto": on_cuda, "on": True, "off": False}[args.prefetch]
    result = study.run_study(cells, args.budget_s, stack=stack, prefetch=prefetch, device=device,
                             log=(lambda s: None) if args.quiet else lambda s: print(s, flush=True))
    man = study.manifest(cells, est, result, size, args.device)
    out = args.out or args.report_dir or args.results
    path = study.pack(cells, out, man, size)
    print(f"study: {man['stored']}/{len(cells)} cells stored, {result['wall_s']:.1f} s wall"
          f"{' (stopped by --budget-s)' if result['stopped_by_budget'] else ''}; archive {path}", flush=True)
    return 0


def damaged_records(folder, grid) -> list:
    """The grid's record files under `folder` that exist but do not read as finished runs (experiments.read_record,
    read_control_record: the report leaves them out without a word)."""
    cells = [(record_path(folder, c), read_record) for c in grid.configs()]
    cells += [(control_path(folder, name, c), read_control_record) for name, c in grid.baseline_configs()]
    return list(dict.fromkeys(path for path, read in cells if path.exists() and read(path) is None))


def _select(grid, encoders: str | None):
    """The grid restricted to some encoders (rows); records stay in the same folder, so a later full run reuses
    them."""
    if not encoders:
        return grid
    names = tuple(e.strip() for e in encoders.split(",") if e.strip())
    bad = [e for e in names if e not in ENCODERS]
    if bad:
        raise ValueError(f"unknown encoders {bad}: choose from {', '.join(ENCODERS)}")
    rows = tuple(e for e in grid.encoders if e in names)
    if not rows:
        raise ValueError(f"none of {list(names)} is in the {grid.name} grid ({', '.join(grid.encoders)})")
    return dataclasses.replace(grid, encoders=rows, title=f"{grid.title} (rows: {', '.join(rows)})")


def _bar(desc: str):
    from tqdm import tqdm
    bar = None

    def progress(done: int, total: int, rec) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr)
        bar.n = done
        if rec is not None:
            c, m = rec["config"], rec["metrics"]
            if "control" in rec:   # trivial / supervised: one accuracy of their own classifier
                bar.set_postfix_str(f"{c['encoder']} {rec['control']} seed {c['seed']}: acc {m['acc']:.3f}")
            else:
                what = "floor" if c.get("epochs") == 0 else c["views"]
                bar.set_postfix_str(f"{c['encoder']} {what} seed {c['seed']}: mlp {m['mlp_acc']:.3f} "
                                    f"knn {m['knn_acc']:.3f}")
        bar.refresh()
        if done == total:
            bar.close()
    return progress
