"""Reports from run records: the paper's table layout (mean ± sd over seeds, best per row in bold) in Markdown and
CSV, the s_l sweep as a table, and the paper's published numbers beside ours.

Our standard deviations are sample sd (ddof = 1), the project's one error-bar convention (docs/PROTOCOL.md). The
paper's are population sd (ddof = 0): its Table 1 and 2 entries fit only that reading, e.g. 0.24 = sd of
{x, x, x + 0.5} and 0.47 = sd of {x, x, x + 1} (in %); for 3 seeds ours are sqrt(3/2) = 1.22x theirs for the same
spread. The same
check shows every single-run accuracy in the paper sits on a 0.5% grid, i.e. its test split had 200 samples (or its
accuracies were rounded to 0.5%), so a paper difference below ~5 points is inside one run's 95% interval.

    from idslab.report import write_report
    paths = write_report(records, "table1", "docs/results", quick=True)
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .encoders import ENCODERS
from .paper import PAPER, PAPER_FIG3  # noqa: F401 (PAPER_FIG3: re-exported for the notebooks)
from .records import _PERCENT, METRICS, condition_of, metric_value  # noqa: F401 (re-exported)

# Column titles, in the tables' column order (table_markdown reads the order from here).
PAPER_COLUMNS = {"flip": "Baseline", "fft": "In-domain", "ids": "IDS",
                 # not the paper's: its Discussion's test (experiments.EVERY_LAYER), named here by records.condition_of
                 "ids_all": "IDS every layer", "ids_all_depth": "IDS every layer /√L"}
ENCODER_NAMES = {"cnn8": "CNN-8×8", "cnn16": "CNN-16×16", "cnn32": "CNN-32×32", "cnn64": "CNN-64×64",
                 "cnn128": "CNN-128×128", "cnn256": "CNN-256×256", "resnet18": "ResNet-18", "resnet50": "ResNet-50"}

# ------------------------------------------------------------------------------------------ aggregation
# Controls (issue 9), in display order: no augmentation (views "none", trained like the others), the random-init
# floor (epochs = 0), logistic regression on tile statistics, and the same encoder trained with labels.
CONTROL_NAMES = {"none": "No aug.", "floor": "Random init", "trivial": "Trivial", "supervised": "Supervised"}
# Beyond the paper's two probes: physics probes (meteor), diagnostics, CIFAR's 10-class probe, the final loss.
EXTRA = {"physics.velocity_r2": "velocity R²", "physics.slope_r2": "slope R²", "physics.snr_r2": "peak-SNR R²",
         "physics.altitude_r2": "altitude R²", "physics.line_snr_r2": "line-SNR R²",
         "physics.line_width_r2": "line-width R²", "physics.continuum_slope_r2": "continuum-slope R²",
         "physics.direction_acc": "direction (%)",
         "linear10_acc": "10-class linear (%)", "diagnostics.effective_rank": "eff. rank",
         "diagnostics.alignment": "alignment", "diagnostics.uniformity": "uniformity", "final_loss": "final loss"}


def _sl(rec: dict) -> float:
    """s_l at fc1 (the paper's site), else the run's one value ("all" / "all_depth": per layer, before /√L)."""
    sites = rec["config"].get("sites") or {}
    return float(sites.get("fc1", next(iter(sites.values()), 0.0)))


def aggregate(records: list[dict], by: tuple[str, ...] = ("encoder", "views"), metrics=tuple(METRICS)) -> dict:
    """{(values of `by`): {metric: (mean, sd, n)}} over seeds; `by` names config fields, 'sl' (s_l at fc1) or
    'views' (read as condition_of: a views string or a control name). Accuracies in %, sample sd (ddof = 1)."""
    groups = defaultdict(lambda: defaultdict(list))
    for rec in records:
        key = tuple(_sl(rec) if b == "sl" else condition_of(rec) if b == "views" else rec["config"][b] for b in by)
        for m in metrics:
            v = metric_value(rec, m)
            if v is not None:
                groups[key][m].append(v)
    return {k: {m: (float(np.mean(v)), _sd(v), len(v)) for m, v in ms.items()} for k, ms in groups.items()}


def _sd(v) -> float:
    """Sample sd (ddof = 1), 0 for a single value."""
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0



def _fmt(mean: float, sd: float, bold: bool = False, digits: int = 2) -> str:
    s = f"{mean:.{digits}f} ± {sd:.{digits}f}"
    return f"**{s}**" if bold else s


def _best(values: dict) -> set:
    """Keys whose mean is the row's maximum (ties all bold, rounded to the printed 2 decimals)."""
    if not values:
        return set()
    top = max(round(v[0], 2) for v in values.values())
    return {k for k, v in values.items() if round(v[0], 2) == top}


def _digits(metric: str) -> int:
    """Printed decimals: accuracies (%) and ranks 1, alignment 3 (it is small), others 2."""
    return 1 if metric in _PERCENT or metric.endswith("rank") else 3 if metric.endswith("alignment") else 2


def _per_seed(records: list[dict], metric: str) -> dict:
    """{(encoder, condition): {seed: value}} for paired comparisons."""
    out = defaultdict(dict)
    for rec in records:
        v = metric_value(rec, metric)
        if v is not None:
            out[(rec["config"]["encoder"], condition_of(rec))][rec["config"]["seed"]] = v
    return out


def paired_vs(records: list[dict], encoder: str, condition: str, metric: str = "mlp_acc",
              against: str = "none") -> dict | None:
    """Paired-seed difference condition - against on one encoder (same seeds, same data), in the metric's report
    units, with a 95% t-interval (idslab.experiments.paired_difference); None without common seeds."""
    from .experiments import paired_difference
    per = _per_seed(records, metric)
    a, b = per.get((encoder, condition), {}), per.get((encoder, against), {})
    seeds = sorted(set(a) & set(b))
    return paired_difference([a[s] for s in seeds], [b[s] for s in seeds]) if seeds else None


def _fmt_diff(d: dict | None) -> str:
    if not d:
        return "–"
    ci = f" [{d['ci'][0]:+.1f}, {d['ci'][1]:+.1f}]" if d.get("ci") else ""
    return f"{d['mean']:+.1f}{ci}"


def _gap(agg: dict, enc: str, cond: str, metric: str) -> str:
    from .experiments import gap_closed
    get = lambda c: agg.get((enc, c), {}).get(metric, (None,))[0]
    g = gap_closed(get(cond), get("floor"), get("supervised"))
    return "–" if g is None else f"{g:.2f}"


# ------------------------------------------------------------------------------------------ tables
def table_markdown(records: list[dict], table: str, conditions: tuple[str, ...] | None = None,
                   with_paper: bool = True) -> str:
    """The paper's layout for 'table1' or 'table2' from our records: per metric a block with one row per encoder,
    our mean ± sd (best of the row bold, controls excluded), the controls present (no augmentation, random init,
    trivial, supervised) and, beside them, the paper's (its best bold). Then, where controls exist, the gap each
    condition closes between floor and supervised ceiling and its paired-seed difference against no augmentation,
    and a block of physics probes and diagnostics per encoder and condition where the records hold them."""
    agg = aggregate(records, metrics=tuple(METRICS) + tuple(EXTRA))
    encoders = [e for e in ENCODERS if any(k[0] == e for k in agg)]
    conditions = conditions or tuple(c for c in PAPER_COLUMNS if any(k[1] == c for k in agg))
    controls = tuple(c for c in CONTROL_NAMES if any(k[1] == c for k in agg))
    paper = PAPER.get(table, {}) if with_paper else {}
    in_paper = tuple(c for c in conditions if c in ("flip", "fft", "ids"))     # the columns the paper has
    out = []
    for m, title in METRICS.items():
        head = [f"{PAPER_COLUMNS.get(c, c)} (ours)" for c in conditions] + [CONTROL_NAMES[c] for c in controls]
        if paper:
            head += [f"{PAPER_COLUMNS.get(c, c)} (paper)" for c in in_paper]
        out += [f"**{title}**", "", "| Model | " + " | ".join(head) + " | seeds |",
                "|---" * (len(head) + 2) + "|"]
        for enc in encoders:
            ours = {c: agg[(enc, c)][m] for c in conditions if (enc, c) in agg and m in agg[(enc, c)]}
            ctrl = {c: agg[(enc, c)][m] for c in controls if (enc, c) in agg and m in agg[(enc, c)]}
            best = _best(ours)
            cells = [_fmt(*ours[c][:2], c in best) if c in ours else "–" for c in conditions]
            cells += [_fmt(*ctrl[c][:2]) if c in ctrl else "–" for c in controls]
            if paper:
                theirs = {c: paper[m][enc][c] for c in in_paper if c in paper[m].get(enc, {})}
                pbest = _best(theirs)
                cells += [_fmt(*theirs[c], c in pbest) if c in theirs else "–" for c in in_paper]
            seeds = sorted({v[2] for v in ours.values()})
            out.append(f"| {ENCODER_NAMES.get(enc, enc)} | " + " | ".join(cells) + f" | {'/'.join(map(str, seeds))} |")
        out.append("")
    if "none" in controls or ("floor" in controls and "supervised" in controls):
        out += ["**Gap closed (MLP; 0 = random-init floor, 1 = supervised ceiling) and MLP difference against no "
                "augmentation (points, paired seeds, 95% t-interval)**", ""]
        head = []
        for c in conditions:
            head += [f"{PAPER_COLUMNS.get(c, c)}: gap", f"{PAPER_COLUMNS.get(c, c)} − no aug."]
        head += ["No aug.: gap"]
        out += ["| Model | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        for enc in encoders:
            cells = []
            for c in conditions:
                cells += [_gap(agg, enc, c, "mlp_acc"), _fmt_diff(paired_vs(records, enc, c))]
            cells.append(_gap(agg, enc, "none", "mlp_acc"))
            out.append(f"| {ENCODER_NAMES.get(enc, enc)} | " + " | ".join(cells) + " |")
        out.append("")
    extras = [m for m in EXTRA if any(m in ms for ms in agg.values())]
    if extras:
        physics = any(m.startswith("physics.") for m in extras)
        title = ("**Physics probes and representation diagnostics** (mean ± sd over seeds; R² on probe-test "
                 "positives; direction: real vs altitude-flipped tiles, chance 50%)" if physics else
                 "**Representation diagnostics**" + (" and the 10-class linear probe (chance 10%)"
                                                     if "linear10_acc" in extras else "") + " (mean ± sd over seeds)")
        out += [title + "; effective rank of h out of 32; alignment 0 by construction without data views or noise",
                "",
                "| Model | condition | " + " | ".join(EXTRA[m] for m in extras) + " |",
                "|---" * (len(extras) + 2) + "|"]
        for enc in encoders:
            for c in conditions + tuple(x for x in ("none", "floor") if x in controls):
                ms = agg.get((enc, c), {})
                if not ms:
                    continue
                cells = [_fmt(*ms[m][:2], digits=_digits(m)) if m in ms
                         else "–" for m in extras]
                out.append(f"| {ENCODER_NAMES.get(enc, enc)} | {PAPER_COLUMNS.get(c, CONTROL_NAMES.get(c, c))} | "
                           + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def sweep_markdown(records: list[dict]) -> str:
    """Figure 3 as a table: one row per s_l (s_l = 0: IDS without noise, i.e. no augmentation) with mean ± sd over
    seeds of both probes, the physics probes, effective rank and final loss where recorded; then the controls
    (random-init floor, trivial, supervised) and the paper's stated ranges."""
    ids = [r for r in records if condition_of(r) not in CONTROL_NAMES and "ids" in r["config"]["views"].split("+")]
    extras = ("physics.velocity_r2", "physics.direction_acc", "diagnostics.effective_rank", "final_loss")
    agg = aggregate(ids, by=("sl",), metrics=tuple(METRICS) + extras)
    extras = [m for m in extras if any(m in ms for ms in agg.values())]
    lo_m, hi_m = (100 * v for v in PAPER_FIG3["mlp_acc"])
    lo_k, hi_k = (100 * v for v in PAPER_FIG3["knn_acc"])
    out = ["| s_l | MLP (%) ours | k-NN (%) ours | " + "".join(f"{EXTRA[m]} | " for m in extras) + "seeds |",
           "|---" * (4 + len(extras)) + "|"]
    for (sl,), ms in sorted(agg.items()):
        mlp, knn = ms.get("mlp_acc", (math.nan,) * 3), ms.get("knn_acc", (math.nan,) * 3)
        name = f"{sl:g}" + (" (no aug.)" if sl == 0 else "")
        cells = [_fmt(*ms[m][:2], digits=_digits(m)) if m in ms else "–"
                 for m in extras]
        out.append(f"| {name} | {_fmt(*mlp[:2])} | {_fmt(*knn[:2])} | " + "".join(f"{c} | " for c in cells)
                   + f"{mlp[2]} |")
    ctrl = aggregate([r for r in records if condition_of(r) in CONTROL_NAMES], by=("views",),
                     metrics=tuple(METRICS) + tuple(extras))
    for c in CONTROL_NAMES:
        if (c,) in ctrl:
            ms = ctrl[(c,)]
            mlp, knn = ms.get("mlp_acc", (math.nan,) * 3), ms.get("knn_acc", (math.nan,) * 3)
            cells = [_fmt(*ms[m][:2], digits=_digits(m)) if m in ms else "–"
                     for m in extras]
            knn_cell = "(same classifier)" if c in ("trivial", "supervised") else _fmt(*knn[:2])
            out.append(f"| *{CONTROL_NAMES[c]}* (control) | {_fmt(*mlp[:2])} | {knn_cell} | "
                       + "".join(f"{x} | " for x in cells) + f"{mlp[2]} |")
    out += ["", f"Paper (text of Sec. 5, no values published): MLP {lo_m:.0f}-{hi_m:.0f}%, k-NN {lo_k:.0f}-{hi_k:.0f}% "
                "over s_l = 0.01-0.20.", ""]
    return "\n".join(out)


def table_csv(records: list[dict], table: str) -> str:
    """Long-format CSV: table, metric, encoder, condition (views string or control name), s_l, n_seeds, mean, sd
    (ours; accuracies in %) and the paper's. Metrics: the two probes and every EXTRA metric the records hold."""
    by = ("encoder", "views", "sl")
    agg = aggregate(records, by=by, metrics=tuple(METRICS) + tuple(EXTRA))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "metric", "encoder", "condition", "sl", "n_seeds", "mean", "sd", "paper_mean", "paper_sd"])
    order = {e: i for i, e in enumerate(ENCODERS)}
    for (enc, views, sl), ms in sorted(agg.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1], kv[0][2])):
        for m in tuple(METRICS) + tuple(EXTRA):
            if m not in ms:
                continue
            mean, sd, n = ms[m]
            p = PAPER.get(table, {}).get(m, {}).get(enc, {}).get(views) if table in PAPER else None
            w.writerow([table, m, enc, views, f"{sl:g}", n, f"{mean:.4f}", f"{sd:.4f}",
                        "" if p is None else f"{p[0]:.2f}", "" if p is None else f"{p[1]:.2f}"])
    return buf.getvalue()


