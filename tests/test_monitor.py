"""The per-epoch monitor (idslab.monitor): its numbers mean what they say, a collapsing run shows as one, and it
never changes what a run trains."""
import math
from types import SimpleNamespace

import pytest
import torch

import idslab.train as T
from idslab.monitor import measure, monitor_set, z_std
from idslab.objectives import SimSiam
from idslab.multi import run_many
from idslab.train import Engine, TrainConfig, pretrain, run
from tests.conftest import streak_data

BASE = dict(encoder="cnn16", epochs=3, batch_size=64, n_pretrain=256, n_probe_train=128, n_probe_test=128,
            device="cpu", knn_k=5)


def test_z_std_is_one_spread_and_zero_collapsed():
    torch.manual_seed(0)
    assert z_std(torch.randn(4096, 16)) == pytest.approx(1.0, abs=0.02)
    assert z_std(torch.ones(100, 16) + 1e-9 * torch.randn(100, 16)) < 1e-6
    with pytest.raises(ValueError, match="n >= 2"):
        z_std(torch.randn(1, 16))


def test_monitor_flags_a_deliberately_collapsing_run(monkeypatch):
    """SimSiam without its stop-gradient (both branches trained toward each other) collapses: z_std -> 0 and the
    effective rank -> 1; a healthy NT-Xent run on the same data stays spread."""
    def no_stop_gradient(self, online, target, views):
        z, _ = online(views, True)
        return z, z
    monkeypatch.setattr(SimSiam, "branches", no_stop_gradient)
    bad = pretrain(TrainConfig(**BASE, objective="simsiam", views="none", lr=1e-2), streak_data()).monitor
    monkeypatch.undo()
    good = pretrain(TrainConfig(**BASE, objective="ntxent"), streak_data()).monitor
    assert bad[-1]["z_std"] < 0.01 and bad[-1]["effective_rank"] < 2.0
    assert good[-1]["z_std"] > 0.2 and good[-1]["effective_rank"] > 5.0


def test_the_monitor_does_not_change_training():
    """It draws nothing from the RNG and restores every module's mode: with or without it, the same run."""
    data = streak_data()
    cfg = TrainConfig(**BASE, views="ids+flip", objective="byol")
    x = data.pretrain.x
    plain = Engine(cfg, x, torch.device("cpu")).fit()[0]
    watched = Engine(cfg, x, torch.device("cpu"), monitor_set(data, torch.device("cpu"))).fit()[0]
    assert plain.monitor == [] and len(watched.monitor) == 3
    assert plain.loss_history == watched.loss_history
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(),
                                                 watched.model.state_dict().values()))


def test_records_carry_the_monitor_and_on_epoch_sees_it():
    data = streak_data()
    seen = []
    rec = run(TrainConfig(**{**BASE, "epochs": 2}), data, on_epoch=seen.append)
    assert rec["monitor"] == seen and [e["epoch"] for e in seen] == [1, 2]
    assert rec["monitor"][-1]["loss"] == pytest.approx(rec["loss_history"][-1])
    stacked_seen = []
    recs = run_many([TrainConfig(**{**BASE, "epochs": 2}, seed=s) for s in (0, 1)], data, on_epoch=stacked_seen.append)
    assert sorted((e["run"], e["epoch"]) for e in stacked_seen) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    for k, r in enumerate(recs):
        assert [e["epoch"] for e in r["monitor"]] == [1, 2]
        assert r["monitor"][-1]["knn_acc"] == next(e["knn_acc"] for e in stacked_seen if e["run"] == k
                                                   and e["epoch"] == 2)
    # the stacked run's monitor reads the same model the single path trains
    single = run(TrainConfig(**{**BASE, "epochs": 2}, seed=1), data)
    for a, b in zip(recs[1]["monitor"], single["monitor"]):
        assert a["knn_acc"] == pytest.approx(b["knn_acc"], abs=0.02)
        assert a["effective_rank"] == pytest.approx(b["effective_rank"], rel=1e-2)


def test_unlabelled_data_is_monitored_without_knn():
    d = streak_data()
    empty = SimpleNamespace(x=d.probe_test.x[:0], y=d.probe_test.y[:0])
    data = SimpleNamespace(**{**vars(d), "probe_train": empty, "probe_test": empty})
    ms = monitor_set(data, torch.device("cpu"))
    assert ms.y_ref is None and len(ms.x_eval) == 256
    model = T.build_model(TrainConfig(**BASE), 1)
    m = measure(model, ms)
    assert m["knn_acc"] is None and math.isfinite(m["z_std"]) and m["effective_rank"] >= 1
    assert model.training                                                   # modes restored
