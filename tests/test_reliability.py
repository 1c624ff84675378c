"""Issue 12: every bad input gets a clear error before any work is done, and no finished run is ever lost.

One test per case of the issue's sweep (each failed on the main branch before this file). docs/RELIABILITY.md lists
the cases with their messages.
"""
import json
import math
import os
import stat
import warnings

import pytest
import torch

from idslab import cli, experiments as ex, train
from idslab.datasets import cache
from idslab.loss import nt_xent
from idslab.perturb import PerturbedLinear, set_sites
from idslab.probes import evaluate, knn_predict
from idslab.train import TrainConfig, load_checkpoint, pretrain, run
from tests.conftest import streak_data

FAST = ["--epochs", "1", "--batch-size", "64", "--device", "cpu", "--quiet"]
TINY = dict(encoder="cnn16", views="ids", epochs=1, batch_size=64, device="cpu", n_pretrain=256,
            n_probe_train=128, n_probe_test=128)


@pytest.fixture
def no_work(monkeypatch):
    """Any data load fails the test: the error must come before the work."""
    def refuse(cfg):
        raise AssertionError("work started before the input was checked")
    monkeypatch.setattr(train, "load_data", refuse)


@pytest.fixture
def fake_data(monkeypatch):
    monkeypatch.setattr(train, "load_data", lambda cfg: streak_data(cfg.tile))


