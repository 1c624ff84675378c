"""Figure 3: probe accuracy versus s_l, ours with error bars (idslab.plots.training.sl_sweep) and the ranges the
paper states in its text (it publishes no values): MLP 0.78-0.82 and k-NN 0.77-0.80 over s_l = 0.01-0.20."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from .training import sl_sweep, sweep_points

_BANDS = {"mlp_acc": ("#E45756", "paper MLP range"), "knn_acc": ("#4C78A8", "paper k-NN range")}


def sweep_figure(records: Sequence[Mapping], with_paper: bool = True,
                 title: str = "Probe accuracy versus perturbation scale s_l (CNN-16, meteor)",
                 references: Mapping[str, float] | None = None) -> go.Figure:
    """Mean ± population sd over seeds per s_l for both probes, the final loss, the controls' levels as lines
    (references, see idslab.plots.training.reference_levels); with_paper shades the paper's stated ranges."""
    from ..report import PAPER_FIG3

    fig = sl_sweep(records, title=title, references=references)
    if with_paper:
        sls = sorted({r["sl"] for r in sweep_points(records)})
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
