import json

import pytest

from idslab import cli, train
from tests.conftest import streak_data


@pytest.fixture
def fake_data(monkeypatch):
    monkeypatch.setattr(train, "load_data", lambda cfg: streak_data(cfg.tile))


def test_sites_parsing():
    assert cli.parse_sites("fc1", 0.02) == {"fc1": 0.02}
    assert cli.parse_sites("fc1=0.1, fc2", 0.03) == {"fc1": 0.1, "fc2": 0.03}
    assert cli.parse_sites("", 0.02) == {}            # TrainConfig then says whether the views need a site
    for bad in ("fc1=abc", "fc1=", "=0.1", "fc1,fc1", "fc1,,fc2", ",fc1"):
        with pytest.raises(ValueError, match="--sites"):
            cli.parse_sites(bad, 0.02)


def test_train_writes_record(fake_data, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli.main(["train", "--encoder", "cnn16", "--views", "ids", "--sl", "0.05", "--epochs", "1",
                   "--batch-size", "64", "--device", "cpu", "--quiet", "--out", str(out),
                   "--save-model", str(tmp_path / "m.pt")])
    assert rc == 0
    rec = json.loads(out.read_text())
    model, cfg, hist = train.load_checkpoint(tmp_path / "m.pt")
    assert cfg.sites == {"fc1": 0.05} and hist == rec["loss_history"]
    assert rec["config"]["sites"] == {"fc1": 0.05} and rec["config"]["tile"] == 16
    assert 0 <= rec["metrics"]["mlp_acc"] <= 1 and 0 <= rec["metrics"]["knn_acc"] <= 1
    assert "mlp" in capsys.readouterr().out


def test_compare_prints_a_table(fake_data, capsys):
    rc = cli.main(["compare", "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--quiet",
                   "--conditions", "flip,ids", "--controls", "floor,none"])
    out = capsys.readouterr().out
    assert rc == 0 and "| flip |" in out and "| ids |" in out
    assert "| *floor* (control) |" in out and "| *none* (control) |" in out and "gap closed" in out


@pytest.mark.parametrize("argv,msg", [
    (["train", "--encoder", "cnn16", "--tile", "32"], "cnn32"),
    (["train", "--sl", "-0.1"], ">= 0"),
    (["train", "--views", "rotate"], "unknown views"),
    (["train", "--encoder", "vgg11"], "unknown encoder"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--temperature", "inf"], "--temperature"),
    (["train", "--views", "ids+"], "empty part"),
    (["train", "--views", "ids", "--sites", ""], "--sites"),
    (["train", "--sites", "fc1=abc"], "--sites"),
    (["train", "--sl", "inf"], "--sl"),
    (["train", "--knn-k", "1000", "--n-probe-train", "32"], "--knn-k"),
    (["train", "--encoder", "cnn16", "--tile", "100"], "--tile 16"),
    (["train", "--out", ""], "--out"),
    (["compare", "--conditions", ""], "--conditions"),
])
def test_bad_input_exits_2_with_a_message(argv, msg, capsys, monkeypatch):
    monkeypatch.setattr(train, "load_data", lambda cfg: pytest.fail("work started before the input was checked"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and "cnn100" not in err


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for sub in ("train", "compare", "data", "reproduce"):
        assert sub in out


def test_variant_flags_reach_the_config():
    args = cli.build_parser().parse_args(["train", "--noise", "sample", "--scale-mode", "relative",
                                          "--sites", "all=0.3"])
    cfg = cli.config_from_args(args)
    assert (cfg.noise, cfg.scale_mode, cfg.sites) == ("sample", "relative", {"all": 0.3})


def test_bad_variant_flag_exits_2(capsys):
    assert cli.main(["train", "--sites", "features.7=0.1"]) == 2
    assert "unknown perturbation site 'features.7'" in capsys.readouterr().err
