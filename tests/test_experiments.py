"""Grids, the results store (hashing, atomic records, resume), sweep_sl and the reproduce command, on tiny data."""
import dataclasses
import json

import pytest
import torch

from idslab import experiments as ex
from idslab.records import condition_name
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
    assert len(ex.get_grid("table1").configs(controls=False)) == 8 * 3 * 3
    assert len(ex.get_grid("table2").configs(controls=False)) == 8 * 2 * 3
    fig3 = ex.get_grid("fig3")
    sls = {c.sites["fc1"] for c in fig3.configs(controls=False)}
    assert min(sls - {0.0}) == 0.01 and max(sls) == 0.20 and len(fig3.seeds) == 5
    assert 0.0 in sls                                            # s_l = 0: IDS without noise, no augmentation


def test_table1_resnet_rows_carry_the_discussions_every_layer_ids():
    cfgs = ex.get_grid("table1").configs()
    every = [c for c in cfgs if condition_name(c.views, c.sites) != c.views]
    assert {(c.encoder, condition_name(c.views, c.sites)) for c in every} == {
        (e, n) for e in ex.DISCUSSION_ROWS for n in ex.EVERY_LAYER}
    assert len(every) == len(ex.DISCUSSION_ROWS) * len(ex.EVERY_LAYER) * 3           # 3 paired seeds
    # the row's protocol (5 epochs) and relative noise; the fc1-only "ids" column is untouched
    assert all(c.epochs == 5 and c.scale_mode == "relative" and c.views == "ids" for c in every)
    assert all(c.sites == {"fc1": 0.02} for c in cfgs if c.views == "ids" and c not in every)
    assert not any(condition_name(c.views, c.sites) != c.views for c in ex.get_grid("table2").configs())
    # distinct records: the hash sees the sites and the scale mode
    assert len({ex.config_hash(c) for c in cfgs}) == len(cfgs)


def test_grids_carry_the_controls():
    t1 = ex.get_grid("table1")
    extra = [c for c in t1.configs() if c.views == "none"]
    assert len(extra) == 8 * 2 * 3                               # none and floor, per encoder and seed
    assert sum(c.epochs == 0 for c in extra) == 8 * 3
    assert all(c.epochs == ex.SHORT_ROWS.get(c.encoder, {}).get("epochs", 20) for c in extra if c.epochs)
    assert [n for n, _ in t1.baseline_configs()].count("supervised") == 8 * 3
    fig3 = ex.get_grid("fig3", quick=True)
    assert {c.views for c in fig3.configs()} == {"ids", "none"} and not any(c.views == "none" and c.epochs
                                                                              for c in fig3.configs())
    # the paper's cells keep their record names (hash) when the controls are added
    assert [ex.config_hash(c) for c in t1.configs(controls=False)] == [
        ex.config_hash(c) for c in t1.configs() if c.views != "none" and condition_name(c.views, c.sites) == c.views]
    for name in ex.GRID_NAMES:
        full, quick = ex.get_grid(name), ex.get_grid(name, quick=True)
        assert len(quick.configs()) < len(full.configs())
        # one protocol per grid: every cell differs only in encoder, views, s_l and seed
        protos = {json.dumps(ex.protocol(c), sort_keys=True) for c in quick.configs() if c.epochs}  # floor: 0
        assert len(protos) == 1
    with pytest.raises(ValueError, match="unknown grid"):
        ex.get_grid("table3")


def test_per_encoder_rows_change_only_their_own_cells():
    """The full tables' rows of CNN-256 and the ResNets pre-train SHORT_ROWS epochs: every trained cell of those rows
    with pre-training, nothing else. Every other cell (and every trivial/supervised control, which do not
    pre-train) has the config, and so the record name, it had before per_encoder existed."""
    for name in ("table1", "table2"):
        grid = ex.get_grid(name)
        plain = dataclasses.replace(grid, per_encoder={})
        for new, old in zip(grid.configs(), plain.configs()):
            if new.encoder in ex.SHORT_ROWS and old.epochs > 0:
                assert new.epochs == 5 and dataclasses.replace(new, epochs=old.epochs) == old
            else:
                assert ex.config_hash(new) == ex.config_hash(old)
        assert grid.baseline_configs() == plain.baseline_configs()
        assert {c.encoder for c in grid.configs() if c.epochs == 5} == set(ex.SHORT_ROWS)
        assert grid.report_title.endswith("(5 pre-training epochs for CNN-256, ResNet-18, ResNet-50; 20 for the "
                                          "others)")
        assert grid.describe()["per_encoder"] == ex.SHORT_ROWS
    # only the rows present are named; a grid without them keeps its title
    assert dataclasses.replace(ex.get_grid("table1"), encoders=("cnn8", "resnet18")).report_title.endswith(
        "(5 pre-training epochs for ResNet-18; 20 for the others)")
    assert dataclasses.replace(ex.get_grid("table1"), encoders=("cnn8",)).report_title == ex.get_grid("table1").title
    assert ex.get_grid("fig3").per_encoder == {} and ex.get_grid("table1", quick=True).per_encoder == {}


