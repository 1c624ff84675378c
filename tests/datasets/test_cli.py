"""`idslab data` subcommand, built on a bare parser with the module's add_parser."""
import argparse
import json

import pytest

from idslab.datasets.cli import add_parser


def _run(argv):
    parser = argparse.ArgumentParser(prog="idslab")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_meteor_json(tmp_path, capsys):
    argv = ["data", "meteor", "--tile", "16", "--pretrain", "8", "--probe-train", "4", "--probe-test", "4",
            "--data-dir", str(tmp_path), "--json"]
    assert _run(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["splits"]["pretrain"]["n"] == 8 and s["splits"]["probe_test"]["class_counts"]["head_echo"] == 2
    assert s["meta"]["cached"] is False
    e = s["echo_stats"]
    assert e["n"] > 0 and all(len(e[k]) == 3 for k in ("peak_snr_db", "duration_pulses", "extent_per_pulse"))
    assert 20 < e["peak_snr_db"][1] < 27 and s["meta"]["params"]["negatives"] == "matched"
    assert _run(argv[:-1]) == 0
    out = capsys.readouterr().out
    assert "read from cache" in out and "probe_test" in out and "peak SNR" in out


def test_meteor_natural_negatives(tmp_path, capsys):
    argv = ["data", "meteor", "--tile", "16", "--pretrain", "8", "--probe-train", "4", "--probe-test", "4",
            "--data-dir", str(tmp_path), "--negatives", "natural", "--json"]
    assert _run(argv) == 0
    assert json.loads(capsys.readouterr().out)["meta"]["params"]["negatives"] == "natural"


def test_bad_tile_is_value_error(tmp_path):
    with pytest.raises(ValueError, match="divide"):
        _run(["data", "meteor", "--tile", "24", "--data-dir", str(tmp_path)])