def cli_error(argv, capsys) -> str:
    """Run the CLI, expect exit 2 and no traceback; return stderr."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("idslab: error: ")
    return err


# ------------------------------------------------------------------------------------- silent wrong results
@pytest.mark.parametrize("sites", ["", ",,,"])
def test_ids_without_sites_is_an_error(sites, no_work, capsys):
    err = cli_error(["train", "--views", "ids", "--sites", sites, *FAST], capsys)
    assert "--sites" in err


def test_views_with_an_empty_part_is_an_error(no_work, capsys):
    for views in ("ids+", "+flip", "ids++flip"):
        assert "empty part" in cli_error(["train", "--views", views, *FAST], capsys)


class _DivergeOnLastStep(torch.optim.Adam):
    """Adam whose final step writes NaN into the weights, as --lr 1e30 does when it diverges on the last step."""
    steps_left = 4

    def step(self, closure=None):
        out = super().step(closure)
        type(self).steps_left -= 1
        if type(self).steps_left == 0:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("nan"))
        return out


def test_divergence_on_the_last_step_is_caught(monkeypatch, streaks):
    _DivergeOnLastStep.steps_left = 256 // 64  # one epoch of 4 steps: the last one diverges
    monkeypatch.setattr(train.torch.optim, "Adam", _DivergeOnLastStep)
    with pytest.raises(FloatingPointError, match="NaN/inf after the last step"):
        pretrain(TrainConfig(**TINY), streaks)


def test_probes_refuse_nan_embeddings(streaks):
    class NaNEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.full((x.shape[0], 32), float("nan"))
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        evaluate(NaNEncoder(), streaks)


def test_infinite_temperature_is_an_error(no_work, capsys):
    assert "temperature" in cli_error(["train", "--temperature", "inf", *FAST], capsys)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(4, 8), torch.randn(4, 8), float("inf"))


def test_records_never_hold_bare_infinity_or_nan(tmp_path):
    with pytest.raises(ValueError, match="NaN or infinity"):
        train.write_json(tmp_path / "r.json", {"loss": float("inf")})
    assert not (tmp_path / "r.json").exists()


def test_knn_k_larger_than_the_probe_set_is_an_error(no_work, capsys):
    err = cli_error(["train", "--knn-k", "1000", "--n-probe-train", "32", *FAST], capsys)
    assert "--knn-k" in err and "32" in err


def test_knn_k_is_never_clamped_silently(streaks):
    h = torch.randn(32, 4)
    with pytest.raises(ValueError, match="knn-k"):
        knn_predict(h, torch.arange(32) % 2, h, k=1000)
    with pytest.raises(ValueError, match="knn_k"):  # config allows it, the data passed in is smaller
        run(TrainConfig(**{**TINY, "n_probe_train": 2000, "knn_k": 1000}), streaks)


@pytest.mark.parametrize("lr", ["0", "nan", "-1", "inf"])
def test_bad_learning_rate_is_an_error(lr, no_work, capsys):
    assert "lr (--lr) must be a finite number > 0" in cli_error(["train", "--lr", lr, *FAST], capsys)


def test_infinite_scale_is_refused():
    with pytest.raises(ValueError, match="finite"):
        PerturbedLinear(4, 4, scale=float("inf"))
    layer = PerturbedLinear(4, 4)
    with pytest.raises(ValueError, match="finite"):
        layer.scale = float("inf")
    model = torch.nn.Sequential()
    model.add_module("fc1", PerturbedLinear(4, 4))
    with pytest.raises(ValueError, match="finite"):
        set_sites(model, {"fc1": float("inf")})


def test_infinite_sl_fails_before_training(no_work, capsys):
    assert "s_l" in cli_error(["train", "--sl", "inf", *FAST], capsys)
    assert "s_l" in cli_error(["train", "--sites", "fc1=nan", *FAST], capsys)


@pytest.mark.parametrize("b", [0, 1])
def test_nt_xent_needs_two_pairs(b):
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.randn(b, 8), torch.randn(b, 8))


# --------------------------------------------------------------------------------------------- lost work
@pytest.mark.parametrize("flag", ["--out", "--save-model"])
def test_output_under_a_file_fails_before_training(flag, tmp_path, no_work, capsys):
    (tmp_path / "afile").write_text("x")
    err = cli_error(["train", *FAST, flag, str(tmp_path / "afile" / "r.json")], capsys)
    assert flag in err and "is a file" in err


@pytest.mark.parametrize("flag", ["--out", "--save-model"])
def test_unwritable_output_fails_before_training(flag, tmp_path, no_work, monkeypatch, capsys):
    # A read-only folder, as root cannot see it (root writes anyway): the write test itself is refused.
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("idslab.checks.tempfile.mkstemp", refuse)
    err = cli_error(["train", *FAST, flag, str(tmp_path / "r.json")], capsys)
    assert flag in err and "cannot write" in err


def test_output_that_is_a_folder_fails_before_training(tmp_path, no_work, capsys):
    assert "is a folder" in cli_error(["train", *FAST, "--out", str(tmp_path)], capsys)


def test_a_failed_write_after_training_saves_the_record_elsewhere(tmp_path, fake_data, monkeypatch, capsys):
    target = tmp_path / "r.json"
    real = train.atomic_write

    def flaky(path, *chunks):
        if os.fspath(path) == os.fspath(target):
            raise OSError(28, "No space left on device")
        return real(path, *chunks)
    monkeypatch.setattr(train, "atomic_write", flaky)
    monkeypatch.setattr(cli, "fallback_path", lambda p: tmp_path / "fallback.json")
    assert cli.main(["train", *FAST, "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert "saved it to" in err and str(tmp_path / "fallback.json") in err
    assert json.loads((tmp_path / "fallback.json").read_text())["metrics"]["mlp_acc"] >= 0


def _fake_run(calls):
    def run(cfg, data=None, progress=None):
        calls.append(cfg)
        return {"config": cfg.to_dict(), "metrics": {"mlp_acc": 0.6, "knn_acc": 0.55}, "loss_history": [1.0],
                "wall_s": 0.0, "pretrain_s": 0.0, "device": "cpu"}
    return run


@pytest.mark.parametrize("bad", [
    {"config": {}, "metrics": {}},                                           # the keys, nothing in them
    {"config": "meteor", "metrics": [0.5]},                                  # wrong types
    "[1, 2, 3]",                                                             # not an object
])
def test_invalid_records_are_set_aside_and_rerun(bad, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ex, "run", _fake_run(calls))
    cfg = TrainConfig(**TINY)
    path = ex.record_path(tmp_path, cfg)
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    with pytest.warns(UserWarning, match="not a valid run record"):
        recs = ex.run_configs([cfg], data=streak_data(), results_dir=tmp_path)
    assert len(calls) == 1 and recs[0]["metrics"]["mlp_acc"] == 0.6
    assert (tmp_path / (path.name + ".invalid")).exists()        # set aside, not deleted
    assert ex.read_record(path) is not None                        # and the cell now holds a good record


def test_a_wrong_typed_record_does_not_break_reproduce(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(ex, "run", _fake_run(calls))
    grid = ex.get_grid("fig3", quick=True)
    folder = ex.grid_dir(tmp_path, grid)
    folder.mkdir(parents=True)
    cfg = grid.configs(device="cpu", data_dir=str(tmp_path), cifar_dir=None)[0]
    ex.record_path(folder, cfg).write_text(json.dumps({"config": {"seed": "zero"}, "metrics": {"mlp_acc": "high"}}))
    monkeypatch.setattr(ex, "_DataCache", lambda data=None: (lambda cfg: streak_data()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = cli.main(["reproduce", "fig3", "--quick", "--results", str(tmp_path), "--device", "cpu", "--quiet",
                       "--stack", "off", "--data-dir", str(tmp_path)])
    assert rc == 0 and len(calls) == len(grid.configs())


# ------------------------------------------------------------------------------------------ unclear messages
def test_malformed_sites_name_the_flag(no_work, capsys):
    for text in ("fc1=abc", "fc1=", "=0.1", "fc1,fc1", "fc1,,fc2", "fc9"):
        assert "--sites" in cli_error(["train", "--sites", text, *FAST], capsys), text


def test_tile_suggestion_names_only_real_encoders(no_work, capsys):
    err = cli_error(["train", "--encoder", "cnn16", "--tile", "100", *FAST], capsys)
    assert "cnn100" not in err and "--tile 16" in err
    assert "--encoder cnn32" in cli_error(["train", "--encoder", "cnn16", "--tile", "32", *FAST], capsys)


def test_random_bytes_checkpoint_has_our_message(tmp_path):
    (tmp_path / "m.pt").write_bytes(os.urandom(256))
    with pytest.raises(ValueError, match="not a readable idslab checkpoint") as e:
        load_checkpoint(tmp_path / "m.pt")
    assert "weights_only" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("field,value,msg", [
    ("lr", float("nan"), "lr"),
    ("lr", 0.0, "lr"),
    ("weight_decay", -1e-3, "weight_decay"),
    ("dataset", "mnist", "dataset"),
    ("device", "gpu", "device"),
    ("knn_metric", "manhattan", "knn_metric"),
    ("epochs", 2.5, "epochs"),
    ("temperature", 0.0, "temperature"),
    ("batch_size", True, "batch_size"),
    ("seed", -1, "seed"),
    ("sites", {"fc1": "0.02"}, "s_l"),
    ("sites", {"conv9": 0.02}, "unknown perturbation site"),
    ("amp", "yes", "amp"),
    ("data_dir", "", "data_dir"),
])
def test_train_config_validates_every_field(field, value, msg):
    with pytest.raises(ValueError, match=msg):
        TrainConfig(**{**TINY, field: value})


# ----------------------------------------------------------------------------------------- files and Ctrl-C
def test_records_and_checkpoints_get_the_users_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        train.write_json(tmp_path / "r.json", {"a": 1})
        cache.save(tmp_path / "c.pt", {"x": torch.zeros(2)})
    finally:
        os.umask(old)
    for name in ("r.json", "c.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "load_data", interrupted)
    assert cli.main(["train", *FAST]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_compare_keeps_finished_conditions_when_interrupted(tmp_path, monkeypatch, capsys):
    real_pretrain = train.pretrain
    monkeypatch.setattr(train, "load_data", lambda cfg: streak_data(cfg.tile))

    def pretrain(cfg, data=None, progress=None):
        if cfg.views == "ids":
            raise KeyboardInterrupt
        return real_pretrain(cfg, data)
    monkeypatch.setattr(train, "pretrain", pretrain)
    out = tmp_path / "c.json"
    assert cli.main(["compare", *FAST, "--conditions", "flip,ids", "--controls", "", "--out", str(out)]) == 130
    assert [r["config"]["views"] for r in json.loads(out.read_text())] == ["flip"]
    assert math.isfinite(json.loads(out.read_text())[0]["metrics"]["mlp_acc"])