def test_trivial_control_is_one_record_per_data_set():
    """trivial_baseline (logistic regression on tile statistics of the probe splits) reads only the data: the same
    accuracy for every training seed, so one record per (dataset, tile, sizes, data seed) stands for every
    encoder and seed on those data; the supervised control stays per seed."""
    data = streak_data()
    from idslab import baselines
    a, b = baselines.trivial_baseline(data, seed=0), baselines.trivial_baseline(data, seed=7)
    assert a == b
    grid = ex.get_grid("table1")
    paths = {}
    for name, c in grid.baseline_configs():
        paths.setdefault(name, {}).setdefault(c.tile, set()).add(ex.control_path("r", name, c).name)
    assert all(len(v) == 1 for v in paths["trivial"].values()) and len(paths["trivial"]) == 6   # tiles 8 .. 256
    assert all(len(v) == 3 * (1 if t < 256 else 3) for t, v in paths["supervised"].items())     # seeds x encoders
    base = TrainConfig(**TINY)
    same = ex.control_path("r", "trivial", base)
    assert same == ex.control_path("r", "trivial", dataclasses.replace(base, seed=3, epochs=9, views="flip"))
    for over in ({"data_seed": 1}, {"n_probe_test": 64}, {"dataset": "cifar"}, {"tile": 32, "encoder": "cnn32"}):
        assert ex.control_path("r", "trivial", dataclasses.replace(base, **over)) != same, over


def test_hash_ignores_paths_and_device_but_not_the_protocol():
    a = TrainConfig(**TINY)
    assert ex.config_hash(a) == ex.config_hash(TrainConfig(**{**TINY, "device": "auto"}, data_dir="/elsewhere"))
    assert ex.config_hash(a) != ex.config_hash(TrainConfig(**{**TINY, "seed": 1}))
    assert ex.config_hash(a) != ex.config_hash(TrainConfig(**TINY, sites={"fc1": 0.05}))


def test_sweep_sl_trains_for_real():
    base = TrainConfig(**TINY)
    a = ex.sweep_sl(base, [0.05], [0], data=streak_data())
    assert [r["config"]["sites"] for r in a] == [{"fc1": 0.0}, {"fc1": 0.05}, {"fc1": 0.0}]   # s_l = 0, 0.05, floor
    assert a[1]["loss_history"] and a[1]["final_loss"] == a[1]["loss_history"][-1]
    assert a[2]["control"] == "floor" and a[2]["config"]["epochs"] == 0 and a[2]["final_loss"] is None
    assert 0.0 <= a[1]["metrics"]["mlp_acc"] <= 1.0 and "diagnostics" in a[1]["metrics"]
    only = ex.sweep_sl(base, [0.05], [0], data=streak_data(), include_zero=False, floor=False)
    assert [r["config"]["sites"] for r in only] == [{"fc1": 0.05}]


def test_sweep_sl_stores_and_resumes(tmp_path, fake_run):
    data = streak_data()
    base = TrainConfig(**TINY)
    calls = []
    kw = dict(data=data, results_dir=tmp_path, include_zero=False, floor=False)
    recs = ex.sweep_sl(base, [0.01, 0.1], [0], progress=lambda d, t, r: calls.append((d, t, r is None)), **kw)
    assert [r["config"]["sites"]["fc1"] for r in recs] == [0.01, 0.1]
    assert calls[0] == (0, 2, True) and calls[-1] == (2, 2, False)
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 2 and not list(tmp_path.glob("*.tmp*"))
    # a half-written record is rerun, finished ones are read back, not retrained
    files[0].write_text("{\"config\": ")
    calls.clear()
    again = ex.sweep_sl(base, [0.01, 0.1], [0], progress=lambda d, t, r: calls.append((d, t, r is None)), **kw)
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


