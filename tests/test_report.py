"""Reports: mean ± sample sd over seeds (the paper: population sd), best per row bold, the paper's numbers transcribed beside ours."""
import csv
import io

from idslab import report
from idslab.encoders import ENCODERS_2D


def rec(enc, views, seed, mlp, knn, sl=0.02):
    return {"config": {"encoder": enc, "views": views, "seed": seed, "sites": {"fc1": sl}, "dataset": "meteor",
                       "epochs": 5, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-6, "temperature": 0.5,
                       "n_pretrain": 1024, "n_probe_train": 512, "n_probe_test": 600, "knn_k": 20,
                       "knn_metric": "cosine"},
            "metrics": {"mlp_acc": mlp, "knn_acc": knn}, "wall_s": 1.0, "device": "cpu", "device_name": "x86_64",
            "versions": {"idslab": "0.1.0", "torch": "2"}, "created": "2025-01-01T00:00:00"}


def test_paper_tables_are_complete_and_match_the_text():
    for table, conds in (("table1", {"flip", "fft", "ids"}), ("table2", {"flip", "ids"})):
        for m in report.METRICS:
            assert list(report.PAPER[table][m]) == list(ENCODERS_2D)
            assert all(set(row) == conds for row in report.PAPER[table][m].values())
    assert report.PAPER["table1"]["mlp_acc"]["cnn16"]["ids"] == (85.17, 1.43)
    assert report.PAPER["table1"]["knn_acc"]["cnn256"]["fft"] == (57.67, 6.60)
    assert report.PAPER["table2"]["mlp_acc"]["cnn32"]["ids"] == (74.33, 3.40)
    assert report.PAPER["table2"]["knn_acc"]["resnet50"]["flip"] == (76.33, 0.47)


def test_aggregate_uses_sample_sd():
    recs = [rec("cnn8", "ids", s, a, a) for s, a in enumerate((0.80, 0.80, 0.81))]
    mean, sd, n = report.aggregate(recs)[("cnn8", "ids")]["mlp_acc"]
    # ddof = 1 (docs/PROTOCOL.md): 0.577; the paper's population sd of the same values would be 0.47
    assert n == 3 and abs(mean - 80.3333) < 1e-3 and abs(sd - 0.5774) < 1e-3
    assert report.aggregate(recs[:1])[("cnn8", "ids")]["mlp_acc"][1] == 0.0