def header(records: list[dict], title: str) -> str:
    """Provenance of a report: protocol, devices, versions, run time, from the records themselves."""
    if not records:
        return f"## {title}\n\nNo finished runs yet.\n"
    trained = [r for r in records if condition_of(r) not in ("floor", "trivial", "supervised")] or records
    c = trained[0]["config"]
    devices = sorted({f"{r.get('device', '?')} ({r.get('device_name') or '?'})" for r in records})
    wall = sum(r.get("wall_s", 0.0) for r in records)
    versions = sorted({f"idslab {r['versions']['idslab']}, torch {r['versions']['torch']}" for r in records
                       if "versions" in r})
    dates = sorted(r.get("created", "") for r in records)
    return (f"## {title}\n\n{len(records)} runs; dataset {c['dataset']}, {_epochs(trained)}, batch {c['batch_size']},"
            f" Adam lr {c['lr']:g} (wd {c['weight_decay']:g}), τ = {c['temperature']:g}, pretrain/probe-train/"
            f"probe-test = {c['n_pretrain']}/{c['n_probe_train']}/{c['n_probe_test']}, k-NN k = {c['knn_k']} "
            f"({c['knn_metric']}). Mean ± sample sd (ddof = 1) over seeds, in %.{_controls_note(records)}\n\n"
            f"Device: {', '.join(devices)}; {'; '.join(versions)}; {wall / 60:.1f} min of run time in total; "
            f"runs from {dates[0][:10]} to {dates[-1][:10]}.\n")