def test_run_grid_runs_and_resumes_the_controls(tmp_path, monkeypatch, fake_run):
    _fake_baselines(monkeypatch)
    trivial_runs = []
    fake = ex.baselines.trivial_baseline
    monkeypatch.setattr(ex.baselines, "trivial_baseline", lambda data, seed=0: trivial_runs.append(seed) or
                        fake(data, seed))
    grid = ex.Grid("table1", "tiny table", "meteor", ("cnn16",), ("ids", "flip"), (0, 1),
                   overrides={k: v for k, v in TINY.items() if k != "device"}, quick=True, controls=ex.CONTROLS)
    data = streak_data()
    seen = []
    recs = ex.run_grid(grid, tmp_path, data=data, stack=False, device="cpu",
                       progress=lambda d, t, r: seen.append((d, t)))
    assert len(recs) == 2 * 2 + 2 * 2 + 2 * 2 and seen[-1] == (12, 12)   # conditions, none+floor, trivial+sup.
    from idslab.report import condition_of
    assert sorted({condition_of(r) for r in recs}) == ["flip", "floor", "ids", "none", "supervised", "trivial"]
    folder = ex.grid_dir(tmp_path, grid)
    # the trivial control is one record for both seeds (it reads only the data), shown for each seed
    assert len(ex.load_records(folder, grid)) == 12 and len(ex.load_records(folder)) == 11
    trivial = [r for r in recs if r.get("control") == "trivial"]
    assert [r["config"]["seed"] for r in trivial] == [0, 1] and trivial[0]["metrics"] == trivial[1]["metrics"]
    assert trivial_runs == [0] and trivial[1]["computed_for"]["seed"] == 0
    import idslab.baselines as b
    monkeypatch.setattr(b, "supervised_ceiling", lambda *a, **k: pytest.fail("a finished control was rerun"))
    monkeypatch.setattr(ex, "run", lambda *a, **k: pytest.fail("a finished run was retrained"))
    assert ex.run_grid(grid, tmp_path, data=data, stack=False, device="cpu") == recs
    from idslab.report import table_markdown
    md = table_markdown(recs, "table1")
    assert "IDS (ours) | No aug. | Random init | Trivial | Supervised | Baseline (paper)" in md
    assert "Gap closed" in md and "IDS − no aug." in md


def test_reproduce_command_quick(tmp_path, monkeypatch, capsys, fake_run):
    """`idslab reproduce fig3 --quick` end to end, with the grid shrunk and the data replaced by the stand-in."""
    from idslab import cli, experiments_cli

    tiny = ex.Grid("fig3", "tiny fig3", "meteor", ("cnn16",), ("ids",), (0, 1), sls=(0.02, 0.2),
                   overrides={k: v for k, v in TINY.items() if k != "device"}, quick=True,
                   per_encoder={"cnn16": {"epochs": 2}})
    monkeypatch.setattr(experiments_cli, "get_grid", lambda name, quick=False: tiny)
    monkeypatch.setattr(ex, "load_data", lambda cfg: streak_data())
    argv = ["reproduce", "fig3", "--quick", "--results", str(tmp_path / "res"), "--report-dir",
            str(tmp_path / "rep"), "--device", "cpu", "--quiet"]
    assert cli.main(argv) == 0
    assert "4/4 runs" in capsys.readouterr().out
    md = (tmp_path / "rep" / "fig3_quick.md").read_text()
    assert "| 0.02 |" in md and "| 0.2 |" in md and "0.78" not in md  # paper ranges are given in %
    assert md.startswith("## tiny fig3 (2 pre-training epochs for CNN-16)\n") and "4 runs; dataset meteor, 2 epochs" in md
    assert (tmp_path / "rep" / "fig3_quick.csv").exists() and (tmp_path / "rep" / "fig3_quick.html").exists()
    assert cli.main(argv + ["--report-only"]) == 0


