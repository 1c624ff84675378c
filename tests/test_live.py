"""idslab.live: estimates before a run, the live callbacks during it, and a stop that keeps what finished."""
import pytest

from idslab import experiments as ex
from idslab import live
from idslab.train import TrainConfig
from tests.conftest import signal_data, streak_data

TINY = dict(encoder="cnn16", tile=16, epochs=2, batch_size=64, n_pretrain=256, n_probe_train=128, n_probe_test=128,
            device="cpu", knn_k=5)


def test_estimate_follows_compares_plan_and_the_store(tmp_path):
    data, base = streak_data(), TrainConfig(**TINY)
    est = live.estimate_compare(base, ["flip", "ids"], data, seeds=(0, 1), results_dir=tmp_path,
                                supervised_epochs=2)
    # compare's run order: each trained label per seed, then trivial and supervised per seed
    assert [r.label for r in est.runs] == ["flip", "flip", "ids", "ids", "none", "none", "floor", "floor",
                                           "trivial", "trivial", "supervised", "supervised"]
    assert all(r.seconds > 0 and not r.stored for r in est.runs) and est.n_stored == 0
    floor, trained = est.runs[6].seconds, est.runs[0].seconds
    assert floor < trained                                  # the floor has no pre-training
    assert "on this CPU" in est.text() and "12 runs" in est.text() and not est.long
    ex.compare(base, ["flip"], seeds=(0,), controls=("floor", "trivial"), data=data, results_dir=tmp_path,
               supervised_epochs=2)
    again = live.estimate_compare(base, ["flip", "ids"], data, seeds=(0, 1), results_dir=tmp_path,
                                  supervised_epochs=2)
    stored = [(r.label, r.stored) for r in again.runs if r.stored]
    # the trivial control is one record per data set (experiments.control_path): seed 0's stands for seed 1 too
    assert stored == [("flip", True), ("floor", True), ("trivial", True), ("trivial", True)]
    assert again.seconds < est.seconds and "4 already in the store" in again.text()
    with pytest.raises(ValueError, match="unknown controls"):
        live.estimate_compare(base, ["flip"], data, controls=("nope",))


def test_estimates_of_one_dimensional_signals():
    """Issue 20: a 1-D encoder's step is timed on (n, C, L) signals, from the data or (without data) from random
    signals of the encoder's length, never from images (a conv1d refuses (B, C, L, L))."""
    live._MEASURED.clear()
    base = TrainConfig(**dict(TINY, encoder="cnn1d64", tile=64, dataset="spectra"))
    with_data = live.estimate_compare(base, ["reverse+shift", "ids"], signal_data(), supervised_epochs=2)
    assert all(r.seconds > 0 for r in with_data.runs) and "on this CPU" in with_data.text()
    without = live.estimate_compare(base, ["ids"], None, controls=("floor", "trivial"))
    assert [r.label for r in without.runs] == ["ids", "floor", "trivial"] and without.seconds > 0


def test_measuring_leaves_the_global_rng_alone():
    import random

    import numpy as np
    import torch
    live._MEASURED.clear()
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    live.estimate_sweep(TrainConfig(**TINY), [0.05], [0, 1], streak_data())
    after_measure = torch.rand(3), np.random.rand(), random.random()
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    assert torch.equal(after_measure[0], torch.rand(3)) and after_measure[1:] == (np.random.rand(), random.random())


def test_the_live_callbacks_name_the_run_epoch_and_loss():
    data, base = streak_data(), TrainConfig(**TINY)
    tracker = live.Live()
    lines = []
    tracker.on_change = lambda lv, event: lines.append(lv.line())
    comp = ex.compare(base, ["ids"], seeds=(0,), controls=("floor",), data=data, progress=tracker.progress,
                      on_step=tracker.on_step, on_epoch=tracker.on_epoch)
    assert tracker.kept == tracker.total == 2 and tracker.reused == 0
    assert any(line.startswith("IDS (run 1 of 2) · epoch 2 of 2 · loss ") for line in lines)
    assert set(tracker.curves) == {"ids"} and [e["epoch"] for e in tracker.curves["ids"]] == [1, 2]
    assert tracker.curves["ids"] == comp.runs("ids")[0]["monitor"]      # the curves are the record's monitor


