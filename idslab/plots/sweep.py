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
from .training import sl_sweep, sweep_points

_BANDS = {"mlp_acc": ("#E45756", "paper MLP range"), "knn_acc": ("#4C78A8", "paper k-NN range")}
_CONTROLS = ("floor", "none", "trivial", "supervised")


def sweep_figure(records: Sequence[Mapping], with_paper: bool = True,
                 title: str = "Probe accuracy versus perturbation scale s_l (CNN-16, meteor)",
                 references: Mapping[str, float] | None = None) -> go.Figure:
    """Mean ± sample sd (ddof = 1) over seeds per s_l for both probes (a categorical s_l axis, s_l = 0 included), the mean
    final loss on a right-hand axis, and the controls as horizontal lines: control records among `records`
    (idslab.records.condition_of: floor, none, trivial, supervised) at their mean MLP accuracy, plus any
    `references` ({control: fraction}); with_paper shades the paper's stated ranges."""
    sweep = [r for r in records if condition_of(r) not in _CONTROLS]
    refs = {}
    for name in _CONTROLS:
        vals = [v for v in (metric_value(r, "mlp_acc") for r in records if condition_of(r) == name) if v is not None]
        if vals:
            refs[name] = float(np.mean(vals)) / 100          # metric_value gives the report's %
    fig = sl_sweep(sweep, title=title, references={**refs, **dict(references or {})})
    if with_paper:
        sls = sorted({r["sl"] for r in sweep_points(sweep)})
        x0, x1 = PAPER_FIG3["sl_range"]
        inside = [i for i, s in enumerate(sls) if x0 - 1e-12 <= s <= x1 + 1e-12]
        for metric, (colour, name) in _BANDS.items():
            lo, hi = PAPER_FIG3[metric]
            if not inside:
                continue
            # the s_l axis is categorical: shade from the first to the last of our values inside the paper's range
            fig.add_shape(type="rect", x0=inside[0] - 0.4, x1=inside[-1] + 0.4, y0=lo, y1=hi, fillcolor=colour,
                          opacity=0.12, line_width=0, layer="below")
            fig.add_annotation(x=inside[-1] + 0.4, y=hi, text=name, showarrow=False, xanchor="right",
                               yanchor="bottom", font=dict(size=11, color=colour))
    return fig
