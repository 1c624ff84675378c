"""The s_l explorer for Jupyter (ipywidgets), built on the same functions as the marimo notebook 01:
idslab.diagnostics (perturbed clouds, positive/negative similarities) and idslab.plots.training (the figures).

    from idslab.widgets import sl_explorer
    sl_explorer(model, data.probe_test.x[:64], labels=data.probe_test.y[:64])   # last line of a cell: shows it

Moving the slider recomputes the cloud of perturbed representations f_{W+λ}(x) around the clean f_W(x) for a few
samples, and the positive- versus negative-pair similarity histograms for each view type, and updates the plotly
FigureWidgets in place.
"""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as W
import plotly.graph_objects as go
import torch

from .diagnostics import cloud_stats, pair_similarities, perturbed_cloud, similarity_stats
from .plots.training import cloud_scatter, similarity_histograms

__all__ = ["SlExplorer", "sl_explorer", "stats_html"]


def stats_html(sl: float, cstats: dict, sstats: dict[str, dict]) -> str:
    """One short HTML summary of the numbers behind the figures (also used by tests)."""
    rows = "".join(f"<tr><td>{v}</td><td>{s['pos_mean']:.3f}</td><td>{s['neg_mean']:.3f}</td>"
                   f"<td>{s['gap']:+.3f}</td></tr>" for v, s in sstats.items())
    return (f"<b>s_l = {sl:.3f}</b>: perturbed h̃ lie on average {cstats['spread']:.3f} from the clean h "
            f"({100 * cstats['rel_spread']:.1f}% of |h|, {cstats['spread_over_neighbour']:.2f}× the distance to the "
            f"nearest other sample; mean cos(h̃, h) = {cstats['cos']:.3f})."
            f"<table><tr><th>views</th><th>mean cos, positives</th><th>mean cos, negatives</th><th>gap</th></tr>"
            f"{rows}</table>")


def _refresh(fw: go.FigureWidget, new: go.Figure) -> None:
    """Copy the traces of `new` into `fw` in place (same trace layout; the figures come from the same function)."""
    with fw.batch_update():
        if len(fw.data) != len(new.data):
            fw.data = ()
            fw.add_traces(list(new.data))
            return
        for old, tr in zip(fw.data, new.data):
            spec = tr.to_plotly_json()
            spec.pop("type", None)
            old.update(spec, overwrite=True)


class SlExplorer:
    """ipywidgets s_l explorer. Attributes: slider (FloatSlider), draws (IntSlider), stats (HTML),
    cloud_fig and sim_fig (plotly FigureWidget), widget (the VBox shown in a notebook)."""

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None,
                 views: Sequence[str] = ("ids", "flip", "fft"), sl: float = 0.02,
                 sl_range: tuple[float, float, float] = (0.0, 0.2, 0.005), n_cloud: int = 6, n_draws: int = 64,
                 class_names: Sequence[str] = ("0", "1"), sites: Sequence[str] = ("fc1",), seed: int = 0):
        if x.shape[0] < 2:
            raise ValueError(f"the explorer needs at least 2 inputs (negative pairs), got {x.shape[0]}")
        self.model, self.x, self.labels = model, x, labels
        self.views, self.sites, self.seed = tuple(views), tuple(sites), seed
        self.n_cloud, self.class_names = min(n_cloud, x.shape[0]), tuple(class_names)
        lo, hi, step = sl_range
        self.slider = W.FloatSlider(value=sl, min=lo, max=hi, step=step, description="s_l", readout_format=".3f",
                                    continuous_update=False, layout=W.Layout(width="420px"))
        self.draws = W.IntSlider(value=n_draws, min=8, max=512, step=8, description="draws K",
                                 continuous_update=False, layout=W.Layout(width="420px"))
        self.stats = W.HTML()
        cloud, sims = self._figures()
        self.cloud_fig, self.sim_fig = go.FigureWidget(cloud), go.FigureWidget(sims)
        self.slider.observe(self._on_change, names="value")
        self.draws.observe(self._on_change, names="value")
        intro = W.HTML("<b>Implicit Data Synthesis:</b> each forward pass uses fc1 weights W + λ, "
                       "λ ~ N(0, s_l²) (paper Eq. 1). Move s_l to see the cloud of perturbed representations and "
                       "how far positive pairs (two passes) sit from negative pairs (other samples).")
        self.widget = W.VBox([intro, W.HBox([self.slider, self.draws]), self.stats, self.cloud_fig, self.sim_fig])

    def _figures(self) -> tuple[go.Figure, go.Figure]:
        sl, k = float(self.slider.value), int(self.draws.value)
        xs = self.x[: self.n_cloud]
        clean, cloud = perturbed_cloud(self.model, xs, sl, k, self.sites, seed=self.seed)
        sims = {v: pair_similarities(self.model, self.x, v, sl, self.sites, seed=self.seed) for v in self.views}
        self.stats.value = stats_html(sl, cloud_stats(clean, cloud), {v: similarity_stats(s) for v, s in sims.items()})
        labels = self.labels[: self.n_cloud] if self.labels is not None else None
        return (cloud_scatter(clean, cloud, labels, self.class_names),
                similarity_histograms(sims, title=f"Positive vs negative pairs at s_l = {sl:.3f}"))

    def _on_change(self, _change=None) -> None:
        cloud, sims = self._figures()
        _refresh(self.cloud_fig, cloud)
        _refresh(self.sim_fig, sims)
        self.sim_fig.layout.title = sims.layout.title

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def sl_explorer(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None, **kwargs) -> SlExplorer:
    """Build the explorer; display it by ending a cell with it (or `display(explorer.widget)`).

    model: a SimCLRModel (.encoder, .projector), e.g. idslab.train.pretrain(cfg).model; x: (B, C, N, N) inputs
    (B >= 2; the first n_cloud get clouds); labels (B,) optional. Keyword arguments: see SlExplorer.
    """
    return SlExplorer(model, x, labels, **kwargs)
