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
    from idslab import atomic
    target = tmp_path / "r.json"
    real = atomic.atomic_write

    def flaky(path, *chunks):
        if os.fspath(path) == os.fspath(target):
            raise OSError(28, "No space left on device")
        return real(path, *chunks)
    monkeypatch.setattr(atomic, "atomic_write", flaky)              # write_json's writer
    monkeypatch.setattr(atomic, "fallback_path", lambda p: tmp_path / "fallback.json")
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
    ("proj_dim", 0, "proj_dim"),
    ("proj_bn", "no", "proj_bn"),
    ("batch_size", True, "batch_size"),
    ("seed", -1, "seed"),
    ("sites", {"fc1": "0.02"}, "s_l"),
    ("sites", {"conv9": 0.02}, "unknown perturbation site"),
    ("amp", "yes", "amp"),
    ("data_dir", "", "data_dir"),
    ("objective", "simclr", "unknown objective"),
    ("objective", None, "objective"),
    ("ema", 1.5, "ema"),
    ("target_noise", "yes", "target_noise"),
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


# ----------------------------------------------------------------- further cases found beyond the list
def test_a_device_or_pipe_is_never_replaced(tmp_path, no_work, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in cli_error(["train", *FAST, "--out", str(fifo)], capsys)
    with pytest.raises(ValueError, match="not a regular file"):
        cache.atomic_write(fifo, b"x")   # the writer itself refuses too (as root it replaced /dev/null)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize("argv,msg", [
    (["train", *FAST, "--out", ""], "empty path"),
    (["train", *FAST, "--out", "SAME", "--save-model", "SAME"], "same file"),
    (["compare", *FAST, "--conditions", ""], "empty condition"),
    (["compare", *FAST, "--conditions", "flip,,ids"], "empty condition"),
    (["train", *FAST, "--device", "cuda:abc"], "--device"),
    (["train", *FAST, "--weight-decay", "inf"], "--weight-decay"),
    (["train", *FAST, "--seed", "99999999999"], "--seed"),
    (["train", *FAST, "--encoder", "cnn16", "--tile", "0"], "--tile 16"),
    (["train", *FAST, "--objective", "moco"], "--objective"),
])
def test_further_cli_cases(argv, msg, tmp_path, no_work, capsys):
    argv = [str(tmp_path / "x") if a == "SAME" else a for a in argv]
    err = cli_error(argv, capsys)
    assert msg in err and "cnn0" not in err


@pytest.mark.parametrize("argv", [
    ["reproduce", "fig3", "--quick", "--results", "FILE", "--quiet"],
    ["reproduce", "fig3", "--quick", "--results", "DIR", "--report-dir", "FILE", "--quiet"],
    ["data", "meteor", "--data-dir", "FILE"],
    ["train", *FAST, "--data-dir", "FILE/sub"],
])
def test_folder_arguments_that_are_files_fail_before_work(argv, tmp_path, monkeypatch, capsys):
    (tmp_path / "FILE").write_text("x")
    monkeypatch.setattr(ex, "run", lambda *a, **k: pytest.fail("trained"))
    argv = [str(tmp_path / a) if a.startswith(("FILE", "DIR")) else a for a in argv]
    assert "is a file, not a folder" in cli_error(argv, capsys)


def test_a_cache_that_cannot_be_written_keeps_the_data(tmp_path):
    (tmp_path / "FILE").write_text("x")
    with pytest.warns(UserWarning, match="using the data uncached"):
        assert cache.save_or_warn(tmp_path / "FILE" / "c.pt", {"x": torch.zeros(1)}) is None
    (tmp_path / "c.pt").mkdir()   # a folder where the cache file should be: unusable, not a crash
    with pytest.raises(cache.CacheError):
        cache.load(tmp_path / "c.pt")


@pytest.mark.parametrize("damage,msg", [
    (lambda d: d.pretrain.x.__setitem__((0, 0, 0, 0), float("nan")), "NaN/inf"),
    (lambda d: d.probe_test.x.__setitem__((1, 0, 0, 0), float("inf")), "NaN/inf"),
    (lambda d: d.probe_train.y.__setitem__(0, -1), "class indices"),
])
def test_bad_data_fails_before_training(damage, msg, monkeypatch):
    data = streak_data()
    damage(data)
    monkeypatch.setattr(train, "pretrain", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=msg):
        run(TrainConfig(**TINY), data)


