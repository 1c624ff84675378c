"""Beyond the paper (issue 10): do weight-space view variants beat training with no augmentation at all?

Every variant of idslab.perturb (λ per view or per sample, absolute or relative σ, fc1 or every conv and linear
weight, a few s_l) is trained next to the controls (random-init floor, no augmentation, flip+rotation, FFT mask)
with the same seeds and data, and compared to no augmentation by paired differences over seeds (Student-t 95%
intervals). Parts:

    variants  the headline comparison (every encoder, 5 seeds)
    core      the controls, the paper's view and the two per-sample relative views (for costlier encoders/protocols)
    bn        the same with a batch-normalised projection head, read against no augmentation with that head
    upper     s_l upper bound of the per-sample relative variants: loss against ln(2B-1) and probes against the floor
    seeds     floor, none, flip+rot and the paper's IDS only (run it with more seeds, e.g. --seeds 5-9)
    collapse  (CIFAR) why some seeds end below the untrained floor: per-seed trained-minus-floor (same seed = same
              initial weights, so the pairing is exact), effective rank and uniformity of h, and whether
              temperature, learning rate, batch size, projection size or a batch-normalised head remove it

Records live in the idslab.experiments store (<results>/<dataset>_<encoder>_<protocol>/<hash>.json) with the
pre-trained model beside each (<hash>.pt), so an interrupted run resumes, and --reprobe re-scores every saved encoder
with the probes the current idslab.probes offers (no retraining). Representation diagnostics (RankMe effective rank,
alignment, uniformity) are the run record's own (idslab.diagnostics, via train.make_record).

    OMP_NUM_THREADS=1 python scripts/beyond_paper.py --cifar-dir ../shared/datasets/cifar10-train-jpg \
        [--datasets cifar,meteor] [--encoders cnn8,cnn16,cnn32] [--parts variants,upper,collapse] [--seeds 0-4] \
        [--protocol quick|full] [--results results/beyond]
    python scripts/beyond_paper.py --report-only ... [--out docs/results/beyond_paper.md]   # tables, no training
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from idslab.atomic import atomic_write
from idslab.experiments import (QUICK, config_hash, config_key, data_version, paired_difference, read_record,
                                record_path)
from idslab.probes import PHYSICS_TARGETS, evaluate, targets_of
from idslab.records import metric_value
from idslab.train import TrainConfig, load_checkpoint, load_data, probe_config, run, write_json

REL = dict(scale_mode="relative")
SAMPLE_REL = dict(noise="sample", scale_mode="relative")

# label -> TrainConfig overrides. The paper's view is "IDS fc1 0.02 (paper)"; "none" is the reference.
CONTROLS = {
    "floor (random init)": dict(views="none", epochs=0),
    "none": dict(views="none"),
    "flip+rot": dict(views="flip"),
    "fft": dict(views="fft"),
}
VARIANTS = {
    "IDS fc1 0.02 (paper)": dict(views="ids", sites={"fc1": 0.02}),
    "IDS fc1 0.02 per-sample": dict(views="ids", sites={"fc1": 0.02}, noise="sample"),
    "IDS fc1 0.5 relative": dict(views="ids", sites={"fc1": 0.5}, **REL),
    "IDS fc1 0.5 per-sample relative": dict(views="ids", sites={"fc1": 0.5}, **SAMPLE_REL),
    "IDS all 0.3 relative": dict(views="ids", sites={"all": 0.3}, **REL),
    "IDS all 0.3 per-sample relative": dict(views="ids", sites={"all": 0.3}, **SAMPLE_REL),
    "IDS all 0.02": dict(views="ids", sites={"all": 0.02}),   # the paper's noise on every weight
    "IDS all 0.3 per-sample relative + flip": dict(views="ids+flip", sites={"all": 0.3}, **SAMPLE_REL),
}
UPPER = {
    **{f"IDS fc1 {s:g} per-sample relative": dict(views="ids", sites={"fc1": s}, **SAMPLE_REL) for s in (0.5, 2.0, 8.0)},
    **{f"IDS all {s:g} per-sample relative": dict(views="ids", sites={"all": s}, **SAMPLE_REL) for s in (0.3, 1.0, 3.0)},
}
# the paper's view and the two that kept most physics on CNN-16 (per-sample, relative σ; fc1 and every layer)
CORE = {k: VARIANTS[k] for k in ("IDS fc1 0.02 (paper)", "IDS fc1 0.5 per-sample relative",
                                 "IDS all 0.3 per-sample relative")}
COLLAPSE = {
    "none τ=0.2": dict(views="none", temperature=0.2),
    "none τ=1.0": dict(views="none", temperature=1.0),
    "none lr=3e-4": dict(views="none", lr=3e-4),
    "none lr=3e-3": dict(views="none", lr=3e-3),
    "none batch 128": dict(views="none", batch_size=128),
    "none D_p=4": dict(views="none", proj_dim=4),
    "none D_p=64": dict(views="none", proj_dim=64),
    "none BN head": dict(views="none", proj_bn=True),
    "IDS fc1 0.02 (paper) BN head": dict(views="ids", sites={"fc1": 0.02}, proj_bn=True),
}
# With a batch-normalised projection head no seed ended below its floor (part collapse): do the views separate
# there? Every condition with that head, read against no augmentation with that head.
BN = {"floor (random init)": CONTROLS["floor (random init)"],
      **{f"{k} BN head": {**CONTROLS[k], "proj_bn": True} for k in ("none", "flip+rot", "fft")},
      **{f"{k} BN head": {**CORE[k], "proj_bn": True} for k in CORE}}
# more seeds of the controls and two weight-space views, to count how often a seed ends below its own floor
SEEDS = {**{k: CONTROLS[k] for k in ("floor (random init)", "none", "flip+rot")},
         "IDS fc1 0.02 (paper)": VARIANTS["IDS fc1 0.02 (paper)"]}
PARTS = {"variants": {**CONTROLS, **VARIANTS}, "core": {**CONTROLS, **CORE}, "bn": BN, "upper": {**CONTROLS, **UPPER},
         "collapse": {**CONTROLS, **COLLAPSE},
         "seeds": SEEDS}


def conditions(parts: list[str], dataset: str) -> dict:
    out = {}
    for p in parts:
        if p == "collapse" and dataset != "cifar":
            continue
        out.update(PARTS[p])
    return out


def make_cfg(dataset: str, encoder: str, over: dict, seed: int, cifar_dir: str | None,
             protocol: str = "quick") -> TrainConfig:
    """quick: idslab.experiments.QUICK; full: TrainConfig's defaults (docs/PROTOCOL.md)."""
    return TrainConfig(dataset=dataset, encoder=encoder, seed=seed, device="cpu", cifar_dir=cifar_dir,
                       **{**(QUICK if protocol == "quick" else {}), **over})


