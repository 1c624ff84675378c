"""Plotly figures for training and IDS diagnostics: loss curves, UMAP embeddings side by side, positive/negative
similarity histograms, perturbed-representation clouds, accuracy versus s_l, and data-space views of tiles.

Every function takes plain arrays or tensors (no training happens here) and returns a plotly.graph_objects.Figure,
so notebooks (marimo, Jupyter) and scripts can show or save it. UMAP (umap-learn) is seeded: the same input gives
the same picture.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["loss_curves", "umap_2d", "pca_2d", "umap_side_by_side", "similarity_histograms", "cloud_scatter", "sweep_points",
           "sl_sweep", "sl_sweep_from_csv", "view_grid", "label_colours", "condition_colour", "condition_name", "CONDITION_NAMES",
           "reference_levels", "by_label", "accuracy_bars", "physics_bars", "diagnostics_bars", "epoch_curves",
           "head_colour"]

# Colour per class label (0, 1) and per condition, reused across figures so a notebook reads consistently.
LABEL_COLOURS = ("#4C78A8", "#F58518")
_MORE_COLOURS = ("#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC")  # K > 2
CONDITION_COLOURS = {"flip": "#4C78A8", "flip90": "#72B7B2", "fft": "#54A24B", "simclr": "#B279A2", "ids": "#E45756",
                     "none": "#9D9D9D", "floor": "#7F7F7F", "trivial": "#8C564B", "supervised": "#2CA02C",
                     "reverse+shift": "#4C78A8", "reverse": "#72B7B2", "shift": "#9D755D"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), font=dict(size=13))
# Colours for individual samples (perturbed clouds): none of them is a class colour, so a sample's colour is never
# read as its label.
SAMPLE_COLOURS = ("#1B9E77", "#7570B3", "#E7298A", "#66A61E", "#E6AB02", "#A6761D", "#666666", "#17BECF")

# One display name per views string, used by notebook controls, figure legends and tables alike.
CONDITION_NAMES = {"flip": "flip + rotation", "flip90": "flip + right angles", "fft": "FFT band mask",
                   "simclr": "SimCLR suite", "ids": "IDS", "none": "no augmentation", "ids+flip": "IDS + flip",
                   "ids+fft": "IDS + FFT", "floor": "random init (floor)", "trivial": "trivial (tile statistics)",
                   "supervised": "supervised (ceiling)", "reverse+shift": "reversal + shift", "reverse": "reversal",
                   "shift": "shift (Doppler)"}
# Reference levels (controls) drawn as horizontal lines: display name and line style.
REFERENCE_STYLE = {"floor": (CONDITION_NAMES["floor"], "#7F7F7F", "dot"),
                   "none": (CONDITION_NAMES["none"], "#9D9D9D", "dash"),
                   "trivial": (CONDITION_NAMES["trivial"], "#8C564B", "dashdot"),
                   "supervised": (CONDITION_NAMES["supervised"], "#2CA02C", "longdash")}


def label_colours() -> tuple[str, str]:
    return LABEL_COLOURS


def condition_colour(views: str) -> str:
    """A stable colour for a views string: 'ids+flip' takes a blend-free fixed colour of its own."""
    if views in CONDITION_COLOURS:
        return CONDITION_COLOURS[views]
    return "#EECA3B" if views.startswith("ids+") else "#FF9DA6"


def condition_name(views: str) -> str:
    """The display name of a views string ('ids+flip' -> 'IDS + flip'); unknown strings are shown as they are."""
    if views in CONDITION_NAMES:
        return CONDITION_NAMES[views]
    parts = views.split("+")
    return " + ".join(CONDITION_NAMES.get(p, p) if i == 0 else p.upper() if p == "fft" else p
                      for i, p in enumerate(parts))


def _metric(obj, key: str, sub: str | None = None):
    """obj["metrics"][key] (a run record) or obj[key] (a flat dict), else None; sub: a nested dict key."""
    if not isinstance(obj, Mapping):
        return None
    m = obj.get("metrics", obj)
    v = m.get(key) if isinstance(m, Mapping) else None
    if sub is not None:
        v = v.get(sub) if isinstance(v, Mapping) else None
    return v


def reference_levels(controls: Mapping | None, metric: str = "mlp_acc") -> dict[str, float]:
    """The controls' levels of one probe metric as {control: fraction}, for reference lines.

    controls: {"floor"|"none"|"trivial"|"supervised": a run record (metrics.<metric>) or a flat result dict
    (<metric>, or "acc" as idslab.experiments.Comparison.controls gives it)}; missing or unknown entries are left out, so a
    figure degrades to fewer lines rather than failing.
    """
    out = {}
    for name, obj in (controls or {}).items():
        v = _metric(obj, metric)
        if v is None and metric == "mlp_acc":
            v = _metric(obj, "acc")  # Comparison.controls: "acc" is the control's mean MLP (or own) accuracy
        if isinstance(v, (int, float)):
            out[name] = float(v)
    return out


def _add_references(fig: go.Figure, levels: Mapping[str, float], row=None, col=None, suffix: str = "") -> None:
    """Horizontal reference lines (floor, no augmentation, trivial, supervised), each named with its level in the
    legend (a dummy trace in the line's style; `suffix` says which panel a floor or none line belongs to), so no
    label is drawn over a bar or a point; the same line in several panels is named once."""
    named = {t.name for t in fig.data}
    for name, y in levels.items():
        label, colour, dash = REFERENCE_STYLE.get(name, (name, "#7F7F7F", "dot"))
        kw = dict(row=row, col=col) if row is not None else {}
        fig.add_hline(y=y, line=dict(color=colour, dash=dash, width=1.5), **kw)
        text = f"{label}{suffix if name in ('floor', 'none') else ''}: {100 * y:.1f}%"
        if text not in named:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=text, legendgroup=f"ref-{name}",
                                     line=dict(color=colour, dash=dash, width=1.5), hoverinfo="skip"))
            named.add(text)


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


# --------------------------------------------------------------------------------------------------- training
def loss_curves(histories: Mapping[str, Sequence[float]], title: str = "Pre-training loss") -> go.Figure:
    """NT-Xent loss per epoch, one line per condition. histories: {views: [loss per epoch]}."""
    fig = go.Figure()
    for name, hist in histories.items():
        hist = list(hist)
        fig.add_trace(go.Scatter(x=list(range(1, len(hist) + 1)), y=hist, mode="lines+markers",
                                 name=condition_name(name), line=dict(color=condition_colour(name), width=2)))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="NT-Xent loss (mean over the epoch)",
                      legend_title="views", height=380, **_LAYOUT)
    return fig


def umap_2d(emb, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """(n, D) -> (n, 2) UMAP, seeded (random_state makes umap-learn single-threaded and reproducible)."""
    # numba's own thread pool fights torch's for the same cores (measured: later torch training 5x slower on a busy
    # 2-core CPU); UMAP with random_state is single-threaded anyway. Effective if numba is not imported yet.
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import umap  # slow import (numba): only when a UMAP is drawn

    x = _np(emb).astype(np.float32)
    if x.shape[0] < 4:
        raise ValueError(f"UMAP needs at least 4 points, got {x.shape[0]}")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, x.shape[0] - 1), min_dist=min_dist,
                        random_state=seed, n_jobs=1)
    return reducer.fit_transform(x)


def pca_2d(emb) -> np.ndarray:
    """(n, D) -> (n, 2) on the first two principal axes (deterministic up to the sign of each axis)."""
    x = _np(emb).astype(np.float64)
    mean, axes = _pca_fit(x)
    return (x - mean) @ axes.T


def umap_side_by_side(embeddings: Mapping[str, object], labels, class_names: Sequence[str] = ("0", "1"),
                      seed: int = 0, title: str | None = None, method: str = "umap") -> go.Figure:
    """One 2-D embedding panel per condition, points coloured by label. embeddings: {views: (n, 32)}; labels (n,)
    in 0..K-1 (K = len(class_names)), -1 for no label (grey). method: "umap" (umap-learn, seeded; its first call
    in a process compiles for ~20 s on 2 CPU cores) or "pca" (instant; the notebooks' default, UMAP on request)."""
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap' or 'pca', got {method!r}")
    reduce = (lambda e: umap_2d(e, seed=seed)) if method == "umap" else pca_2d
    axis = "UMAP" if method == "umap" else "PC"
    title = title or f"{'UMAP' if method == 'umap' else 'PCA'} of the frozen representations h (probe-test split)"
    names = list(embeddings)
    y = _np(labels).astype(int)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[condition_name(n) for n in names],
                        horizontal_spacing=0.06)
    for col, name in enumerate(names, start=1):
        xy = reduce(embeddings[name])
        # K classes (a user's file may have more than 2); -1 = no label, drawn grey (unlabelled data: all points)
        for cls in [c for c in range(-1, len(class_names)) if (y == c).any() or c in (0, 1)]:
            sel = y == cls
            colour = "#9D9D9D" if cls < 0 else (LABEL_COLOURS + _MORE_COLOURS)[cls % 10]
            label = "no label" if cls < 0 else class_names[cls]
            fig.add_trace(go.Scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=label,
                                       legendgroup=str(cls), showlegend=col == 1,
                                       marker=dict(size=5, color=colour, opacity=0.75)),
                          row=1, col=col)
        fig.update_xaxes(title_text=f"{axis} 1", showticklabels=False, row=1, col=col)
        fig.update_yaxes(title_text=f"{axis} 2" if col == 1 else None, showticklabels=False, row=1, col=col,
                         scaleanchor="x" if col == 1 else f"x{col}", scaleratio=1)   # equal aspect
    fig.update_layout(title=title, legend_title="label", height=420, **_LAYOUT)
    return fig


