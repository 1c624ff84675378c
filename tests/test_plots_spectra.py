"""idslab.plots.spectra: the views figure colours each panel as asked (colour = class in notebook 05's data panel)."""
import numpy as np

from idslab.plots import spectra as PS
from idslab.plots.training import LABEL_COLOURS


def test_views_figure_colours_the_views_or_the_classes():
    lam, flux = np.linspace(4800, 5400, 64), np.ones(64)
    default = PS.views_figure(lam, {"original": flux, "reversed": flux, "shifted": flux})
    assert [t.line.color for t in default.data] == ["#4C78A8", "#F58518", "#F58518"]
    classes = [0, 0, 1, 1]
    by_class = PS.views_figure(lam, {f"s{i}": flux for i in range(4)}, colours=[LABEL_COLOURS[c] for c in classes])
    assert [t.line.color for t in by_class.data] == [LABEL_COLOURS[c] for c in classes]