def _epochs(trained: list[dict]) -> str:
    """'20 epochs', or with rows of their own length (experiments.SHORT_ROWS) '20 epochs (5 for resnet18, ...)'."""
    by_enc = {r["config"]["encoder"]: r["config"]["epochs"] for r in trained}
    common = max(set(by_enc.values()), key=list(by_enc.values()).count)
    other = {}
    for enc, e in by_enc.items():
        if e != common:
            other.setdefault(e, []).append(enc)
    rest = "; ".join(f"{e} for {', '.join(encs)}" for e, encs in other.items())
    return f"{common} epochs" + (f" ({rest})" if rest else "")


def _controls_note(records: list[dict]) -> str:
    present = [c for c in CONTROL_NAMES if any(condition_of(r) == c for r in records)]
    if not present:
        return ""
    sup = {r.get("supervised_epochs") for r in records if r.get("control") == "supervised"}
    what = {"none": "no augmentation (views 'none': both views the same input, trained like the others)",
            "floor": "random init (the untrained encoder, probed the same way)",
            "trivial": "trivial (logistic regression on global tile statistics; its one accuracy fills both "
                       "probe blocks)",
            "supervised": f"supervised (the same encoder + linear head trained with labels on probe-train, "
                          f"{'/'.join(str(e) for e in sup if e)} epochs; one accuracy, both blocks)"}
    return " Controls: " + "; ".join(what[c] for c in present) + "."


def report_markdown(records: list[dict], table: str, title: str | None = None) -> str:
    body = sweep_markdown(records) if table == "fig3" else table_markdown(records, table)
    return header(records, title or table) + "\n" + body


def write_report(records: list[dict], table: str, out_dir: str | Path, quick: bool = False,
                 title: str | None = None) -> list[Path]:
    """Write <table>[_quick].md and .csv (and for fig3 the sweep as .html if under 1 MB, else .json) to out_dir,
    each atomically: an interrupted report never leaves half a file in docs/."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = table + ("_quick" if quick else "")
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.csv"]
    atomic_write(paths[0], (report_markdown(records, table, title) + "\n").encode())
    atomic_write(paths[1], table_csv(records, table).encode())
    if table == "fig3" and records:
        from .plots.sweep import sweep_figure
        fig = sweep_figure(records, title=title or "Figure 3: probe accuracy versus s_l")
        html = fig.to_html(include_plotlyjs="cdn", full_html=True)
        if len(html.encode()) < 1_000_000:
            paths.append(out_dir / f"{stem}.html")
            atomic_write(paths[-1], html.encode())
        else:
            paths.append(out_dir / f"{stem}.json")
            atomic_write(paths[-1], fig.to_json().encode())
    return paths


def paper_markdown(table: str) -> str:
    """The paper's own Table 1 or 2 (transcribed), in its layout, best per row bold."""
    out = []
    for m, title in METRICS.items():
        rows = PAPER[table][m]
        conds = list(next(iter(rows.values())))
        out += [f"**{title}**", "", "| Model | " + " | ".join(PAPER_COLUMNS[c] for c in conds) + " |",
                "|---" * (len(conds) + 1) + "|"]
        for enc, row in rows.items():
            best = _best(row)
            out.append(f"| {ENCODER_NAMES[enc]} | " + " | ".join(_fmt(*row[c], c in best) for c in conds) + " |")
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------------- what a notebook says about it
# Notebook 01 states its results in words computed from the records on the page, never fixed text (issue 17): each
# function below reads what the runs measured and says what it resolves, and only that.
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _half_width(ci) -> float:
    """Half the width of a [lo, hi] interval (0 for none)."""
    return (ci[1] - ci[0]) / 2 if ci else 0.0