# ------------------------------------------------------------------------------------------------ diagnostics
def similarity_histograms(sims: Mapping[str, Mapping[str, object]], bins: int = 40,
                          title: str = "Cosine similarity of positive vs negative pairs (projection z)"
                          ) -> go.Figure:
    """Overlaid histograms of positive- and negative-pair cosine similarity, one panel per view type.

    sims: {views: {"pos": (B,), "neg": (M,)}} as returned by idslab.diagnostics.pair_similarities. Histograms are
    probability densities, so the few positives and the many negatives share one scale.
    """
    names = list(sims)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[condition_name(n) for n in names],
                        shared_yaxes=False, horizontal_spacing=0.05)
    for col, name in enumerate(names, start=1):
        pos, neg = _np(sims[name]["pos"]), _np(sims[name]["neg"])
        lo = float(min(pos.min(), neg.min()))
        hi = float(max(pos.max(), neg.max()))
        span = max(hi - lo, 1e-3)
        xbins = dict(start=lo - 0.02 * span, end=hi + 0.02 * span, size=span * 1.04 / bins)
        for kind, vals, colour in (("negative pairs", neg, "#9D9D9D"), ("positive pairs", pos, "#E45756")):
            fig.add_trace(go.Histogram(x=vals, xbins=xbins, histnorm="probability density", name=kind,
                                       legendgroup=kind, showlegend=col == 1, opacity=0.65,
                                       marker_color=colour), row=1, col=col)
        fig.update_xaxes(title_text="cosine similarity", row=1, col=col)
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_layout(title=title, barmode="overlay", height=330, **_LAYOUT)
    return fig


