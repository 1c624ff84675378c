"""`idslab reproduce all` (idslab.study): the whole study's plan (every cell, all 8 encoders, an order that makes a
cut useful), its estimate, and the same command end to end at tiny sizes on the CPU (real meteor data, the one
engine, records stored atomically, resumed, packed into one archive with the torch version)."""
import json
import tarfile

import pytest
import torch

from idslab import cli, study
from idslab.encoders import ENCODERS_2D


def test_plan_holds_every_cell_in_a_useful_order(tmp_path):
    cells = study.plan("full", results=str(tmp_path), device="cuda")
    # Tables 1 (+ the ResNets' two every-layer IDS conditions), 2 (+ supervised per encoder and seed, trivial once
    # per tile: 8 .. 256), Figure 3 (+ 5 + 1)
    assert len(cells) == (120 + 12 + 24 + 6) + (96 + 24 + 6) + (50 + 5 + 1)
    tiers = [c.tier for c in cells]
    assert tiers == sorted(tiers)                              # tier 0, then 1, then 2
    first = [c for c in cells if c.tier == 0]
    for grid in ("table1", "table2"):       # every encoder's IDS / flip / none / floor / supervised, seed 0 ...
        for enc in ENCODERS_2D:
            got = {c.label.split(" ", 2)[2] for c in first if c.grid == grid and c.cfg.encoder == enc
                   and c.kind != "trivial"}
            assert got == {f"{w} seed 0" for w in ("ids", "flip", "none", "floor", "supervised")}, got
            # ... and the trivial control that stands for all its seeds (one per tile)
            assert sum(c.kind == "trivial" and enc in (c.cfg.encoder, *c.also) for c in first if c.grid == grid) == 1
    assert all(c.cfg.seed == 0 for c in first) and {c.cfg.device for c in cells} == {"cuda"}
    assert len({c.path for c in cells}) == len(cells)          # no record is planned twice
    # only the big encoders' later seeds wait for tier 2; the small CNNs' paired seeds come before
    assert {c.cfg.encoder for c in cells if c.tier == 2} == set(study.BIG)
    assert all(c.cfg.seed != 0 for c in cells if c.tier == 2)
    every = [c for c in cells if "ids_all" in c.label]         # the Discussion's cells: after tier 0, seed 0 first
    assert {(c.cfg.encoder, c.tier) for c in every if c.cfg.seed == 0} == {("resnet18", 1), ("resnet50", 1)}
    assert len(every) == 12 and {c.grid for c in every} == {"table1"}
    with pytest.raises(ValueError, match="--grids"):
        study.plan("full", ("table9",))
    with pytest.raises(ValueError, match="--encoders"):
        study.plan("full", encoders=("vgg",))


@pytest.mark.parametrize("grid", ["table1", "table2", "fig3"])
def test_the_study_builds_the_grids_own_records(tmp_path, grid):
    """`idslab reproduce all` and `idslab reproduce table1|table2|fig3` write the same record files for every cell,
    the big encoders' rows included (their shorter pre-training is the grid's, experiments.SHORT_ROWS), so
    either command reuses the other's runs."""
    from idslab.experiments import control_path, get_grid, grid_dir, record_path
    g = get_grid(grid)
    folder = grid_dir(tmp_path, g)
    own = {record_path(folder, c) for c in g.configs()} | {control_path(folder, n, c) for n, c in g.baseline_configs()}
    cells = study.plan("full", (grid,), results=str(tmp_path), device="cuda")
    assert {c.path for c in cells} == own
    assert {c.cfg.encoder for c in cells if c.cfg.epochs == 5} == (set() if grid == "fig3" else
                                                                    {"cnn256", "resnet18", "resnet50"})


