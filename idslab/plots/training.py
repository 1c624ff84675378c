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
           "sl_sweep", "view_grid", "label_colours", "condition_colour", "warm_umap"]

# Colour per class label (0, 1) and per condition, reused across figures so a notebook reads consistently.
LABEL_COLOURS = ("#4C78A8", "#F58518")
_MORE_COLOURS = ("#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC")  # K > 2
CONDITION_COLOURS = {"flip": "#4C78A8", "flip90": "#72B7B2", "fft": "#54A24B", "simclr": "#B279A2", "ids": "#E45756",
                     "none": "#9D9D9D"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), font=dict(size=13))


def label_colours() -> tuple[str, str]:
    return LABEL_COLOURS


def condition_colour(views: str) -> str:
    """A stable colour for a views string: 'ids+flip' takes a blend-free fixed colour of its own."""
    if views in CONDITION_COLOURS:
        return CONDITION_COLOURS[views]
    return "#EECA3B" if views.startswith("ids+") else "#FF9DA6"


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
        fig.add_trace(go.Scatter(x=list(range(1, len(hist) + 1)), y=hist, mode="lines+markers", name=name,
                                 line=dict(color=condition_colour(name), width=2)))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="NT-Xent loss (mean over the epoch)",
                      legend_title="views", **_LAYOUT)
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
    in a process compiles for ~20 s on 2 CPU cores) or "pca" (instant; notebooks use it in quick mode)."""
    if method not in ("umap", "pca"):
        raise ValueError(f"method must be 'umap' or 'pca', got {method!r}")
    reduce = (lambda e: umap_2d(e, seed=seed)) if method == "umap" else pca_2d
    axis = "UMAP" if method == "umap" else "PC"
    title = title or f"{'UMAP' if method == 'umap' else 'PCA'} of the frozen representations h (probe-test split)"
    names = list(embeddings)
    y = _np(labels).astype(int)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.06)
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
        fig.update_yaxes(title_text=f"{axis} 2" if col == 1 else None, showticklabels=False, row=1, col=col)
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
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=False, horizontal_spacing=0.05)
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
    palette = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#EECA3B",
               "#BAB0AC"]
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
        fig.update_yaxes(title_text="PC 2", row=1, col=col)
    fig.update_layout(title=title, height=420, **_LAYOUT)
    return fig


# --------------------------------------------------------------------------------------------------- s_l sweep
def sweep_points(records: Sequence[Mapping], site: str = "fc1") -> list[dict]:
    """Flatten run records (idslab.train.run) or already-flat dicts into {sl, seed, mlp_acc, knn_acc} rows."""
    rows = []
    for r in records:
        if r.get("control") or r.get("config", {}).get("epochs") == 0:
            continue  # the random-init floor (idslab.experiments.sweep_sl) is a reference line, not an s_l point
        if "metrics" in r:
            cfg = r.get("config", {})
            sl = r.get("sl", cfg.get("sites", {}).get(site, 0.0))
            rows.append({"sl": float(sl), "seed": cfg.get("seed", r.get("seed")), **{
                m: float(r["metrics"][m]) for m in ("mlp_acc", "knn_acc") if m in r["metrics"]}})
        else:
            rows.append(dict(r))
    return rows


def sl_sweep(records: Sequence[Mapping], metrics: Sequence[str] = ("mlp_acc", "knn_acc"),
             title: str = "Probe accuracy versus perturbation scale s_l") -> go.Figure:
    """Mean ± standard deviation over seeds of each metric at each s_l (error bars), as in the paper's Fig. 3."""
    rows = sweep_points(records)
    names = {"mlp_acc": "MLP probe", "knn_acc": "k-NN"}
    colours = {"mlp_acc": "#E45756", "knn_acc": "#4C78A8"}
    fig = go.Figure()
    sls = sorted({r["sl"] for r in rows})
    for m in metrics:
        means, stds, ns = [], [], []
        for s in sls:
            v = np.array([r[m] for r in rows if r["sl"] == s and m in r], dtype=float)
            means.append(v.mean() if v.size else np.nan)
            stds.append(v.std(ddof=1) if v.size > 1 else 0.0)
            ns.append(v.size)
        fig.add_trace(go.Scatter(x=sls, y=means, mode="lines+markers", name=names.get(m, m),
                                 error_y=dict(type="data", array=stds, visible=True),
                                 line=dict(color=colours.get(m)), customdata=ns,
                                 hovertemplate="s_l=%{x}<br>accuracy=%{y:.3f} ± %{error_y.array:.3f}"
                                               "<br>seeds=%{customdata}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="s_l (standard deviation of λ at fc1)",
                      yaxis_title="probe-test accuracy (mean ± sd over seeds)", yaxis_tickformat=".0%",
                      legend_title="probe", **_LAYOUT)
    return fig


# ------------------------------------------------------------------------------------------------- data views
def view_grid(rows: Mapping[str, object], colorbar_title: str = "SNR (dB)", zmin: float | None = None,
              zmax: float | None = None, title: str = "The same tiles under data-space views",
              by_column: bool = False) -> go.Figure:
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
    fig.update_layout(title=title, height=(230 if by_column else 130) * n_rows + 90, **_LAYOUT)
    return fig


_WARM = []


def warm_umap() -> None:
    """Compile umap-learn's numba kernels in a background thread (the first UMAP of a process costs ~20 s on a
    2-core CPU), so a notebook's first run button does not pay for it. Idempotent; errors are ignored."""
    if _WARM:
        return
    import threading

    def _work():
        try:
            umap_2d(np.random.default_rng(0).normal(size=(64, 8)), seed=0)
        except Exception:  # only a warm-up: the real call reports real errors
            pass

    t = threading.Thread(target=_work, name="idslab-umap-warmup", daemon=True)
    _WARM.append(t)
    t.start()