def _pca_fit(points: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    mean = points.mean(0)
    _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
    return mean, vt[:k]


def cloud_scatter(clean, cloud, labels=None, class_names: Sequence[str] = ("0", "1"),
                  title: str = "Representations h from many perturbed passes (W + λ) around the clean one"
                  ) -> go.Figure:
    """Two PCA panels of perturbed-representation clouds (idslab.diagnostics.perturbed_cloud).

    Left: PCA of all clean h and clouds together, so the cloud size reads against the distance between samples.
    Right: the offsets h̃ - h of every sample, on the PCA axes of the offsets (zoomed in), with each sample's offsets
    centred at its own origin: the shape and scale of the perturbation in representation space.

    clean (n, D), cloud (n, K, D); labels (n,) optional, shown in the hover text and the legend names.
    """
    clean, cloud = _np(clean).astype(np.float64), _np(cloud).astype(np.float64)
    n, k, d = cloud.shape
    mean, axes = _pca_fit(np.concatenate([clean, cloud.reshape(-1, d)]))
    c2 = (clean - mean) @ axes.T                                                 # (n, 2)
    p2 = (cloud.reshape(-1, d) - mean) @ axes.T                                  # (n·K, 2)
    off = (cloud - clean[:, None]).reshape(-1, d)
    if np.abs(off).max() > 0:
        _, oaxes = _pca_fit(np.concatenate([off, -off]))                         # symmetric: centred at 0
    else:
        oaxes = axes
    o2 = off @ oaxes.T
    palette = SAMPLE_COLOURS
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("all samples (PCA of h)", "perturbation offsets h̃ − h (PCA, zoomed)"))
    for i in range(n):
        c = palette[i % len(palette)]
        name = f"sample {i}" + (f" ({class_names[int(_np(labels)[i])]})" if labels is not None else "")
        sl = slice(i * k, (i + 1) * k)
        fig.add_trace(go.Scattergl(x=p2[sl, 0], y=p2[sl, 1], mode="markers", name=name, legendgroup=name,
                                   marker=dict(size=5, color=c, opacity=0.5)), row=1, col=1)
        fig.add_trace(go.Scatter(x=[c2[i, 0]], y=[c2[i, 1]], mode="markers", name=name, legendgroup=name,
                                 showlegend=False, marker=dict(size=13, color=c, symbol="x",
                                                               line=dict(width=1.5, color="black"))), row=1, col=1)
        fig.add_trace(go.Scattergl(x=o2[sl, 0], y=o2[sl, 1], mode="markers", name=name, legendgroup=name,
                                   showlegend=False, marker=dict(size=5, color=c, opacity=0.5)), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", name="clean h (s_l = 0)",
                             marker=dict(size=13, color="white", symbol="x", line=dict(width=1.5, color="black"))),
                  row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(title_text="PC 1", row=1, col=col)
        # equal aspect: one unit of PC 1 is as long as one of PC 2, so a round cloud looks round
        fig.update_yaxes(title_text="PC 2", row=1, col=col, scaleanchor="x" if col == 1 else "x2", scaleratio=1)
    fig.update_layout(title=title, height=460, **_LAYOUT)
    return fig


