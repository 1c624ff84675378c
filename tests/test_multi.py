"""Stacked training (idslab.multi) follows the sequential path run for run: same views, λ, losses, weights."""
import pytest
import torch

from idslab.multi import group_compatible, pretrain_many, run_many
from idslab.train import TrainConfig, pretrain
from tests.conftest import signal_data, streak_data

BASE = dict(epochs=1, batch_size=64, n_pretrain=256, device="cpu")


def test_stacked_runs_equal_sequential_runs():
    data = streak_data()
    cfgs = [TrainConfig(**BASE, seed=0, views="ids"), TrainConfig(**BASE, seed=1, views="flip"),
            TrainConfig(**BASE, seed=2, views="ids+fft", sites={"fc1": 0.1})]
    stacked = pretrain_many(cfgs, data)
    for cfg, got in zip(cfgs, stacked):
        ref = pretrain(cfg, data)
        assert got.loss_history == pytest.approx(ref.loss_history, rel=1e-4)
        for name, t in ref.model.state_dict().items():
            torch.testing.assert_close(got.model.state_dict()[name], t, rtol=1e-3, atol=1e-4, msg=name)
        assert got.model.encoder.fc1.scale == ref.model.encoder.fc1.scale


@pytest.mark.parametrize("variant", [dict(sites={"all": 0.05}), dict(noise="sample", scale_mode="relative"),
                                     dict(sites={"features.0": 0.05, "fc1": 0.02}, noise="sample")])
def test_stacked_variants_equal_sequential_runs(variant):
    """Conv sites, per-sample λ and relative σ run stacked through the layers' own forward, run for run as alone."""
    data = streak_data()
    cfgs = [TrainConfig(**BASE, seed=0, **variant), TrainConfig(**BASE, seed=5, views="ids+flip", **variant),
            TrainConfig(**BASE, seed=1, views="flip", **{k: v for k, v in variant.items() if k != "sites"})]
    for cfg, got in zip(cfgs, pretrain_many(cfgs, data)):
        ref = pretrain(cfg, data)
        assert got.loss_history == pytest.approx(ref.loss_history, rel=1e-4)
        for name, t in ref.model.state_dict().items():
            torch.testing.assert_close(got.model.state_dict()[name], t, rtol=1e-3, atol=1e-4, msg=name)


def test_grouping_and_records(monkeypatch):
    monkeypatch.setattr("idslab.train.evaluate", lambda enc, data, cfg: {"mlp_acc": 0.5, "knn_acc": 0.5})
    a, b = TrainConfig(**BASE, seed=0), TrainConfig(**BASE, seed=1)
    c = TrainConfig(**{**BASE, "epochs": 2})
    d = TrainConfig(**BASE, encoder="resnet18", tile=32)
    e, f = TrainConfig(**BASE, encoder="cnn128", seed=0), TrainConfig(**BASE, encoder="cnn128", seed=1)
    g, h = TrainConfig(**BASE, proj_dim=32), TrainConfig(**BASE, proj_bn=True)  # other shapes; BN's running stats
    groups = group_compatible([a, b, c, d, e, f, g, h])
    assert [[i for i, _ in g] for g in groups] == [[0, 1], [2], [3], [4], [5], [6], [7]]
    recs = run_many([a, b], streak_data())
    assert [r["config"]["seed"] for r in recs] == [0, 1] and all(r["stacked"] == 2 for r in recs)
    with pytest.raises(ValueError, match="cannot be stacked"):
        run_many([a, c], streak_data())


def test_stacked_path_runs_the_encoders_own_forward(monkeypatch):
    """A change to the encoder reaches the stacked path: with Encoder.forward altered, stacked still equals
    sequential (it calls the same forward), and a random op in the forward is an error, not silent divergence."""
    from idslab.encoders import Encoder
    data = streak_data()
    orig = Encoder.forward
    monkeypatch.setattr(Encoder, "forward", lambda self, x: 3.0 * orig(self, x) + 1.0)
    cfgs = [TrainConfig(**BASE, seed=0), TrainConfig(**BASE, seed=1, sites={"fc1": 0.1})]
    stacked = pretrain_many(cfgs, data)
    for cfg, got in zip(cfgs, stacked):
        assert got.loss_history == pytest.approx(pretrain(cfg, data).loss_history, rel=1e-4)
    monkeypatch.setattr(Encoder, "forward", lambda self, x: torch.nn.functional.dropout(orig(self, x), 0.1))
    with pytest.raises(RuntimeError, match="random"):
        pretrain_many(cfgs, data)


def test_stacked_and_single_records_have_the_same_keys(monkeypatch):
    from idslab.train import run
    monkeypatch.setattr("idslab.train.evaluate", lambda enc, data, cfg: {"mlp_acc": 0.5, "knn_acc": 0.5})
    data = streak_data()
    single = run(TrainConfig(**BASE), data)
    stacked = run_many([TrainConfig(**BASE), TrainConfig(**BASE, seed=1)], data)[0]
    assert set(stacked) - set(single) == {"stacked", "stacked_pretrain_s"} and set(single) <= set(stacked)
    assert stacked["device_name"] == single["device_name"]


