"""benchmarks/ab_cpu_step.py runs its three pipelines (the "before" one overrides the engine's forward, which broke
silently once when the engine's forward changed)."""
from benchmarks.ab_cpu_step import main


def test_ab_cpu_step_runs_all_three_pipelines(capsys):
    assert main(["--rounds", "1", "--steps", "1", "--threads", "1"]) == 0
    rows = [l.split(" | ")[0] for l in capsys.readouterr().out.splitlines() if l.startswith("| ") and "|---" not in l]
    assert rows[1:] == ["| reference (tutorial)", "| idslab before (relu->pool, NCHW)",
                        "| idslab now (pool->relu, channels_last)"]
