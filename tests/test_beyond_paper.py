"""scripts/beyond_paper.py (issue 10): one resumable run end to end, its tables and its written report."""
import runpy
from pathlib import Path

import pytest

from tests.conftest import streak_data

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "beyond_paper.py"


@pytest.fixture(scope="module")
def bp():
    return runpy.run_path(str(SCRIPT), run_name="beyond_paper")


def test_runs_resumes_and_reports(bp, tmp_path, monkeypatch, capsys):
    data = streak_data()
    monkeypatch.setitem(bp["run_all"].__globals__, "QUICK", dict(n_pretrain=256, n_probe_train=128,
                                                                n_probe_test=128, epochs=1, batch_size=64))
    monkeypatch.setitem(bp["run_all"].__globals__, "load_data", lambda cfg: data)
    conds = {"floor (random init)": dict(views="none", epochs=0), "none": dict(views="none"),
             "IDS all": dict(views="ids", sites={"all": 0.3}, noise="sample", scale_mode="relative")}
    monkeypatch.setitem(bp["PARTS"], "variants", conds)
    argv = ["--datasets", "meteor", "--encoders", "cnn16", "--parts", "variants", "--seeds", "0,1", "--results",
            str(tmp_path / "store"), "--out", str(tmp_path / "report.md")]
    assert bp["main"](argv) == 0
    out = capsys.readouterr().out
    assert out.count("] seed") == 6 and "| IDS all |" in out and "| none |" in out
    assert len(list(tmp_path.glob("store/*/*.pt"))) == 6
    assert (tmp_path / "report.md").read_text().strip() == out[out.index("### meteor"):].strip()
    row = next(line for line in out.splitlines() if line.startswith("| IDS all |")).split(" | ")
    assert row[-1].strip(" |") == "2" and float(row[-3].split(" ± ")[0]) >= 1   # seeds; RankMe from the record
    monkeypatch.setitem(bp["run_all"].__globals__, "run", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert bp["main"](argv) == 0                                     # second time: read back, nothing trained
    assert capsys.readouterr().out.count("] seed") == 6
    assert bp["main"](argv[:-2] + ["--report-only", "--headline"]) == 0   # MLP − none over encoders/protocols
    out = capsys.readouterr().out
    assert "| condition | meteor cnn16 |" in out and "| none | *" in out
    assert next(line for line in out.splitlines() if line.startswith("| IDS all |")).endswith("(2) |")


def test_probe_noise_table_rescores_saved_encoders(bp, tmp_path, monkeypatch, capsys):
    data = streak_data()
    monkeypatch.setitem(bp["run_all"].__globals__, "QUICK", dict(n_pretrain=256, n_probe_train=128,
                                                                n_probe_test=128, epochs=1, batch_size=64))
    monkeypatch.setitem(bp["run_all"].__globals__, "load_data", lambda cfg: data)
    monkeypatch.setitem(bp["PARTS"], "variants", {"floor (random init)": dict(views="none", epochs=0),
                                                  "none": dict(views="none")})
    argv = ["--datasets", "meteor", "--parts", "variants", "--seeds", "0,1", "--results", str(tmp_path)]
    assert bp["main"](argv) == 0
    capsys.readouterr()
    args = bp["argparse"].Namespace(results=str(tmp_path), protocol="quick", cifar_dir=None, seeds=[0, 1],
                                    data_version=None)
    got = bp["collect"](args, "meteor", "cnn16", bp["PARTS"]["variants"])
    text = bp["probe_noise_table"](args, "meteor", "cnn16", got, probe_seeds=range(3), n_boot=50)
    rows = [line for line in text.splitlines() if line.startswith("| none |")]
    assert len(rows) == 2
    # the record's own probe (probe seed = training seed) reproduces the stored accuracy difference
    for s, row in zip((0, 1), rows):
        want = 100 * (got["none"][s]["metrics"]["mlp_acc"] - got["floor (random init)"][s]["metrics"]["mlp_acc"])
        assert float(row.split(" | ")[2]) == pytest.approx(want, abs=0.051)
