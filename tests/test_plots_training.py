"""idslab.plots.training: every figure builds from plain arrays, with labelled axes and the expected traces."""
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from idslab.plots import training as P


def test_loss_curves():
    fig = P.loss_curves({"flip": [4.0, 3.5, 3.2], "ids": [4.1, 3.0, 2.5]})
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data] == ["flip + rotation", "IDS"]
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
    # equal aspect, and no sample drawn in a class colour
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
    assert not {t.marker.color for t in fig.data} & set(P.LABEL_COLOURS)


def test_sl_sweep_error_bars_references_and_final_loss():
    recs = [{"config": {"sites": {"fc1": s}, "seed": seed}, "metrics": {"mlp_acc": a, "knn_acc": a - 0.1},
             "loss_history": [5.0, loss]}
            for s, seed, a, loss in [(0.0, 0, 0.6, 3.0), (0.01, 0, 0.8, 4.0), (0.01, 1, 0.9, 4.2), (0.1, 0, 0.7, 5.5),
                                     (0.1, 1, 0.7, 5.5)]]
    fig = P.sl_sweep(recs, references={"floor": 0.55, "supervised": 0.95})
    mlp = [t for t in fig.data if t.name == "MLP probe"][0]
    assert list(mlp.x) == ["0", "0.01", "0.1"] and fig.layout.xaxis.type == "category"   # s_l = 0 is shown
    assert np.allclose(mlp.y, [0.6, 0.85, 0.7])
    assert np.allclose(mlp.error_y.array, [0.0, np.std([0.8, 0.9], ddof=1), 0.0])            # sample sd
    loss = [t for t in fig.data if t.name == "final NT-Xent loss"][0]
    assert np.allclose(loss.y, [3.0, 4.1, 5.5]) and loss.yaxis == "y2"
    assert sorted(round(s.y0, 2) for s in fig.layout.shapes) == [0.55, 0.95]                 # reference lines
    assert "s_l" in fig.layout.xaxis.title.text and fig.data[1].name == "k-NN"
    flat = P.sl_sweep([{"sl": 0.02, "mlp_acc": 0.8, "knn_acc": 0.7}])
    assert list(flat.data[0].y) == [0.8] and len(flat.data) == 2                             # no loss: no axis
    # the floor from random-init records in the list itself (as idslab.experiments.sweep_sl returns them)
    floor = {"config": {"sites": {"fc1": 0.0}, "seed": 0, "epochs": 0}, "control": "floor", "metrics": {"mlp_acc": 0.5}}
    assert [round(s.y0, 2) for s in P.sl_sweep(recs + [floor]).layout.shapes] == [0.5]
    assert "0" in list(P.sl_sweep(recs + [floor]).data[0].x)


def test_sl_sweep_from_report_csv():
    text = ("table,metric,encoder,condition,sl,n_seeds,mean,sd,paper_mean,paper_sd\n"
            "fig3,mlp_acc,cnn16,ids,0.01,5,82.0,2.0,,\nfig3,knn_acc,cnn16,ids,0.01,5,76.0,1.0,,\n"
            "fig3,mlp_acc,cnn16,ids,0.1,5,80.0,1.0,,\nfig3,mlp_acc,cnn16,floor,0,5,70.0,0.5,,\n")
    fig = P.sl_sweep_from_csv(text)
    mlp = [t for t in fig.data if t.name == "MLP probe"][0]
    assert list(mlp.x) == ["0.01", "0.1"] and np.allclose(mlp.y, [0.82, 0.80]) and np.allclose(mlp.error_y.array, [0.02, 0.01])
    assert [round(s.y0, 2) for s in fig.layout.shapes] == [0.7]


def test_condition_names_and_reference_levels():
    assert P.condition_name("flip") == "flip + rotation" and P.condition_name("ids+flip") == "IDS + flip"
    assert P.condition_name("weird") == "weird"
    controls = {"floor": {"metrics": {"mlp_acc": 0.7}}, "none": {"metrics": {"mlp_acc": 0.8}},
                "trivial": {"acc": 0.65}, "supervised": {"acc": 0.97}, "odd": {"x": 1}}
    assert P.reference_levels(controls) == {"floor": 0.7, "none": 0.8, "trivial": 0.65, "supervised": 0.97}
    assert P.reference_levels(None) == {}


def test_accuracy_physics_and_diagnostics_bars():
    recs = {"flip": {"metrics": {"mlp_acc": 0.8, "mlp_ci": [0.77, 0.83], "knn_acc": 0.75, "knn_ci": [0.7, 0.8],
                                 "physics": {"velocity_r2": 0.2, "direction_acc": 0.5},
                                 "diagnostics": {"alignment": 0.3, "uniformity": -2.0, "effective_rank": 4.0}}},
            "ids": {"metrics": {"mlp_acc": 0.82, "mlp_ci": [0.79, 0.85], "knn_acc": 0.78, "knn_ci": [0.74, 0.81],
                                "physics": {"velocity_r2": {"value": 0.6, "ci": [0.5, 0.7]}, "direction_acc": 0.9}}}}
    acc = P.accuracy_bars(recs, references={"floor": 0.7})
    assert list(acc.data[0].x) == ["flip + rotation", "IDS"] and np.allclose(acc.data[0].y, [0.8, 0.82])
    assert np.allclose(acc.data[0].error_y.array, [0.03, 0.03]) and len(acc.layout.shapes) == 1
    phys = P.physics_bars(recs)
    assert np.allclose(phys.data[0].y, [0.2, 0.6]) and np.allclose(phys.data[1].y, [0.5, 0.9])
    diag = P.diagnostics_bars(recs)                      # the IDS record has no diagnostics: left out, no error
    assert list(diag.data[2].x) == ["flip + rotation"] and list(diag.data[2].y) == [4.0]
    assert list(diag.data[0].text) == ["0.3"] and diag.data[0].textposition == "outside"   # a 0 bar still reads


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


