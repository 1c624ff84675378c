"""scripts/beyond_paper.py (issue 10): its diagnostics, its paired intervals, and one resumable run end to end."""
import runpy
from pathlib import Path

import pytest
import torch

from tests.conftest import streak_data

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "beyond_paper.py"


@pytest.fixture(scope="module")
def bp():
    return runpy.run_path(str(SCRIPT), run_name="beyond_paper")


def test_representation_stats_separate_collapse_from_spread(bp):
    torch.manual_seed(0)
    x = torch.randn(200, 1, 1, 1)
    line = bp["representation_stats"](lambda t: t.flatten(1) * torch.ones(1, 32), x)    # h on one line
    spread = bp["representation_stats"](lambda t: torch.randn(len(t), 32), x)
    assert line["effective_rank"] == pytest.approx(1.0, abs=1e-6) and line["mean_abs_cos"] == pytest.approx(1.0)
    assert spread["effective_rank"] > 25 and spread["uniformity"] < line["uniformity"]


def test_runs_resumes_and_reports(bp, tmp_path, monkeypatch, capsys):
    data = streak_data()
    monkeypatch.setitem(bp["run_all"].__globals__, "QUICK", dict(n_pretrain=256, n_probe_train=128,
                                                                n_probe_test=128, epochs=1, batch_size=64))
    monkeypatch.setitem(bp["run_all"].__globals__, "load_data", lambda cfg: data)
    conds = {"floor (random init)": dict(views="none", epochs=0), "none": dict(views="none"),
             "IDS all": dict(views="ids", sites={"all": 0.3}, noise="sample", scale_mode="relative")}
    monkeypatch.setitem(bp["PARTS"], "variants", conds)
    argv = ["--datasets", "meteor", "--parts", "variants", "--seeds", "0,1", "--results", str(tmp_path)]
    assert bp["main"](argv) == 0
    out = capsys.readouterr().out
    assert out.count("] seed") == 6 and "| IDS all |" in out and "| none |" in out
    assert len(list(tmp_path.glob("*/*.pt"))) == 6
    monkeypatch.setitem(bp["run_all"].__globals__, "run", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert bp["main"](argv) == 0                                     # second time: read back, nothing trained
    assert capsys.readouterr().out.count("] seed") == 6
