"""Weight-space views beyond SimCLR (issue 18): without negatives, does weight noise make augmentation-free training
work, and how does it then compare with flips and the FFT mask?

Every objective of idslab.objectives (NT-Xent, BYOL, SimSiam, VICReg, Barlow Twins) x projection head (the paper's,
and batch-normalised) x views (no augmentation; the paper's IDS, fc1 s_l = 0.02; per-sample relative fc1 0.5; every
layer per-sample relative 0.3; flip+rotation; FFT mask) x paired seeds, on meteor v5 and CIFAR-10 vehicle/animal
(with its 10-class linear probe), CNN-8/16/32, the quick protocol (docs/PROTOCOL.md). Each cell is an
idslab.experiments.compare against no augmentation *with the same objective and head* (paired 95% t-intervals); the
controls (random-init floor, trivial, supervised) are the encoder's and run once per data set and encoder (the
probes read h, which neither objective nor head changes at initialisation). Parts:

    main    the grid above, plus BYOL with a clean target (target_noise=False) beside its two weight-space views, and
            a BYOL row with τ_base = 0.99 (ROWS: the paper's 0.996 leaves the target near its initialisation here)
    range   CNN-16: the paper's IDS at fc1 s_l in RANGE_SLS for every objective and head: where each one learns

Records live in the idslab.experiments store (<results>/<dataset>_<encoder>/<hash>.json), so an interrupted run
resumes; `--shard i/n` splits the cells over n processes (each takes every n-th cell).

    OMP_NUM_THREADS=1 python scripts/objectives.py --cifar-dir ../shared/datasets/cifar10-train-jpg \
        [--datasets meteor,cifar] [--encoders cnn8,cnn16,cnn32] [--parts main,range] [--seeds 0-4] [--shard 0/2]
    python scripts/objectives.py --report-only [--out docs/results/objectives.md]    # tables, no training
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from idslab.atomic import atomic_write
from idslab.experiments import (QUICK, compare, control_path, parse_condition, read_control_record, read_record,
                                record_path, summarise)
from idslab.objectives import OBJECTIVES
from idslab.records import metric_value
from idslab.train import TrainConfig, load_data

SAMPLE_REL = dict(noise="sample", scale_mode="relative")
VIEWS = {                                       # label -> TrainConfig overrides (compare's condition dicts)
    "IDS fc1 0.02 (paper)": dict(views="ids", sites={"fc1": 0.02}),
    "IDS fc1 0.5 per-sample relative": dict(views="ids", sites={"fc1": 0.5}, **SAMPLE_REL),
    "IDS all 0.3 per-sample relative": dict(views="ids", sites={"all": 0.3}, **SAMPLE_REL),
    "flip+rot": dict(views="flip"),
    "fft": dict(views="fft"),
}
CLEAN_TARGET = {f"{k}, clean target": {**VIEWS[k], "target_noise": False}
                for k in ("IDS fc1 0.02 (paper)", "IDS fc1 0.5 per-sample relative")}
HEADS = {"paper head": dict(proj_bn=False), "BN head": dict(proj_bn=True)}
# objective rows: the five objectives as their papers define them, and BYOL with a faster target. BYOL's τ_base =
# 0.996 was set for ~10^5 steps; over the quick protocol's 80 steps its target moves ~0.2% of the way to the online
# network (it stays near its random initialisation), at τ_base = 0.99 about a third.
ROWS = {**{o: dict(objective=o) for o in OBJECTIVES}, "byol τ_base 0.99": dict(objective="byol", ema=0.99)}
RANGE_SLS = (0.02, 0.05, 0.1, 0.2, 0.5)   # 0 (no augmentation) and 0.02 are the main grid's records
# Every-layer per-sample noise convolves each sample with its own kernels (one grouped convolution): 3x a CNN-16
# step on this CPU (21 s against 7 s per quick run, measured in this study), and more on CNN-32, where it is left
# out along with BYOL's clean-target check and its τ_base = 0.99 row (both run on CNN-16).
HEAVY = "IDS all 0.3 per-sample relative"
LIGHT_ENCODERS = ("cnn32",)
CONTROLS = ("floor", "trivial", "supervised")


def base_cfg(dataset: str, encoder: str, cifar_dir: str | None, **over) -> TrainConfig:
    return TrainConfig(dataset=dataset, encoder=encoder, device="cpu", cifar_dir=cifar_dir, **{**QUICK, **over})


def cells(args) -> list[tuple]:
    """(dataset, encoder, part, row, head) in run order: encoder by encoder in the order given (the headline CNN-16
    first), each data set's controls, then its main grid row by row (every cell gets its seeds before the next cell
    starts); the range last."""
    out = []
    for encoder in args.encoders:
        for dataset in args.datasets:
            out.append((dataset, encoder, "controls", "ntxent", "paper head"))
            if "main" in args.parts:
                out += [(dataset, encoder, "main", o, h) for o in args.rows for h in HEADS
                        if encoder == "cnn16" or ROWS[o].get("ema") is None]
        if "range" in args.parts and encoder == "cnn16":    # right after the headline encoder
            out += [(dataset, "cnn16", "range", o, h) for dataset in args.datasets for o in args.rows
                    if o in OBJECTIVES for h in HEADS]
    return out


def conditions(part: str, row: str, encoder: str = "cnn16") -> list[dict]:
    if part == "controls":
        return []
    if part == "range":
        return [{"views": "ids", "sites": {"fc1": s}, "label": f"IDS fc1 {s:g}"} for s in RANGE_SLS]
    light = encoder in LIGHT_ENCODERS
    conds = {**{k: v for k, v in VIEWS.items() if not (light and k == HEAVY)},
             **(CLEAN_TARGET if row == "byol" and not light else {})}
    return [{**over, "label": label} for label, over in conds.items()]


def run_cell(args, cell, data) -> object:
    dataset, encoder, part, row, head = cell
    base = base_cfg(dataset, encoder, args.cifar_dir, **ROWS[row], **HEADS[head])
    folder = Path(args.results) / f"{dataset}_{encoder}"
    controls = ("none", *CONTROLS) if part == "controls" else ("none",)
    return compare(base, conditions(part, row, encoder), seeds=args.seeds, controls=controls, data=data,
                   results_dir=folder, keep_models=False)


def run_all(args) -> None:
    todo = [c for k, c in enumerate(cells(args)) if k % args.shard[1] == args.shard[0]]
    data, key, t0 = None, None, time.perf_counter()
    for i, cell in enumerate(todo):
        if key != cell[:2]:
            key, data = cell[:2], load_data(base_cfg(cell[0], cell[1], args.cifar_dir))
        comp = run_cell(args, cell, data)
        row = {r["label"]: r for r in comp.table()}
        gist = ", ".join(f"{lab} {100 * r['mlp_acc']:.1f}" for lab, r in row.items() if "mlp_acc" in r)
        print(f"[{i + 1}/{len(todo)} {time.perf_counter() - t0:6.0f}s] {' '.join(cell)}: {gist}", flush=True)


# ------------------------------------------------------------------------------------------------ report
def _pm(vals, scale=100.0, f=".1f") -> str:
    vals = [scale * v for v in vals if v is not None]
    if not vals:
        return "–"
    return f"{np.mean(vals):{f}} ± {np.std(vals, ddof=1):{f}}" if len(vals) > 1 else f"{vals[0]:{f}}"


def _diff(comp, label: str, metric: str = "mlp_acc", against: str = "none") -> str:
    d = comp.difference(label, metric, against)
    if d is None or d["ci"] is None:
        return "–"
    lo, hi = 100 * d["ci"][0], 100 * d["ci"][1]
    return f"{100 * d['mean']:+.1f} [{lo:+.1f}, {hi:+.1f}]" + (" **" if lo > 0 or hi < 0 else "")


def _last(comp, label: str, key: str) -> list:
    return [r["monitor"][-1][key] for r in comp.runs(label) if r.get("monitor")]


def cell_table(comp) -> str:
    """One objective and head: every views condition against no augmentation with the same objective and head."""
    physics = any(metric_value(r, "physics.direction_acc") is not None for r in comp.records)
    ten = any(metric_value(r, "linear10_acc") is not None for r in comp.records)
    head = ["views", "MLP (%)", "MLP − none (pts, 95% CI)", "k-NN (%)", "k-NN − none", "z_std (end)",
            "eff. rank (end)"] + (["10-class linear (%)"] if ten else []) + \
        (["velocity R²", "direction − none"] if physics else []) + ["seeds"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label in ["none", *comp.labels]:
        if not comp.runs(label):
            continue
        row = [label, _pm(comp.values(label)), "–" if label == "none" else _diff(comp, label),
               _pm(comp.values(label, "knn_acc")), "–" if label == "none" else _diff(comp, label, "knn_acc"),
               _pm(_last(comp, label, "z_std"), 1, ".2f"), _pm(_last(comp, label, "effective_rank"), 1, ".1f")]
        if ten:
            row.append(_pm(comp.values(label, "linear10_acc")))
        if physics:
            row += [_pm(comp.values(label, "physics.velocity_r2"), 1, ".2f"),
                    "–" if label == "none" else _diff(comp, label, "physics.direction_acc")]
        row.append(str(len(comp.runs(label))))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def controls_line(comp) -> str:
    c = comp.controls
    parts = [f"{name} {100 * c[name]['acc']:.1f}%" for name in ("floor", "trivial", "supervised") if name in c]
    none = comp.values("none")
    return (f"Controls (NT-Xent's seeds): {', '.join(parts)}; no augmentation with NT-Xent and the paper's head "
            f"{_pm(none)}% (MLP probe, mean ± sd over {len(none)} seeds).")


def headline(args, comps: dict) -> str:
    """objective x head rows, views columns: MLP − none (points, 95% CI) and z_std at the end, per data set and
    encoder given."""
    out = []
    for dataset in args.datasets:
        for encoder in args.encoders:
            rows = [(o, h) for o in ROWS for h in HEADS if (dataset, encoder, "main", o, h) in comps]
            if not rows:
                continue
            labels = list(VIEWS)
            out += [f"#### {dataset}, {encoder}: MLP − none with the same objective and head (points, 95% CI; ** "
                    "excludes 0), z_std at the end in brackets", "",
                    "| objective | head | none: MLP (%), z_std | " + " | ".join(labels) + " |",
                    "|---" * (len(labels) + 3) + "|"]
            for o, h in rows:
                comp = comps[(dataset, encoder, "main", o, h)]
                zs = lambda lab: _pm(_last(comp, lab, "z_std"), 1, ".2f")
                cells_ = [f"{_diff(comp, lab)} ({zs(lab)})" if comp.runs(lab) else "–" for lab in labels]
                out.append(f"| {o} | {h} | {_pm(comp.values('none'))} ({zs('none')}) | " + " | ".join(cells_) + " |")
            ctrl = comps.get((dataset, encoder, "controls", "ntxent", "paper head"))
            if ctrl is not None:
                out += ["", controls_line(ctrl)]
            out.append("")
    return "\n".join(out)


def range_table(comps: dict, dataset: str) -> str:
    """MLP accuracy (and z_std) per objective and head against the paper's fc1 s_l: where each objective learns."""
    rows = [(o, h) for o in ROWS for h in HEADS if (dataset, "cnn16", "range", o, h) in comps]
    if not rows:
        return ""
    labels = [f"IDS fc1 {s:g}" for s in RANGE_SLS]
    out = [f"#### {dataset}, cnn16: MLP (%) and z_std at the end against the paper's s_l at fc1 (0 = no augmentation)",
           "", "| objective | head | 0 | " + " | ".join(f"{s:g}" for s in RANGE_SLS) + " |",
           "|---" * (len(labels) + 3) + "|"]
    for o, h in rows:
        comp = comps[(dataset, "cnn16", "range", o, h)]
        cell = lambda lab: (f"{_pm(comp.values(lab))} ({_pm(_last(comp, lab, 'z_std'), 1, '.2f')})"
                            if comp.runs(lab) else "–")
        out.append(f"| {o} | {h} | {cell('none')} | " + " | ".join(cell(lab) for lab in labels) + " |")
    return "\n".join(out)