# --------------------------------------------------------------------------------------------------- s_l sweep
def sweep_points(records: Sequence[Mapping], site: str = "fc1") -> list[dict]:
    """Flatten run records (idslab.train.run) or already-flat dicts into {sl, seed, mlp_acc, knn_acc, final_loss}
    rows (final_loss: the last epoch's NT-Xent, when the record has a loss history)."""
    rows = []
    for r in records:
        if r.get("control") or r.get("config", {}).get("epochs") == 0:
            continue  # the random-init floor (idslab.experiments.sweep_sl) is a reference line, not an s_l point
        if "metrics" in r:
            cfg = r.get("config", {})
            sl = r.get("sl", cfg.get("sites", {}).get(site, 0.0))
            row = {"sl": float(sl), "seed": cfg.get("seed", r.get("seed")), **{
                m: float(r["metrics"][m]) for m in ("mlp_acc", "knn_acc") if m in r["metrics"]}}
            loss = r.get("final_loss", (r.get("loss_history") or [None])[-1])
            if loss is not None:
                row["final_loss"] = float(loss)
            rows.append(row)
        else:
            rows.append(dict(r))
    return rows


def _mean_sd(values) -> tuple[float, float, int]:
    """Mean and sample standard deviation (ddof = 1, the project's one convention; 0 for one value) of the finite
    values."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    return (float(v.mean()) if v.size else np.nan, float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))


def sl_sweep(records: Sequence[Mapping], metrics: Sequence[str] = ("mlp_acc", "knn_acc"),
             title: str = "Probe accuracy versus perturbation scale s_l", references: Mapping[str, float] | None = None,
             show_loss: bool = True) -> go.Figure:
    """Mean ± sd over seeds (sample sd, ddof = 1) of each metric at each s_l, as in the paper's Fig. 3.

    The s_l axis is categorical (one evenly spaced tick per value, s_l = 0 included, which a log axis cannot
    show). references: {"floor"|"none"|"trivial"|"supervised": accuracy} drawn as horizontal lines
    (reference_levels); random-init records among `records` (epochs = 0 or record["control"] == "floor", as
    idslab.experiments.sweep_sl returns them) give the floor line by themselves. show_loss adds the final
    NT-Xent loss on a right-hand axis, so a run that stopped learning (accuracy at the floor) shows as a loss stuck
    near its start.
    """
    rows = sweep_points(records)
    floor = [r["metrics"]["mlp_acc"] for r in records if (r.get("control") == "floor" or r.get("config", {})
             .get("epochs") == 0) and "mlp_acc" in r.get("metrics", {})]
    references = {**({"floor": float(np.mean(floor))} if floor else {}), **dict(references or {})}
    sls = sorted({r["sl"] for r in rows})
    keys = [*metrics, *(["final_loss"] if show_loss and any("final_loss" in r for r in rows) else [])]
    stats = {m: [(s, *_mean_sd(r.get(m) for r in rows if r["sl"] == s)) for s in sls] for m in keys}
    return _sweep_figure(stats, title, references)


def sl_sweep_from_csv(text: str, title: str = "Probe accuracy versus perturbation scale s_l",
                      references: Mapping[str, float] | None = None) -> go.Figure:
    """The same figure from a report's CSV (idslab.report.table_csv: table, metric, ..., condition, sl, n_seeds,
    mean, sd with mean and sd in %), e.g. the committed docs/results/fig3.csv when no run records are at hand.
    Rows of the controls (condition floor, none, trivial, supervised; metric mlp_acc) become reference lines."""
    import csv
    import io

    stats: dict[str, list] = {}
    refs = {}
    for row in csv.DictReader(io.StringIO(text)):
        try:
            mean, sd = float(row["mean"]) / 100, float(row.get("sd") or 0) / 100
        except (KeyError, ValueError):
            continue
        cond = row.get("condition", "ids")
        if cond in REFERENCE_STYLE:
            if row.get("metric") == "mlp_acc":
                refs[cond] = mean
            continue
        stats.setdefault(row["metric"], []).append((float(row["sl"]), mean, sd, int(float(row.get("n_seeds") or 0))))
    stats = {m: sorted(v) for m, v in stats.items() if m in ("mlp_acc", "knn_acc")}
    return _sweep_figure(stats, title, {**refs, **dict(references or {})})


def _sweep_figure(stats: Mapping[str, list], title: str, references: Mapping[str, float]) -> go.Figure:
    """stats: {metric: [(s_l, mean, sd, n), ...]} for mlp_acc / knn_acc and optionally final_loss."""
    names = {"mlp_acc": "MLP probe", "knn_acc": "k-NN"}
    colours = {"mlp_acc": "#E45756", "knn_acc": "#4C78A8"}
    sls = sorted({p[0] for v in stats.values() for p in v})
    tick = {s: f"{s:g}" for s in sls}
    has_loss = "final_loss" in stats
    fig = make_subplots(specs=[[{"secondary_y": has_loss}]])
    for m, pts in stats.items():
        if m == "final_loss":
            continue
        fig.add_trace(go.Scatter(x=[tick[p[0]] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 name=names.get(m, m), line=dict(color=colours.get(m)),
                                 error_y=dict(type="data", array=[p[2] for p in pts], visible=True),
                                 customdata=[p[3] for p in pts],
                                 hovertemplate="s_l=%{x}<br>accuracy=%{y:.3f} ± %{error_y.array:.3f}"
                                               "<br>seeds=%{customdata}<extra></extra>"), secondary_y=False)
    if has_loss:
        pts = stats["final_loss"]
        fig.add_trace(go.Scatter(x=[tick[p[0]] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 name="final NT-Xent loss", line=dict(color="#7F7F7F", dash="dot"),
                                 error_y=dict(type="data", array=[p[2] for p in pts], visible=True),
                                 marker=dict(symbol="square")), secondary_y=True)
        fig.update_yaxes(title_text="final NT-Xent loss", secondary_y=True, showgrid=False)
    _add_references(fig, dict(references or {}))
    ys = [p[1] + sign * p[2] for m, pts in stats.items() if m != "final_loss" for p in pts for sign in (-1, 1)
          if np.isfinite(p[1])] + list(dict(references or {}).values())
    if ys:   # the reference lines inside the plot, not on its edge
        pad = 0.03 + 0.05 * (max(ys) - min(ys))
        fig.update_yaxes(range=[max(0.0, min(ys) - pad), min(1.0, max(ys) + pad)], secondary_y=False)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=[tick[s] for s in sls],
                     title_text="s_l (standard deviation of λ at fc1; evenly spaced values)")
    fig.update_yaxes(title_text="probe-test accuracy (mean ± sd over seeds)", tickformat=".0%", secondary_y=False)
    fig.update_layout(title=title, legend_title="", height=460, **_LAYOUT)
    return fig


# ---------------------------------------------------------------------------------------------- comparisons
def by_label(records: Sequence[Mapping], roles: Sequence[str] = ("condition", "control")) -> dict[str, dict]:
    """Group comparison records (idslab.experiments.compare: each with "label" and "role") by label, for the
    comparison figures: {label: {"metrics": ...}}. One seed: that run's metrics (Wilson intervals). Several seeds:
    the mean of every numeric metric (nested physics/diagnostics too), and mlp_ci/knn_ci and the physics probes'
    intervals (physics.<name>_ci, physics.direction_ci) = mean ± sd over seeds (ddof = 1). Records of the trivial and supervised baselines (metrics "acc", not probes) are left out."""
    groups: dict[str, list] = {}
    for r in records:
        if r.get("role", "condition") in roles and "mlp_acc" in r.get("metrics", {}):
            groups.setdefault(r.get("label", r.get("config", {}).get("views", "?")), []).append(r["metrics"])
    out = {}
    for label, ms in groups.items():
        if len(ms) == 1:
            out[label] = {"metrics": ms[0], "n": 1}
            continue

        def mean(dicts):
            merged = {}
            for k, v in dicts[0].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    vals = [d.get(k) for d in dicts if isinstance(d.get(k), (int, float))]
                    merged[k] = float(np.mean(vals))
                elif isinstance(v, Mapping):
                    merged[k] = mean([d[k] for d in dicts if isinstance(d.get(k), Mapping)])
            return merged

        m = mean(ms)
        for p in ("mlp", "knn"):
            if f"{p}_acc" in m:
                sd = float(np.std([d[f"{p}_acc"] for d in ms], ddof=1))
                m[f"{p}_ci"] = [m[f"{p}_acc"] - sd, m[f"{p}_acc"] + sd]
        phys = [d["physics"] for d in ms if isinstance(d.get("physics"), Mapping)]
        for k, v in (m.get("physics") or {}).copy().items():   # the physics probes' intervals likewise
            ci_key = "direction_ci" if k == "direction_acc" else f"{k}_ci"
            vals = [ph[k] for ph in phys if isinstance(ph.get(k), (int, float)) and ci_key in ph]
            if len(vals) > 1:
                sd = float(np.std(vals, ddof=1))
                m["physics"][ci_key] = [v - sd, v + sd]
        out[label] = {"metrics": m, "n": len(ms)}
    return out


def _ci_bars(values: Mapping[str, tuple[float, tuple[float, float] | None]], colour_of) -> go.Bar:
    names = list(values)
    ys = [values[n][0] for n in names]
    lo = [y - ci[0] if ci else 0.0 for y, (_, ci) in zip(ys, (values[n] for n in names))]
    hi = [ci[1] - y if ci else 0.0 for y, (_, ci) in zip(ys, (values[n] for n in names))]
    any_ci = any(values[n][1] for n in names)
    return go.Bar(x=[condition_name(n) for n in names], y=ys, marker_color=[colour_of(n) for n in names],
                  error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, visible=any_ci),
                  showlegend=False, hovertemplate="%{x}: %{y:.3f}<extra></extra>")


def accuracy_bars(records: Mapping[str, Mapping], references: Mapping[str, float] | None = None,
                  title: str = "Probe-test accuracy (95% Wilson intervals) against the controls",
                  knn_references: Mapping[str, float] | None = None) -> go.Figure:
    """Two panels (MLP probe, k-NN), each with its own tick labels: one bar per condition (named on the x axis)
    with its 95% interval, and the controls' levels as lines named in the legend. records: {views: run record};
    references: {control: accuracy} for the MLP panel (reference_levels); knn_references: the same for the k-NN
    panel (reference_levels(controls, "knn_acc")); the trivial and supervised levels are drawn in both."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("MLP probe", "k-NN"), horizontal_spacing=0.08)
    knn_refs = dict(knn_references or {})
    for col, m in enumerate(("mlp", "knn"), start=1):
        vals = {n: (float(_metric(r, f"{m}_acc")), _metric(r, f"{m}_ci")) for n, r in records.items()
                if _metric(r, f"{m}_acc") is not None}
        fig.add_trace(_ci_bars(vals, condition_colour), row=1, col=col)
    refs = dict(references or {})
    _add_references(fig, refs, row=1, col=1, suffix=" (MLP)")
    # k-NN panel: the trained controls' own k-NN levels; trivial and supervised are one classifier each, so the
    # same level in both panels
    _add_references(fig, {**{k: v for k, v in refs.items() if k in ("trivial", "supervised")}, **knn_refs},
                    row=1, col=2, suffix=" (k-NN)")
    accs = [v for r in records.values() for m in ("mlp", "knn") if (v := _metric(r, f"{m}_acc")) is not None]
    lows = [*refs.values(), *knn_refs.values(), *accs] or [0.5]
    fig.update_yaxes(tickformat=".0%", range=[max(0.0, min(lows) - 0.08), 1.0], showticklabels=True)
    fig.update_yaxes(title_text="probe-test accuracy", row=1, col=1)
    fig.update_xaxes(tickangle=-20)
    fig.update_layout(title=title, height=430, legend=dict(title="controls"), **_LAYOUT)
    return fig


