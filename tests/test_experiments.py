"""Grids, the results store (hashing, atomic records, resume), sweep_sl and the reproduce command, on tiny data."""
import json

import pytest

from idslab import experiments as ex
from idslab.train import TrainConfig
from tests.conftest import streak_data

TINY = dict(epochs=1, batch_size=64, n_pretrain=256, n_probe_train=128, n_probe_test=128, device="cpu")


@pytest.fixture
def fake_run(monkeypatch):
    """Replace training by a deterministic function of the config (the store logic is what is under test)."""
    calls = []

    def run(cfg, data=None, progress=None):
        calls.append(cfg)
        acc = 0.5 + 0.01 * cfg.seed + cfg.sites.get("fc1", 0)
        return {"config": cfg.to_dict(), "metrics": {"mlp_acc": acc, "knn_acc": acc - 0.01}, "wall_s": 0.0,
                "pretrain_s": 0.0, "device": "cpu", "device_name": "test", "loss_history": [1.0],
                "versions": {"idslab": "0", "torch": "0"}, "created": "2025-01-01T00:00:00"}
    monkeypatch.setattr(ex, "run", run)
    return calls


def test_grids_have_the_papers_shape():
    assert len(ex.get_grid("table1").configs()) == 8 * 3 * 3
    assert len(ex.get_grid("table2").configs()) == 8 * 2 * 3
    fig3 = ex.get_grid("fig3")
    sls = {c.sites["fc1"] for c in fig3.configs()}
    assert min(sls) == 0.01 and max(sls) == 0.20 and len(fig3.seeds) == 5
    for name in ex.GRID_NAMES:
        full, quick = ex.get_grid(name), ex.get_grid(name, quick=True)
        assert len(quick.configs()) < len(full.configs())
        # one protocol per grid: every cell differs only in encoder, views, s_l and seed
        protos = {json.dumps(ex.protocol(c), sort_keys=True) for c in quick.configs()}
        assert len(protos) == 1
    with pytest.raises(ValueError, match="unknown grid"):
        ex.get_grid("table3")


def test_hash_ignores_paths_and_device_but_not_the_protocol():
    a = TrainConfig(**TINY)
    assert ex.config_hash(a) == ex.config_hash(TrainConfig(**{**TINY, "device": "auto"}, data_dir="/elsewhere"))
    assert ex.config_hash(a) != ex.config_hash(TrainConfig(**{**TINY, "seed": 1}))
    assert ex.config_hash(a) != ex.config_hash(TrainConfig(**TINY, sites={"fc1": 0.05}))


def test_sweep_sl_trains_for_real():
    base = TrainConfig(**TINY)
    a = ex.sweep_sl(base, [0.05], [0], data=streak_data())
    assert a[0]["config"]["sites"] == {"fc1": 0.05} and a[0]["loss_history"]
    assert 0.0 <= a[0]["metrics"]["mlp_acc"] <= 1.0


def test_sweep_sl_stores_and_resumes(tmp_path, fake_run):
    data = streak_data()
    base = TrainConfig(**TINY)
    calls = []
    recs = ex.sweep_sl(base, [0.01, 0.1], [0], data=data, results_dir=tmp_path,
                       progress=lambda d, t, r: calls.append((d, t, r is None)))
    assert [r["config"]["sites"]["fc1"] for r in recs] == [0.01, 0.1]
    assert calls[0] == (0, 2, True) and calls[-1] == (2, 2, False)
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2 and not list(tmp_path.glob("*.tmp*"))
    # a half-written record is rerun, finished ones are read back, not retrained
    files[0].write_text("{\"config\": ")
    calls.clear()
    again = ex.sweep_sl(base, [0.01, 0.1], [0], data=data, results_dir=tmp_path,
                        progress=lambda d, t, r: calls.append((d, t, r is None)))
    assert calls[1] == (1, 2, True) and calls[-1] == (2, 2, False)   # one skipped, one rerun
    assert [r["metrics"] for r in again] == [r["metrics"] for r in recs]
    assert len(fake_run) == 3
    assert len(ex.load_records(tmp_path)) == 2
    with pytest.raises(ValueError, match="IDS"):
        ex.sweep_sl(TrainConfig(**{**TINY, "views": "flip"}), [0.1], [0])


def test_run_grid_resumes_and_reports(tmp_path, monkeypatch, fake_run):
    grid = ex.Grid("fig3", "tiny sweep", "meteor", ("cnn16",), ("ids", "flip"), (0, 1), sls=(0.01, 0.1),
                   overrides={k: v for k, v in TINY.items() if k != "device"}, quick=True)
    assert len(grid.configs()) == 2 * 2 + 2     # flip runs once, not once per s_l
    data = streak_data()
    recs = ex.run_grid(grid, tmp_path, data=data, stack=False, device="cpu")
    folder = ex.grid_dir(tmp_path, grid)
    assert folder.name == "fig3_quick" and len(list(folder.glob("*.json"))) == 6 + 1   # records + grid.json
    assert all(r["grid"] == "fig3" and r["hash"] for r in recs)
    assert ex.load_records(folder, grid) == recs
    monkeypatch.setattr(ex, "run", lambda *a, **k: pytest.fail("a finished run was retrained"))
    assert ex.run_grid(grid, tmp_path, data=data, stack=False, device="cpu") == recs