def store_folder(args, dataset: str, encoder: str) -> Path:
    return Path(args.results) / f"{dataset}_{encoder}_{args.protocol}"


# ------------------------------------------------------------------------------------------------ runner
def expected_metrics(data) -> list[str]:
    """Metric keys idslab.probes.evaluate gives for this data beyond MLP and k-NN (a record without them predates
    those probes and is re-scored from its saved model)."""
    t = targets_of(data.probe_train)
    return (["linear10_acc"] if "class10" in t else []) + (["physics"] if set(PHYSICS_TARGETS.values()) & set(t)
                                                           else [])


def ensure(cfg: TrainConfig, data, folder: Path, reprobe: bool) -> dict:
    """The finished record of cfg: read, re-scored from the saved model (probes added since, or --reprobe), or
    trained now. Written atomically to the idslab.experiments store."""
    path = record_path(folder, cfg)
    ckpt = path.with_suffix(".pt")
    rec = read_record(path)
    stale = rec is not None and not set(expected_metrics(data)) <= set(rec["metrics"])  # probes added since
    if rec is not None and not ((reprobe or stale) and ckpt.exists()):
        return rec
    if rec is None or not ckpt.exists():
        rec = run(cfg, data, checkpoint=str(ckpt))
    else:
        model, _, _ = load_checkpoint(ckpt)
        rec["metrics"] = {**evaluate(model.encoder, data, probe_config(cfg)),
                          "diagnostics": rec["metrics"].get("diagnostics")}
    rec["hash"], rec["data_version"] = config_hash(cfg), data_version(cfg.dataset)
    write_json(path, rec)
    return rec