def comparison_sentences(comp, name=None) -> str:
    """What a Comparison (idslab.experiments.compare) resolves, in two or three sentences: whether training with
    identical views ("none") learned anything over the random-init floor, and each condition against it (paired
    95% interval over seeds; with one seed, whether the two runs' Wilson intervals overlap)."""
    from .plots.training import condition_name
    name = name or condition_name
    acc = lambda lab: [v for v in comp.values(lab) if v is not None]
    out = []
    none, floor = acc("none"), acc("floor")
    if none and floor:
        gain, spread = float(np.mean(none) - np.mean(floor)), max(_sd(none) + _sd(floor), 0.02)
        cis = [r["metrics"].get("mlp_ci") for r in (*comp.runs("none"), *comp.runs("floor"))]
        if len(none) == 1 and len(floor) == 1 and all(cis):
            # one seed each: the two runs' 95% intervals are the noise (about ±3 points at 600 probe-test tiles;
            # a 2-point gain inside them read as "learned" beside a k-NN curve back at the floor)
            learned = ("so the encoder learned without any view variation" if cis[0][0] > cis[1][1] else
                       "below it, outside both runs' 95% intervals: at these settings training made h worse"
                       if cis[0][1] < cis[1][0] else
                       "inside the two runs' 95% intervals: at these settings it learned little or nothing that "
                       "one seed resolves")
        else:
            learned = ("so the encoder learned without any view variation" if gain > spread else
                       "so at these settings it learned little or nothing")
        out.append(f"Identical views (no augmentation) reach {_pct(np.mean(none))} against the random init's "
                   f"{_pct(np.mean(floor))}, {learned}.")
    for lab in comp.labels:
        if lab == "none" or not none or not acc(lab):
            continue
        d = comp.difference(lab)
        if d is None:
            continue
        pts = f"{100 * d['mean']:+.1f} points"
        if d["ci"] is not None:
            lo, hi = d["ci"]
            verdict = ("inside seed noise" if lo <= 0 <= hi else "resolvably above" if lo > 0 else
                       "resolvably below")
            out.append(f"{name(lab)} − no augmentation: {pts} [{100 * lo:+.1f}, {100 * hi:+.1f}] over {d['n']} "
                       f"seeds, {verdict}{' identical views' if verdict != 'inside seed noise' else ''}.")
        else:
            ra, rb = comp.runs(lab)[0]["metrics"], comp.runs("none")[0]["metrics"]
            overlap = ra["mlp_ci"][0] <= rb["mlp_ci"][1] and rb["mlp_ci"][0] <= ra["mlp_ci"][1]
            out.append(f"{name(lab)} − no augmentation: {pts} with one seed, "
                       + ("inside the two runs' 95% intervals (about ±"
                          f"{100 * _half_width(ra['mlp_ci']):.0f} points): more seeds would tell" if overlap else
                          "outside both runs' 95% intervals"))
            out[-1] += "."
    return " ".join(out)


def direction_sentence(groups: dict, name=None) -> str:
    """What the direction probe resolves (groups: plots.training.by_label of a comparison's records): which
    encoders tell a descending echo from its altitude flip above chance (95% interval above 50%), and flip +
    rotation against the random init. Says so when no encoder is above chance (e.g. large tiles). One seed: the
    run's Wilson interval; several (n > 1, by_label's mean ± sd over seeds): the Student-t 95% interval of the
    seeds' mean, mean ± t_{n-1} sd / sqrt(n)."""
    from scipy import stats

    from .plots.training import condition_name
    name = name or condition_name
    vals = {}
    for lab, g in groups.items():
        ph = (g.get("metrics") or {}).get("physics") or {}
        if isinstance(ph.get("direction_acc"), (int, float)):
            a, ci, n = ph["direction_acc"], ph.get("direction_ci"), g.get("n", 1)
            if ci and n > 1:
                half = (ci[1] - ci[0]) / 2 * stats.t.ppf(0.975, n - 1) / math.sqrt(n)
                ci = [a - half, a + half]
            vals[lab] = (a, ci)
    if not vals:
        return ""
    above = [lab for lab, (a, ci) in vals.items() if ci and ci[0] > 0.5]
    if not above:
        return ("At this tile size no encoder's direction probe is above chance (every 95% interval includes "
                "50%): here the probe cannot tell the methods apart.")
    out = "Above chance: " + ", ".join(f"{name(lab)} {_pct(vals[lab][0])}" for lab in above) + "."
    at = [lab for lab in vals if lab not in above]
    if at:
        out += " At chance: " + ", ".join(name(lab) for lab in at) + "."
    if "floor" in vals:      # what training added to direction: each encoder against the random init
        rci = vals["floor"][1]
        apart = lambda ci: ci and rci and (ci[0] > rci[1] or ci[1] < rci[0])
        trained = [lab for lab in vals if lab != "floor"]
        above = [lab for lab in trained if apart(vals[lab][1]) and vals[lab][0] > vals["floor"][0]]
        below = [lab for lab in trained if apart(vals[lab][1]) and vals[lab][0] < vals["floor"][0]]
        level = [lab for lab in trained if lab not in above and lab not in below]
        for words, labs in (("above the random init", above), ("below the random init", below),
                            ("level with the random init (95% intervals overlap)", level)):
            if labs:
                out += f" {words[0].upper()}{words[1:]}: {', '.join(name(lab) for lab in labs)}."
    return out


def sweep_sentences(records: list[dict]) -> str:
    """What an s_l sweep (idslab.experiments.sweep_sl records) shows: s_l = 0 against the floor, the best s_l > 0
    against s_l = 0, and the largest s_l, each against the seed spread (sd over seeds; one seed: ±2.5 points, about
    a 600-tile Wilson half-width)."""
    by = defaultdict(list)
    loss = defaultdict(list)
    floor = []
    for r in records:
        m = (r.get("metrics") or {}).get("mlp_acc")
        if m is None:
            continue
        if r.get("control") == "floor" or (r.get("config") or {}).get("epochs") == 0:
            floor.append(m)
            continue
        s = float(r["config"]["sites"].get("fc1", next(iter(r["config"]["sites"].values()), 0.0)))
        by[s].append(m)
        if r.get("final_loss") is not None:
            loss[s].append(r["final_loss"])
    if 0.0 not in by:
        return ""
    noise = lambda *xs: max(sum(_sd(x) for x in xs), 0.025)
    m0 = float(np.mean(by[0.0]))
    out = [f"At s_l = 0 (identical views) the MLP probe reaches {_pct(m0)}"]
    if floor:
        f = float(np.mean(floor))
        out[0] += (f" against the random init's {_pct(f)}: " + ("the encoder learned without any weight noise."
                                                                 if m0 - f > noise(by[0.0], floor) else
                                                                 "at these settings it learned little."))
    else:
        out[0] += "."
    rest = [s for s in by if s > 0]
    if rest:
        best = max(rest, key=lambda s: np.mean(by[s]))
        d = float(np.mean(by[best])) - m0
        verdict = ("within the seed spread of s_l = 0" if abs(d) <= noise(by[best], by[0.0]) else
                   "above s_l = 0" if d > 0 else "below s_l = 0")
        out.append(f"The best s_l > 0 ({best:g}) reaches {_pct(np.mean(by[best]))}, {100 * d:+.1f} points: "
                   f"{verdict}.")
        top = max(rest)
        if top != best:
            dt = float(np.mean(by[top])) - m0
            hurt = dt < -noise(by[top], by[0.0])
            lt = f"; its final loss {np.mean(loss[top]):.3f} against {np.mean(loss[0.0]):.3f} at s_l = 0" \
                if loss.get(top) and loss.get(0.0) else ""
            out.append(f"At s_l = {top:g}: {_pct(np.mean(by[top]))} ({100 * dt:+.1f} points{lt})"
                       + (": too much noise hurts." if hurt else "."))
    return " ".join(out)


