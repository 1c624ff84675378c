import argparse
import json
import re

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
    assert unknown_flags(argv[0], err) == []      # the advice names only flags that exist


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


# ------------------------------------------------------------------------- one vocabulary for every entry point
def _sub(name: str) -> argparse.ArgumentParser:
    """The parser of `idslab <name>`."""
    action = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings if s.startswith("--")}


def test_train_compare_embed_and_the_distributed_cli_share_their_flags():
    from idslab import distributed_cli
    train, compare, embed = (_options(_sub(n)) for n in ("train", "compare", "embed"))
    ddp = _options(distributed_cli.build_parser())
    assert ddp == train - {"--device", "--quiet"}         # torchrun picks the device; no progress bar to silence
    assert train - compare == {"--views", "--save-model"}  # compare sets the views per condition, keeps no models
    assert embed - train == {"--model"}                    # what embed reads; its data flags are train's
    assert {"--data", "--data-key", "--label-key", "--tile", "--stride", "--edge"} <= embed & ddp & compare


def test_the_distributed_cli_reads_data_and_prints_an_unlabelled_record(tmp_path, monkeypatch, capsys):
    """`torchrun -m idslab.distributed_cli --data f.npy` (was: "ambiguous option: --data"), on a file without labels
    (metrics None: was a TypeError after the whole run), without torchrun: the process group is faked."""
    import types
    import numpy as np
    import torch
    from idslab import distributed_cli
    np.save(tmp_path / "u.npy", np.zeros((8, 16, 16), np.float32))
    seen = {}

    def fake_run_ddp(cfg, device=None, checkpoint=None):
        seen.update(cfg=cfg, checkpoint=checkpoint)
        return {"metrics": None, "loss_history": [4.1], "pretrain_s": 1.0, "wall_s": 2.0, "device": "cpu x2 (gloo)"}

    monkeypatch.setattr(distributed_cli, "init", lambda: (0, 2, torch.device("cpu")))
    monkeypatch.setattr(distributed_cli, "run_ddp", fake_run_ddp)
    monkeypatch.setattr(distributed_cli, "dist", types.SimpleNamespace(barrier=lambda: None,
                                                                       destroy_process_group=lambda: None))
    assert distributed_cli.main(["--data", str(tmp_path / "u.npy"), "--encoder", "cnn16", "--batch-size", "4",
                                 "--save-model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "r.json")]) == 0
    assert seen["cfg"].data_path == str(tmp_path / "u.npy") and seen["cfg"].dataset == "file"
    assert seen["checkpoint"] == str(tmp_path / "m.pt")
    out = capsys.readouterr().out
    assert "u.npy tile 16 cnn16 views=ids: no labels, probes skipped; final loss 4.100" in out
    assert json.loads((tmp_path / "r.json").read_text())["metrics"] is None


def test_a_flag_prefix_is_never_taken_for_a_longer_flag(capsys):
    # `reproduce` has --data-dir but no --data: with prefix matching `--data x` silently set the data cache to x
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "table1", "--report-only", "--data", "x"])
    assert "unrecognized arguments: --data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--batch", "4"])
    assert "unrecognized arguments: --batch" in capsys.readouterr().err


_COMMAND = re.compile(r"`idslab (\w+)([^`]*)`")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def unknown_flags(command: str, message: str) -> list[str]:
    """The --flags a message of `idslab <command>` names that the command it advises does not have: a flag inside
    a quoted `idslab <other> ...` command belongs to that command, any other to `command` itself."""
    bad = [f for cmd, text in _COMMAND.findall(message) for f in _FLAG.findall(text) if f not in _options(_sub(cmd))]
    return bad + [f for f in _FLAG.findall(_COMMAND.sub("", message)) if f not in _options(_sub(command))]


def test_the_flag_scanner_finds_a_flag_the_command_lacks():
    assert unknown_flags("embed", "use --tile 16, or `idslab train --encoder cnn8 --tile 8`") == []
    assert unknown_flags("embed", "choose --tile <= 40 (and a matching --encoder cnn1dN)") == ["--encoder"]
    assert unknown_flags("embed", "`idslab train --window 8`") == ["--window"]


def test_report_only_over_damaged_records_names_them_and_the_fix(tmp_path, capsys):
    """`reproduce --report-only` over a store whose records are damaged said "no finished runs" and nothing of them."""
    from idslab.experiments import get_grid, grid_dir, record_path
    grid = get_grid("fig3", quick=True)
    folder = grid_dir(tmp_path, grid)
    folder.mkdir(parents=True)
    damaged = [record_path(folder, c) for c in grid.configs()[:2]]
    damaged[0].write_text('{"config": {')                       # half-written
    damaged[1].write_text('{"config": {}, "metrics": {}}')      # not a run record
    assert cli.main(["reproduce", "fig3", "--quick", "--report-only", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "2 record file(s) of fig3 are damaged" in err and all(str(p) in err for p in damaged)
    assert "delete them and run without --report-only" in err and "Traceback" not in err
    assert unknown_flags("reproduce", err) == []
    assert all(p.exists() for p in damaged)                      # named, never deleted by a report


@pytest.mark.parametrize("argv", [
    ["compare", "--conditions", "rotate"], ["compare", "--encoder", "cnn16", "--tile", "32"], ["compare", "--lr", "0"],
    ["compare", "--seeds", "a"], ["train", "--objective", "masked"], ["train", "--dataset", "spectra"],
    ["train", "--dataset", "spectra", "--encoder", "cnn1d512", "--tile", "100"], ["train", "--views", "tilt"],
    ["reproduce", "all", "--budget-s", "-1"], ["data", "meteor", "--tile", "7"],
])
def test_every_message_names_only_flags_of_its_command(argv, capsys, monkeypatch):
    """compare has no --views, embed no --encoder, a notebook no flag at all: advice names what the user can type."""
    monkeypatch.setattr(train, "load_data", lambda cfg: pytest.fail("work started before the input was checked"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("idslab: error: ") and unknown_flags(argv[0], err) == [], err