def test_by_label_groups_seeds_and_skips_baselines():
    recs = [{"label": "ids", "role": "condition", "metrics": {"mlp_acc": a, "mlp_ci": [0, 1], "knn_acc": 0.7,
                                                             "physics": {"velocity_r2": r2}}}
            for a, r2 in ((0.8, 0.2), (0.9, 0.4))]
    recs += [{"label": "flip", "role": "condition", "metrics": {"mlp_acc": 0.75, "mlp_ci": [0.7, 0.8]}},
             {"label": "trivial", "role": "control", "metrics": {"acc": 0.6, "ci": [0.55, 0.65]}}]
    g = P.by_label(recs)
    assert set(g) == {"ids", "flip"} and g["flip"]["metrics"]["mlp_ci"] == [0.7, 0.8] and g["ids"]["n"] == 2
    assert np.isclose(g["ids"]["metrics"]["mlp_acc"], 0.85) and np.isclose(g["ids"]["metrics"]["physics"]["velocity_r2"], 0.3)
    assert np.allclose(g["ids"]["metrics"]["mlp_ci"], [0.85 - 0.0707107, 0.85 + 0.0707107])


def test_accuracy_bars_name_every_control_beside_the_bars_and_tick_both_panels():
    recs = {"flip": {"metrics": {"mlp_acc": 0.8, "mlp_ci": [0.77, 0.83], "knn_acc": 0.6, "knn_ci": [0.56, 0.64]}},
            "ids": {"metrics": {"mlp_acc": 0.9, "mlp_ci": [0.87, 0.92], "knn_acc": 0.88, "knn_ci": [0.85, 0.9]}}}
    fig = P.accuracy_bars(recs, references={"floor": 0.75, "trivial": 0.55, "supervised": 0.93},
                          knn_references={"floor": 0.72})
    names = [t.name for t in fig.data if t.name]
    assert names == ["random init (floor) (MLP): 75.0%", "trivial (tile statistics): 55.0%",
                     "supervised (ceiling): 93.0%", "random init (floor) (k-NN): 72.0%"]   # each named once
    assert not fig.layout.annotations[2:]                       # only the two panel titles: no label on a bar
    assert fig.layout.yaxis.showticklabels and fig.layout.yaxis2.showticklabels
    assert sorted(round(s.y0, 2) for s in fig.layout.shapes) == [0.55, 0.55, 0.72, 0.75, 0.93, 0.93]
    assert list(fig.data[0].x) == ["flip + rotation", "IDS"] == list(fig.data[1].x)


def test_epoch_curves_draw_each_run_per_panel_with_its_colour():
    mon = lambda k: [{"epoch": e + 1, "loss": 5 - e, "knn_acc": k + 0.01 * e, "effective_rank": 8.0,
                      "z_std": 0.9} for e in range(3)]
    fig = P.epoch_curves({"BN head, s_l = 0": mon(0.7), "BN head, s_l = 0.02": mon(0.85),
                          "BN head, s_l = 0 · seed 1": mon(0.72)}, colours=P.head_colour,
                         knn_references={"floor": 0.6})
    lines = [t for t in fig.data if t.x and t.x[0] is not None]
    assert len(lines) == 3 * 4 and [t.showlegend for t in lines[:4]] == [True, False, False, False]
    assert {t.line.color for t in lines} == {"#4C78A8", "#F58518"}
    assert {t.line.dash for t in lines if "seed 1" in t.name} == {"dot"}
    lo, hi = fig.layout.yaxis2.range
    assert lo < 0.6 < hi                                        # the floor's line is inside the k-NN panel
    assert [a.text for a in fig.layout.annotations[:4]] == ["training loss", "k-NN accuracy", "effective rank of h",
                                                            "z_std (0 = collapsed)"]


def test_epoch_curves_show_a_collapse_against_zero():
    """z_std from 0 to at least 1 and the rank of h from 0: a collapsed run sits on the floor of its panel."""
    mon = [{"epoch": e + 1, "loss": -0.5, "knn_acc": 0.7, "effective_rank": 1.7 - 0.1 * e, "z_std": 0.02 - 0.005 * e}
           for e in range(3)]
    fig = P.epoch_curves({"none": mon})
    assert tuple(fig.layout.yaxis4.range) == (0, 1.05) and fig.layout.yaxis3.rangemode == "tozero"