def test_table_markdown_bolds_best_per_row_and_shows_the_paper():
    recs = [rec("cnn8", v, s, a + 0.01 * s, b) for s in range(3)
            for v, a, b in (("flip", 0.70, 0.90), ("fft", 0.60, 0.60), ("ids", 0.80, 0.50))]
    md = report.table_markdown(recs, "table1")
    mlp_block, knn_block = md.split("**k-NN (%)**")
    row = next(l for l in mlp_block.splitlines() if l.startswith("| CNN-8×8"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[0] == "CNN-8×8" and cells[3].startswith("**81.00") and not cells[1].startswith("**")
    assert cells[6] == "**84.50 ± 0.41**" and cells[4] == "83.50 ± 1.41" and cells[-1] == "3"
    knn_row = next(l for l in knn_block.splitlines() if l.startswith("| CNN-8×8"))
    assert knn_row.split("|")[2].strip().startswith("**90.00")
    assert "CNN-16" not in md                        # only encoders we ran


def test_csv_and_sweep_report(tmp_path):
    recs = [rec("cnn16", "ids", s, 0.8, 0.78, sl=sl) for sl in (0.01, 0.2) for s in range(2)]
    rows = list(csv.DictReader(io.StringIO(report.table_csv(recs, "fig3"))))
    assert len(rows) == 4 and rows[0]["paper_mean"] == "" and float(rows[0]["mean"]) == 80.0
    md = report.report_markdown(recs, "fig3", "sweep")
    assert "| 0.01 | 80.00 ± 0.00 | 78.00 ± 0.00 | 2 |" in md and "78-82%" in md and "77-80%" in md
    paths = report.write_report(recs, "fig3", tmp_path, quick=True)
    assert [p.name for p in paths] == ["fig3_quick.md", "fig3_quick.csv", "fig3_quick.html"]
    assert paths[2].stat().st_size < 1_000_000
    t1 = list(csv.DictReader(io.StringIO(report.table_csv([rec("resnet50", "fft", 0, 0.9, 0.9)], "table1"))))
    assert t1[0]["paper_mean"] == "93.67" and t1[1]["paper_mean"] == "92.50"


def test_sweep_figure_has_error_bars_and_paper_bands():
    from idslab.plots.sweep import sweep_figure
    recs = [rec("cnn16", "ids", s, 0.8 + 0.01 * s, 0.78, sl=sl) for sl in (0.01, 0.05) for s in range(3)]
    fig = sweep_figure(recs)
    assert len(fig.data) == 2 and fig.data[0].error_y.array[0] > 0
    assert len(fig.layout.shapes) == 2
    assert len(sweep_figure(recs, with_paper=False).layout.shapes) == 0


def test_sweep_figure_error_bars_are_sample_sd_like_the_tables():
    from idslab.plots.sweep import sweep_figure
    recs = [rec("cnn16", "ids", s, a, a, sl=0.02) for s, a in enumerate((0.80, 0.80, 0.81))]
    bar = sweep_figure(recs).data[0].error_y.array[0]
    assert abs(bar - 0.005774) < 1e-5                                   # ddof = 1
    assert abs(100 * bar - report.aggregate(recs, by=("sl",))[(0.02,)]["mlp_acc"][1]) < 1e-9


def _controls(enc="cnn16"):
    floor = [dict(rec(enc, "none", s, 0.70, 0.69), config={**rec(enc, "none", s, 0, 0)["config"], "epochs": 0})
             for s in range(3)]
    none = [rec(enc, "none", s, 0.80 + 0.01 * s, 0.79) for s in range(3)]
    sup = [{"control": "supervised", "config": rec(enc, "none", s, 0, 0)["config"], "metrics": {"acc": 0.90},
            "supervised_epochs": 30} for s in range(3)]
    triv = [{"control": "trivial", "config": rec(enc, "none", s, 0, 0)["config"], "metrics": {"acc": 0.75}}
            for s in range(3)]
    return floor + none + sup + triv


def test_tables_show_controls_gap_and_paired_differences():
    recs = [rec("cnn16", "ids", s, 0.82 + 0.01 * s, 0.8) for s in range(3)] + _controls()
    for r in recs[:3]:
        r["metrics"]["physics"] = {"velocity_r2": 0.5, "direction_acc": 0.9}
        r["metrics"]["diagnostics"] = {"effective_rank": 7.0}
    assert report.condition_of(recs[3]) == "floor" and report.condition_of(recs[-1]) == "trivial"
    md = report.table_markdown(recs, "table1")
    row = next(l for l in md.split("**k-NN (%)**")[0].splitlines() if l.startswith("| CNN-16"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1].startswith("**83.00") and cells[2].startswith("81.00") and cells[3].startswith("70.00")
    assert cells[4].startswith("75.00") and cells[5].startswith("90.00")   # trivial, supervised
    # gap closed = (83 - 70) / (90 - 70) = 0.65; IDS - none = +2.0 points every seed: interval of width 0
    gap_row = next(l for l in md.split("Gap closed")[1].splitlines() if l.startswith("| CNN-16"))
    assert "| 0.65 | +2.0 [+2.0, +2.0] | 0.55 |" in gap_row
    assert "velocity R²" in md and "| CNN-16×16 | IDS | 0.50 ± 0.00 | 90.0 ± 0.0 | 7.0 ± 0.0 |" in md
    d = report.paired_vs(recs, "cnn16", "ids")
    assert d["mean"] == 2.0 and d["n"] == 3
    csv_rows = list(csv.DictReader(io.StringIO(report.table_csv(recs, "table1"))))
    assert {r["condition"] for r in csv_rows} == {"ids", "none", "floor", "trivial", "supervised"}
    assert any(r["metric"] == "physics.velocity_r2" for r in csv_rows)
    assert "Controls: no augmentation" in report.report_markdown(recs, "table1")


def test_every_layer_ids_is_a_column_of_its_own_not_averaged_into_ids():
    from idslab.perturb import ALL_SITES
    from idslab.records import _EVERY_LAYER
    assert _EVERY_LAYER == ALL_SITES
    every = []
    for s in range(3):
        r = rec("resnet18", "ids", s, 0.80, 0.75)
        r["config"] |= {"sites": {"all": 0.1}, "scale_mode": "relative"}
        every.append(r)
    recs = [rec("resnet18", "ids", s, 0.60, 0.55) for s in range(3)] + every + _controls("resnet18")
    assert [report.condition_of(r) for r in recs[:6]] == ["ids"] * 3 + ["ids_all"] * 3
    md = report.table_markdown(recs, "table1")
    head = next(l for l in md.splitlines() if l.startswith("| Model | "))
    assert "IDS every layer (ours)" in head and "IDS every layer (paper)" not in head
    row = next(l for l in md.split("**k-NN (%)**")[0].splitlines() if l.startswith("| ResNet-18"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1].startswith("60.00") and cells[2].startswith("**80.00")     # IDS (fc1), IDS every layer
    d = report.paired_vs(recs, "resnet18", "ids_all")            # against none: 80 - (80, 81, 82)
    assert d["mean"] == -1.0 and d["n"] == 3
    gap_head = next(l for l in md.split("Gap closed")[1].splitlines() if l.startswith("| Model"))
    gap_row = next(l for l in md.split("Gap closed")[1].splitlines() if l.startswith("| ResNet-18"))
    rows = list(csv.DictReader(io.StringIO(report.table_csv(recs, "table1"))))
    assert {(r["condition"], r["sl"]) for r in rows if r["metric"] == "mlp_acc"} >= {("ids", "0.02"), ("ids_all", "0.1")}
    assert "IDS every layer: gap" in gap_head and "| 0.50 | " + report._fmt_diff(d) + " |" in gap_row


def test_sweep_report_and_figure_show_zero_floor_and_loss():
    from idslab.plots.sweep import sweep_figure
    recs = [dict(rec("cnn16", "ids", s, 0.8, 0.78, sl=sl), final_loss=5.0 + sl) for sl in (0.0, 0.1)
            for s in range(2)] + [r for r in _controls() if report.condition_of(r) != "none"]
    md = report.sweep_markdown(recs)
    assert "| 0 (no aug.) |" in md and "*Random init* (control) | 70.00" in md and "final loss" in md
    assert "*Supervised* (control) | 90.00 ± 0.00 | (same classifier)" in md
    fig = sweep_figure(recs)
    names = [t.name for t in fig.data]
    assert "final NT-Xent loss" in names and list(fig.data[0].x) == ["0", "0.1"]  # categorical; floor no point
    assert len(fig.layout.shapes) == 2 + 3                                     # paper bands + 3 reference lines


# ---------------------------------------------------------------- the sentences notebook 01 computes from its results
def comp_of(runs, labels=("ids",), seeds=(0,), controls=None):
    """A stand-in Comparison: records with label/role/metrics/config, and its controls' summaries."""
    from idslab.experiments import Comparison
    from idslab.train import TrainConfig
    recs = []
    for lab, seed, mlp, ci, extra in runs:
        recs.append({"label": lab, "role": "condition" if lab in labels else "control",
                     "config": {"seed": seed, "epochs": 0 if lab == "floor" else 5, "batch_size": 256},
                     "metrics": {"mlp_acc": mlp, "mlp_ci": ci, "knn_acc": mlp, "knn_ci": ci}, **extra})
    return Comparison(TrainConfig(), list(labels), list(seeds), recs, {}, {}, controls or {})


def test_comparison_sentences_say_what_the_seeds_resolve():
    one = comp_of([("ids", 0, 0.90, [0.87, 0.92], {}), ("none", 0, 0.91, [0.88, 0.93], {}),
                   ("floor", 0, 0.75, [0.71, 0.78], {})])
    text = report.comparison_sentences(one)
    assert "Identical views (no augmentation) reach 91.0% against the random init's 75.0%, so the encoder " \
           "learned without any view variation." in text
    assert "IDS − no augmentation: -1.0 points with one seed, inside the two runs' 95% intervals" in text
    stuck = comp_of([("ids", 0, 0.76, [0.72, 0.79], {}), ("none", 0, 0.755, [0.72, 0.79], {}),
                     ("floor", 0, 0.75, [0.71, 0.78], {})])
    assert "learned little or nothing" in report.comparison_sentences(stuck)
    # one seed, a gain inside the two runs' Wilson intervals (notebook 04, Barlow Twins: 81.0% vs 78.8%)
    close = comp_of([("ids", 0, 0.892, [0.86, 0.91], {}), ("none", 0, 0.81, [0.777, 0.839], {}),
                     ("floor", 0, 0.788, [0.754, 0.819], {})])
    text = report.comparison_sentences(close)
    assert "reach 81.0% against the random init's 78.8%, inside the two runs' 95% intervals: at these settings it " \
           "learned little or nothing that one seed resolves." in text
    worse = comp_of([("ids", 0, 0.70, [0.66, 0.74], {}), ("none", 0, 0.68, [0.64, 0.72], {}),
                     ("floor", 0, 0.78, [0.75, 0.81], {})])
    assert "reach 68.0% against the random init's 78.0%, below it, outside both runs' 95% intervals: at these " \
           "settings training made h worse." in report.comparison_sentences(worse)
    three = comp_of([(lab, s, a + d, [0.8, 0.95], {}) for s, d in enumerate((0.0, 0.01, -0.01))
                     for lab, a in (("ids", 0.80), ("none", 0.90), ("floor", 0.75))], seeds=(0, 1, 2))
    assert "IDS − no augmentation: -10.0 points [-10.0, -10.0] over 3 seeds, resolvably below identical views." \
        in report.comparison_sentences(three)


def test_direction_sentence_follows_the_intervals():
    g = lambda a, lo, hi: {"metrics": {"physics": {"direction_acc": a, "direction_ci": [lo, hi]}}}
    chance = {"flip": g(0.52, 0.45, 0.58), "ids": g(0.55, 0.49, 0.61), "floor": g(0.50, 0.44, 0.56)}
    assert report.direction_sentence(chance).startswith("At this tile size no encoder's direction probe is above")
    mixed = {"flip": g(0.60, 0.55, 0.65), "fft": g(0.85, 0.80, 0.89), "floor": g(0.62, 0.57, 0.67)}
    text = report.direction_sentence(mixed)
    assert "Above chance: flip + rotation 60.0%, FFT band mask 85.0%, random init (floor) 62.0%." in text
    assert "Above the random init: FFT band mask." in text and "Level with the random init" in text \
        and "flip + rotation" in text.split("Level with")[1]
    # only below: the sentence names the random init, not "it" (which read as chance after "Above chance: ...")
    below = {"flip": g(0.62, 0.58, 0.66), "ids": g(0.71, 0.67, 0.75), "floor": g(0.705, 0.67, 0.74)}
    text = report.direction_sentence(below)
    assert "Below the random init: flip + rotation." in text and "Below it" not in text


def test_sweep_sentences_compare_against_the_seed_spread():
    def r(sl, seed, acc, loss, control=None):
        return {"config": {"sites": {"fc1": sl}, "seed": seed, "epochs": 0 if control else 3},
                "metrics": {"mlp_acc": acc}, "final_loss": loss, **({"control": control} if control else {})}
    recs = [r(0.0, 0, 0.90, 4.6), r(0.0, 1, 0.91, 4.6), r(0.02, 0, 0.906, 4.7), r(0.02, 1, 0.90, 4.7),
            r(0.2, 0, 0.75, 6.2), r(0.2, 1, 0.77, 6.2), r(0.0, 0, 0.74, None, "floor"), r(0.0, 1, 0.75, None, "floor")]
    text = report.sweep_sentences(recs)
    assert text.startswith("At s_l = 0 (identical views) the MLP probe reaches 90.5% against the random init's "
                           "74.5%: the encoder learned without any weight noise.")
    assert "The best s_l > 0 (0.02) reaches 90.3%, -0.2 points: within the seed spread of s_l = 0." in text
    assert "At s_l = 0.2: 76.0% (-14.5 points; its final loss 6.200 against 4.600 at s_l = 0): too much noise " \
           "hurts." in text


def test_heads_sentences_name_a_collapse_and_a_fall_back_to_the_floor():
    def mon(knns, z=0.9, rank=8.0):
        return [{"epoch": i + 1, "knn_acc": k, "z_std": z, "effective_rank": rank} for i, k in enumerate(knns)]
    labels = ("paper head, s_l = 0", "BN head, s_l = 0", "BN head, s_l = 0.02")
    comp = comp_of([("paper head, s_l = 0", 0, 0.7, [0.6, 0.8], {"monitor": mon([0.70, 0.70], z=0.01, rank=1.3)}),
                    ("BN head, s_l = 0", 0, 0.8, [0.7, 0.9], {"monitor": mon([0.82, 0.76])}),
                    ("BN head, s_l = 0.02", 0, 0.9, [0.8, 0.95], {"monitor": mon([0.85, 0.90])}),
                    ("floor", 0, 0.74, [0.7, 0.8], {})], labels=labels, controls={"floor": {"knn_acc": 0.75}})
    text = report.heads_sentences(comp, "SimSiam")
    assert text.startswith("With SimSiam, after 2 epoch(s) (random init: k-NN 75.0%)")
    assert "paper head, s_l = 0: k-NN 70.0%, collapsed (z_std 0.01, rank of h 1.3)" in text
    assert "BN head, s_l = 0: k-NN 76.0%, back at the random init's level after a peak of 82.0% at epoch 1" in text
    assert "Weight noise brings the batch-normalised head's training back (+14.0 k-NN points" in text


def test_report_sections_split_tables_for_tabs():
    md = "## T\n\nintro\n\n**MLP (%)**\n\n| a |\n|---|\n| 1 |\n\n**k-NN (%)**\n\n| b |\n|---|\n| 2 |\n"
    header, parts = report.report_sections(md)
    assert header == "## T\n\nintro" and list(parts) == ["MLP (%)", "k-NN (%)"] and "| 2 |" in parts["k-NN (%)"]
    header, parts = report.report_sections("## F\n\nprotocol\n\n| s_l |\n|---|\n| 0 |\n\nPaper: 78-82%.")
    assert header == "## F\n\nprotocol" and parts == {"results": "| s_l |\n|---|\n| 0 |\n\nPaper: 78-82%."}


OBJECTIVES_MD = """### Headline

#### meteor, cnn16: MLP − none with the same objective and head (points, 95% CI; ** excludes 0), z_std at the end

| objective | head | none: MLP (%), z_std | IDS fc1 0.02 (paper) |
|---|---|---|---|
| byol | BN head | 77.2 ± 6.1 (0.85 ± 0.06) | +4.5 [+2.4, +6.6] ** (0.79 ± 0.09) |

### Every cell

#### meteor / cnn16: byol, BN head

| views | MLP (%) | MLP − none (pts, 95% CI) | k-NN (%) | k-NN − none | z_std (end) | eff. rank (end) | seeds |
|---|---|---|---|---|---|---|---|
| none | 77.2 ± 6.1 | – | 74.0 ± 7.3 | – | 0.85 ± 0.06 | 11.4 ± 0.8 | 5 |
| IDS fc1 0.02 (paper) | 81.7 ± 5.4 | +4.5 [+2.4, +6.6] ** | 81.0 | +7.0 [+3.4, +10.6] ** | 0.79 ± 0.09 | 8.4 | 5 |
| flip+rot | 80.8 ± 6.0 | +3.6 [-0.7, +7.8] | 75.2 ± 6.3 | +1.2 [-3.5, +5.9] | 0.63 ± 0.10 | 6.0 ± 0.4 | 5 |
| fft | 73.0 ± 6.1 | -4.2 [-6.5, -1.7] ** | 79.8 ± 5.3 | +5.8 [+2.3, +9.2] ** | 0.84 ± 0.06 | 10.5 ± 1.1 | 5 |

#### meteor / cnn16: simsiam, paper head

| views | MLP (%) | MLP − none (pts, 95% CI) | k-NN (%) | k-NN − none | z_std (end) | eff. rank (end) | seeds |
|---|---|---|---|---|---|---|---|
| none | 73.9 ± 5.8 | – | 70.0 ± 5.0 | – | 0.01 ± 0.00 | 1.3 ± 0.1 | 5 |

#### meteor / cnn8: simsiam, paper head

| views | MLP (%) | MLP − none (pts, 95% CI) | k-NN (%) | k-NN − none | z_std (end) | eff. rank (end) | seeds |
|---|---|---|---|---|---|---|---|
| IDS fc1 0.02 (paper) | 83.3 ± 2.9 | – | 85.6 ± 2.7 | – | 0.01 ± 0.00 | 1.3 ± 0.1 | 5 |
"""


def test_objectives_tables_read_every_cell_and_skip_the_headline():
    tables = report.objectives_tables(OBJECTIVES_MD)
    assert list(tables) == [("meteor", "cnn16", "byol", "BN head"), ("meteor", "cnn16", "simsiam", "paper head"),
                            ("meteor", "cnn8", "simsiam", "paper head")]
    rows = tables["meteor", "cnn16", "byol", "BN head"]
    assert [r["views"] for r in rows] == ["none", "IDS fc1 0.02 (paper)", "flip+rot", "fft"]
    assert rows[1]["z_std (end)"] == "0.79 ± 0.09" and rows[0]["seeds"] == "5"
    assert report.parse_difference(rows[1]["MLP − none (pts, 95% CI)"]) == {"mean": 4.5, "ci": [2.4, 6.6]}
    assert report.parse_difference("−1.5 [−6.3, +3.3]") == {"mean": -1.5, "ci": [-6.3, 3.3]}
    assert report.parse_difference("–") is None and report.parse_mean("–") is None
    assert report.parse_mean("77.2 ± 6.1") == 77.2


def test_objectives_sentences_follow_the_intervals_of_the_table():
    tables = report.objectives_tables(OBJECTIVES_MD)
    text = report.objectives_sentences(tables["meteor", "cnn16", "byol", "BN head"], "BYOL", "batch-normalised head")
    assert text.startswith("With BYOL and the batch-normalised head, no augmentation reaches 77.2 ± 6.1% (MLP "
                           "probe, 5 seeds), not collapsed (z_std 0.85 at the end).")
    assert "The paper's IDS (fc1, s_l = 0.02) beats no augmentation: +4.5 points [+2.4, +6.6], the 95% interval " \
           "excludes 0; its z_std at the end is 0.79." in text
    assert "flip + rotation is not distinguishable from no augmentation (+3.6 points [-0.7, +7.8], the 95% " \
           "interval includes 0)" in text
    assert "the FFT mask is below no augmentation (-4.2 points [-6.5, -1.7]" in text
    collapsed = report.objectives_sentences(tables["meteor", "cnn16", "simsiam", "paper head"], "SimSiam", "x")
    assert "collapsed (z_std 0.01 at the end)." in collapsed and "IDS" not in collapsed
    assert report.objectives_sentences(tables["meteor", "cnn8", "simsiam", "paper head"], "SimSiam", "x") \
        .startswith("The study has no no-augmentation runs")
    md = report.objectives_markdown(tables["meteor", "cnn16", "byol", "BN head"])
    assert md.splitlines()[2].startswith("| no augmentation | 77.2 ± 6.1 | – |")
    assert "| flip + rotation |" in md and "| FFT band mask |" in md


def test_the_committed_objectives_report_parses_for_every_objective_and_head():
    """docs/results/objectives.md (scripts/objectives.py --report-only) as notebook 04 reads it: meteor CNN-16 has
    a table for every objective and head, each with no augmentation and the paper's IDS; the commands notebook 04
    shows use flags the script has."""
    from pathlib import Path
    from idslab.objectives import OBJECTIVES
    root = Path(__file__).resolve().parents[1]
    tables = report.objectives_tables((root / report.OBJECTIVES_REPORT).read_text())
    for o in OBJECTIVES:
        for h in ("paper head", "BN head"):
            views = {r["views"] for r in tables["meteor", "cnn16", o, h]}
            assert {"none", "IDS fc1 0.02 (paper)", "flip+rot", "fft"} <= views, (o, h)
            assert "no augmentation reaches" in report.objectives_sentences(tables["meteor", "cnn16", o, h], o, h)
    script = (root / "scripts" / "objectives.py").read_text()
    import re
    for flag in re.findall(r"--[a-z-]+", " ".join(report.OBJECTIVES_COMMANDS)):
        assert f'"{flag}"' in script, flag


def test_collapse_sentences_say_whether_weight_noise_rescued_identical_views():
    def mon(knns, z=0.9, rank=8.0):
        return [{"epoch": i + 1, "knn_acc": k, "z_std": z, "effective_rank": rank} for i, k in enumerate(knns)]
    ctrl = {"floor": {"knn_acc": 0.75}}

    def comp(none_z, ids_z):
        return comp_of([("none", 0, 0.8, [0.7, 0.9], {"monitor": mon([0.80, 0.78], z=none_z, rank=1.2 if
                                                                    none_z < 0.1 else 8.0)}),
                        ("ids", 0, 0.85, [0.8, 0.9], {"monitor": mon([0.82, 0.88], z=ids_z)}),
                        ("floor", 0, 0.74, [0.7, 0.8], {})], labels=("none", "ids"), controls=ctrl)
    text = report.collapse_sentences(comp(0.02, 0.9), "BYOL", "paper's head")
    assert text.startswith("With BYOL and the paper's head, after 2 epoch(s) (random init: k-NN 75.0%): no "
                           "augmentation: k-NN 78.0%, collapsed (z_std 0.02, rank of h 1.2); IDS: k-NN 88.0%.")
    assert text.endswith("Weight noise rescues identical views from collapse (+10.0 k-NN points).")
    both = report.collapse_sentences(comp(0.02, 0.05), "SimSiam", "paper's head")
    assert both.endswith("Weight noise does not prevent the collapse here: both runs collapsed.")
    neither = report.collapse_sentences(comp(0.9, 0.9), "VICReg", "paper's head")
    assert "Neither run collapsed" in neither and "(+10.0 k-NN points)" in neither
    assert "random init (floor)" not in neither             # the floor is the reference, not a run


# --------------------------------------- a comparison's results on the page (report.comparison_view, issue 26)
def spectra_comp(rows, labels=("simclr", "reverse+shift", "shift", "ids"), seeds=(0,), supervised=0.94):
    """A stand-in spectra Comparison. rows: (label, seed, mlp, mlp_ci, velocity_r2, velocity_ci, direction,
    direction_ci); knn = mlp."""
    from idslab.experiments import Comparison
    from idslab.train import TrainConfig
    recs = []
    for lab, seed, mlp, ci, vel, vci, dr, dci in rows:
        recs.append({"label": lab, "role": "condition" if lab in labels else "control",
                     "config": {"seed": seed, "epochs": 0 if lab == "floor" else 15, "batch_size": 256},
                     "metrics": {"mlp_acc": mlp, "mlp_ci": ci, "knn_acc": mlp, "knn_ci": ci,
                                 "physics": {"velocity_r2": vel, "velocity_r2_ci": vci, "direction_acc": dr,
                                             "direction_ci": dci}},
                     "monitor": [{"epoch": 1, "loss": 5.0, "knn_acc": mlp, "effective_rank": 5.0, "z_std": 0.8,
                                  "wall_s": 1.0}]})
    base = TrainConfig(dataset="spectra", encoder="cnn1d512", epochs=15)
    controls = {"supervised": {"acc": supervised, "sd": 0.0, "n": 1}}
    return Comparison(base, list(labels), list(seeds), recs, {}, {}, controls)


def one_seed_page():
    return spectra_comp([
        ("simclr", 0, 0.84, [0.81, 0.87], 0.62, [0.55, 0.68], 0.96, [0.94, 0.98]),
        ("reverse+shift", 0, 0.73, [0.69, 0.76], 0.30, [0.22, 0.38], 0.83, [0.79, 0.86]),
        ("shift", 0, 0.75, [0.71, 0.78], 0.35, [0.27, 0.43], 0.95, [0.93, 0.97]),   # velocity lost only
        ("ids", 0, 0.77, [0.73, 0.80], 0.55, [0.48, 0.61], 0.95, [0.93, 0.97]),
        ("none", 0, 0.79, [0.76, 0.82], 0.56, [0.49, 0.62], 0.96, [0.94, 0.98]),
        ("floor", 0, 0.76, [0.72, 0.79], 0.57, [0.50, 0.63], 0.94, [0.92, 0.96])])


def test_resolved_uses_paired_intervals_or_the_runs_own():
    page = one_seed_page()
    r = report.resolved(page, "simclr", "mlp_acc", "floor")
    assert (r["how"], r["sign"]) == ("intervals", 1) and abs(r["diff"] - 0.08) < 1e-9   # [0.81, ..] > [.., 0.79]
    assert report.resolved(page, "ids", "mlp_acc", "floor")["sign"] == 0                # overlapping intervals
    assert report.resolved(page, "reverse+shift", "physics.velocity_r2")["sign"] == -1  # [.., 0.38] < [0.49, ..]
    assert report.resolved(page, "simclr", "mlp_acc", "nothing") is None
    three = spectra_comp([(lab, s, a + d, [0.0, 1.0], 0.5, [0.0, 1.0], 0.9, [0.0, 1.0])
                          for s, d in enumerate((0.0, 0.01, -0.01))
                          for lab, a in (("simclr", 0.80), ("reverse+shift", 0.70), ("ids", 0.755),
                                         ("none", 0.79), ("floor", 0.75))], seeds=(0, 1, 2))
    r = report.resolved(three, "simclr", "mlp_acc", "floor")
    assert r["how"] == "paired" and r["sign"] == 1 and r["n"] == 3      # +5 points on every seed, whatever the
    #                                                                     runs' own (here uninformative) intervals
    assert report.resolved(three, "ids", "mlp_acc", "none")["sign"] == -1
    # paired differences +5, -4, +1 points: the interval straddles 0, so not resolved either way
    noisy = spectra_comp([(lab, s, a, [0.0, 1.0], 0.5, [0.0, 1.0], 0.9, [0.0, 1.0])
                          for s, a in enumerate((0.80, 0.71, 0.76)) for lab in ("simclr",)]
                         + [("floor", s, 0.75, [0.0, 1.0], 0.5, [0.0, 1.0], 0.9, [0.0, 1.0]) for s in range(3)],
                         labels=("simclr",), seeds=(0, 1, 2))
    r = report.resolved(noisy, "simclr", "mlp_acc", "floor")
    assert r["how"] == "paired" and r["ci"][0] < 0 < r["ci"][1] and r["sign"] == 0


def test_best_sentence_names_the_best_against_the_floor_and_the_gap():
    text = report.best_sentence(one_seed_page())
    assert text.startswith("The best trained encoder here is **SimCLR suite**: 84.0% on the MLP probe against the "
                           "random init's 76.0%, above it (outside both runs' 95% intervals)"), text
    assert "it closes 44% of the way from the floor to the supervised ceiling (94.0%)" in text   # 8 / 18
    level = spectra_comp([("simclr", 0, 0.77, [0.73, 0.80], 0.6, None, 0.9, None),
                          ("floor", 0, 0.76, [0.72, 0.79], 0.6, None, 0.9, None)], labels=("simclr",))
    assert "level with it (inside the two runs' 95% intervals)" in report.best_sentence(level)
    below = spectra_comp([("ids", 0, 0.60, [0.56, 0.64], 0.6, None, 0.9, None),
                          ("floor", 0, 0.76, [0.72, 0.79], 0.6, None, 0.9, None)], labels=("ids",))
    assert "IDS**: 60.0% on the MLP probe against the random init's 76.0%, below it" in report.best_sentence(below)
    assert report.best_sentence(spectra_comp([], labels=())) == ""


def test_physics_sentences_say_which_views_keep_the_physics_and_which_destroy_velocity():
    text = report.physics_sentences(one_seed_page())
    assert "Keep the physics as far as one seed tells (neither velocity R² nor the real-vs-reversed probe " \
           "resolvably below identical views'): SimCLR suite, IDS." in text, text
    assert "Destroy velocity (R² resolvably below identical views'): reversal + shift (R² 0.30 against 0.56), " \
           "shift (Doppler) (R² 0.35 against 0.56)." in text
    assert "Tell a sample from its reversal resolvably worse than identical views: reversal + shift (83.0% " \
           "against 96.0%)." in text
    assert "Weight noise (IDS) against identical views: MLP -2.0 points, inside seed noise (inside the two runs' " \
           "95% intervals); velocity R² -0.01, inside seed noise." in text
    # weight noise resolvably hurting, over 3 paired seeds
    three = spectra_comp([(lab, s, a + d, [0.0, 1.0], v, [0.0, 1.0], 0.9, [0.0, 1.0])
                          for s, d in enumerate((0.0, 0.01, -0.01))
                          for lab, a, v in (("simclr", 0.80, 0.6), ("reverse+shift", 0.70, 0.3),
                                            ("ids", 0.755, 0.5), ("none", 0.79, 0.6), ("floor", 0.75, 0.6))],
                         seeds=(0, 1, 2))
    text = report.physics_sentences(three)
    assert "as far as 3 seeds tell" in text and "Destroy velocity" in text
    assert "Weight noise (IDS) against identical views: MLP -3.5 points, resolvably below (paired 95% interval " \
           "[-3.5, -3.5] points over 3 seeds); velocity R² -0.10, resolvably below." in text, text
    no_none = spectra_comp([r for r in [("simclr", 0, 0.84, [0.81, 0.87], 0.6, [0.5, 0.7], 0.9, [0.8, 1.0])]],
                           labels=("simclr",))
    assert report.physics_sentences(no_none) == ""


def test_comparison_view_lays_out_the_page_from_the_records():
    view = report.comparison_view(one_seed_page(), ("no doublet", "doublet"), total_s=12.3)
    assert view.summary.startswith('<span id="run-results">**Results** (spectra, CNN1D-512, IDS s_l = 0.020, '
                                   '1 seed(s), 15 epoch(s); 12 s).</span>')
    assert "Identical views (no augmentation) reach 79.0%" in view.summary
    assert "The best trained encoder here is **SimCLR suite**" in view.summary
    table = [line for line in view.summary.splitlines() if line.startswith("| ")]
    assert table[1].startswith("| SimCLR suite |") and any("supervised (ceiling)" in r for r in table)
    assert view.physics_text.startswith("**Physics probes**: the galaxy's velocity") and \
        "Destroy velocity" in view.physics_text
    assert view.physics is not None and view.file_name == "compare_spectra_cnn1d512_sl0.02.json"
    # the bars: the conditions in the page's order (the first method first), the controls as named lines
    assert list(view.bars.data[0].x) == ["SimCLR suite", "reversal + shift", "shift (Doppler)", "IDS"]
    assert any((t.name or "").startswith("supervised (ceiling): 94.0%") for t in view.bars.data)
    # the curves draw each run in its bars' colour, a label of its own included (notebook 05's "scaling and
    # jitter" was drawn in the FFT mask's green)
    page = one_seed_page()
    for r in page.records:
        r["label"] = "scaling and jitter" if r["label"] == "simclr" else r["label"]
    page.labels[0] = "scaling and jitter"
    view = report.comparison_view(page)
    bar_colour = {x: c for x, c in zip(view.bars.data[0].x, view.bars.data[0].marker.color)}
    assert "scaling and jitter" in bar_colour
    curve = {t.name: t.line.color for t in view.curves.data if t.name in bar_colour}
    assert curve and all(curve[n] == bar_colour[n] for n in curve), (curve, bar_colour)
    assert view.embedding("pca") is None                      # no embeddings in the stand-in
    # a data set without physics probes says so instead of drawing an empty figure
    page = one_seed_page()
    for r in page.records:
        r["metrics"].pop("physics")
    bare = report.comparison_view(page)
    assert bare.physics is None and bare.physics_text == report.NO_PHYSICS


def test_three_seed_page_reads_the_direction_probe_and_each_seeds_own_intervals():
    """Notebook 05 at 3 seeds (its CPU default; the direction numbers of its measured seeds 0-2, docs/NOTEBOOKS.md):
    by_label's multi-seed groups carry the physics intervals, so the direction probe is read (it used to say "no
    encoder's direction probe is above chance" at 84-95%), and reversal + shift, below identical views on every
    seed's own intervals though the 3-seed t-interval spans 0, is not listed as keeping the physics."""
    from idslab.plots.training import by_label
    dirs = {"reverse+shift": (0.798, 0.898, 0.818), "none": (0.928, 0.952, 0.953), "floor": (0.952, 0.937, 0.923),
            "simclr": (0.947, 0.952, 0.948)}
    w = 0.022                                                                 # ~ the Wilson half-width at 1200
    rows = [(lab, s, 0.78, [0.75, 0.81], 0.57, [0.5, 0.64], d[s], [d[s] - w, d[s] + w])
            for lab, d in dirs.items() for s in range(3)]
    comp = spectra_comp(rows, labels=("simclr", "reverse+shift"), seeds=(0, 1, 2))
    groups = by_label(comp.records)
    assert groups["none"]["n"] == 3 and len(groups["none"]["metrics"]["physics"]["direction_ci"]) == 2
    text = report.direction_sentence(groups)
    assert text.startswith("Above chance: ") and "reversal + shift 83.8%" in text, text
    lesson = report.physics_sentences(comp)
    assert "Keep the physics as far as 3 seeds tell" in lesson and "reversal + shift" not in \
        lesson.split("Keep the physics")[1].split(".")[0], lesson
    assert "Tell a sample from its reversal resolvably worse than identical views: reversal + shift (83.8% " \
           "against 94.4%)" in lesson, lesson
    r = report.resolved(comp, "reverse+shift", "physics.direction_acc")
    assert r["how"] == "every seed" and r["sign"] == -1 and r["ci"][1] > 0        # the t-interval alone spans 0


def test_comparison_view_names_what_the_accuracy_bars_show():
    """One seed: the runs' Wilson intervals; several: by_label's mean ± sd over seeds (not called 95% intervals)."""
    one = report.comparison_view(one_seed_page(), ("no doublet", "doublet"))
    assert "95% Wilson intervals" in one.bars.layout.title.text
    rows = [(lab, s, 0.78 + 0.01 * s, [0.75, 0.81], 0.57, [0.5, 0.64], 0.9, [0.88, 0.92])
            for lab in ("simclr", "none", "floor") for s in range(3)]
    three = report.comparison_view(spectra_comp(rows, labels=("simclr",), seeds=(0, 1, 2)), ("a", "b"))
    assert "mean ± sd over 3 seeds" in three.bars.layout.title.text


def test_header_names_rows_with_their_own_epochs():
    """A grid with a per-row cut (experiments.SHORT_ROWS) says so in the header, not only the first row's epochs."""
    recs = [rec("cnn8", "ids", 0, 0.8, 0.8), rec("cnn16", "ids", 0, 0.8, 0.8), rec("resnet18", "ids", 0, 0.6, 0.6)]
    recs[2]["config"] = {**recs[2]["config"], "epochs": 2}
    assert "5 epochs (2 for resnet18)," in report.header(recs, "T")
    assert "5 epochs," in report.header(recs[:2], "T")
