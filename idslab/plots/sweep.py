"""Figure 3: probe accuracy versus s_l, ours with error bars (idslab.plots.training.sl_sweep) and the ranges the
paper states in its text (it publishes no values): MLP 0.78-0.82 and k-NN 0.77-0.80 over s_l = 0.01-0.20."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from ..paper import PAPER_FIG3
from .training import sl_sweep

_BANDS = {"mlp_acc": ("#E45756", "paper MLP range"), "knn_acc": ("#4C78A8", "paper k-NN range")}


def sweep_figure(records: Sequence[Mapping], with_paper: bool = True,
                 title: str = "Probe accuracy versus perturbation scale s_l (CNN-16, meteor)") -> go.Figure:
    """Mean ± sample sd (ddof = 1) over seeds per s_l for both probes; with_paper shades the paper's stated ranges."""
    fig = sl_sweep(records, title=title)
    if with_paper:
        for metric, (colour, name) in _BANDS.items():
            lo, hi = PAPER_FIG3[metric]
            x0, x1 = PAPER_FIG3["sl_range"]
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=lo, y1=hi, fillcolor=colour, opacity=0.12, line_width=0,
                          layer="below")
            fig.add_annotation(x=x1, y=hi, text=name, showarrow=False, xanchor="right", yanchor="bottom",
                               font=dict(size=11, color=colour))
    return fig