def physics_bars(records: Mapping[str, Mapping], title: str = "What the frozen h knows about the physics",
                 direction: str = "direction accuracy (descending vs flipped)") -> go.Figure:
    """Meteor physics probes (record metrics.physics): velocity R² (ridge regression of the signed velocity from h,
    with its bootstrap interval when given) and direction accuracy (real descending tile versus the same tile
    flipped in altitude; 0.5 = chance, which a flip-invariant encoder cannot beat). Conditions without a physics
    entry are left out. direction: the right panel's title (spectra: real versus reversed)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("velocity R² (ridge on h)", direction))
    for col, key in enumerate(("velocity_r2", "direction_acc"), start=1):
        vals = {}
        for n, r in records.items():
            v = _metric(r, "physics", key)
            if isinstance(v, Mapping):  # {"value"/"r2"/"acc": x, "ci": [lo, hi]} forms
                ci = v.get("ci")
                v = next((v[k] for k in ("value", "r2", "acc", "mean") if k in v), None)
            else:  # idslab.probes.physics_probes: "<name>_ci", and "direction_ci" for the direction probe
                ci = _metric(r, "physics", key + "_ci") or (_metric(r, "physics", "direction_ci")
                                                             if key == "direction_acc" else None)
            if isinstance(v, (int, float)):
                vals[n] = (float(v), tuple(ci) if ci else None)
        fig.add_trace(_ci_bars(vals, condition_colour), row=1, col=col)
    fig.add_hline(y=0.5, line=dict(color="#7F7F7F", dash="dot"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="chance (50%)", hoverinfo="skip",
                             line=dict(color="#7F7F7F", dash="dot")))
    fig.update_yaxes(title_text="R²", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", range=[0, 1], row=1, col=2)
    fig.update_xaxes(tickangle=-20)
    fig.update_layout(title=title, height=400, **_LAYOUT)
    return fig


DIAGNOSTICS = (("alignment", "alignment ↓ (positives close)"),
               ("uniformity", "uniformity ↓ (spread out)"),
               ("effective_rank", "effective rank of h"))


def _diagnostic_values(records: Mapping[str, Mapping], key: str) -> dict:
    vals = {}
    for n, r in records.items():
        v = _metric(r, "diagnostics", key)
        if isinstance(v, Mapping):
            v = v.get("h", next(iter(v.values()), None))
        if isinstance(v, (int, float)):
            vals[n] = (float(v), None)
    return vals


def diagnostics_bars(records: Mapping[str, Mapping], title: str = "Representation diagnostics of h") -> go.Figure:
    """Alignment and uniformity (Wang & Isola 2020) and the effective rank of h (RankMe), one bar per condition,
    from each record's metrics.diagnostics (values, or {"h": value, ...} dicts, of which h is shown)."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in DIAGNOSTICS], horizontal_spacing=0.08)
    for col, (key, _) in enumerate(DIAGNOSTICS, start=1):
        bars = _ci_bars(_diagnostic_values(records, key), condition_colour)
        # each value at its bar's end: a zero (identical views' alignment, the random init's) is otherwise no bar
        bars.update(text=[f"{y:.3g}" for y in bars.y], textposition="outside", cliponaxis=False)
        fig.add_trace(bars, row=1, col=col)
    fig.update_xaxes(showticklabels=True, tickangle=-30)
    fig.update_layout(title=title, height=380, **_LAYOUT)
    return fig