def _last_epochs(comp, roles=("condition",)) -> tuple[dict, dict]:
    """The first seed's per-epoch monitor of each run of `roles` ({label: entries}) and the uniformity of its
    trained h ({label: value}, where the record has it)."""
    final, unif = {}, {}
    for r in comp.records:
        mon = r.get("monitor") or []
        if r.get("role") in roles and mon and r["config"]["seed"] == comp.seeds[0]:
            final[r["label"]] = mon
            u = ((r.get("metrics") or {}).get("diagnostics") or {}).get("uniformity")
            if isinstance(u, (int, float)):
                unif[r["label"]] = u
    return final, unif


def collapsed(entry: dict) -> bool:
    """A monitor entry of a collapsed run: z_std < 0.1 (every z nearly the same) or an effective rank of h < 2."""
    return entry["z_std"] < 0.1 or entry["effective_rank"] < 2


def _run_state(mon: list, floor: float | None, unif: float | None, name: str) -> str:
    """'IDS: k-NN 81.0%, uniformity of h -1.10, collapsed (z_std 0.01, rank of h 1.6)' from a run's monitor."""
    last, peak = mon[-1], max(mon, key=lambda e: e.get("knn_acc") or 0)
    knn = last.get("knn_acc")
    state = ""
    if collapsed(last):
        state = f", collapsed (z_std {last['z_std']:.2f}, rank of h {last['effective_rank']:.1f})"
    elif knn is not None and floor is not None and knn - floor < 0.03:
        state = (f", back at the random init's level after a peak of {_pct(peak['knn_acc'])} at epoch "
                 f"{peak['epoch']}" if (peak.get("knn_acc") or 0) - floor >= 0.03 else
                 ", no better than the random init")
    u = f", uniformity of h {0.0 if abs(unif) < 0.005 else unif:.2f}" if unif is not None else ""
    return f"{name}: k-NN {_pct(knn) if knn is not None else '–'}{u}{state}"


def heads_sentences(comp, objective: str = "NT-Xent") -> str:
    """What the head experiment of notebook 01 shows, from each run's per-epoch monitor: for the paper's and the
    batch-normalised head, identical views (s_l = 0) against weight noise, at the last epoch (k-NN, effective rank,
    z_std; the uniformity of the trained h, 0 = all alike) against the random init's k-NN. A run 'collapsed' when
    z_std < 0.1 or the rank of h < 2; it 'fell back to the floor' when its last k-NN is within 3 points of the
    floor's after a higher peak."""
    floor = comp.controls.get("floor", {}).get("knn_acc")
    final, unif = _last_epochs(comp)
    if not final:
        return ""
    parts = [_run_state(final[lab], floor, unif.get(lab), lab) for lab in final]
    out = (f"With {objective}, after {len(next(iter(final.values())))} epoch(s) (random init: k-NN "
           f"{_pct(floor) if floor is not None else '–'}): " + "; ".join(parts) + ".")
    bn0 = next((lab for lab in final if lab.startswith("BN head") and lab.endswith("s_l = 0")), None)
    bns = next((lab for lab in final if lab.startswith("BN head") and lab != bn0), None)
    if bn0 and bns:
        a, b = final[bn0][-1].get("knn_acc"), final[bns][-1].get("knn_acc")
        if a is not None and b is not None:
            out += (" Weight noise brings the batch-normalised head's training back (" if b - a > 0.03 else
                    " Weight noise does not change the batch-normalised head's training (")
            out += f"{100 * (b - a):+.1f} k-NN points over identical views)."
    return out


def collapse_sentences(comp, objective: str, head: str, name=None) -> str:
    """What notebook 04's run shows, from each run's per-epoch monitor (first seed, last epoch): per run its k-NN,
    the uniformity of h and whether it collapsed (z_std < 0.1 or rank of h < 2) or fell back to the random init;
    then whether weight noise ("ids") rescued identical views ("none"): both collapsed, only identical views
    (rescued), neither (nothing to rescue: the k-NN difference), or only IDS. objective, head: names to write."""
    from .plots.training import condition_name
    name = name or condition_name
    floor = comp.controls.get("floor", {}).get("knn_acc")
    final, unif = _last_epochs(comp, ("condition", "control"))
    final.pop("floor", None)
    if not final:
        return ""
    parts = [_run_state(final[lab], floor, unif.get(lab), name(lab)) for lab in final]
    out = (f"With {objective} and the {head}, after {len(next(iter(final.values())))} epoch(s) (random init: k-NN "
           f"{_pct(floor) if floor is not None else '–'}): " + "; ".join(parts) + ".")
    if "none" in final and "ids" in final:
        a, b = final["none"][-1], final["ids"][-1]
        knn = (f" ({100 * (b['knn_acc'] - a['knn_acc']):+.1f} k-NN points)"
               if b.get("knn_acc") is not None and a.get("knn_acc") is not None else "")
        if collapsed(a) and collapsed(b):
            out += " Weight noise does not prevent the collapse here: both runs collapsed."
        elif collapsed(a):
            out += f" Weight noise rescues identical views from collapse{knn}."
        elif collapsed(b):
            out += f" Identical views did not collapse but the weight-noise run did{knn}."
        else:
            out += f" Neither run collapsed, so there is no collapse for weight noise to rescue; IDS − identical " \
                   f"views{knn or ': no k-NN to compare'}."
    return out


# ---------------------------------------------- a comparison's results on a notebook page (notebooks 01 and 05)
# What each data set's physics probes measure, for the sentence above the physics figure and its right panel's
# title; a data set without physics probes (CIFAR, a user's file) gets NO_PHYSICS instead.
PHYSICS_TEXT = {
    "meteor": dict(
        intro="**Physics probes** (meteor): a ridge regression of the echo's signed velocity from the frozen h (R² on "
              "positive tiles), and whether a linear classifier on h tells a real, descending echo from the same "
              "tile flipped in altitude (an ascending meteor). ",
        direction="direction accuracy (descending vs flipped)", probe="the direction probe",
        reversed="its altitude flip"),
    "spectra": dict(
        intro="**Physics probes**: the galaxy's velocity regressed from the frozen h (ridge R² on the spectra with "
              "the doublet), and whether a linear classifier on h tells a real spectrum from the same spectrum "
              "reversed (chance 50%). A shift-invariant encoder should lose the velocity; a reversal-invariant one "
              "cannot tell. ",
        direction="real vs reversed spectrum", probe="the real-vs-reversed probe", reversed="its reversal"),
}
NO_PHYSICS = ("_No physics probes for this data set (`metrics.physics` needs per-sample targets: the meteor tiles' "
              "or the spectra's)._")