def test_run_configs_stacked_matches_sequential_records(fake_run, monkeypatch):
    """stack=True groups compatible configs into idslab.multi.run_many. The sweep goes on one by one only for a
    reason it names (the stack out of GPU memory); any other error of the stacked path stops it, so a bug there
    cannot hide behind a slower sweep."""
    import warnings

    import torch

    import idslab.multi as multi
    seen = []
    monkeypatch.setattr(multi, "run_many", lambda cfgs, data: seen.append(len(cfgs)) or [ex.run(c) for c in cfgs])
    cfgs = [TrainConfig(**TINY, seed=s) for s in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # a stack that runs says nothing
        recs = ex.run_configs(cfgs, data=streak_data(), stack=True)
    assert seen == [3] and [r["config"]["seed"] for r in recs] == [0, 1, 2]

    def broken(cfgs, data):
        raise RuntimeError("no batching rule")
    monkeypatch.setattr(multi, "run_many", broken)
    with pytest.raises(RuntimeError, match="no batching rule"):
        ex.run_configs(cfgs, data=streak_data(), stack=True)

    def out_of_memory(cfgs, data):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(multi, "run_many", out_of_memory)
    with pytest.warns(UserWarning, match=r"stacked run out of memory on .+; running the 3 configs one by one"):
        recs = ex.run_configs(cfgs, data=streak_data(), stack=True)
    assert [r["config"]["seed"] for r in recs] == [0, 1, 2] and "stacked" not in recs[0]


def test_unstackable_configs_run_alone_without_trying_a_stack(fake_run, monkeypatch):
    """An encoder or objective that cannot stack (multi.can_stack) is decided before any work: no stack is tried."""
    import idslab.multi as multi
    monkeypatch.setattr(multi, "run_many", lambda *a, **k: pytest.fail("a stack was tried"))
    cfgs = [TrainConfig(**{**TINY, "proj_bn": True}, seed=s) for s in range(2)]
    assert not multi.can_stack(cfgs[0])
    assert [r["config"]["seed"] for r in ex.run_configs(cfgs, data=streak_data(), stack=True)] == [0, 1]


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


# --------------------------------------------------------------------------------------------------- compare
def _fake_baselines(monkeypatch):
    monkeypatch.setattr(ex.baselines, "trivial_baseline",
                        lambda data, seed=0: {"acc": 0.6 + 0.01 * seed, "ci": [0.55, 0.65], "n_test": 128})
    monkeypatch.setattr(ex.baselines, "supervised_ceiling", lambda cfg, data, epochs=30, train_on="all": {
        "acc": 0.95, "ci": [0.9, 0.98], "n_test": 128, "wall_s": 0.0})


def test_paired_difference_is_a_t_interval():
    d = ex.paired_difference([0.80, 0.82, 0.81], [0.78, 0.79, 0.80])
    assert d["mean"] == pytest.approx(0.02) and d["n"] == 3
    assert d["ci"][0] == pytest.approx(0.02 - 4.302653 * 0.01 / 3 ** 0.5, abs=1e-6)   # t(0.975, 2) = 4.3027
    assert ex.paired_difference([0.8], [0.7])["ci"] is None
    assert ex.gap_closed(0.8, 0.7, 0.9) == pytest.approx(0.5) and ex.gap_closed(0.8, 0.9, 0.9) is None


def test_parse_condition():
    assert ex.parse_condition("flip") == ("flip", {"views": "flip"})
    assert ex.parse_condition({"views": "ids", "sl": 0.05}) == ("ids s_l=0.05", {"views": "ids",
                                                                               "sites": {"fc1": 0.05}})
    assert ex.parse_condition({"views": "ids", "sl": 0, "label": "IDS-0"})[0] == "IDS-0"
    with pytest.raises(ValueError, match="views"):
        ex.parse_condition({"sl": 0.1})


def test_compare_trains_conditions_and_controls(tmp_path, monkeypatch):
    _fake_baselines(monkeypatch)
    base = TrainConfig(**TINY)
    data = streak_data()
    seen = []
    comp = ex.compare(base, ["flip", {"views": "ids", "sl": 0.05}], seeds=(0, 1), data=data, embed_n=50,
                      results_dir=tmp_path, progress=lambda d, t, r: seen.append((d, t)))
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)         # (2 conditions + none + floor + 2 baselines) x 2
    assert set(comp.models) == {"flip", "ids s_l=0.05", "none", "floor"}
    h, y = comp.embeddings["flip"]
    assert h.shape == (50, 32) and y.shape == (50,)
    floor = [r for r in comp.records if r["label"] == "floor"]
    assert len(floor) == 2 and all(r["config"]["epochs"] == 0 and r["loss_history"] == [] for r in floor)
    none = comp.runs("none")[0]
    assert none["config"]["views"] == "none" and none["config"]["epochs"] == TINY["epochs"]
    assert none["metrics"]["diagnostics"]["alignment"] == pytest.approx(0.0, abs=1e-9)  # identical views
    assert set(comp.controls) == {"floor", "none", "trivial", "supervised"}
    assert comp.controls["supervised"]["acc"] == 0.95
    rows = {r["label"]: r for r in comp.table()}
    assert rows["flip"]["vs_none"]["n"] == 2 and rows["flip"]["vs_none"]["ci"] is not None
    assert rows["floor"]["role"] == "control" and rows["floor"]["gap_closed"] == pytest.approx(0.0, abs=1e-9)
    assert rows["supervised"]["gap_closed"] == pytest.approx(1.0)
    assert "diagnostics_effective_rank" in rows["flip"]
    md = comp.markdown()
    assert "*supervised* (control)" in md and "gap closed" in md
    ex.write_json(tmp_path / "saved.json", comp.to_dict())            # what notebook 01's save button writes
    saved = json.loads((tmp_path / "saved.json").read_text())
    assert len(saved["records"]) == 12 and saved["seeds"] == [0, 1] and saved["controls"]["supervised"]["acc"] == 0.95
    # rerun: everything read back from the store, models from the checkpoints, no training
    monkeypatch.setattr("idslab.train.pretrain", lambda *a, **k: pytest.fail("retrained"))
    again = ex.compare(base, ["flip", {"views": "ids", "sl": 0.05}], seeds=(0, 1), data=data, embed_n=50,
                       results_dir=tmp_path)
    assert [r["metrics"] for r in again.records] == [r["metrics"] for r in comp.records]
    assert set(again.models) == set(comp.models)


