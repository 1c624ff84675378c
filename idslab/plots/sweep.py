"""Figure 3: probe accuracy versus s_l, ours with error bars (idslab.plots.training.sl_sweep) and the ranges the
paper states in its text (it publishes no values): MLP 0.78-0.82 and k-NN 0.77-0.80 over s_l = 0.01-0.20.

Beyond the paper (issue 9): the s_l = 0 point (IDS without noise: no augmentation at all), the controls as
horizontal reference lines (random-init floor, trivial baseline, supervised ceiling) and the final NT-Xent loss on
a second axis, so a flat accuracy curve cannot hide that training stopped learning at large s_l.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..paper import PAPER_FIG3
from ..records import condition_of, metric_value
from .training import sl_sweep

_BANDS = {"mlp_acc": ("#E45756", "paper MLP range"), "knn_acc": ("#4C78A8", "paper k-NN range")}
_REFS = {"floor": ("random-init floor (MLP)", "#7f7f7f", "dot"), "trivial": ("trivial baseline", "#B279A2", "dash"),
         "supervised": ("supervised ceiling", "#54A24B", "dashdot")}


def sweep_figure(records: Sequence[Mapping], with_paper: bool = True,
                 title: str = "Probe accuracy versus perturbation scale s_l (CNN-16, meteor)") -> go.Figure:
    """Mean ± sample sd (ddof = 1) over seeds per s_l for both probes; with_paper shades the paper's stated ranges.
    Control records (idslab.report.condition_of: floor, trivial, supervised) become horizontal lines at their mean
    accuracy; records with a final_loss add the mean final loss per s_l on a right-hand axis."""
    sweep = [r for r in records if condition_of(r) not in ("floor", "trivial", "supervised", "none")]
    fig = sl_sweep(sweep, title=title)
    for name, (label, colour, dash) in _REFS.items():
        vals = [metric_value(r, "mlp_acc") for r in records if condition_of(r) == name]
        vals = [v for v in vals if v is not None]
        if vals:
            fig.add_hline(y=float(np.mean(vals)) / 100, line=dict(color=colour, dash=dash, width=1.5),
                          annotation_text=f"{label}: {np.mean(vals):.1f}%", annotation_position="bottom left",
                          annotation_font=dict(size=10, color=colour))
    losses = {}
    for r in sweep:
        if r.get("final_loss") is not None and "config" in r:
            losses.setdefault(float(r["config"].get("sites", {}).get("fc1", 0.0)), []).append(r["final_loss"])
    if losses:
        xs = sorted(losses)
        fig.add_trace(go.Scatter(x=xs, y=[float(np.mean(losses[x])) for x in xs], mode="lines+markers",
                                 name="final NT-Xent loss", yaxis="y2", line=dict(color="#72B7B2", dash="dot"),
                                 hovertemplate="s_l=%{x}<br>final loss=%{y:.3f}<extra></extra>"))
        fig.update_layout(yaxis2=dict(title="final pre-training loss", overlaying="y", side="right",
                                      showgrid=False))
    if with_paper:
        for metric, (colour, name) in _BANDS.items():
            lo, hi = PAPER_FIG3[metric]
            x0, x1 = PAPER_FIG3["sl_range"]
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=lo, y1=hi, fillcolor=colour, opacity=0.12, line_width=0,
                          layer="below")
            fig.add_annotation(x=x1, y=hi, text=name, showarrow=False, xanchor="right", yanchor="bottom",
                               font=dict(size=11, color=colour))
    return fig