def rank(rec: dict):
    """RankMe effective rank of the clean h on probe-test (idslab.diagnostics.effective_rank): 1 = collapsed to a
    line ... 32 = every direction used equally."""
    return (rec.get("metrics", {}).get("diagnostics") or {}).get("effective_rank")


def run_all(args) -> None:
    for dataset in args.datasets:
        for encoder in args.encoders:
            folder = store_folder(args, dataset, encoder)
            # part by part (the headline first), seed-major within a part: every condition gets seeds early
            cfgs, seen = [], set()
            for part in args.parts:
                for s in args.seeds:
                    for label, over in conditions([part], dataset).items():
                        if (label, s) not in seen:
                            seen.add((label, s))
                            cfgs.append((label, make_cfg(dataset, encoder, over, s, args.cifar_dir, args.protocol)))
            if not cfgs:
                continue
            data = load_data(cfgs[0][1])
            t0 = time.perf_counter()
            for i, (label, cfg) in enumerate(cfgs):
                rec = ensure(cfg, data, folder, args.reprobe)
                m = rec["metrics"]
                print(f"[{dataset} {encoder} {i + 1}/{len(cfgs)} {time.perf_counter() - t0:6.0f}s] seed {cfg.seed} "
                      f"{label}: mlp {100 * m['mlp_acc']:.1f} knn {100 * m['knn_acc']:.1f} "
                      f"loss {rec['loss_history'][-1] if rec['loss_history'] else float('nan'):.3f} "
                      f"rank {rank(rec):.1f}", flush=True)


# ------------------------------------------------------------------------------------------------ report
def _key(cfg: TrainConfig) -> str:
    return json.dumps({k: v for k, v in config_key(cfg).items() if k != "data_version"}, sort_keys=True, default=str)


def collect(args, dataset: str, encoder: str, conds: dict) -> dict:
    """label -> {seed: record} of the finished records made with data version args.data_version (default: the
    current simulator/decoder), so records of an older meteor simulator can still be reported."""
    folder = store_folder(args, dataset, encoder)
    version = args.data_version or data_version(dataset)
    store = {}
    for p in sorted(folder.glob("*.json")):
        rec = read_record(p)
        if rec is not None and rec.get("data_version") == version:
            fields = {f.name for f in dataclasses.fields(TrainConfig)}
            store[_key(TrainConfig(**{k: v for k, v in rec["config"].items() if k in fields}))] = rec
    out = {}
    for label, over in conds.items():
        recs = {s: store.get(_key(make_cfg(dataset, encoder, over, s, args.cifar_dir, args.protocol)))
                for s in args.seeds}
        out[label] = {s: r for s, r in recs.items() if r is not None}
    return out