# the interval each metric's record carries (probes.evaluate): Wilson for accuracies, bootstrap for R²
_CI_OF = {"mlp_acc": "mlp_ci", "knn_acc": "knn_ci", "physics.velocity_r2": "physics.velocity_r2_ci",
          "physics.direction_acc": "physics.direction_ci"}


def _run_ci(rec: dict, metric: str):
    v = rec.get("metrics") or {}
    for part in _CI_OF.get(metric, metric + "_ci").split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v if isinstance(v, (list, tuple)) and len(v) == 2 and None not in v else None


def resolved(comp, label: str, metric: str = "mlp_acc", against: str = "none") -> dict | None:
    """Whether `label` differs from `against` on `metric`, as far as the page's seeds resolve it.

    Two or more paired seeds: the paired difference's Student-t 95% interval (experiments.paired_difference), and
    where it spans 0, whether on every seed the two runs' own 95% intervals lie apart the same way (with 3 seeds
    t_2 = 4.3 widens the interval past differences that each seed resolves on its own 600 test samples: notebook
    05's reversal + shift on real vs reversed, -13, -5, -14 points); one seed: the two runs' own 95% intervals
    (Wilson for accuracies, bootstrap for R²), apart or overlapping. Returns {"a", "b" (means), "diff", "ci"
    (paired, or None), "n", "sign" (+1 resolvably above, -1 below, 0 not resolved), "how" ("paired" | "every
    seed" | "intervals"), "metric"}, or None when either side has no value."""
    a = [v for v in comp.values(label, metric) if v is not None]
    b = [v for v in comp.values(against, metric) if v is not None]
    d = comp.difference(label, metric, against)
    if not a or not b or d is None:
        return None
    out = {"a": float(np.mean(a)), "b": float(np.mean(b)), "diff": d["mean"], "ci": d["ci"], "n": d["n"],
           "metric": metric}
    if d["ci"] is not None:
        lo, hi = d["ci"]
        out.update(sign=1 if lo > 0 else -1 if hi < 0 else 0, how="paired")
        if out["sign"] == 0:      # too few seeds for the t-interval, yet each seed may resolve it on its own
            per_seed = {_apart(ra, rb, metric) for ra, rb in _pairs(comp, label, against)}
            if len(per_seed) == 1 and 0 not in per_seed and len(_pairs(comp, label, against)) == d["n"]:
                out.update(sign=per_seed.pop(), how="every seed")
        return out
    out.update(sign=_apart(comp.runs(label)[0], comp.runs(against)[0], metric), how="intervals")
    return out


def _apart(ra: dict, rb: dict, metric: str) -> int:
    """+1 / -1 when run ra's 95% interval on `metric` lies above / below run rb's, 0 when they overlap or one is
    missing."""
    ca, cb = _run_ci(ra, metric), _run_ci(rb, metric)
    return 0 if ca is None or cb is None else 1 if ca[0] > cb[1] else -1 if ca[1] < cb[0] else 0


def _pairs(comp, label: str, against: str) -> list[tuple[dict, dict]]:
    """The two labels' runs paired by seed (seeds both have)."""
    b = {r["config"]["seed"]: r for r in comp.runs(against)}
    return [(r, b[r["config"]["seed"]]) for r in comp.runs(label) if r["config"]["seed"] in b]


def _how(r: dict) -> str:
    """'outside both runs' 95% intervals' / 'paired 95% interval [+1.0, +3.0] over 3 seeds' (accuracies in
    points, R² as they are)."""
    if r["how"] == "every seed":
        lo, hi = r["ci"]
        k, unit = (100, " points") if r["metric"] in _PERCENT else (1, "")
        return (f"each of {r['n']} seeds' 95% intervals apart; paired interval [{k * lo:+.{1 if k > 1 else 2}f}, "
                f"{k * hi:+.{1 if k > 1 else 2}f}]{unit}")
    if r["how"] == "paired":
        lo, hi = r["ci"]
        if r["metric"] in _PERCENT:
            return f"paired 95% interval [{100 * lo:+.1f}, {100 * hi:+.1f}] points over {r['n']} seeds"
        return f"paired 95% interval [{lo:+.2f}, {hi:+.2f}] over {r['n']} seeds"
    return "outside both runs' 95% intervals" if r["sign"] else "inside the two runs' 95% intervals"


def best_sentence(comp, name=None) -> str:
    """Which trained encoder of the page is best on the MLP probe, against the random-init floor (resolved()), and
    how much of the floor-to-supervised gap it closes; '' without conditions or a floor."""
    from .experiments import gap_closed
    from .plots.training import condition_name
    name = name or condition_name
    means = {lab: float(np.mean(v)) for lab in comp.labels
             if (v := [x for x in comp.values(lab) if x is not None])}
    if not means:
        return ""
    best = max(means, key=means.get)
    r = resolved(comp, best, "mlp_acc", "floor")
    if r is None:
        return ""
    word = {1: "above it", 0: "level with it", -1: "below it"}[r["sign"]]
    out = (f"The best trained encoder here is **{name(best)}**: {_pct(r['a'])} on the MLP probe against the random "
           f"init's {_pct(r['b'])}, {word} ({_how(r)})")
    k = resolved(comp, best, "knn_acc", "floor")
    if k is not None:
        out += f"; k-NN {_pct(k['a'])} against {_pct(k['b'])}, {({1: 'above', 0: 'level', -1: 'below'})[k['sign']]}"
    g = gap_closed(r["a"], r["b"], comp.controls.get("supervised", {}).get("acc"))
    if g is not None:
        out += (f"; it closes {100 * g:.0f}% of the way from the floor to the supervised ceiling "
                f"({_pct(comp.controls['supervised']['acc'])})")
    return out + "."