# ------------------------------------------------------------------------------------------- per-epoch monitor
MONITOR = (("loss", "training loss"), ("knn_acc", "k-NN accuracy"), ("effective_rank", "effective rank of h"),
           ("z_std", "z_std (0 = collapsed)"))


def head_colour(label: str) -> str | None:
    """Colours of notebook 01's head experiment ("paper head, s_l = 0", "BN head, s_l = 0.02", ...): grey and red
    for the paper's head without and with weight noise, blue and orange for the batch-normalised one."""
    head = "bn" if label.startswith("BN head") else "paper" if label.startswith("paper head") else None
    if head is None:
        return None
    zero = label.rstrip().endswith("s_l = 0")
    return {("paper", True): "#7F7F7F", ("paper", False): "#E45756", ("bn", True): "#4C78A8",
            ("bn", False): "#F58518"}[head, zero]


def epoch_curves(histories: Mapping[str, Sequence[Mapping]], title: str = "Per-epoch monitor",
                 colours=None, knn_references: Mapping[str, float] | None = None) -> go.Figure:
    """The engine's per-epoch monitor (idslab.train: loss, k-NN accuracy on a fixed probe subset, effective rank
    of h, z_std of the normalised projections), one panel each, one line per run, x = epoch.

    histories: {name: [{"epoch", "loss", "knn_acc", "effective_rank", "z_std", ...}, ...]}; a name is a condition
    label (display name and colour from condition_name / condition_colour unless `colours`, a {label: colour} map
    or a function label -> colour or None, gives one), optionally with " · seed k" (drawn dotted in the same
    colour). Missing values (k-NN without labels) are skipped.
    knn_references: {control: k-NN accuracy} drawn as lines in the k-NN panel."""
    fig = make_subplots(rows=1, cols=len(MONITOR), subplot_titles=[t for _, t in MONITOR], horizontal_spacing=0.06)
    palette = iter(_MORE_COLOURS + SAMPLE_COLOURS)
    auto = {}
    for name, entries in histories.items():
        base, _, seed = name.partition(" · ")
        given = colours(base) if callable(colours) else (colours or {}).get(base)
        colour = given or (condition_colour(base) if base in CONDITION_COLOURS or base.startswith("ids+")
                           else auto.setdefault(base, next(palette, "#7F7F7F")))
        shown = condition_name(base) + (f" · {seed}" if seed else "")
        ep = [int(e.get("epoch", i + 1)) for i, e in enumerate(entries)]
        for col, (key, _) in enumerate(MONITOR, start=1):
            ys = [e.get(key) for e in entries]
            if not any(isinstance(v, (int, float)) for v in ys):
                continue
            fig.add_trace(go.Scatter(x=ep, y=ys, mode="lines+markers", name=shown, legendgroup=shown,
                                     showlegend=col == 1, line=dict(color=colour, width=2,
                                                                   dash="dot" if seed else "solid"),
                                     marker=dict(size=5)), row=1, col=col)
    if knn_references:
        _add_references(fig, knn_references, row=1, col=2)
        ys = [e.get("knn_acc") for v in histories.values() for e in v if isinstance(e.get("knn_acc"), (int, float))]
        ys += list(knn_references.values())
        pad = 0.02 + 0.05 * (max(ys) - min(ys))
        fig.update_yaxes(range=[max(0.0, min(ys) - pad), min(1.0, max(ys) + pad)], row=1, col=2)
    for col in range(1, len(MONITOR) + 1):
        fig.update_xaxes(title_text="epoch", dtick=1 if max((len(v) for v in histories.values()), default=0) <= 12
                         else None, row=1, col=col)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    # rank and z_std from 0, so a collapse (rank -> 1, z_std -> 0) reads as one, not as a zoomed-in wiggle
    zs = [e.get("z_std") for v in histories.values() for e in v if isinstance(e.get("z_std"), (int, float))]
    fig.update_yaxes(rangemode="tozero", row=1, col=3)
    fig.update_yaxes(range=[0, max([1.05, *(1.05 * z for z in zs)])], row=1, col=4)
    fig.update_layout(title=title, height=400, legend=dict(orientation="h", y=-0.25), **_LAYOUT)
    return fig


