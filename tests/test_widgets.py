"""idslab.widgets: the ipywidgets s_l explorer recomputes its numbers and figures when the slider moves."""
import ipywidgets as W
import plotly.graph_objects as go
import pytest
import torch

from idslab.encoders import SimCLRModel, build_encoder
from idslab.widgets import sl_explorer


@pytest.fixture
def explorer():
    torch.manual_seed(0)
    model = SimCLRModel(build_encoder("cnn16"))
    x, y = torch.randn(12, 1, 16, 16), torch.arange(12) % 2
    return sl_explorer(model, x, y, views=("ids", "flip"), n_cloud=3, n_draws=16, class_names=("a", "b"))


def test_explorer_builds(explorer):
    assert isinstance(explorer.widget, W.VBox)
    assert isinstance(explorer.cloud_fig, go.FigureWidget) and isinstance(explorer.sim_fig, go.FigureWidget)
    assert "s_l = 0.020" in explorer.stats.value and "ids" in explorer.stats.value
    assert len(explorer.cloud_fig.data) == 3 * 3 + 1 and len(explorer.sim_fig.data) == 4
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()


def test_slider_updates_numbers_and_figures(explorer):
    before_stats = explorer.stats.value
    before_cloud = list(explorer.cloud_fig.data[0].x)
    before_pos = list(explorer.sim_fig.data[1].x)
    explorer.slider.value = 0.15
    assert explorer.stats.value != before_stats and "s_l = 0.150" in explorer.stats.value
    assert list(explorer.cloud_fig.data[0].x) != before_cloud
    assert list(explorer.sim_fig.data[1].x) != before_pos
    assert "0.150" in explorer.sim_fig.layout.title.text
    explorer.draws.value = 24
    assert len(explorer.cloud_fig.data[0].x) == 24


def test_explorer_needs_two_inputs():
    with pytest.raises(ValueError, match="at least 2"):
        sl_explorer(SimCLRModel(build_encoder("cnn8")), torch.randn(1, 1, 8, 8))