def test_dry_run_prints_every_cell_and_the_estimate(tmp_path, capsys):
    rc = cli.main(["reproduce", "all", "--dry-run", "--device", "cuda", "--results", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert rc == 0
    rows = [line for line in out.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert len(rows) == 344
    for enc in ENCODERS_2D:
        assert any(f" {enc} ids seed 0 " in r for r in rows), enc
    assert any(" resnet50 ids_all_depth seed 2 " in r for r in rows)
    assert "H100 estimate" in out and "min wall" in out and "not a measurement" in out
    assert "cumulative: tier 0 ends at" in out and "cut (table2, table1): cnn256, resnet18, resnet50 pre-train 5 epochs" in out
    assert not (tmp_path / "r").exists()                       # a dry run writes nothing


def test_tier0_fits_one_loan_by_the_model(tmp_path):
    """Issue 25: every encoder's seed 0 with its controls inside 9 minutes of one H100, by the cost model (a model
    from the H200's measurements, not a timing: this checks the plan and the model, not a machine)."""
    est = study.estimate(study.plan("full", results=str(tmp_path), device="cuda"), "cuda")
    assert est["tier_end_s"][0] <= 540, est["tier_end_s"]
    assert est["tier_end_s"][0] < est["tier_end_s"][1] < est["tier_end_s"][2] == est["total_s"]


def test_no_stacking_on_the_cpu():
    """The stacked path is slower than sequential runs on the CPU for every encoder it stacks
    (benchmarks/bench_stack.py): the study never stacks there, even when asked."""
    assert study.stacking(True, "cpu") is False and study.stacking("auto", "cpu") is False
    assert study.stacking("auto", "cuda") is True and study.stacking(False, "cuda") is False


def test_bad_input_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("IDSLAB_CIFAR_DIR", raising=False)
    cells = study.plan("tiny", ("table2",), results=str(tmp_path), device="cpu", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--cifar-dir"):
        study.check_sources(cells, None, str(tmp_path))
    assert cli.main(["reproduce", "all", "--budget-s", "-5", "--results", str(tmp_path)]) == 2


def test_tiny_study_end_to_end_resumes_and_packs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IDSLAB_DATA", str(tmp_path / "data"))
    args = ["reproduce", "all", "--tiny", "--device", "cpu", "--grids", "table1,fig3", "--results",
            str(tmp_path / "res"), "--out", str(tmp_path / "out"), "--quiet"]
    cells = study.plan("tiny", ("table1", "fig3"), results=str(tmp_path / "res"), device="cpu")
    # a budget too small for the first batch: nothing runs, nothing is lost, and it says how to continue
    res = study.run_study(cells, budget_s=1e-6, log=lambda s: None)
    assert res["stopped_by_budget"] and res["ran"] == 0 and res["left"] == len(cells)
    assert cli.main(args) == 0
    assert all(c.stored() for c in cells)
    with tarfile.open(tmp_path / "out" / "study.tar.gz") as tar:
        names = tar.getnames()
        man = json.load(tar.extractfile("study/manifest.json"))
        rec = json.load(tar.extractfile(next(n for n in names if "/records/table1_tiny/" in n
                                             and "control_" not in n)))
        csv = tar.extractfile("study/tables/table1_quick.csv").read().decode()
    # one trivial record (it reads only the data) in the table for both seeds
    assert sum("control_trivial_" in n for n in names if "/table1_tiny/" in n) == 1
    assert any(line.startswith("table1,mlp_acc,cnn8,trivial,") and line.split(",")[5] == "2"
               for line in csv.splitlines()), csv
    assert man["torch"] == torch.__version__ and rec["versions"]["torch"] == torch.__version__
    assert man["stored"] == man["cells"] == len(cells) and man["order"] == [c.label for c in cells]
    assert sum("/records/" in n for n in names) == len(cells)
    assert {"study/tables/table1_quick.md", "study/tables/fig3_quick.md"} <= set(names)
    # the every-layer IDS cells ran through the same path and have their own column (records.condition_name)
    assert {line.split(",")[3] for line in csv.splitlines()[1:]} >= {"ids", "ids_all", "ids_all_depth"}
    assert 0 <= rec["metrics"]["mlp_acc"] <= 1 and rec["sizes"]["pretrain"] == study.TINY["n_pretrain"]
    # a rerun trains nothing: every cell is read back from the store
    capsys.readouterr()
    assert cli.main(args) == 0
    assert study.run_study(cells, log=lambda s: None)["ran"] == 0


def test_resnet_stems_are_opt_in():
    from idslab.encoders import build_encoder
    x = torch.randn(2, 1, 32, 32)
    default = build_encoder("resnet18")
    assert default.features.conv1.kernel_size == (7, 7) and default.features.conv1.stride == (2, 2)
    for stem in ("mid", "small"):
        enc = build_encoder("resnet18", stem=stem)
        assert enc.features.conv1.stride == (1, 1) and enc(x).shape == (2, 32)
        assert isinstance(enc.features.maxpool, torch.nn.Identity) == (stem == "small")
    with pytest.raises(ValueError, match="stem"):
        build_encoder("resnet18", stem="vit")