# ------------------------------------------------------------------------------------------------- data views
def view_grid(rows: Mapping[str, object], colorbar_title: str = "SNR (dB)", zmin: float | None = None,
              zmax: float | None = None, title: str = "The same tiles under data-space views",
              by_column: bool = False, height: int | None = None) -> go.Figure:
    """Grid of images: one row per view name, one column per tile (by_column=True: one column per view name, one
    row per tile). rows: {name: (k, C, N, N)}.

    One channel is drawn as a heatmap on a shared colour scale (radar: calibrated SNR in dB, altitude up, time to
    the right, i.e. row 0 at the bottom); three channels in [0, 1] as RGB images.
    """
    names = list(rows)
    arrays = {n: _np(rows[n]) for n in names}
    k = arrays[names[0]].shape[0]
    channels = arrays[names[0]].shape[1]
    if by_column:
        fig = make_subplots(rows=k, cols=len(names), column_titles=names, horizontal_spacing=0.02,
                            vertical_spacing=0.03)
    else:
        fig = make_subplots(rows=len(names), cols=k, row_titles=names, horizontal_spacing=0.01,
                            vertical_spacing=0.03)
    if channels == 1:
        allv = np.concatenate([a.ravel() for a in arrays.values()])
        zmin = float(np.percentile(allv, 1)) if zmin is None else zmin
        zmax = float(np.percentile(allv, 99.5)) if zmax is None else zmax
    for r, name in enumerate(names, start=1):
        for c in range(k):
            img = arrays[name][c]
            pos = dict(row=c + 1, col=r) if by_column else dict(row=r, col=c + 1)
            if channels == 1:
                fig.add_trace(go.Heatmap(z=img[0], zmin=zmin, zmax=zmax, colorscale="Viridis",
                                         showscale=(r == 1 and c == 0),
                                         colorbar=dict(title=colorbar_title, len=0.8)), **pos)
            else:
                rgb = (np.clip(np.transpose(img, (1, 2, 0)), 0, 1) * 255).astype(np.uint8)
                fig.add_trace(go.Image(z=rgb), **pos)
    fig.update_xaxes(showticklabels=False, ticks="")
    fig.update_yaxes(showticklabels=False, ticks="")
    n_rows = k if by_column else len(names)
    # at most ~560 px by default: marimo's edit mode scrolls any cell output taller than 610 px
    fig.update_layout(title=title, height=height or min(560, (230 if by_column else 115) * n_rows + 90), **_LAYOUT)
    return fig
