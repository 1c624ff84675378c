"""benchmarks/bench_noise.py --step, the step scripts/gpu_check.sh runs on a loan: it runs at tiny sizes, prints
its three rows, and puts idslab.perturb's convolution back after timing the grouped form."""
from benchmarks.bench_noise import main
from idslab import perturb


def test_step_bench_prints_its_rows_and_restores_the_per_view_path(capsys):
    fast = perturb._perturbed_conv
    assert main(["--step", "cnn8", "--tile", "8", "--batch", "8", "--rounds", "1", "--repeats", "1",
                 "--device", "cpu"]) == 0
    rows = [l for l in capsys.readouterr().out.splitlines() if l.startswith("| IDS")]
    assert [r.split(" | ")[0] for r in rows] == ["| IDS at fc1 (0.1)", "| IDS every layer (all:0.1), per-view convs",
                                                 "| IDS every layer (all:0.1), grouped form"]
    assert perturb._perturbed_conv is fast
