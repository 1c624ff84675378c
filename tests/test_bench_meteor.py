"""benchmarks/bench_meteor.py controls: another encoder at a tile size (--encoder) and a subset of the controls
(--parts), on a tiny stand-in for the meteor data."""
import pytest

import idslab.datasets
from benchmarks.bench_meteor import CONTROLS, controls, main
from idslab.train import TrainConfig, run
from tests.conftest import streak_data


def test_controls_runs_only_the_parts_asked_for_with_the_encoder_asked_for(monkeypatch):
    loaded = []

    def fake_load(name, tile, data_dir=None):
        loaded.append((name, tile))
        return streak_data(tile=tile, n=(256, 64, 64))

    monkeypatch.setattr(idslab.datasets, "load", fake_load)
    out = controls([32], "unused", 1, encoder="resnet18", parts=["floor", "trivial"])
    assert loaded == [("meteor", 32)] and list(out) == ["resnet18@32"]
    res = out["resnet18@32"]
    assert res["encoder"] == "resnet18" and res["tile"] == 32
    assert {"trivial", "floor"} <= set(res) and not {"ceiling", "supervised_probe_train"} & set(res)
    assert 0 <= res["floor"]["mlp_acc"] <= 1 and res["floor"]["n_test"] == 64
    assert set(CONTROLS) == {"trivial", "floor", "probe_train", "all"}
    # the floor is train.run(epochs=0)'s
    cfg = TrainConfig(encoder="resnet18", tile=32, epochs=0, device="cpu")
    rec = run(cfg, data=streak_data(tile=32, n=(256, 64, 64)))["metrics"]
    assert (res["floor"]["mlp_acc"], res["floor"]["knn_acc"]) == (rec["mlp_acc"], rec["knn_acc"])


def test_controls_refuses_unknown_parts_and_encoders_before_simulating(monkeypatch):
    def no_load(*a, **k):
        raise AssertionError("load called before the arguments were checked")

    monkeypatch.setattr(idslab.datasets, "load", no_load)
    with pytest.raises(ValueError, match="parts"):
        controls([64], "unused", 1, parts=["floor", "ceiling"])
    with pytest.raises(ValueError, match="encoder"):
        controls([64], "unused", 1, encoder="resnet19")
    with pytest.raises(ValueError, match="cnn64 takes 64x64 tiles"):   # a CNN-N at another size
        controls([128], "unused", 1, encoder="cnn64")
    with pytest.raises(SystemExit):                                    # the command line offers only CONTROLS
        main(["controls", "--parts", "ceiling"])