def test_nan_pretraining_data_is_named_not_called_a_divergence():
    data = streak_data()
    data.pretrain.x[0] = float("nan")
    with pytest.raises(ValueError, match="pre-training data holds"):
        pretrain(TrainConfig(**TINY), data)


@pytest.mark.parametrize("content,msg", [
    (b"", "not a readable idslab checkpoint"),
    (b'{"config": {}}', "not a readable idslab checkpoint"),
    ("list", "not an idslab checkpoint"),
    ("no-weights", "do not fit"),
])
def test_checkpoint_faults_are_clear(content, msg, tmp_path):
    path = tmp_path / "m.pt"
    if content == "list":
        torch.save([1, 2], path)
    elif content == "no-weights":
        torch.save({"state_dict": {}, "config": {"encoder": "cnn16"}, "loss_history": []}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=msg) as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value)
    with pytest.raises(ValueError, match="is a folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="unknown device"):
        load_checkpoint(path, device="gpu")


@pytest.mark.parametrize("field,value", [
    ("sites", {"fc1": True}), ("sites", None), ("sites", {"": 0.1}), ("knn_k", 5.0), ("cifar_dir", 123),
    ("lr", "1e-3"), ("tile", "16"), ("views", None), ("n_pretrain", 1),
])
def test_train_config_rejects_wrong_types(field, value):
    with pytest.raises(ValueError, match=field.rstrip("s") if field != "sites" else "site"):
        TrainConfig(**{**TINY, field: value})


def test_numpy_numbers_are_stored_as_plain_python():
    import numpy as np
    cfg = TrainConfig(**{**TINY, "epochs": np.int64(2), "lr": np.float32(1e-3), "sites": {"fc1": np.float64(0.1)}})
    assert type(cfg.epochs) is int and type(cfg.lr) is float and type(cfg.sites["fc1"]) is float
    json.dumps(cfg.to_dict(), allow_nan=False)


def test_seeds_and_devices_are_named():
    from idslab.datasets import Sizes, load
    with pytest.raises(ValueError, match="unknown device"):
        train.resolve_device("gpu")
    with pytest.raises(ValueError, match="seeds must be whole numbers"):
        ex.sweep_sl(TrainConfig(**TINY), [0.1], ["a"])
    for seed in (-1, 1.5):
        with pytest.raises(ValueError, match="data seed"):
            load("meteor", 8, seed=seed, sizes=Sizes(8, 8, 8))


def test_a_record_with_nan_accuracy_is_set_aside(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ex, "run", _fake_run(calls))
    cfg = TrainConfig(**TINY)
    rec = _fake_run([])(cfg)
    rec["metrics"]["mlp_acc"] = float("nan")
    ex.record_path(tmp_path, cfg).write_text(json.dumps(rec))   # json.dumps writes a bare NaN
    with pytest.warns(UserWarning, match="mlp_acc"):
        ex.run_configs([cfg], data=streak_data(), results_dir=tmp_path)
    assert len(calls) == 1


def test_sizes_beyond_the_machines_memory_fail_before_generation(no_work):
    from idslab.datasets import Sizes, load
    with pytest.raises(ValueError, match="GiB"):
        load("meteor", 16, sizes=Sizes(10 ** 9, 32, 32))


def test_report_only_without_records_is_an_error(tmp_path, capsys):
    err = cli_error(["reproduce", "fig3", "--quick", "--report-only", "--results", str(tmp_path)], capsys)
    assert "no finished runs" in err


def test_a_bad_supervised_epochs_fails_before_the_conditions_train(monkeypatch):
    monkeypatch.setattr(ex, "_trained_run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="supervised_epochs"):
        ex.compare(TrainConfig(**TINY), ["ids"], controls=("supervised",), data=streak_data(), supervised_epochs=0)


def test_a_cifar_dir_that_is_a_file_is_called_a_file(tmp_path):
    from idslab.datasets.cifar import find_folders
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileNotFoundError, match="is a file"):
        find_folders(tmp_path / "f")


@pytest.mark.parametrize("argv,msg", [(["--lr", "nan"], "--lr"), (["--out", "FILE/r.json"], "is a file")])
def test_the_ddp_entry_point_checks_before_starting(argv, msg, tmp_path, monkeypatch, capsys):
    from idslab import distributed_cli
    (tmp_path / "FILE").write_text("x")
    monkeypatch.setattr(distributed_cli, "init", lambda: pytest.fail("process group started"))
    argv = [str(tmp_path / a) if a.startswith("FILE") else a for a in argv]
    assert distributed_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