def _pm(vals, f=".1f"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    a = np.asarray(vals, dtype=float)
    return f"{a.mean():{f}} ± {a.std(ddof=1):{f}}" if a.size > 1 else f"{a.mean():{f}}"


def _diff(recs: dict, ref: dict, key: str) -> str:
    seeds = sorted(set(recs) & set(ref))
    pairs = [(metric_value(recs[s], key), metric_value(ref[s], key)) for s in seeds]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(pairs) < 2:
        return "–"
    d = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
    m, (lo, hi) = d["mean"], d["ci"]
    star = " **" if lo > 0 or hi < 0 else ""
    return f"{m:+.1f} [{lo:+.1f}, {hi:+.1f}]{star}"


EXTRA_METRICS = (("linear10_acc", "10-class linear (%)", ".1f"),      # records.metric_value: accuracies in %
                 ("physics.velocity_r2", "velocity R²", ".2f"),
                 ("physics.direction_acc", "direction (%)", ".1f"))


def table(got: dict, ref_label: str = "none") -> str:
    ref = got.get(ref_label, {})
    extra = [m for m in EXTRA_METRICS if any(metric_value(r, m[0]) is not None for g in got.values() for r in g.values())]
    head = ["condition", "MLP (%)", f"MLP − {ref_label} (pts, 95% CI)", "k-NN (%)",
            f"k-NN − {ref_label} (pts, 95% CI)"]
    direction = any(m[0] == "physics.direction_acc" for m in extra)
    head += [m[1] for m in extra] + ([f"direction − {ref_label} (pts, 95% CI)"] if direction else [])
    head += ["final loss", "eff. rank of h", "uniformity of h", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, recs in got.items():
        if not recs:
            continue
        rs = list(recs.values())
        loss = [r["loss_history"][-1] for r in rs if r["loss_history"]]
        row = [label, _pm([metric_value(r, "mlp_acc") for r in rs]),
               "–" if label == ref_label else _diff(recs, ref, "mlp_acc"),
               _pm([metric_value(r, "knn_acc") for r in rs]), "–" if label == ref_label else _diff(recs, ref, "knn_acc")]
        row += [_pm([metric_value(r, k) for r in rs], f) for k, _, f in extra]
        if direction:  # the physics a weight-space view should keep and a flip loses (issue 10)
            row.append("–" if label == ref_label else _diff(recs, ref, "physics.direction_acc"))
        diag = [r["metrics"].get("diagnostics") or {} for r in rs]
        row += [_pm(loss, ".3f") if loss else "–", _pm([rank(r) for r in rs]),
                _pm([d.get("uniformity") for d in diag], ".2f"), str(len(rs))]
        lines.append("| " + " | ".join(row) + " |")
    ids = {k: v for k, v in got.items() if k.startswith("IDS") and len(v) > 1}
    if ids:  # the best weight-space view (by mean MLP) against the data-space views
        best = max(ids, key=lambda k: np.mean([metric_value(r, "mlp_acc") for r in ids[k].values()]))
        for other in ("flip+rot", "fft"):
            if got.get(other):
                lines.append(f"\nbest weight-space view ({best}) − {other} (paired, points, 95% CI): MLP "
                             f"{_diff(ids[best], got[other], 'mlp_acc')}, k-NN {_diff(ids[best], got[other], 'knn_acc')}")
    for label, recs in got.items():  # a weight-space view composed with flips: does it add to flips alone?
        if label.endswith("+ flip") and recs and got.get("flip+rot"):
            lines.append(f"\n{label} − flip+rot (paired, points, 95% CI): MLP {_diff(recs, got['flip+rot'], 'mlp_acc')}"
                         f", k-NN {_diff(recs, got['flip+rot'], 'knn_acc')}")
    return "\n".join(lines)


def collapse_table(got: dict) -> str:
    """Per seed: trained minus floor (same seed = same initial weights), MLP points, and effective rank."""
    floor = got.get("floor (random init)", {})
    labels = [k for k in got if k != "floor (random init)" and got[k]]
    seeds = sorted(floor)
    head = ["condition"] + [f"seed {s}" for s in seeds] + ["seeds below floor"]
    lines = ["MLP accuracy minus the same seed's random-init floor (points); effective rank of h in brackets "
             f"(floor: {', '.join(format(rank(floor[s]), '.1f') for s in seeds)})", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label in labels:
        cells, below = [], 0
        for s in seeds:
            r = got[label].get(s)
            if r is None:
                cells.append("–")
                continue
            d = metric_value(r, "mlp_acc") - metric_value(floor[s], "mlp_acc")
            below += d < 0
            cells.append(f"{d:+.1f} ({rank(r):.1f})")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {below}/{sum(s in got[label] for s in seeds)} |")
    return "\n".join(lines)


def probe_noise_table(args, dataset: str, encoder: str, got: dict, probe_seeds=range(1000, 1005),
                      n_boot: int = 2000) -> str:
    """Is 'below the floor' a collapse or probe noise? For each training seed, trained minus floor (MLP points) with
    the probe re-fitted under other probe seeds (the record's own probe seed is the training seed), and a paired
    bootstrap over probe-test samples of that difference (the same test tiles score both encoders). Needs the
    saved encoders (<hash>.pt) and the data."""
    from idslab.probes import ProbeConfig, embed, mlp_probe
    floor = got.get("floor (random init)", {})
    labels = [k for k in ("none", "IDS fc1 0.02 (paper)") if got.get(k)]
    seeds = sorted(floor)
    if not labels or not seeds:
        return ""
    folder = store_folder(args, dataset, encoder)
    data = load_data(make_cfg(dataset, encoder, {}, seeds[0], args.cifar_dir, args.protocol))
    y_tr, y_te = data.probe_train.y, data.probe_test.y
    rng = np.random.default_rng(0)
    boot = rng.integers(0, len(y_te), size=(n_boot, len(y_te)))

    embedded = {}   # record hash -> (h_train, h_test): each saved encoder is read and embedded once

    def correct(rec, probe_seed):   # (n_test,) 0/1 of the MLP probe on the record's saved encoder
        if rec["hash"] not in embedded:
            model, _, _ = load_checkpoint(folder / f"{rec['hash']}.pt")
            embedded[rec["hash"]] = embed(model.encoder, data.probe_train.x), embed(model.encoder, data.probe_test.x)
        h_tr, h_te = embedded[rec["hash"]]
        pred = mlp_probe(h_tr, y_tr, h_te, ProbeConfig(seed=probe_seed))
        return (pred == y_te).double().numpy()

    lines = ["Trained minus floor, MLP points, per training seed: the record's probe; the mean ± sd over 5 other "
             "probe seeds (probe initialisation alone); a 95% paired-bootstrap interval over the probe-test tiles "
             "(test sampling alone, record's probe).", "",
             "| condition | seed | record | other probe seeds | test bootstrap 95% |", "|---|---|---|---|---|"]
    for label in labels:
        for s in seeds:
            rec, fl = got[label].get(s), floor[s]
            if rec is None:
                continue
            a, b = correct(rec, s), correct(fl, s)
            d = 100 * (a - b)
            others = [100 * (correct(rec, ps).mean() - correct(fl, ps).mean()) for ps in probe_seeds]
            bd = d[boot].mean(1)
            lines.append(f"| {label} | {s} | {d.mean():+.1f} | {np.mean(others):+.1f} ± {np.std(others, ddof=1):.1f}"
                         f" | [{np.percentile(bd, 2.5):+.1f}, {np.percentile(bd, 97.5):+.1f}] |")
    return "\n".join(lines)


HEADLINE = (("cnn8", "quick"), ("cnn16", "quick"), ("cnn32", "quick"), ("cnn16", "full"))


def headline(args, metric: str = "mlp_acc") -> str:
    """One table over data sets, encoders and protocols: each condition's paired difference to no augmentation
    (points, 95% CI, n seeds), with no augmentation's own accuracy on top. Cells with no records stay '–'."""
    cols, got, conds = [], {}, {**PARTS["variants"], **PARTS["core"]}
    for dataset in args.datasets:
        for encoder, protocol in HEADLINE:
            a = argparse.Namespace(**{**vars(args), "protocol": protocol})
            g = collect(a, dataset, encoder, conds)
            if any(g.values()):
                cols.append((dataset, encoder, protocol))
                got[cols[-1]] = g
    if not cols:
        return ""
    head = ["condition"] + [f"{d} {e}{' full' if p == 'full' else ''}" for d, e, p in cols]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label in conds:
        cells = []
        for c in cols:
            recs, ref = got[c].get(label, {}), got[c].get("none", {})
            if label == "none":
                cells.append(f"*{_pm([metric_value(r, metric) for r in ref.values()])} %*" if ref else "–")
            else:
                d = _diff(recs, ref, metric) if recs else "–"
                cells.append(d if d == "–" else f"{d} ({len(set(recs) & set(ref))})")
        if any(x != "–" for x in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(args) -> str:
    out = []
    for dataset in args.datasets:
        for encoder in args.encoders:
            for part in args.parts:
                conds = conditions([part], dataset)
                if part == "collapse" and dataset != "cifar":
                    continue
                got = collect(args, dataset, encoder, conds)
                n = sum(len(v) for v in got.values())
                if not n:
                    continue
                version = args.data_version or data_version(dataset)
                out.append(f"### {dataset} ({version}), {encoder}, {args.protocol} protocol, part '{part}' "
                           f"({n} runs)\n")
                out.append(table(got, "none BN head" if part == "bn" else "none"))
                if part == "bn":  # against the best no-augmentation run: the plain head (a head can hurt "none")
                    plain = collect(args, dataset, encoder, {"none": CONTROLS["none"]})["none"]
                    out += [f"\n{label} − none with the plain head (paired, points, 95% CI): MLP "
                            f"{_diff(recs, plain, 'mlp_acc')}, k-NN {_diff(recs, plain, 'knn_acc')}"
                            for label, recs in got.items() if label.endswith("BN head") and recs and plain]
                if part == "collapse":  # every trained condition of the run, per seed against its own initialisation
                    everything = collect(args, dataset, encoder, conditions(args.parts, dataset))
                    out.append("\n" + collapse_table(everything))
                    if args.probe_noise:
                        out.append("\n" + probe_noise_table(args, dataset, encoder, everything))
                out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cifar,meteor")
    p.add_argument("--encoders", default="cnn16", help="comma-separated, e.g. cnn8,cnn16,cnn32")
    p.add_argument("--protocol", choices=("quick", "full"), default="quick",
                   help="quick: idslab.experiments.QUICK sizes; full: docs/PROTOCOL.md (TrainConfig defaults)")
    p.add_argument("--parts", default="variants,upper,collapse")
    p.add_argument("--seeds", default="0-4", help="'0-4' or '0,1,2'")
    p.add_argument("--results", default="results/beyond")
    p.add_argument("--cifar-dir", default=None)
    p.add_argument("--reprobe", action="store_true", help="re-score every saved encoder with the current probes")
    p.add_argument("--report-only", action="store_true", help="print the tables from finished records, no training")
    p.add_argument("--probe-noise", action="store_true",
                   help="with part collapse: re-fit the MLP probes of floor, none and IDS under other probe seeds and "
                        "bootstrap the test tiles (needs the saved encoders)")
    p.add_argument("--headline", action="store_true",
                   help="report only: one table of MLP − none over data sets, CNN-8/16/32 quick and CNN-16 full")
    p.add_argument("--out", default=None, help="also write the tables here (markdown, atomically)")
    p.add_argument("--data-version", default=None,
                   help="report records of this data version (e.g. meteor-4); default: the current one")
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.encoders = [e for e in args.encoders.split(",") if e]
    args.parts = [x for x in args.parts.split(",") if x]
    bad = [x for x in args.parts if x not in PARTS]
    if bad:
        print(f"beyond_paper: unknown part(s) {bad}: choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    lo, _, hi = args.seeds.partition("-")
    args.seeds = list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in args.seeds.split(",")]
    if not args.report_only:
        run_all(args)
    text = headline(args) if args.headline else report(args)
    print(text)
    if args.out:
        atomic_write(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
