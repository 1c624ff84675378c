"""plotly figures of the simulated galaxy spectra (idslab.datasets.spectra): one spectrum with its lines marked, and
one spectrum under data-space views, panel above panel on a shared wavelength axis.

Axes are physical: wavelength in Angstrom (vacuum, the cluster's rest frame), flux density in 1e-17 erg s^-1 cm^-2
A^-1. The [O III] doublet is marked where the galaxy's velocity puts it, lambda0 (1 + v / c).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..datasets.spectra import SpectrumView

FLUX = "flux (10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹)"
_LAYOUT = dict(template="plotly_white", margin=dict(l=70, r=20, t=60, b=50), font=dict(size=13))
_MARKED = ("[O III] 4960", "[O III] 5008", "Hbeta", "Mg b2", "Fe5270")


def _mark(fig: go.Figure, lines: Mapping[str, float], row=None, col=None, names=_MARKED, label: bool = True) -> None:
    for name in names:
        if name in lines:
            colour = "#E45756" if name.startswith("[O III]") else "#9D9D9D"
            text = dict(annotation_text=name, annotation_position="top",
                        annotation_font=dict(size=10, color=colour)) if label else {}
            fig.add_vline(x=float(lines[name]), line=dict(color=colour, width=1, dash="dot"), row=row, col=col,
                          **text)


def spectrum_figure(view: SpectrumView, title: str | None = None) -> go.Figure:
    """One spectrum: the noisy flux, the noise-free model and its 1-sigma noise band, with the [O III] doublet (red)
    and a few absorption lines (grey) marked where the velocity puts them."""
    lam = np.asarray(view.wavelength)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.concatenate([lam, lam[::-1]]),
                             y=np.concatenate([view.clean + view.sigma, (view.clean - view.sigma)[::-1]]),
                             fill="toself", line=dict(width=0), fillcolor="rgba(76,120,168,0.15)",
                             name="±1σ noise", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=lam, y=view.flux, mode="lines", line=dict(color="#4C78A8", width=1),
                             name="observed", hovertemplate="%{x:.1f} Å: %{y:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=lam, y=view.clean, mode="lines", line=dict(color="#222222", width=1.5),
                             name="noise-free model", hoverinfo="skip"))
    _mark(fig, view.lines)
    p = view.params
    fig.update_layout(title=title or (f"v = {p.get('velocity_kms', 0):+.0f} km/s, continuum SNR {p.get('snr', 0):.0f} "
                                      f"per bin, [O III] 5008 SNR {p.get('line_snr', 0):.0f}"),
                      xaxis_title="wavelength (Å, vacuum, cluster rest frame)", yaxis_title=FLUX, height=380,
                      legend=dict(orientation="h", y=-0.25), **_LAYOUT)
    return fig


def views_figure(wavelength, rows: Mapping[str, object], lines: Mapping[str, float] | None = None,
                 title: str = "One spectrum under data-space views", colours=None) -> go.Figure:
    """Panels on a shared wavelength axis, one per view (titled above it): rows {name: (L,) flux}; the original
    doublet's place (lines, red dots) is marked in every panel, so a shift or a reversal shows as lines leaving
    their marks. colours: one line colour per row (default: the original blue, the views orange; for spectra of
    two classes pass the class colours, plots.training.LABEL_COLOURS, so colour means class, not view)."""
    names = list(rows)
    lam = np.asarray(wavelength)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.25 / len(names),
                        subplot_titles=names)
    for r, name in enumerate(names, start=1):
        fig.add_trace(go.Scatter(x=lam, y=np.asarray(rows[name], dtype=np.float64).ravel(), mode="lines",
                                 line=dict(color=colours[r - 1] if colours else "#4C78A8" if r == 1 else "#F58518",
                                           width=1), showlegend=False,
                                 hovertemplate="%{x:.1f} Å: %{y:.2f}<extra></extra>"), row=r, col=1)
        if lines:
            _mark(fig, lines, row=r, col=1, names=("[O III] 4960", "[O III] 5008"), label=False)
    fig.update_xaxes(title_text="wavelength (Å)", row=len(names), col=1)
    # at most ~560 px: marimo's edit mode scrolls any cell output taller than 610 px
    fig.update_layout(title=title, height=min(560, 100 * len(names) + 110), **_LAYOUT)
    for a in fig.layout.annotations:
        if a.text in names:
            a.update(x=0, xanchor="left", font=dict(size=12))                 # at the left, above its panel
    return fig