def test_reproduce_command_quick(tmp_path, monkeypatch, capsys, fake_run):
    """`idslab reproduce fig3 --quick` end to end, with the grid shrunk and the data replaced by the stand-in."""
    from idslab import cli, experiments_cli

    tiny = ex.Grid("fig3", "tiny fig3", "meteor", ("cnn16",), ("ids",), (0, 1), sls=(0.02, 0.2),
                   overrides={k: v for k, v in TINY.items() if k != "device"}, quick=True)
    monkeypatch.setattr(experiments_cli, "get_grid", lambda name, quick=False: tiny)
    monkeypatch.setattr(ex, "load_data", lambda cfg: streak_data())
    argv = ["reproduce", "fig3", "--quick", "--results", str(tmp_path / "res"), "--report-dir",
            str(tmp_path / "rep"), "--device", "cpu", "--quiet"]
    assert cli.main(argv) == 0
    assert "4/4 runs" in capsys.readouterr().out
    md = (tmp_path / "rep" / "fig3_quick.md").read_text()
    assert "| 0.02 |" in md and "| 0.2 |" in md and "0.78" not in md  # paper ranges are given in %
    assert (tmp_path / "rep" / "fig3_quick.csv").exists() and (tmp_path / "rep" / "fig3_quick.html").exists()
    assert cli.main(argv + ["--report-only"]) == 0


def test_run_configs_stacked_matches_sequential_records(fake_run, monkeypatch):
    """stack=True groups compatible configs into idslab.multi.run_many; a failing stack falls back to one by one."""
    import idslab.multi as multi
    seen = []
    monkeypatch.setattr(multi, "run_many", lambda cfgs, data: seen.append(len(cfgs)) or [ex.run(c) for c in cfgs])
    cfgs = [TrainConfig(**TINY, seed=s) for s in range(3)]
    recs = ex.run_configs(cfgs, data=streak_data(), stack=True)
    assert seen == [3] and [r["config"]["seed"] for r in recs] == [0, 1, 2]

    def broken(cfgs, data):
        raise RuntimeError("no batching rule")
    monkeypatch.setattr(multi, "run_many", broken)
    with pytest.warns(UserWarning, match="one by one"):
        assert len(ex.run_configs(cfgs, data=streak_data(), stack=True)) == 3


def test_benchmark_script_runs(capsys):
    import runpy
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_throughput.py"
    mod = runpy.run_path(str(script), run_name="bench")
    assert mod["main"](["--encoder", "cnn8", "--batch-size", "32", "--steps", "2", "--n", "64", "--stack", "2",
                        "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| reference" in out and "stacked x2" in out


def test_a_new_data_version_invalidates_records(monkeypatch):
    cfg = TrainConfig(**TINY)
    before = ex.config_hash(cfg)
    assert ex.config_key(cfg)["data_version"] is not None
    monkeypatch.setattr(ex, "data_version", lambda dataset: "meteor-999")
    assert ex.config_hash(cfg) != before


def test_reproduce_encoders_selects_rows():
    from idslab.experiments_cli import _select
    grid = _select(ex.get_grid("table1"), "cnn16,cnn8")
    assert grid.encoders == ("cnn8", "cnn16") and "rows: cnn8, cnn16" in grid.title
    assert {c.encoder for c in grid.configs()} == {"cnn8", "cnn16"}
    with pytest.raises(ValueError, match="unknown encoders"):
        _select(ex.get_grid("table1"), "vgg")
    with pytest.raises(ValueError, match="none of"):
        _select(ex.get_grid("fig3"), "cnn8")


def test_variant_fields_hash_only_when_not_default():
    # noise / scale_mode came after records existed: at their defaults they leave the key (old records keep their
    # names), any other value makes a different record
    a = TrainConfig(**TINY)
    key = ex.config_key(a)
    assert "noise" not in key and "scale_mode" not in key
    old = {k: v for k, v in a.to_dict().items() if k not in ex._NOT_HASHED and k not in ex._HASHED_IF_NOT_DEFAULT}
    assert key == old | {"data_version": ex.data_version(a.dataset)}
    hashes = {ex.config_hash(TrainConfig(**TINY, **kw)) for kw in
              ({}, {"noise": "sample"}, {"scale_mode": "relative"}, {"noise": "sample", "scale_mode": "relative"})}
    assert len(hashes) == 4
