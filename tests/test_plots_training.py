"""idslab.plots.training: every figure builds from plain arrays, with labelled axes and the expected traces."""
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from idslab.plots import training as P


def test_loss_curves():
    fig = P.loss_curves({"flip": [4.0, 3.5, 3.2], "ids": [4.1, 3.0, 2.5]})
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data] == ["flip", "ids"]
    assert list(fig.data[1].x) == [1, 2, 3] and fig.layout.xaxis.title.text == "epoch"
    assert "loss" in fig.layout.yaxis.title.text


def test_similarity_histograms():
    sims = {v: {"pos": torch.rand(8), "neg": torch.rand(112) - 0.5} for v in ("ids", "flip")}
    fig = P.similarity_histograms(sims)
    assert len(fig.data) == 4 and {t.name for t in fig.data} == {"positive pairs", "negative pairs"}
    assert fig.layout.barmode == "overlay" and fig.layout.xaxis.title.text == "cosine similarity"


def test_cloud_scatter():
    clean = torch.randn(3, 32)
    cloud = clean[:, None] + 0.1 * torch.randn(3, 20, 32)
    fig = P.cloud_scatter(clean, cloud, labels=torch.tensor([0, 1, 1]), class_names=("no echo", "echo"))
    assert len(fig.data) == 3 * 3 + 1
    assert len(fig.data[0].x) == 20 and "echo" in fig.data[0].name
    # zero perturbation (s_l = 0) still draws
    assert len(P.cloud_scatter(clean, clean[:, None].repeat(1, 5, 1)).data) == 10


def test_sl_sweep_error_bars_from_run_records():
    recs = [{"config": {"sites": {"fc1": s}, "seed": seed}, "metrics": {"mlp_acc": a, "knn_acc": a - 0.1}}
            for s, seed, a in [(0.01, 0, 0.8), (0.01, 1, 0.9), (0.1, 0, 0.7), (0.1, 1, 0.7)]]
    fig = P.sl_sweep(recs)
    mlp = fig.data[0]
    assert list(mlp.x) == [0.01, 0.1] and np.allclose(mlp.y, [0.85, 0.7])
    assert np.allclose(mlp.error_y.array, [np.std([0.8, 0.9], ddof=1), 0.0])
    assert "s_l" in fig.layout.xaxis.title.text and fig.data[1].name == "k-NN"
    flat = P.sl_sweep([{"sl": 0.02, "mlp_acc": 0.8, "knn_acc": 0.7}])
    assert list(flat.data[0].y) == [0.8]


def test_view_grid_radar_and_rgb():
    fig = P.view_grid({"original": torch.randn(4, 1, 8, 8), "flip": torch.randn(4, 1, 8, 8)})
    assert len(fig.data) == 8 and fig.data[0].type == "heatmap" and fig.data[0].showscale
    rgb = P.view_grid({"original": torch.rand(2, 3, 8, 8)})
    assert fig.data[1].zmin == fig.data[0].zmin and rgb.data[0].type == "image"
    cols = P.view_grid({"a": torch.randn(1, 1, 8, 8), "b": torch.randn(1, 1, 8, 8)}, by_column=True, zmin=0, zmax=1)
    assert len(cols.data) == 2 and cols.data[1].xaxis == "x2" and cols.data[0].zmax == 1


def test_umap_side_by_side_is_seeded():
    g = np.random.default_rng(0)
    y = np.arange(60) % 2
    emb = {"flip": g.normal(size=(60, 32)) + y[:, None], "ids": g.normal(size=(60, 32)) + 2 * y[:, None]}
    a = P.umap_side_by_side(emb, y, ("vehicle", "animal"), seed=0)
    assert len(a.data) == 4 and a.data[0].name == "vehicle" and len(a.data[0].x) + len(a.data[1].x) == 60
    assert np.allclose(P.umap_2d(emb["ids"], seed=0), P.umap_2d(emb["ids"], seed=0))
    pca = P.umap_side_by_side(emb, y, method="pca")
    assert len(pca.data) == 4 and "PCA" in pca.layout.title.text and pca.layout.xaxis.title.text == "PC 1"
    with pytest.raises(ValueError, match="'umap' or 'pca'"):
        P.umap_side_by_side(emb, y, method="tsne")
    with pytest.raises(ValueError, match="at least 4"):
        P.umap_2d(np.zeros((3, 32)))