def physics_sentences(comp, name=None) -> str:
    """What the page's physics probes say about each trained encoder against identical views (no augmentation):
    which keep the physics (neither velocity R² nor the direction probe resolvably below), which destroy the
    velocity (velocity R² resolvably below), which lose the direction (real vs reversed or flipped resolvably
    below), and what weight noise (the conditions with "ids") does to the MLP probe and the velocity. resolved()
    decides each; '' without physics probes or the no-augmentation control."""
    from .plots.training import condition_name
    name = name or condition_name
    words = PHYSICS_TEXT.get(getattr(comp.base, "dataset", ""), PHYSICS_TEXT["spectra"])
    keep, lose_v, lose_d = [], [], []
    for lab in comp.labels:
        if lab == "none":
            continue
        v = resolved(comp, lab, "physics.velocity_r2")
        d = resolved(comp, lab, "physics.direction_acc")
        if v is None and d is None:
            continue
        if v is not None and v["sign"] < 0:
            lose_v.append(f"{name(lab)} (R² {v['a']:.2f} against {v['b']:.2f})")
        if d is not None and d["sign"] < 0:
            lose_d.append(f"{name(lab)} ({_pct(d['a'])} against {_pct(d['b'])})")
        if all(r is None or r["sign"] >= 0 for r in (v, d)):
            keep.append(name(lab))
    if not (keep or lose_v or lose_d):
        return ""
    out = []
    if keep:
        seeds = f"{len(comp.seeds)} seeds tell" if len(comp.seeds) > 1 else "one seed tells"
        out.append(f"Keep the physics as far as {seeds} (neither velocity R² nor {words['probe']} "
                   f"resolvably below identical views'): {', '.join(keep)}.")
    if lose_v:
        out.append(f"Destroy velocity (R² resolvably below identical views'): {', '.join(lose_v)}.")
    if lose_d:
        out.append(f"Tell a sample from {words['reversed']} resolvably worse than identical views: "
                   f"{', '.join(lose_d)}.")
    ids = [lab for lab in comp.labels if "ids" in str(lab).split("+")]
    for lab in ids[:1]:
        m, v = resolved(comp, lab, "mlp_acc"), resolved(comp, lab, "physics.velocity_r2")
        if m is None:
            continue
        verdict = lambda r: {1: "resolvably above", 0: "inside seed noise", -1: "resolvably below"}[r["sign"]]
        s = (f"Weight noise ({name(lab)}) against identical views: MLP {100 * m['diff']:+.1f} points, "
             f"{verdict(m)} ({_how(m)})")
        if v is not None:
            s += f"; velocity R² {v['diff']:+.2f}, {verdict(v)}"
        out.append(s + ".")
    return " ".join(out)


@dataclass
class ComparisonView:
    """A Comparison (idslab.experiments.compare) laid out for a notebook page: each part small enough for its own
    cell (marimo edit mode scrolls an output taller than 610 px). The notebook wraps the texts in mo.md.

    summary: Markdown: the heading line (<span id="run-results">), comparison_sentences, best_sentence, the
        table's legend and the table (experiments.comparison_markdown under the display names). bars, curves,
        diagnostics: plotly figures (accuracy with the controls' levels; per-epoch monitor of the first seed;
        alignment / uniformity / effective rank). physics_text: the physics probes' intro, direction_sentence and
        physics_sentences (NO_PHYSICS when the records have none); physics: its figure or None. file_name: where
        Save on the server writes. embedding(method): the 2-D embedding of h ("pca" | "umap"), None without any.
    """
    comparison: object
    classes: tuple
    summary: str
    bars: object
    curves: object
    diagnostics: object
    physics_text: str
    physics: object
    file_name: str

    def embedding(self, method: str = "pca"):
        from .plots.training import umap_side_by_side
        emb = self.comparison.embeddings
        labels = [k for k in emb if k != "floor"]
        if not labels:
            return None
        return umap_side_by_side({k: emb[k][0] for k in labels}, emb[labels[0]][1], self.classes, seed=0,
                                 method=method.lower())


def encoder_display(encoder: str) -> str:
    """'cnn16' -> 'CNN-16×16', 'cnn1d512' -> 'CNN1D-512', 'resnet18' -> 'ResNet-18'."""
    if encoder.startswith("cnn1d"):
        return f"CNN1D-{encoder[5:]}"
    return ENCODER_NAMES.get(encoder, encoder)


def comparison_view(comp, classes=("0", "1"), total_s: float | None = None) -> ComparisonView:
    """The results of a notebook's *Pre-train and compare* (notebook 01 section 3, notebook 05 section 5), from
    the Comparison alone: what the page's text says is computed here, from its records (ComparisonView). classes:
    the data set's class names (the 2-D embedding's legend); total_s: the press's wall time."""
    from .experiments import comparison_markdown
    from .plots import training as P
    base = comp.base
    sl = float((base.sites or {}).get("fc1", 0.0))
    where = (f"{base.dataset}, {encoder_display(base.encoder)}" if base.encoder.startswith("cnn1d") else
             f"{base.dataset}, {base.tile}x{base.tile}, {encoder_display(base.encoder)}")
    took = f"; {total_s:.0f} s" if total_s is not None else ""
    rows = comp.table()
    for r in rows:
        r["label"] = P.condition_name(r["label"])
    summary = (f'<span id="run-results">**Results** ({where}, IDS s_l = {sl:.3f}, {len(comp.seeds)} seed(s), '
               f"{base.epochs} epoch(s){took}).</span>\n{comparison_sentences(comp)} {best_sentence(comp)}\n\n"
               "Probe-test accuracy (mean ± sd over seeds); *gap closed*: the fraction of the way from the "
               "random-init floor to the supervised ceiling; *MLP − none*: the paired difference to the same "
               "training with identical views (95% interval over seeds, needs 2 or more).\n\n"
               + comparison_markdown(rows))
    conditions = P.by_label(comp.records, roles=("condition",))
    spread = "95% Wilson intervals" if len(comp.seeds) == 1 else f"mean ± sd over {len(comp.seeds)} seeds"
    bars = P.accuracy_bars(conditions, references=P.reference_levels(comp.controls),
                           title=f"Probe-test accuracy ({spread}) against the controls",   # by_label's bars
                           knn_references=P.reference_levels(comp.controls, "knn_acc"))
    floor_knn = {k: v for k, v in P.reference_levels(comp.controls, "knn_acc").items() if k == "floor"}
    curves = P.epoch_curves({r["label"]: r["monitor"] for r in comp.records
                             if r.get("monitor") and r["config"]["seed"] == comp.seeds[0]},
                            title="Per epoch, first seed: training loss, k-NN on a probe subset, rank and spread of "
                                  "the representation", knn_references=floor_knn,
                            colours=P.condition_colour)   # the bars' colours, also for a label of its own
    groups = P.by_label(comp.records)
    diagnostics = P.diagnostics_bars(groups, title="The trained representations h: alignment, uniformity, "
                                                   "effective rank")
    physics, words = None, PHYSICS_TEXT.get(base.dataset)
    if words is not None and any("physics" in g["metrics"] for g in groups.values()):
        physics_text = " ".join(s for s in (words["intro"] + direction_sentence(groups).replace(
            "At this tile size", "At these settings"), physics_sentences(comp)) if s)
        physics = P.physics_bars(groups, direction=words["direction"])
    else:
        physics_text = NO_PHYSICS
    tile = "" if base.encoder.startswith("cnn1d") else f"_t{base.tile}"
    return ComparisonView(comp, tuple(classes), summary, bars, curves, diagnostics, physics_text, physics,
                          f"compare_{base.dataset}{tile}_{base.encoder}_sl{sl:g}.json")


def report_sections(markdown: str) -> tuple[str, dict[str, str]]:
    """A report (report_markdown or a committed docs/results/*.md) split for display: the header (title, protocol,
    device) and its tables as {title: body}, one per bold-titled block (MLP, k-NN, gap closed, physics, ...), so a
    notebook shows each in its own tab instead of one output too tall to read in place."""
    lines = markdown.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("**") and line.rstrip().endswith("**")
              or (line.startswith("**") and "**" in line[2:] and i + 1 < len(lines) and not lines[i + 1].strip())]
    if not starts:        # one table (Figure 3's reports): it and what follows it form the one section
        table = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
        if table is None:
            return markdown, {}
        return "\n".join(lines[:table]).strip(), {"results": "\n".join(lines[table:]).strip()}
    header = "\n".join(lines[:starts[0]]).strip()
    out = {}
    for k, i in enumerate(starts):
        title = lines[i].split("**")[1].strip()
        body = "\n".join(lines[i:starts[k + 1] if k + 1 < len(starts) else len(lines)]).strip()
        out[title.split(" (")[0] if len(title) > 40 else title] = body
    return header, out


