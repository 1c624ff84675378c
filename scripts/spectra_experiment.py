"""Issue 20: does the meteor conclusion (the FFT mask best, flips harmful, IDS level with no augmentation under
NT-Xent) hold on a second modality, simulated galaxy spectra?

Conditions on the spectra benchmark (idslab.datasets.spectra, L = 512, CNN1D-512, the protocol of docs/PROTOCOL.md:
20 epochs, batch 256, Adam 1e-3, 4000 / 2000 / 600 spectra), every one with the same seeds and data:
    flip       reversal + shift (the paper's flip + rotation one dimension down)
    shift      the shift alone (a Doppler shift: the rotation analogue)
    reverse    the reversal alone
    fft        the FFT band mask along the axis (the paper's in-domain view)
    simclr     random scaling and jitter (the generic suite of signals)
    ids        implicit data synthesis at fc1, s_l = 0.02 (the paper's)
and the controls: no augmentation ("none"), the random-init floor, the trivial baseline (logistic regression on
global statistics) and the supervised reference (the same CNN1D-512 + a linear head on probe-train's labels). The
physics probes (idslab.probes.physics_probes: ridge R^2 of velocity, line SNR, line width and continuum slope on
frozen h of the positives; real vs reversed spectra) come with every record; their ceilings are the same encoder
trained to regress each target (idslab.baselines.supervised_regression). Every condition is read against no
augmentation by paired differences over seeds with Student-t 95% intervals (idslab.experiments.paired_difference).

Each objective (TrainConfig.objective: ntxent | byol | simsiam | vicreg | barlow, idslab.objectives) is its own
comparison, read against no augmentation with the same objective. NT-Xent (SimCLR's, the paper's) runs every
condition and control; the other objectives run the headline conditions (OBJECTIVE_CONDITIONS: flip, fft, ids) and
their own no-augmentation control, and share the objective-free controls (floor, trivial, supervised: the encoder at
initialisation and the supervised encoder do not depend on the self-supervised loss).

Records live in the idslab.experiments results store (<results>/<objective>/<hash>.json, control_*.json; the
ceilings in <results>/ceilings/), written atomically as each run ends: rerunning the command resumes.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/spectra_experiment.py [--seeds 0-4] [--objectives ntxent] \
        [--results results/spectra] [--out docs/results/spectra.md]
    python scripts/spectra_experiment.py --report-only      # the tables from finished records, no training

Issue 26, `--study views`: the views that keep a spectrum's physics (idslab.views: reobserve, mask, tilt, lsf, their
composition, and with IDS) and the masked objective (objective "masked", MAE-style, with no view and with
re-observation) against no augmentation, IDS and the old views (flip, fft, simclr), NT-Xent, the same controls and
paired seeds; the headline is the share of the floor-to-supervised gap each method closes, per seed, on the MLP
probe and on k-NN (t interval over seeds). Its store is <results>/views/ (the NT-Xent records there are the same
configs as <results>/ntxent's, recomputed: same seed, same result on the CPU).

    OMP_NUM_THREADS=1 python scripts/spectra_experiment.py --study views --seeds 0-4 --results results/spectra \
        --skip-ceilings --out docs/results/spectra_views.md

Issue 26, `--study meteor`: the same winners on meteor, on the protocol of docs/RESULTS.md's meteor note table
(CNN-16, 16 x 16 tiles, 4000 / 2000 / 600, 20 epochs, batch 256, Adam 1e-3, tau = 0.5): re-observation (views
"reobserve": a new receiver-noise draw of the radar scene, idslab.views._reobserve_radar), IDS + re-observation,
the FFT band mask, IDS, flip + rotation, with no augmentation and the controls, paired seeds; the gap closed as in
the views study, and the paired differences that answer the question (re-observation against the FFT mask and
against no augmentation). Its store is <results> itself (default results/meteor).

    OMP_NUM_THREADS=1 python scripts/spectra_experiment.py --study meteor --seeds 0-4 --results results/meteor \
        --out docs/results/meteor_reobserve.md
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from idslab.atomic import atomic_write
from idslab.baselines import supervised_ceiling, supervised_regression, trivial_baseline
from idslab.datasets import Sizes, SpectraParams, load
from idslab.datasets.spectra import SIMULATOR_VERSION, TARGETS
from idslab.experiments import CONTROLS, compare, paired_difference
from idslab.records import metric_value
from idslab.train import TrainConfig, load_data, write_json

CONDITIONS = ["flip", "shift", "reverse", "fft", "simclr", "ids"]
OBJECTIVE_CONDITIONS = ["flip", "fft", "ids"]          # the headline comparison, for the objectives beyond NT-Xent
LABELS = {"flip": "reversal + shift (flip)", "shift": "shift", "reverse": "reversal", "fft": "FFT band mask",
          "simclr": "scaling + jitter (simclr)", "ids": "IDS fc1 s_l = 0.02", "none": "*no augmentation*",
          "floor": "*random-init floor*", "trivial": "*trivial (logistic, 9 statistics)*",
          "supervised": "*supervised (probe-train labels)*"}
PHYSICS = [("velocity R²", "physics.velocity_r2"), ("line SNR R²", "physics.line_snr_r2"),
           ("line width R²", "physics.line_width_r2"), ("cont. slope R²", "physics.continuum_slope_r2"),
           ("real vs reversed (%)", "physics.direction_acc")]
CEILING_TARGET = {"physics.velocity_r2": "velocity_kms", "physics.line_snr_r2": "line_snr",
                  "physics.line_width_r2": "line_width_kms", "physics.continuum_slope_r2": "continuum_slope"}
# issue 26: the physics-preserving views and the masked objective, then the old views; run in this order (compare()
# runs a condition's seeds together), so an interrupted sweep has the new methods first
VIEW_CONDITIONS = ["reobserve", "mask", "tilt", "lsf", "reobserve+tilt+lsf+mask", "ids+reobserve",
                   {"label": "masked", "views": "none", "objective": "masked"},
                   {"label": "masked+reobserve", "views": "reobserve", "objective": "masked"},
                   "flip", "fft", "simclr", "ids",
                   # added after the first three seeds: the masked objective's mask ratio, and a view under it
                   {"label": "masked25", "views": "none", "objective": "masked25"},
                   {"label": "masked75", "views": "none", "objective": "masked75"},
                   {"label": "masked+tilt", "views": "tilt", "objective": "masked"}]
LABELS.update({"reobserve": "re-observation", "mask": "mask (run + sky lines)", "tilt": "flux-calibration tilt",
               "lsf": "LSF broadening", "reobserve+tilt+lsf+mask": "re-obs. + tilt + LSF + mask",
               "ids+reobserve": "IDS + re-observation", "masked": "masked objective (MAE-style)",
               "masked+reobserve": "masked objective + re-observation", "masked25": "masked objective, 25% hidden",
               "masked75": "masked objective, 75% hidden", "masked+tilt": "masked objective + tilt"})
# issue 26 on meteor: the winners' question (is re-observation what the FFT mask approximates?), new views first
METEOR_CONDITIONS = ["reobserve", "ids+reobserve", "fft", "ids", "flip",
                     "reobserve+fft"]          # added after the first 5 seeds: does the mask add to re-observation?
METEOR_LABELS = {"reobserve": "re-observation (new receiver noise)", "ids+reobserve": "IDS + re-observation",
                 "fft": "FFT band mask", "ids": "IDS fc1 s_l = 0.02", "flip": "flip + rotation",
                 "reobserve+fft": "re-observation + FFT band mask",
                 "trivial": "*trivial (logistic, 9 tile statistics)*"}
METEOR_PHYSICS = [("velocity R²", "physics.velocity_r2"), ("peak SNR R²", "physics.snr_r2"),
                  ("direction (%)", "physics.direction_acc")]
# the paired differences that answer the question: (label, against)
METEOR_PAIRS = [("reobserve", "fft"), ("reobserve", "none"), ("fft", "none"), ("ids+reobserve", "reobserve"),
                ("reobserve+fft", "fft"), ("ids", "none"), ("flip", "none")]
QUICK_SIZES = dict(n_pretrain=512, n_probe_train=256, n_probe_test=200, epochs=2, batch_size=128)


def base_config(objective: str, quick: bool) -> TrainConfig:
    over = dict(QUICK_SIZES) if quick else {}
    if objective != "ntxent":
        over["objective"] = objective                  # TrainConfig validates it (idslab.objectives.OBJECTIVES)
    return TrainConfig(dataset="spectra", encoder="cnn1d512", device="cpu", **over)


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",") if s.strip()]


def ceilings(base: TrainConfig, data, folder: Path, seed: int = 0, epochs: int = 60) -> dict:
    """The physics probes' ceilings: CNN1D-512 trained to regress each target on probe-train's positives, R^2 on
    probe-test's (bootstrap 95% interval). Stored per target and read back on rerun."""
    out = {}
    for target in TARGETS:
        path = folder / f"{target}_s{seed}_e{epochs}_{SIMULATOR_VERSION}_n{base.n_probe_train}_{base.n_probe_test}.json"
        if path.exists():
            out[target] = json.loads(path.read_text())
            continue
        res = supervised_regression(dataclasses.replace(base, seed=seed), data, target, epochs=epochs)
        res["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(path, res)
        out[target] = res
    return out


def data_controls(base: TrainConfig, data, folder: Path, seeds=(0, 1, 2), compute: bool = True) -> dict | None:
    """The benchmark's own controls (docs/DATA.md): the trivial baseline on the matched negatives and on natural
    ones (plain galaxies, same sizes and seed), and the supervised ceiling on every labelled spectrum (pre-train +
    probe-train, train_on="all", 30 epochs) for a few seeds. Stored in folder/data_controls_<version>.json and read
    back; compute=False: None when not stored yet."""
    path = folder / f"data_controls_{SIMULATOR_VERSION}_n{base.n_pretrain}_{base.n_probe_test}.json"
    if path.exists():
        return json.loads(path.read_text())
    if not compute:
        return None
    sizes = Sizes(base.n_pretrain, base.n_probe_train, base.n_probe_test)
    natural = load("spectra", base.tile, seed=base.data_seed, sizes=sizes, data_dir=base.data_dir,
                   params=SpectraParams(negatives="natural"))
    out = {"trivial_matched": trivial_baseline(data), "trivial_natural": trivial_baseline(natural),
           "match_gap": {s: data.meta["splits"][s]["match_gap"] for s in ("pretrain", "probe_train", "probe_test")},
           "generation_s": data.meta["generation_seconds"], "natural_generation_s": natural.meta["generation_seconds"],
           "supervised_all": {str(s): supervised_ceiling(dataclasses.replace(base, seed=s), data, epochs=30,
                                                         train_on="all") for s in seeds},
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average": list(__import__("os").getloadavg())}
    write_json(path, out)
    return out


# ------------------------------------------------------------------------------------------------ report
def _vals(recs, label, metric):
    rs = sorted((r for r in recs if r.get("label") == label), key=lambda r: r["config"]["seed"])
    return [metric_value(r, metric, percent=False) for r in rs]


def _ms(v, pct=True, digits=1):
    v = [x for x in v if x is not None]
    if not v:
        return "–"
    k = 100.0 if pct else 1.0
    sd = f" ± {k * np.std(v, ddof=1):.{digits}f}" if len(v) > 1 else ""
    return f"{k * np.mean(v):.{digits}f}{sd}"


def _diff(a, b, pct=True):
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    if len(pairs) < 2:
        return "–", None
    d = paired_difference(*zip(*pairs))
    k = 100.0 if pct else 1.0
    return f"{k * d['mean']:+.1f} [{k * d['ci'][0]:+.1f}, {k * d['ci'][1]:+.1f}]", d


def _label(c) -> str:
    return c if isinstance(c, str) else c["label"]


def gap_closed(records: list, label: str, metric: str) -> dict | None:
    """The share of the floor-to-supervised gap a condition closes, per seed: (acc - floor) / (supervised - floor),
    acc and floor on `metric` (mlp_acc or knn_acc), the ceiling the supervised encoder's test accuracy (its own
    linear head) for both probes; mean and Student-t 95% interval over the seeds where all three exist."""
    from scipy import stats
    by = lambda lab, m: {r["config"]["seed"]: metric_value(r, m, percent=False) for r in records
                         if r.get("label") == lab}
    acc, floor, sup = by(label, metric), by("floor", metric), by("supervised", "mlp_acc")
    seeds = sorted(s for s in acc if s in floor and s in sup and None not in (acc[s], floor[s], sup[s]))
    if len(seeds) < 2:
        return None
    g = np.array([(acc[s] - floor[s]) / (sup[s] - floor[s]) for s in seeds])
    half = stats.t.ppf(0.975, len(g) - 1) * g.std(ddof=1) / np.sqrt(len(g))
    return {"mean": float(g.mean()), "ci": [float(g.mean() - half), float(g.mean() + half)], "n": len(g),
            "per_seed": g.tolist(), "seeds": seeds}


def gap_table(records: list, labels: list, names: dict = LABELS) -> tuple[str, dict]:
    """Markdown: the gap closed per condition on the MLP probe and on k-NN (in %, 95% interval), and whether its
    interval lies above one half."""
    t = ["| method | gap closed, MLP (%, 95% CI) | gap closed, k-NN (%, 95% CI) | >= half (MLP / k-NN) |",
         "|---|---|---|---|"]
    out = {}
    for lab in ["none"] + labels:
        g = {m: gap_closed(records, lab, m) for m in ("mlp_acc", "knn_acc")}
        if g["mlp_acc"] is None:
            continue
        out[lab] = g
        cell = lambda d: f"{100 * d['mean']:+.0f} [{100 * d['ci'][0]:+.0f}, {100 * d['ci'][1]:+.0f}]" if d else "–"
        half = lambda d: "–" if d is None else "yes" if d["ci"][0] >= 0.5 else "maybe" if d["ci"][1] >= 0.5 \
            else "no"
        t.append(f"| {names.get(lab, lab)} | {cell(g['mlp_acc'])} | {cell(g['knn_acc'])} | "
                 f"{half(g['mlp_acc'])} / {half(g['knn_acc'])} |")
    return "\n".join(t) + "\n", out


def report(objective: str, records: list, ceil: dict, base: TrainConfig, seeds: list,
           conditions: list | None = None, physics: list = PHYSICS, names: dict = LABELS) -> tuple[str, dict]:
    """Markdown tables (headline: accuracies and paired differences; physics: (column, metric) pairs) and the
    numbers as a dict; names: label -> row name. records: the objective's conditions and its "none", plus the
    shared controls (floor, trivial, supervised)."""
    labels = [_label(c) for c in (conditions or CONDITIONS) if any(r.get("label") == _label(c) for r in records)]
    rows = ["none"] + labels + [c for c in ("floor", "trivial", "supervised")]
    none_mlp = _vals(records, "none", "mlp_acc")
    out = {"objective": objective, "seeds": seeds, "rows": {}}
    head = (f"**Objective {objective}.** Mean ± sd over seeds {','.join(map(str, seeds))} (accuracies in %, "
            f"{base.n_probe_test} probe-test {'tiles' if base.dataset == 'meteor' else 'spectra'}); 'vs none': "
            "paired difference of the MLP probe against no augmentation, points, Student-t 95% interval over "
            "seeds.\n\n")
    t = ["| condition | MLP (%) | k-NN (%) | MLP vs none (pts, 95% CI) | k-NN vs none (pts, 95% CI) | eff. rank |",
         "|---|---|---|---|---|---|"]
    for lab in rows:
        mlp, knn = _vals(records, lab, "mlp_acc"), _vals(records, lab, "knn_acc")
        if not any(v is not None for v in mlp):
            continue
        d_mlp, d = _diff(mlp, none_mlp) if lab in labels else ("–", None)
        d_knn, dk = _diff(knn, _vals(records, "none", "knn_acc")) if lab in labels else ("–", None)
        rank = _vals(records, lab, "diagnostics.effective_rank")
        knn_cell = _ms(knn) if lab not in ("trivial", "supervised") else "–"
        t.append(f"| {names.get(lab, lab)} | {_ms(mlp)} | {knn_cell}"
                 f" | {d_mlp} | {d_knn} | {_ms(rank, pct=False)} |")
        out["rows"][lab] = {"mlp": [v for v in mlp], "knn": [v for v in knn], "mlp_vs_none": d, "knn_vs_none": dk}
    p = ["| condition | " + " | ".join(n for n, _ in physics) + " |", "|---" * (len(physics) + 1) + "|"]
    none_phys = {m: _vals(records, "none", m) for _, m in physics}
    for lab in ["none", "floor"] + labels:
        cells = []
        for name, m in physics:
            v = _vals(records, lab, m)
            pct = m.endswith("acc")
            cell = _ms(v, pct=pct, digits=1 if pct else 2)
            if lab in labels and cell != "–":
                dd, d = _diff(v, none_phys[m], pct=pct)
                if d is not None:
                    k = 100.0 if pct else 1.0
                    cell += f" ({k * d['mean']:+.{1 if pct else 2}f} [{k * d['ci'][0]:+.{1 if pct else 2}f}, " \
                            f"{k * d['ci'][1]:+.{1 if pct else 2}f}])"
                out["rows"].setdefault(lab, {})[m] = {"values": v, "vs_none": d}
            cells.append(cell)
        p.append(f"| {names.get(lab, lab)} | " + " | ".join(cells) + " |")
    if ceil:
        cells = []
        for name, m in physics:
            c = ceil.get(CEILING_TARGET.get(m, ""), None)
            cells.append(f"{c['r2']:.2f} [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}]" if c else "–")
        p.append("| *supervised regression (ceiling, seed 0)* | " + " | ".join(cells) + " |")
    flipped = ("'direction': linear probe telling each positive from the same tile flipped in altitude (an ascending "
               "meteor), 50% = flip-invariant" if base.dataset == "meteor" else "'real vs reversed': linear probe "
               "telling each positive from the same spectrum reversed, 50% = reversal-invariant")
    phys = ("\nPhysics probes on the frozen h of probe-test's positives (ridge R², fitted on probe-train's; "
            f"{flipped}). In brackets: paired difference against no augmentation, 95% interval.\n\n")
    return head + "\n".join(t) + "\n" + phys + "\n".join(p) + "\n", out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-4", help="'0-4' or '0,1,2' (paired across conditions)")
    p.add_argument("--objectives", default="ntxent", help="comma-separated TrainConfig.objective values")
    p.add_argument("--results", default=None, help="the results store (default results/spectra; --study meteor: "
                                                   "results/meteor)")
    p.add_argument("--out", default=None, help="also write the tables here (markdown, atomically) and a .json beside")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 epochs (a smoke test, not a result)")
    p.add_argument("--report-only", action="store_true", help="tables from finished records; train nothing")
    p.add_argument("--study", default="objectives", choices=("objectives", "views", "meteor"),
                   help="objectives: issue 20's views x objectives; views: issue 26's physics views and masked "
                        "objective; meteor: issue 26's winners on meteor (re-observation against the FFT mask)")
    p.add_argument("--skip-ceilings", action="store_true",
                   help="do not train the physics probes' regression ceilings (or the data controls) where they are "
                        "not stored; the tables then show none")
    args = p.parse_args(argv)
    if args.study == "meteor":
        args.results = args.results or "results/meteor"
        return main_meteor(args)
    args.results = args.results or "results/spectra"
    if args.study == "views":
        return main_views(args)
    seeds = seeds_of(args.seeds)
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    bases = {o: base_config(o, args.quick) for o in objectives}          # every bad objective fails before work
    results = Path(args.results)
    data = load_data(bases[objectives[0]])
    t0 = time.perf_counter()
    first = bases[objectives[0]]
    ceil = _read_ceilings(results / "ceilings") if args.report_only else ceilings(first, data, results / "ceilings")
    texts, numbers = [], {"ceilings": ceil}
    if not args.quick:
        numbers["data_controls"] = data_controls(first, data, results, compute=not args.report_only)
    shared = []                                       # floor, trivial, supervised: from the NT-Xent comparison
    for obj, base in sorted(bases.items(), key=lambda kv: kv[0] != "ntxent"):
        progress = _progress(obj, t0, 10)
        conditions, controls = (CONDITIONS, CONTROLS) if obj == "ntxent" else (OBJECTIVE_CONDITIONS, ("none",))
        if obj != "ntxent" and not shared:
            shared = [r for r in _stored(results / "ntxent", base_config("ntxent", args.quick), seeds)
                      if r["label"] in ("floor", "trivial", "supervised")]
        if args.report_only:
            comp_records = [r for r in _stored(results / obj, base, seeds) if r["label"] in conditions + list(controls)]
        else:
            comp = compare(base, conditions, seeds=seeds, controls=controls, data=data, progress=progress,
                           results_dir=results / obj, keep_models=False)
            comp_records = comp.records
        if obj == "ntxent":
            shared = [r for r in comp_records if r["label"] in ("floor", "trivial", "supervised")]
        else:
            comp_records = comp_records + shared
        text, nums = report(obj, comp_records, ceil, base, seeds)
        texts.append(text)
        numbers[obj] = nums
    doc = "\n".join(texts)
    return _emit(args, doc, numbers)


def main_views(args) -> int:
    """--study views: VIEW_CONDITIONS with NT-Xent's controls, paired seeds, in <results>/views (resumable)."""
    seeds = seeds_of(args.seeds)
    base = base_config("ntxent", args.quick)
    results = Path(args.results)
    data = load_data(base)
    t0 = time.perf_counter()
    skip = args.report_only or args.skip_ceilings
    ceil = _read_ceilings(results / "ceilings") if skip else ceilings(base, data, results / "ceilings")
    numbers = {"ceilings": ceil, "study": "views", "seeds": seeds}
    if not args.quick:
        numbers["data_controls"] = data_controls(base, data, results, compute=not skip)

    progress = _progress("views", t0, 24)
    if args.report_only:
        records = _stored(results / "views", base, seeds, any_objective=True)
    else:
        records = compare(base, VIEW_CONDITIONS, seeds=seeds, controls=CONTROLS, data=data, progress=progress,
                          results_dir=results / "views", keep_models=False).records
    text, nums = report("ntxent", records, ceil, base, seeds, VIEW_CONDITIONS)
    labels = [_label(c) for c in VIEW_CONDITIONS if any(r.get("label") == _label(c) for r in records)]
    gaps, gnums = gap_table(records, labels)
    done = sorted({r["config"]["seed"] for r in records if r.get("label") == "none"})
    doc = (f"**Gap closed** (issue 26): (accuracy - random-init floor) / (supervised - floor), per seed, mean and "
           f"Student-t 95% interval over the seeds {','.join(map(str, done))}; the same CNN1D-512, data and seeds for "
           "every row; '>= half': yes when the interval's lower end is at least 50%, maybe when it straddles "
           "50%.\n\n" + gaps + "\n" + text)
    numbers["ntxent"], numbers["gap_closed"] = nums, gnums
    return _emit(args, doc, numbers)


def main_meteor(args) -> int:
    """--study meteor: METEOR_CONDITIONS with the controls on the meteor note table's protocol, paired seeds, in
    <results> (resumable); the gap closed, the question's paired differences, accuracies and physics."""
    seeds = seeds_of(args.seeds)
    over = dict(QUICK_SIZES) if args.quick else {}
    base = TrainConfig(dataset="meteor", tile=16, encoder="cnn16", device="cpu", **over)
    results = Path(args.results)
    t0 = time.perf_counter()

    progress = _progress("meteor", t0, 14)
    if args.report_only:
        records = _stored(results, base, seeds)
    else:
        records = compare(base, METEOR_CONDITIONS, seeds=seeds, controls=CONTROLS, data=load_data(base),
                          progress=progress, results_dir=results, keep_models=False).records
    names = {**LABELS, **METEOR_LABELS}
    labels = [c for c in METEOR_CONDITIONS if any(r.get("label") == c for r in records)]
    gaps, gnums = gap_table(records, labels, names)
    text, nums = report("ntxent", records, {}, base, seeds, METEOR_CONDITIONS, METEOR_PHYSICS, names)
    pairs, pnums = ["| difference | MLP (pts, 95% CI) | k-NN (pts, 95% CI) |", "|---|---|---|"], {}
    for a, b in METEOR_PAIRS:
        cells = []
        for m in ("mlp_acc", "knn_acc"):
            cell, d = _diff(_vals(records, a, m), _vals(records, b, m))
            cells.append(cell)
            pnums[f"{a} - {b} {m}"] = d
        if cells[0] != "–":
            pairs.append(f"| {names[a]} − {names[b].strip('*')} | {cells[0]} | {cells[1]} |")
    done = sorted({r["config"]["seed"] for r in records if r.get("label") == "none"})
    made = sorted(r["created"] for r in records if r.get("created"))
    trained = [r["wall_s"] for r in records if r.get("wall_s") and not r.get("control") and r["config"]["epochs"]]
    where = (f"Records created {made[0]} to {made[-1]} on {records[0].get('device', '?')} "
             f"({records[0].get('device_name', '?')}, {os.cpu_count()} cores), torch "
             f"{records[0].get('versions', {}).get('torch', '?')}, data `{records[0].get('data_version', '?')}`; "
             f"wall time per pre-trained run {min(trained):.0f}-{max(trained):.0f} s.\n\n") if made and trained else ""
    doc = (where + f"**Meteor, CNN-16, seeds {','.join(map(str, done))}** (issue 26): gap closed = (accuracy - "
           "random-init floor) / (supervised - floor), per seed, mean and Student-t 95% interval over the seeds; '>= half': yes "
           "when the interval's lower end is at least 50%, maybe when it straddles 50%.\n\n" + gaps +
           f"\n**The question's paired differences** (same seed, same data, same {base.n_probe_test} test tiles; "
           "points, Student-t 95% interval over the seeds):\n\n" + "\n".join(pairs) + "\n\n" + text)
    numbers = {"study": "meteor", "seeds": done, "ntxent": nums, "gap_closed": gnums, "pairs": pnums,
               "config": base.to_dict()}
    return _emit(args, doc, numbers)



def _progress(tag: str, t0: float, width: int):
    """compare()'s progress callback: one line per finished run (elapsed s, tag, run k of n, label, seed, MLP %)."""
    def progress(done, total, rec):
        if rec is not None:
            m = rec["metrics"]
            print(f"[{time.perf_counter() - t0:7.0f}s] {tag} {done}/{total} {rec['label']:>{width}} seed "
                  f"{rec['config']['seed']}: {100 * m.get('mlp_acc', m.get('acc')):5.1f}%"
                  f"{' (reused)' if rec.get('reused') else ''}", flush=True)
    return progress


def _emit(args, doc: str, numbers: dict) -> int:
    """Print the study's document; with --out, write it and its numbers (<out>.json) atomically."""
    print(doc)
    if args.out:
        atomic_write(args.out, doc.encode())
        write_json(Path(args.out).with_suffix(".json"), numbers)
    return 0

def _read_ceilings(folder: Path) -> dict:
    out = {}
    for t in TARGETS:
        files = sorted(folder.glob(f"{t}_s0_*.json"))           # the newest protocol's
        if files:
            out[t] = json.loads(files[-1].read_text())
    return out


def _stored(folder: Path, base: TrainConfig, seeds: list, any_objective: bool = False) -> list:
    """Finished store records of `folder`, labelled as compare() labels them (report-only, shared controls).
    any_objective: keep every objective's runs (the views study), each labelled '<objective>[+<views>]' unless it
    is NT-Xent; otherwise only base.objective's, labelled by their views."""
    from idslab.experiments import load_records
    out = []
    for r in load_records(folder):
        c = r["config"]
        obj = c.get("objective", "ntxent")
        same = all(c.get(k) == getattr(base, k) for k in ("dataset", "encoder", "n_pretrain", "n_probe_test"))
        if c.get("seed") not in seeds or not same or not any_objective and obj != base.objective:
            continue
        if r.get("control"):
            out.append({**r, "label": r["control"]})
        elif c.get("epochs") == 0:
            out.append({**r, "label": "floor"})
        elif c.get("epochs") == base.epochs:
            plain = not any_objective or obj == "ntxent"
            lab = c["views"] if plain else obj + ("" if c["views"] == "none" else "+" + c["views"])
            out.append({**r, "label": lab})
    return out

if __name__ == "__main__":
    sys.exit(main())
