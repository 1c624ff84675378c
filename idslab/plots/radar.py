"""plotly figures of the simulated radar data: a scene with its labels, tiles of both classes, one head echo.

Axes are physical: time in s (pulse j at j * IPP) and altitude in km (gate i at alt_min_km + i * 0.1499 km).
Colour is calibrated SNR in dB (0 dB = mean receiver noise power), shown on a fixed 0 to 40 dB scale by default so
that intensities compare across figures (the SPEC's plots use about 5 to 40 dB).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..datasets import per_class
from ..datasets.meteor import MeteorParams

DB_RANGE = (0.0, 40.0)
_COLORBAR = dict(title="SNR (dB)")


def _axes(params: MeteorParams, n_gates: int, n_pulses: int, alt0_km: float | None = None):
    alt0 = params.alt_min_km if alt0_km is None else alt0_km
    return np.arange(n_pulses) * params.ipp_s, alt0 + np.arange(n_gates) * params.gate_km


def scene_figure(image: np.ndarray, mask: np.ndarray | None = None, params: MeteorParams = MeteorParams(),
                 title: str = "Simulated JRO scene", zrange=DB_RANGE) -> go.Figure:
    """A scene: image (G, P) dB (gate, pulse) as a heatmap over time (s) and altitude (km), and the per-pixel
    head-echo label mask (G, P) bool as an outline (contour) on top and as a second panel."""
    image = np.asarray(image)
    t, alt = _axes(params, *image.shape)
    cols = 2 if mask is not None else 1
    fig = make_subplots(rows=1, cols=cols, shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=("calibrated SNR", "head-echo label")[:cols])
    fig.add_trace(go.Heatmap(z=image, x=t, y=alt, zmin=zrange[0], zmax=zrange[1], colorscale="Viridis",
                             colorbar=_COLORBAR, hovertemplate="t %{x:.3f} s<br>%{y:.1f} km<br>%{z:.1f} dB"), 1, 1)
    if mask is not None:
        m = np.asarray(mask, dtype=np.float32)
        fig.add_trace(go.Contour(z=m, x=t, y=alt, showscale=False, contours=dict(start=0.5, end=0.5, coloring="lines"),
                                 line=dict(color="red", width=1), hoverinfo="skip", name="label"), 1, 1)
        fig.add_trace(go.Heatmap(z=m, x=t, y=alt, colorscale=[[0, "black"], [1, "white"]], showscale=False,
                                 hoverinfo="skip"), 1, 2)
        fig.update_xaxes(title_text="time (s)", row=1, col=2)
    fig.update_xaxes(title_text="time (s)", row=1, col=1)
    fig.update_yaxes(title_text="altitude (km)", row=1, col=1)
    fig.update_layout(title=title, height=450, width=900 if mask is not None else 520)
    return fig


def tiles_figure(tiles, labels, n_per_class: int = 6, classes=("no_echo", "head_echo"),
                 zrange=DB_RANGE) -> go.Figure:
    """A grid of tiles, one row per class: tiles (n, 1, N, N) or (n, N, N) dB, labels (n,) in {0, 1}; the first
    n_per_class tiles of each class. Altitude increases upwards in each tile, time to the right."""
    x = np.asarray(tiles)
    x = x[:, 0] if x.ndim == 4 else x
    y = np.asarray(labels)
    fig = make_subplots(rows=2, cols=n_per_class, horizontal_spacing=0.01, vertical_spacing=0.08,
                        row_titles=list(classes))
    idx = per_class(y, n_per_class).tolist()
    for i in idx:
        c = int(y[i])
        k = [j for j in idx if int(y[j]) == c].index(i)
        fig.add_trace(go.Heatmap(z=x[i], zmin=zrange[0], zmax=zrange[1], colorscale="Viridis",
                                 showscale=(i == idx[0]), colorbar=_COLORBAR), c + 1, k + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=f"{x.shape[-1]}x{x.shape[-1]} tiles by class", height=330,
                      width=110 * n_per_class + 120)
    return fig


def echo_figure(echo, zrange=DB_RANGE, title: str | None = None) -> go.Figure:
    """One head echo (an idslab.datasets.meteor.EchoView): image in dB over time (s) and altitude (km), the true
    trajectory r(t) as a dashed line, the label outline, and the velocity v(t) in a panel below."""
    p = echo.params
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.05)
    fig.add_trace(go.Heatmap(z=echo.image, x=echo.time_s, y=echo.alt_km, zmin=zrange[0], zmax=zrange[1],
                             colorscale="Viridis", colorbar=dict(title="SNR (dB)", len=0.7, y=0.65),
                             hovertemplate="t %{x:.4f} s<br>%{y:.2f} km<br>%{z:.1f} dB"), 1, 1)
    fig.add_trace(go.Contour(z=echo.mask.astype(np.float32), x=echo.time_s, y=echo.alt_km, showscale=False,
                             contours=dict(start=0.5, end=0.5, coloring="lines"), line=dict(color="red", width=1),
                             hoverinfo="skip", name="label"), 1, 1)
    fig.add_trace(go.Scatter(x=echo.time_s, y=echo.track_alt_km, mode="lines", name="r(t)",
                             line=dict(color="white", dash="dash", width=1)), 1, 1)
    fig.add_trace(go.Scatter(x=echo.time_s, y=-echo.velocity_kms, mode="lines", name="|v(t)|",
                             line=dict(color="black")), 2, 1)
    fig.update_yaxes(title_text="altitude (km)", row=1, col=1)
    fig.update_yaxes(title_text="|v| (km/s)", row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(title=title or (f"head echo: v0 {abs(p['v0_kms']):.0f} km/s, a0 {p['a0_kms2']:.1f} km/s², "
                                      f"SNR {p['snr_db']:.0f} dB (pre-filter peak)"),
                      height=560, width=640, showlegend=False)
    return fig