def test_stacked_path_same_seed_same_numbers_on_cpu():
    data = streak_data()
    cfgs = [TrainConfig(**BASE, seed=0, views="ids+flip"), TrainConfig(**BASE, seed=1, sites={"all": 0.05})]
    a, b = pretrain_many(cfgs, data), pretrain_many(cfgs, data)
    for x, y in zip(a, b):
        assert x.loss_history == y.loss_history
        assert all(torch.equal(p, q) for p, q in zip(x.model.state_dict().values(), y.model.state_dict().values()))


@pytest.mark.parametrize("noise", ["view", "sample"])
@pytest.mark.parametrize("objective", ["ntxent", "byol", "simsiam", "vicreg", "barlow"])
def test_stacked_objectives_equal_sequential_runs(objective, noise):
    """Every objective runs stacked as alone: BYOL's target pass draws its λ after the online pass on each run's
    stream, and its EMA runs on the stacked tensors. VICReg and Barlow Twins centre (and Barlow standardises) z over
    the batch, so some parameters (the last bias) get an exactly-zero gradient up to float rounding, which Adam's
    normalisation turns into full-size steps in a rounding-dependent direction: for them the losses agree and the
    representations h agree to 5% (measured: 0.1-4%), not the weights one by one. Per-view and per-sample λ."""
    from idslab.probes import embed
    data = streak_data()
    kw = dict(BASE, epochs=2, objective=objective, noise=noise)
    cfgs = [TrainConfig(**kw, seed=0), TrainConfig(**kw, seed=1, views="ids+flip", sites={"fc1": 0.1}),
            TrainConfig(**kw, seed=2, views="none")]
    centred = objective in ("vicreg", "barlow")
    for cfg, got in zip(cfgs, pretrain_many(cfgs, data)):
        ref = pretrain(cfg, data)
        assert got.loss_history == pytest.approx(ref.loss_history, rel=3e-3 if centred else 1e-4)
        assert got.model.state_dict().keys() == ref.model.state_dict().keys()
        if centred:
            h, h_ref = embed(got.model.encoder, data.probe_test.x), embed(ref.model.encoder, data.probe_test.x)
            assert float((h - h_ref).norm() / h_ref.norm()) < 5e-2
            continue
        for name, t in ref.model.state_dict().items():
            torch.testing.assert_close(got.model.state_dict()[name], t, rtol=1e-3, atol=1e-4, msg=name)


def test_stacked_1d_runs_equal_sequential_runs():
    """1-D encoders stack like the 2-D ones (conv sites, 1-D views): run for run as alone."""
    data = signal_data()
    base = dict(BASE, encoder="cnn1d64", dataset="spectra")
    cfgs = [TrainConfig(**base, seed=0, views="ids+flip", sites={"all": 0.05}),
            TrainConfig(**base, seed=1, views="fft+shift"),
            TrainConfig(**base, seed=2, views="ids", sites={"features.0": 0.05, "fc1": 0.02})]
    assert [len(g) for g in group_compatible(cfgs)] == [3]
    for cfg, got in zip(cfgs, pretrain_many(cfgs, data)):
        ref = pretrain(cfg, data)
        assert got.loss_history == pytest.approx(ref.loss_history, rel=1e-4)
        for name, t in ref.model.state_dict().items():
            torch.testing.assert_close(got.model.state_dict()[name], t, rtol=1e-3, atol=1e-4, msg=name)


def test_run_many_validates_the_data_like_run(monkeypatch):
    """The stacked path has run()'s front (train.prepare): a one-class probe-test split is refused before the
    engine is built, not trained and recorded with a meaningless probe."""
    from idslab.multi import StackedEngine
    data = streak_data()
    data.probe_test.y = torch.zeros_like(data.probe_test.y)
    monkeypatch.setattr(StackedEngine, "__init__", lambda *a, **k: pytest.fail("the engine was built"))
    for entry in (run_many, pretrain_many):
        with pytest.raises(ValueError, match="one class"):
            entry([TrainConfig(**BASE, seed=0), TrainConfig(**BASE, seed=1)], data)


def test_runs_with_different_knn_k_are_not_stacked():
    """The monitor measures a stack with one k-NN (the first run's k and metric): runs that differ there train
    apart, and run_many refuses them together."""
    a, b = TrainConfig(**BASE, knn_k=5), TrainConfig(**BASE, knn_k=10)
    c = TrainConfig(**BASE, knn_metric="euclidean")
    assert [[i for i, _ in g] for g in group_compatible([a, b, c, a])] == [[0, 3], [1], [2]]
    with pytest.raises(ValueError, match="knn_k"):
        run_many([a, b], streak_data())