def test_compare_runs_the_trivial_control_once(monkeypatch):
    """Without a store too: the trivial control reads only the data, so one fit stands for every seed."""
    _fake_baselines(monkeypatch)
    fits = []
    monkeypatch.setattr(ex.baselines, "trivial_baseline", lambda data, seed=0: fits.append(seed) or {
        "acc": 0.6, "ci": [0.55, 0.65], "n_test": 128})
    comp = ex.compare(TrainConfig(**TINY), ["flip"], seeds=(0, 1, 2), controls=("trivial",), data=streak_data(),
                      keep_models=False)
    assert fits == [0] and [r["config"]["seed"] for r in comp.runs("trivial")] == [0, 1, 2]
    assert comp.controls["trivial"]["n"] == 3 and comp.controls["trivial"]["acc"] == 0.6


def test_compare_rejects_bad_input_before_work():
    base = TrainConfig(**TINY)
    with pytest.raises(ValueError, match="unknown controls"):
        ex.compare(base, ["flip"], controls=("floor", "oracle"))
    with pytest.raises(ValueError, match="views"):
        ex.compare(base, ["flop"])
    with pytest.raises(ValueError, match="seeds"):
        ex.compare(base, ["flip"], seeds=())
    with pytest.raises(ValueError, match="distinct labels"):
        ex.compare(base, ["flip", "flip"])


def test_variant_fields_hash_only_when_not_default():
    # noise / scale_mode came after records existed: at their defaults they leave the key (old records keep their
    # names), any other value makes a different record
    a = TrainConfig(**TINY)
    key = ex.config_key(a)
    assert "noise" not in key and "scale_mode" not in key
    old = {k: v for k, v in a.to_dict().items() if k not in ex._NOT_HASHED and k not in ex._HASHED_IF_NOT_DEFAULT}
    assert key == old | {"data_version": ex.data_version(a.dataset)}
    hashes = {ex.config_hash(TrainConfig(**TINY, **kw)) for kw in
              ({}, {"noise": "sample"}, {"scale_mode": "relative"}, {"noise": "sample", "scale_mode": "relative"},
               {"proj_dim": 64}, {"proj_bn": True})}
    assert len(hashes) == 6


def test_compare_reuses_a_grids_records_without_checkpoints(tmp_path, monkeypatch):
    _fake_baselines(monkeypatch)
    grid = ex.Grid("table1", "tiny table", "meteor", ("cnn16",), ("ids",), (0,),
                   overrides={k: v for k, v in TINY.items() if k != "device"}, quick=True, controls=ex.CONTROLS)
    data = streak_data()
    recs = ex.run_grid(grid, tmp_path, data=data, stack=False, device="cpu")
    monkeypatch.setattr("idslab.train.pretrain", lambda *a, **k: pytest.fail("retrained"))
    base = TrainConfig(**{**grid.overrides, "device": "cpu"})
    comp = ex.compare(base, ["ids"], seeds=(0,), data=data, results_dir=ex.grid_dir(tmp_path, grid),
                      keep_models=False)
    assert not comp.models and sorted(r["metrics"].get("mlp_acc", r["metrics"].get("acc")) for r in comp.records) \
        == sorted(r["metrics"].get("mlp_acc", r["metrics"].get("acc")) for r in recs)


def test_warm_encoder_trains_one_ids_epoch_and_returns_a_cpu_eval_model():
    data = streak_data()
    data.name = "meteor"                                          # a dataset name TrainConfig knows
    model = ex.warm_encoder(data, "cnn16", sl=0.05, epochs=1, batch_size=64, device="cpu")
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert model.encoder.fc1.scale == 0.05                       # the perturbation site is armed at s_l
    untrained = ex.warm_encoder(data, "cnn16", epochs=0, device="cpu")
    assert not torch.equal(model.encoder.fc1.weight, untrained.encoder.fc1.weight)   # the epoch changed W