def test_a_stop_keeps_the_finished_runs_and_the_same_call_resumes(tmp_path):
    """A KeyboardInterrupt (marimo's stop) in the third run: Outcome says 2 of 4 kept; the same call reuses them."""
    data, base = streak_data(), TrainConfig(**TINY)
    steps = []

    def stop_in_third_run(run, done, total, loss):
        steps.append(run.index)
        if run.index == 2 and done == 3:
            raise KeyboardInterrupt

    def call(**kw):
        inner = kw.pop("on_step")
        return ex.sweep_sl(base, [0.05], [0, 1], data=data, results_dir=tmp_path, floor=False,
                           on_step=lambda *a: (inner(*a), stop_in_third_run(*a)), **kw)

    out = live.run(call, view=None)
    assert out.stopped and out.value is None and (out.kept, out.total) == (2, 4)
    assert out.message == "stopped: 2 of 4 runs kept; press again to resume"
    steps.clear()
    out = live.run(lambda **kw: ex.sweep_sl(base, [0.05], [0, 1], data=data, results_dir=tmp_path, floor=False,
                                            **kw), view=None)
    assert not out.stopped and (out.kept, out.total, out.reused) == (4, 4, 2) and len(out.value) == 4
    assert out.message.startswith("Done: 4 runs in") and "(2 reused from the store)" in out.message


def test_estimate_is_long_above_two_minutes_and_durations_read():
    est = live.Estimate([live.RunCost("ids", "train", 100.0, False), live.RunCost("flip", "train", 30.0, False)],
                        0.02, "this CPU")
    assert est.long and est.text().startswith("about 2 min on this CPU (2 runs; a training step takes 20 ms)")
    assert [live.duration(s) for s in (0.2, 44.6, 150, 5000)] == ["1 s", "45 s", "2 min", "1 h 23 min"]


def test_press_warns_once_before_a_long_run_and_says_what_is_left_after_a_stop(tmp_path, monkeypatch):
    """A long estimate: the first press only warns (and remembers), the second starts; a stop says what is left."""
    data, base = streak_data(), TrainConfig(**TINY)
    args = dict(base=base, sls=[0.05], seeds=[0, 1], data=data, floor=False)
    monkeypatch.setattr(live, "LONG_S", 0.0)                    # every estimate counts as long
    memory = {}
    first = live.press(ex.sweep_sl, title="sweep", view=None, results_dir=tmp_path,
                       get_confirmed=lambda: memory.get("key"), set_confirmed=lambda k: memory.update(key=k), **args)
    assert first.value is None and first.message.startswith("Not started: about ")
    assert "Press again to start it" in first.message and not list(tmp_path.glob("*.json"))
    real, calls = ex.run, []

    def stop_third(cfg, data=None, **kw):
        calls.append(cfg)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(cfg, data, **kw)
    monkeypatch.setattr(ex, "run", stop_third)
    second = live.press(ex.sweep_sl, title="sweep", view=None, results_dir=tmp_path,
                        get_confirmed=lambda: memory.get("key"), set_confirmed=lambda k: memory.update(key=k), **args)
    assert second.stopped and second.message.startswith("stopped: 2 of 4 runs kept; press again to resume (about ")
    assert second.message.endswith(" on this CPU to go)")
    # pressing again resumes at once: the kept runs change the estimate, not the settings the reader agreed to
    monkeypatch.setattr(ex, "run", real)
    third = live.press(ex.sweep_sl, title="sweep", view=None, results_dir=tmp_path,
                       get_confirmed=lambda: memory.get("key"), set_confirmed=lambda k: memory.update(key=k), **args)
    assert not third.stopped and third.message.startswith("Done: 4 runs in") and "(2 reused" in third.message
    # other settings are another run: the first press warns again
    other = live.press(ex.sweep_sl, title="sweep", view=None, results_dir=tmp_path,
                       get_confirmed=lambda: memory.get("key"), set_confirmed=lambda k: memory.update(key=k),
                       **{**args, "sls": [0.1]})
    assert other.value is None and other.message.startswith("Not started: about ")