# ------------------------------------------------------------------------------ the objectives study (issue 18)
OBJECTIVES_REPORT = "docs/results/objectives.md"
OBJECTIVES_COMMANDS = (
    "OMP_NUM_THREADS=1 python scripts/objectives.py --cifar-dir ../shared/datasets/cifar10-train-jpg "
    "--datasets meteor,cifar --encoders cnn16,cnn8,cnn32 --parts main,range --seeds 0-4",
    "python scripts/objectives.py --report-only --out docs/results/objectives.md")
# the study's names for the views (scripts/objectives.py) -> the notebooks' (idslab.plots.training.CONDITION_NAMES)
STUDY_VIEWS = {"none": "no augmentation", "flip+rot": "flip + rotation", "fft": "FFT band mask",
               "IDS fc1 0.02 (paper)": "IDS (fc1, s_l = 0.02, the paper's)"}


def markdown_table(lines: list[str]) -> list[dict]:
    """The rows of a Markdown table (its lines, header first) as {column header: cell text}."""
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]
    rows = [cells(line) for line in lines if line.strip().startswith("|")]
    if len(rows) < 2:
        return []
    return [dict(zip(rows[0], r)) for r in rows[2:]]


def objectives_tables(markdown: str) -> dict[tuple[str, str, str, str], list[dict]]:
    """The per-cell tables of the objectives study (docs/results/objectives.md, section "Every cell", written by
    scripts/objectives.py): {(dataset, encoder, objective, head): rows}, e.g. ("meteor", "cnn16", "byol", "BN
    head"), each row {column header: cell text} ("views", "MLP (%)", "MLP − none (pts, 95% CI)", "k-NN (%)",
    "k-NN − none", "z_std (end)", "eff. rank (end)", ..., "seeds"). Tables under other headings are skipped."""
    out, key, block = {}, None, []

    def close():
        if key is not None and block:
            out[key] = markdown_table(block)

    for line in markdown.splitlines():
        if line.startswith("#"):
            close()
            key, block = None, []
            title = line.lstrip("#").strip()
            if " / " in title and ": " in title and ", " in title.split(": ", 1)[1]:
                where, what = title.split(": ", 1)
                dataset, encoder = where.split(" / ", 1)
                objective, head = what.rsplit(", ", 1)
                key = (dataset.strip(), encoder.strip(), objective.strip(), head.strip())
        elif key is not None and line.strip().startswith("|"):
            block.append(line)
    close()
    return out


def parse_difference(cell: str) -> dict | None:
    """A paired difference as the study writes it, '+4.5 [+2.4, +6.6] **' (points, 95% interval; ** when it
    excludes 0) -> {"mean": 4.5, "ci": [2.4, 6.6]}; '–' or anything else -> None."""
    num = r"([+\-−]?\d+(?:\.\d+)?)"
    m = re.match(rf"\s*{num}\s*\[\s*{num}\s*,\s*{num}\s*\]", cell or "")
    if not m:
        return None
    f = lambda s: float(s.replace("−", "-"))
    return {"mean": f(m.group(1)), "ci": [f(m.group(2)), f(m.group(3))]}


def parse_mean(cell: str) -> float | None:
    """The mean of '77.2 ± 6.1' (or a lone '77.2'); None for '–'."""
    try:
        return float((cell or "").split("±")[0].strip().replace("−", "-"))
    except ValueError:
        return None


def objectives_sentences(rows: list[dict], objective: str, head: str, collapsed_below: float = 0.1) -> str:
    """What one objective and head's measured table (a value of objectives_tables) says, in two or three sentences:
    whether no augmentation collapsed (z_std at the end below `collapsed_below`), whether the paper's IDS (fc1, s_l
    = 0.02) beats no augmentation with a 95% interval that excludes 0, and flip + rotation and the FFT mask against
    the same no-augmentation runs. objective, head: the names to write. Every number is read from the rows."""
    by = {r.get("views"): r for r in rows}
    none = by.get("none")
    out = []
    if none is not None and parse_mean(none.get("MLP (%)")) is not None:
        z = parse_mean(none.get("z_std (end)"))
        state = "" if z is None else (f", collapsed (z_std {z:.2f} at the end)" if z < collapsed_below else
                                      f", not collapsed (z_std {z:.2f} at the end)")
        out.append(f"With {objective} and the {head}, no augmentation reaches {none['MLP (%)']}% (MLP probe, "
                   f"{none.get('seeds', '?')} seeds){state}.")
    else:
        return (f"The study has no no-augmentation runs for {objective} with the {head} here yet, so nothing is "
                "compared against them.")

    def verdict(d: dict | None) -> tuple[str, str] | None:
        if d is None:
            return None
        lo, hi = d["ci"]
        how = ("beats no augmentation" if lo > 0 else "is below no augmentation" if hi < 0 else
               "is not distinguishable from no augmentation")
        return how, f"{d['mean']:+.1f} points [{lo:+.1f}, {hi:+.1f}], the 95% interval " + (
            "excludes 0" if lo > 0 or hi < 0 else "includes 0")

    paper = "IDS fc1 0.02 (paper)"
    ids = verdict(parse_difference(by.get(paper, {}).get("MLP − none (pts, 95% CI)", "")))
    if ids:
        zi = parse_mean(by[paper].get("z_std (end)"))
        out.append(f"The paper's IDS (fc1, s_l = 0.02) {ids[0]}: {ids[1]}"
                   + (f"; its z_std at the end is {zi:.2f}." if zi is not None else "."))
    data = [(n, verdict(parse_difference(by.get(v, {}).get("MLP − none (pts, 95% CI)", ""))))
            for v, n in (("flip+rot", "flip + rotation"), ("fft", "the FFT mask"))]
    data = [f"{n} {v[0]} ({v[1]})" for n, v in data if v]
    if data:
        out.append("Against the same runs, " + " and ".join(data) + ".")
    return " ".join(out)


def objectives_markdown(rows: list[dict], columns=("views", "MLP (%)", "MLP − none (pts, 95% CI)", "k-NN (%)",
                                                   "k-NN − none", "z_std (end)", "eff. rank (end)", "seeds")) -> str:
    """One objective and head's measured rows as a Markdown table of `columns` (those the rows have), the views
    under the notebooks' names (STUDY_VIEWS)."""
    cols = [c for c in columns if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|:---" + "|---" * (len(cols) - 1) + "|"]
    for r in rows:
        cells = [STUDY_VIEWS.get(r.get(c, ""), r.get(c, "")) if c == "views" else r.get(c, "–") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