def target_table(comps: dict, dataset: str, encoder: str = "cnn16") -> str:
    """BYOL: the target's own λ (target_noise=True, the default) minus a clean target, paired over seeds."""
    lines = []
    for h in HEADS:
        comp = comps.get((dataset, encoder, "main", "byol", h))
        if comp is None:
            continue
        for label in CLEAN_TARGET:
            noisy = label.removesuffix(", clean target")
            if comp.runs(label) and comp.runs(noisy):
                lines.append(f"| {h} | {noisy} | {_diff(comp, noisy, 'mlp_acc', label)} | "
                             f"{_diff(comp, noisy, 'knn_acc', label)} | {_pm(_last(comp, noisy, 'z_std'), 1, '.2f')} "
                             f"/ {_pm(_last(comp, label, 'z_std'), 1, '.2f')} |")
    if not lines:
        return ""
    return "\n".join([f"#### {dataset}, {encoder}, BYOL: the target draws its own λ minus a clean target (points, "
                      "95% CI, paired seeds)", "", "| head | views | MLP | k-NN | z_std at the end (own λ / clean) |",
                      "|---|---|---|---|---|", *lines])


def curves_table(comps: dict, dataset: str, encoder: str = "cnn16") -> str:
    """The monitor's curves, mean over seeds: z_std and effective rank of h per epoch, no augmentation vs the paper's
    IDS, for every objective and head."""
    out = [f"#### {dataset}, {encoder}: the monitor per epoch (mean over seeds): z_std / effective rank of h", ""]
    epochs = None
    for o in ROWS:
        for h in HEADS:
            comp = comps.get((dataset, encoder, "main", o, h))
            if comp is None:
                continue
            for label in ("none", "IDS fc1 0.02 (paper)"):
                mons = [r["monitor"] for r in comp.runs(label) if r.get("monitor")]
                if not mons:
                    continue
                if epochs is None:
                    epochs = [e["epoch"] for e in mons[0]]
                    out += ["| objective | head | views | " + " | ".join(f"epoch {e}" for e in epochs) + " |",
                            "|---" * (len(epochs) + 3) + "|"]
                cols = [f"{np.mean([m[k]['z_std'] for m in mons]):.2f} / "
                        f"{np.mean([m[k]['effective_rank'] for m in mons]):.1f}" for k in range(len(epochs))]
                out.append(f"| {o} | {h} | {label} | " + " | ".join(cols) + " |")
    return "\n".join(out) if epochs else ""