def test_stacked_runs_report_their_steps_and_each_runs_epochs():
    """run_configs(stack=True) (idslab.multi, what a GPU sweep uses): one step stream for the group, and every
    run's epoch entries under its own RunRef, so the live curves of a stacked sweep are per run."""
    data, base = streak_data(), TrainConfig(**TINY)
    cfgs, _ = ex.sweep_configs(base, [0.05], [0], floor=False)                 # s_l = 0 and 0.05, stacked
    steps, epochs = [], []
    recs = ex.run_configs(cfgs, data=data, stack=True, on_step=lambda run, d, t, loss: steps.append((run, d, t)),
                          on_epoch=lambda run, e: epochs.append((run.index, run.label, e["epoch"])))
    assert all(r.get("stacked") == 2 for r in recs)
    assert steps[0][0].label == "2 runs at once" and steps[-1][1] == steps[-1][2] == 2 * (256 // 64)
    assert sorted(epochs) == [(0, "ids s_l=0 (seed 0)", 1), (0, "ids s_l=0 (seed 0)", 2),
                              (1, "ids s_l=0.05 (seed 0)", 1), (1, "ids s_l=0.05 (seed 0)", 2)]


@pytest.mark.timeout(120)
def test_a_stopped_comparison_leaves_no_claim_and_resumes_in_the_same_process(tmp_path):
    """marimo's stop is a KeyboardInterrupt in the kernel that then runs the next press: no claim of the stopped
    call may be left behind (the next call would take it for another process's and wait on it)."""
    data, base = streak_data(), TrainConfig(**TINY)

    def stop_in_second_run(run, done, total, loss):
        if run.index == 1 and done == 2:
            raise KeyboardInterrupt

    out = live.run(ex.compare, view=None, base=base, conditions=["ids"], data=data, controls=("none", "floor"),
                   results_dir=tmp_path)
    assert not out.stopped
    for f in tmp_path.glob("*.json"):
        f.unlink()
    with pytest.raises(KeyboardInterrupt):
        ex.compare(base, ["ids"], data=data, controls=("none", "floor"), results_dir=tmp_path,
                   on_step=stop_in_second_run)
    assert not list(tmp_path.glob("*.claim")) and len(list(tmp_path.glob("*.json"))) == 1
    again = live.run(ex.compare, view=None, base=base, conditions=["ids"], data=data, controls=("none", "floor"),
                     results_dir=tmp_path)
    assert (again.kept, again.total, again.reused) == (3, 3, 1)


def test_the_marimo_view_shows_percent_done_and_redraws_curves_sparingly():
    """MarimoView with a stand-in for marimo: the bar moves by percent of the estimated work with the Live's line
    as subtitle; epochs redraw the curves at most once per every_s, and a finished run draws what is left."""
    from types import SimpleNamespace
    bars, draws = [], []
    bar = SimpleNamespace(update=lambda increment=1, title=None, subtitle=None: bars.append((increment, subtitle)))

    class Ctx:
        def __enter__(self):
            return bar

        def __exit__(self, *exc):
            pass
    mo = SimpleNamespace(status=SimpleNamespace(progress_bar=lambda **kw: Ctx()),
                         output=SimpleNamespace(replace_at_index=lambda fig, i: draws.append((fig, i)),
                                                clear=lambda: None))
    est = live.Estimate([live.RunCost("ids", "train", 10.0, False), live.RunCost("floor", "train", 10.0, False)],
                        0.01, "this CPU")
    # the clock starts at 5 s (a machine booted 5 s ago; time.monotonic() counts from boot): the first epoch must
    # still draw, which a "last drawn" sentinel of 0 s would refuse for the first every_s seconds
    view = live.MarimoView("t", est, every_s=3600, mo=mo, clock=lambda: 5.0)
    tracker = live.Live(est, on_change=view)
    cfg = TrainConfig(**TINY)
    run = ex.RunRef(0, 2, "ids", cfg)
    with view:
        tracker.on_step(run, 0, 8, None)
        tracker.on_step(run, 4, 8, 5.0)
        # 80% of a run is its training (the rest: probes): half its steps are 40% of its 10 s, 20% of all 20 s
        assert bars[-1] == (20, "IDS (run 1 of 2) · epoch 1 of 2 · loss 5.000") and sum(b for b, _ in bars) == 20
        tracker.on_epoch(run, {"epoch": 1, "loss": 5.0, "knn_acc": 0.6, "effective_rank": 3.0, "z_std": 0.5})
        tracker.on_epoch(run, {"epoch": 2, "loss": 4.0, "knn_acc": 0.7, "effective_rank": 3.0, "z_std": 0.6})
        assert len(draws) == 1 and draws[0][1] == 1             # the second epoch came within every_s: not drawn
        tracker.progress(1, 2, {"label": "ids", "config": {"seed": 0}})
        assert len(draws) == 2 and len(draws[1][0].data[0].x) == 2   # the run's end draws both epochs
        assert sum(b for b, _ in bars) == 50                     # half the estimated work is done