def report(args) -> str:
    comps = {cell: comp for cell in cells(args) if (comp := stored(args, cell)).records}
    out = ["### Headline", "", headline(args, comps)]
    for dataset in args.datasets:
        out += [range_table(comps, dataset), "", target_table(comps, dataset), "", curves_table(comps, dataset), ""]
    out.append("### Every cell")
    for cell, comp in comps.items():
        if cell[2] == "main":
            out += ["", f"#### {' / '.join(cell[:2])}: {cell[3]}, {cell[4]}", "", cell_table(comp)]
    return "\n".join(out)


def stored(args, cell):
    """The cell's comparison from the finished records in the store alone (no training; missing runs left out)."""
    dataset, encoder, part, row, head = cell
    base = base_cfg(dataset, encoder, args.cifar_dir, **ROWS[row], **HEADS[head])
    folder = Path(args.results) / f"{dataset}_{encoder}"
    parsed = [parse_condition(c) for c in conditions(part, row, encoder)]
    trained = [*parsed, ("none", {"views": "none"})] + ([("floor", {"views": "none", "epochs": 0})]
                                                         if part == "controls" else [])
    records = []
    for label, over in trained:
        for s in args.seeds:
            rec = read_record(record_path(folder, dataclasses.replace(base, **over, seed=s)))
            if rec is not None:
                records.append({**rec, "label": label, "role": "condition" if (label, over) in parsed else "control"})
    for name in ("trivial", "supervised") if part == "controls" else ():
        for s in args.seeds:
            rec = read_control_record(control_path(folder, name, dataclasses.replace(base, seed=s, views="none")))
            if rec is not None:
                records.append({**rec, "label": name, "role": "control"})
    return summarise(base, [lab for lab, _ in parsed], args.seeds, records)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="meteor,cifar")
    p.add_argument("--encoders", default="cnn16,cnn8,cnn32")
    p.add_argument("--parts", default="main,range")
    p.add_argument("--rows", default=",".join(ROWS), help=f"objective rows, of: {', '.join(ROWS)}")
    p.add_argument("--seeds", default="0-4", help="'0-4' or '0,1,2'")
    p.add_argument("--results", default="results/objectives")
    p.add_argument("--cifar-dir", default=None)
    p.add_argument("--shard", default="0/1", help="i/n: run every n-th cell starting at i (n parallel processes)")
    p.add_argument("--report-only", action="store_true", help="print the tables from finished records, no training")
    p.add_argument("--out", default=None, help="also write the tables here (markdown, atomically)")
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.encoders = [e for e in args.encoders.split(",") if e]
    args.parts = [x for x in args.parts.split(",") if x]
    args.rows = [x for x in args.rows.split(",") if x]
    bad = [x for x in args.parts if x not in ("main", "range")] + [x for x in args.rows if x not in ROWS]
    if bad:
        print(f"objectives: unknown part(s) or row(s) {bad}: parts are main, range; rows {', '.join(ROWS)}",
              file=sys.stderr)
        return 2
    lo, _, hi = args.seeds.partition("-")
    args.seeds = list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in args.seeds.split(",")]
    i, _, n = args.shard.partition("/")
    args.shard = (int(i), int(n))
    if not 0 <= args.shard[0] < args.shard[1]:
        print(f"objectives: --shard {i}/{n}: need 0 <= i < n", file=sys.stderr)
        return 2
    if not args.report_only:
        run_all(args)
    text = report(args)
    print(text)
    if args.out:
        atomic_write(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
