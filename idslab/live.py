"""Live training for the notebooks' buttons: a time estimate before a run, a progress line and curves during it,
and a stop that keeps what finished.

- estimate_compare / _sweep / _configs / _grid / _embed (estimate_for picks one): the seconds a call of
  idslab.experiments.compare / sweep_sl / run_configs / run_grid or embeddings.pretrain_and_embed will take on this
  device, from a measured training step of each config, a measured pass of the probes and the per-epoch monitor;
  runs already in the results store cost nothing. Measurements are kept for the process (an estimate is cheap once
  made) and never touch the global RNGs.
- Live: the callbacks those calls take (progress, on_step, on_epoch). It knows the current run's label, epoch and
  loss, the per-epoch monitor entries of every run (for the curves) and how many runs are finished and stored.
- run(fn, estimate, view=...): calls fn with a Live's callbacks and shows it (MarimoView: marimo's progress bar with
  an ETA, and the curves redrawn as epochs finish). Ctrl-C or marimo's stop ends it with an Outcome whose message
  is one line ("stopped: 2 of 6 runs kept; press again to resume"): every finished run is already in the results
  store (written atomically as it finishes), so the same call resumes.
- A notebook's button: hint() (the line before it: the estimate, or a warning above LONG_S), press() (one package
  call: estimate, ask once when long, run), save_row() / save_on_server() (a browser download and the server file).

marimo is only used through the `mo` a notebook passes in, and imported only by MarimoView (the notebooks extra).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import experiments as E
from .plots import training as P
from .train import TrainConfig, resolve_device

LONG_S = 120.0   # a button whose estimate is longer asks before it trains (issue 17: "above about two minutes")
_MEASURED: dict = {}  # per process: seconds per training step / probe pass, keyed by what they depend on


# ------------------------------------------------------------------------------------------------------- estimate
@dataclass(frozen=True)
class RunCost:
    """One planned run and its estimated seconds (0 when it is reused from the results store)."""
    label: str
    kind: str            # "train" | "trivial" | "supervised"
    seconds: float
    stored: bool


@dataclass
class Estimate:
    """What a button will cost on this device: one RunCost per run, in run order."""
    runs: list[RunCost]
    step_s: float        # measured seconds per training step (the slowest of the configs measured)
    device: str          # "this CPU" or the GPU's name

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

    @property
    def n_stored(self) -> int:
        return sum(r.stored for r in self.runs)

    @property
    def long(self) -> bool:
        return self.seconds > LONG_S

    def text(self) -> str:
        """'about 25 s on this CPU (6 runs; a step takes 21 ms)', with the runs already in the store."""
        n, stored = len(self.runs), self.n_stored
        runs = f"{n} run{'s' * (n != 1)}" + (f", {stored} already in the store" if stored else "")
        if stored == n:
            return f"all {n} runs are already in the store: pressing shows them without training"
        return f"about {duration(self.seconds)} on {self.device} ({runs}; a training step takes " \
               f"{1000 * self.step_s:.0f} ms)"


def duration(seconds: float) -> str:
    """A rounded duration for people: '8 s', '45 s', '3 min', '1 h 20 min'."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60)} min"


def device_words(cfg: TrainConfig) -> str:
    dev = resolve_device(cfg.device)
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"this {dev.type.upper()}"


@contextlib.contextmanager
def _rng_kept():
    """Measuring builds models (idslab.train.setup seeds every generator): put the global RNGs back afterwards, so
    estimating never changes what a later cell draws."""
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class _Shape:
    """What an estimate needs to know of the data: tile (N of N x N images, L of 1-D signals), channels, split
    sizes, and dims (2: images (n, C, N, N); 1: spectra and time series (n, C, L))."""
    name: str
    tile: int
    channels: int
    n_pretrain: int
    n_probe_train: int
    n_probe_test: int
    dims: int = 2

    @property
    def size(self) -> int:
        """Values per channel of one sample (N² or L)."""
        return self.tile ** self.dims


def _shape(cfg: TrainConfig, data) -> _Shape:
    if data is not None:
        return _Shape(data.name, data.tile, data.channels, len(data.pretrain.y), len(data.probe_train.y),
                      len(data.probe_test.y), data.pretrain.x.dim() - 2)
    from .encoders import encoder_dims, encoder_tile
    return _Shape(cfg.dataset, cfg.tile or encoder_tile(cfg.encoder), 3 if cfg.dataset == "cifar" else 1,
                  cfg.n_pretrain, cfg.n_probe_train, cfg.n_probe_test, encoder_dims(cfg.encoder))


def _stand_in(shape: _Shape, n_pretrain: int, tile: int | None = None):
    """Random data of the right shape (balanced labels; the probe splits of shape's sizes) for timing without
    loading the data set: a step or a probe takes the same time whatever the pixel values (no physics targets: a
    meteor estimate without data leaves out the physics probes' second or so per run)."""
    from types import SimpleNamespace
    t = tile or shape.tile
    g = torch.Generator().manual_seed(0)
    split = lambda m: SimpleNamespace(x=torch.randn(m, shape.channels, *(t,) * shape.dims, generator=g),
                                      y=torch.arange(m) % 2, targets={})
    return SimpleNamespace(name=shape.name, tile=t, channels=shape.channels, classes=("0", "1"), meta={},
                           pretrain=split(n_pretrain), probe_train=split(shape.n_probe_train),
                           probe_test=split(shape.n_probe_test))


def step_seconds(cfg: TrainConfig, data=None, steps: int = 3) -> float:
    """Seconds per optimiser step of cfg's engine on this device: one warm-up step, then `steps` timed ones, on
    data.pretrain (None: random tiles of the config's shape). A large model (not a CNN, or samples above 32 x 32
    values: tiles above 32 px, signals longer than 1024) is timed with one step on about 64 tiles' worth of 32 x 32
    pixels and scaled to the config's batch (a batch of 2 or 4 counts per-call overheads many times over: 7x too
    slow for ResNet-18 at 32 px; 32 tiles: 1.3x). Kept for
    the process per (encoder, tile, batch, views, sites, head, objective, device); the global RNGs are put back, so
    measuring never changes a later run."""
    from .train import Engine
    dev = resolve_device(cfg.device)
    shape = _shape(cfg, data)
    b = min(cfg.batch_size, shape.n_pretrain)
    small = cfg.encoder.startswith("cnn") and shape.size <= 32 * 32
    if not small:   # a large encoder's step is its forward and backward pass: time it once, whatever the views
        cfg = dataclasses.replace(cfg, views="none")
    key = ("step", cfg.encoder, shape.tile, shape.channels, b, cfg.views, tuple(sorted(cfg.sites)), cfg.noise,
           cfg.proj_bn, cfg.proj_dim, cfg.objective, str(dev))
    if key in _MEASURED:
        return _MEASURED[key]

    def timed(bm: int, n: int) -> float:
        x = data.pretrain.x if data is not None and small else \
            _stand_in(dataclasses.replace(shape, n_probe_train=0, n_probe_test=0), 2 * bm).pretrain.x
        x = x[:max(2 * bm, min(len(x), 4 * bm))].to(dev, torch.float32)
        engine = Engine(dataclasses.replace(cfg, epochs=1, batch_size=bm), x, dev)
        engine.new_epoch()
        engine.step(0)
        _synchronize(dev)
        t0 = time.perf_counter()
        for k in range(n):
            engine.step((k + 1) % engine.steps_per_epoch)
        _synchronize(dev)
        return (time.perf_counter() - t0) / n

    with _rng_kept():
        if small:
            _MEASURED[key] = timed(b, steps)
        else:       # a batch of about 64 tiles of 32 x 32 px (at least 2): seconds per step even for ResNet-50
            bm = max(2, min(b, round(64 * 32 * 32 / shape.size)))
            _MEASURED[key] = timed(bm, 1) * b / bm
    return _MEASURED[key]


def probe_seconds(cfg: TrainConfig, data=None) -> float:
    """Seconds of the probes' fixed part (MLP probe, k-NN, physics or 10-class probes) on data's probe splits (None:
    random 8x8 tiles, or signals of length 8, of the config's split sizes), measured once per process and data set
    with a cheap linear encoder; the trained encoder's own forward passes are added per run from the step time."""
    from .probes import evaluate
    from .train import probe_config
    shape = _shape(cfg, data)
    key = ("probes", shape.name, shape.tile if data is not None else None, shape.n_probe_train, shape.n_probe_test,
           cfg.knn_k)
    if key not in _MEASURED:
        if not shape.n_probe_test:
            _MEASURED[key] = 0.0
        else:
            with _rng_kept():
                d = data if data is not None else _stand_in(shape, 0, 8)
                lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d.probe_test.x[0].numel(), 32))
                t0 = time.perf_counter()
                evaluate(lin.eval(), d, probe_config(dataclasses.replace(cfg, knn_k=min(cfg.knn_k, 5)))
                         if data is None else probe_config(cfg))
                _MEASURED[key] = time.perf_counter() - t0
    return _MEASURED[key]


def run_seconds(cfg: TrainConfig, data=None) -> float:
    """Estimated seconds of one experiments run: pre-training (steps x a measured step), the per-epoch monitor,
    and the probes (their fixed part plus the encoder's forward passes over the probe splits)."""
    shape = _shape(cfg, data)
    b = min(cfg.batch_size, shape.n_pretrain)
    step = step_seconds(cfg if cfg.epochs else dataclasses.replace(cfg, epochs=1), data)
    forward_per_sample = step / (3 * 2 * b)          # a step is a forward and a backward pass over 2B views
    # probes and physics (real and flipped tiles) embed both probe splits twice; the diagnostics probe-test 3 times;
    # the monitor 1024 + 512 tiles per epoch (idslab.monitor.N_REF, N_EVAL)
    from .monitor import N_EVAL, N_REF
    embedded = 2 * shape.n_probe_train + 5 * shape.n_probe_test
    monitored = min(N_REF, shape.n_probe_train) + min(N_EVAL, shape.n_probe_test)
    return cfg.epochs * ((shape.n_pretrain // b) * step + monitored * forward_per_sample) \
        + probe_seconds(cfg, data) + embedded * forward_per_sample


def supervised_seconds(cfg: TrainConfig, data, epochs: int) -> float:
    """The supervised control: `epochs` over probe-train with one view per sample (half a contrastive step)."""
    n = _shape(cfg, data).n_probe_train
    steps = epochs * math.ceil(n / min(cfg.batch_size, n))
    return steps * step_seconds(dataclasses.replace(cfg, views="none", epochs=1), data) / 2


def trivial_seconds(cfg: TrainConfig, data=None) -> float:
    """The trivial control (logistic regression on tile statistics), measured once per process and data set."""
    from .baselines import trivial_baseline
    shape = _shape(cfg, data)
    key = ("trivial", shape.name, shape.tile, shape.n_probe_train)
    if key not in _MEASURED:
        d = data if data is not None else _stand_in(shape, 0, min(shape.tile, 32))
        t0 = time.perf_counter()
        trivial_baseline(d)
        _MEASURED[key] = time.perf_counter() - t0
    return _MEASURED[key]


def estimate_compare(base: TrainConfig, conditions: list, data, seeds=(0,), controls=E.CONTROLS,
                     results_dir=None, supervised_epochs: int = E.SUPERVISED_EPOCHS, keep_models: bool = True
                     ) -> Estimate:
    """The Estimate of experiments.compare with the same arguments (ValueError for bad ones, as compare)."""
    _, plan = E.compare_plan(base, conditions, seeds, controls, supervised_epochs, keep_models)
    costs = []
    for r in plan:
        stored = E.is_stored(r, results_dir, supervised_epochs)
        if stored:
            s = 0.0
        elif r.kind == "train":
            s = run_seconds(r.cfg, data)
        elif r.kind == "supervised":
            s = supervised_seconds(r.cfg, data, supervised_epochs)
        else:
            s = trivial_seconds(r.cfg, data)
        costs.append(RunCost(r.label, r.kind, s, stored))
    return _estimate(costs, [r.cfg for r in plan if r.kind == "train"], data, base)


def estimate_configs(cfgs: list[TrainConfig], data, results_dir=None) -> Estimate:
    """The Estimate of experiments.run_configs(cfgs, data, results_dir) (one after another; stacking on a GPU is
    faster than this)."""
    costs = []
    for c in cfgs:
        stored = results_dir is not None and E.read_record(E.record_path(results_dir, c)) is not None
        costs.append(RunCost(E.run_label(c), "train", 0.0 if stored else run_seconds(c, data), stored))
    return _estimate(costs, cfgs, data, cfgs[0])


def estimate_sweep(base: TrainConfig, sls, seeds, data, results_dir=None, include_zero: bool = True,
                   floor: bool = True) -> Estimate:
    """The Estimate of experiments.sweep_sl with the same arguments (ValueError for bad ones, as sweep_sl)."""
    cfgs, _ = E.sweep_configs(base, sls, seeds, include_zero, floor)
    return estimate_configs(cfgs, data, results_dir)


def estimate_grid(grid, results_dir="results", data=None, **extra) -> Estimate:
    """The Estimate of experiments.run_grid(grid, results_dir, data, **extra): its trained cells (without data:
    timed on random tiles of each encoder's shape, so opening a notebook never generates a grid's data) and its
    trivial and supervised controls."""
    folder = E.grid_dir(results_dir, grid)
    cfgs = grid.configs(**extra)
    costs = [RunCost(E.run_label(c), "train", 0.0, True) if E.read_record(E.record_path(folder, c)) is not None
             else RunCost(E.run_label(c), "train", run_seconds(c, data), False) for c in cfgs]
    for name, c in grid.baseline_configs(**extra):
        stored = E.read_control_record(E.control_path(folder, name, c)) is not None
        s = 0.0 if stored else (supervised_seconds(c, data, E.SUPERVISED_EPOCHS) if name == "supervised"
                                else trivial_seconds(c, data))
        costs.append(RunCost(f"{name} (seed {c.seed}, {c.encoder})", name, s, stored))
    return _estimate(costs, cfgs, data, cfgs[0])


def estimate_embed(cfgs: list[TrainConfig], data, controls: bool = True, keep: dict | None = None) -> Estimate:
    """The Estimate of embeddings.pretrain_and_embed(cfgs, data, controls=, keep=) (notebook 03): its conditions,
    the floor and the trivial control, the runs already in `keep` free."""
    from .embeddings import planned_runs
    costs = []
    for label, _, cfg, kept in planned_runs(cfgs, data, controls, keep):
        s = 0.0 if kept else trivial_seconds(cfg, data) if label == "trivial" else run_seconds(cfg, data)
        costs.append(RunCost(label, "trivial" if label == "trivial" else "train", s, kept))
    return _estimate(costs, list(cfgs), data, cfgs[0])


def estimate_for(fn: Callable, results_dir=None, **kwargs) -> Estimate | None:
    """The Estimate of a call fn(**kwargs, results_dir=results_dir) for fn in experiments.compare, sweep_sl,
    run_grid, embeddings.pretrain_and_embed (None for anything else)."""
    from .embeddings import pretrain_and_embed
    if fn is pretrain_and_embed:
        return estimate_embed(kwargs["cfgs"], kwargs["data"], kwargs.get("controls", True), kwargs.get("keep"))
    if fn is E.compare:
        keys = ("seeds", "controls", "supervised_epochs", "keep_models")
        return estimate_compare(kwargs["base"], kwargs["conditions"], kwargs.get("data"), results_dir=results_dir,
                                **{k: kwargs[k] for k in keys if k in kwargs})
    if fn is E.sweep_sl:
        keys = ("include_zero", "floor")
        return estimate_sweep(kwargs["base"], kwargs["sls"], kwargs["seeds"], kwargs.get("data"), results_dir,
                              **{k: kwargs[k] for k in keys if k in kwargs})
    if fn is E.run_grid:
        extra = {k: v for k, v in kwargs.items() if k not in ("grid", "data", "stack")}
        return estimate_grid(kwargs["grid"], results_dir or "results", kwargs.get("data"), **extra)
    return None


def _estimate(costs: list[RunCost], cfgs: list[TrainConfig], data, base: TrainConfig) -> Estimate:
    steps = [step_seconds(c, data) for c in cfgs if c.epochs]
    return Estimate(costs, max(steps) if steps else step_seconds(dataclasses.replace(base, epochs=1), data),
                    device_words(base))


# ------------------------------------------------------------------------------------------------------ tracking
@dataclass
class Outcome:
    """What run() returns: the call's value (None when stopped), whether it was stopped, and the count of runs
    finished and stored (kept) out of all (total), of which `reused` came from the store, in wall_s seconds."""
    value: object
    stopped: bool
    kept: int
    total: int
    reused: int
    wall_s: float
    note: str | None = None    # instead of a run: why it did not start (press() on a long estimate)
    left: str | None = None    # after a stop: the estimate of what is left ("about 17 s on this CPU")

    @property
    def message(self) -> str:
        if self.note is not None:
            return self.note
        if self.stopped:
            return f"stopped: {self.kept} of {self.total} runs kept; press again to resume" + (
                f" ({self.left} to go)" if self.left else "")
        reused = f" ({self.reused} reused from the store)" if self.reused else ""
        return f"Done: {self.total} run{'s' * (self.total != 1)} in {duration(self.wall_s)}{reused}."


@dataclass
class Live:
    """The callbacks of experiments.compare / sweep_sl / run_configs / run_grid, and what they have reported.

    progress(done, total, record): a run finished (record["reused"]: taken from the store; None: that many found
    in the store before any training); on_step(run, done, total, loss):
    a step (done = 0: the run starts); on_epoch(run, entry): an epoch's monitor entry. `curves` holds
    {name: [entries]} per run (the label; "label · seed k" for a later seed of the same label; a reused run's
    entries come from its record's "monitor"), `line()` the current state in words, `done_units()` the estimated
    seconds of the work done (from an Estimate's runs), which a progress bar turns into an ETA.
    """
    estimate: Estimate | None = None
    on_change: Callable[["Live", str], None] | None = None    # (live, "step" | "epoch" | "run") after a report
    kept: int = 0
    total: int = 0
    reused: int = 0
    run: object = None          # the current experiments.RunRef
    step: int = 0
    steps: int = 0
    loss: float | None = None
    curves: dict = field(default_factory=dict)
    _first_seed: dict = field(default_factory=dict)

    def name(self, label: str, seed: int | None) -> str:
        """The curves' key of a run: its label, with " · seed k" for any seed after the label's first."""
        first = self._first_seed.setdefault(label, seed)
        return label if seed == first else f"{label} · seed {seed}"

    def progress(self, done: int, total: int, rec: dict | None) -> None:
        self.total = total
        if rec is None:
            self.kept = self.reused = done          # run_configs: records found in the store before any training
        else:
            self.kept = done
            if rec.get("reused"):
                self.reused += 1
                if rec.get("monitor") and "label" in rec:
                    self.curves[self.name(rec["label"], (rec.get("config") or {}).get("seed"))] = list(rec["monitor"])
        self._changed("run")

    def on_step(self, run, done: int, total: int, loss: float | None) -> None:
        if done == 0 or run is not self.run:
            self.run = run
        self.step, self.steps = done, total
        if loss is not None:
            self.loss = loss
        self._changed("step")

    def on_epoch(self, run, entry: dict) -> None:
        name = self.name(run.label, run.cfg.seed if run.cfg is not None else None)
        if int(entry.get("epoch", 0)) <= 1:
            self.curves[name] = []                  # a run that starts again (resumed) draws afresh
        self.curves.setdefault(name, []).append(dict(entry))
        self._changed("epoch")

    def _changed(self, event: str) -> None:
        if self.on_change is not None:
            self.on_change(self, event)

    def line(self) -> str:
        """'IDS (run 3 of 6) · epoch 4 of 8 · loss 4.612'."""
        if self.run is None:
            return "starting"
        r = self.run
        parts = [f"{P.condition_name(r.label)} (run {r.index + 1} of {r.total})"]
        if r.cfg is not None and r.cfg.epochs and self.steps:
            per_epoch = max(1, self.steps // r.cfg.epochs)
            # step k (1-based) belongs to epoch ceil(k / steps per epoch)
            parts.append(f"epoch {min(r.cfg.epochs, max(0, self.step - 1) // per_epoch + 1)} of {r.cfg.epochs}"
                         if self.step < self.steps else "probes")
        elif self.steps:
            parts.append(f"step {self.step} of {self.steps}")
        if self.loss is not None and self.step:
            parts.append(f"loss {self.loss:.3f}")
        return " · ".join(parts)

    def done_units(self) -> float:
        """Estimated seconds of the work done: finished runs in full, the current one by its share of steps."""
        if self.estimate is None or not self.estimate.runs:
            return float(self.kept)
        runs = self.estimate.runs
        done = sum(r.seconds for r in runs[:self.kept])
        if self.run is not None and self.kept <= self.run.index < len(runs) and self.steps:
            done += runs[self.run.index].seconds * 0.8 * min(1.0, self.step / self.steps)  # ~80%: training
        return done


# --------------------------------------------------------------------------------------------------------- views
class MarimoView:
    """A Live shown in the running marimo cell: marimo's progress bar (title, the Live's line as subtitle, its ETA
    from the estimated seconds of work done) and, below it, the per-epoch curves, redrawn as epochs finish (at most
    every `every_s` seconds). Use as a context manager around the call; it clears itself on exit."""

    def __init__(self, title: str, estimate: Estimate | None, curves_title: str = "", every_s: float = 1.0,
                 colours=None, mo=None, clock: Callable[[], float] = time.monotonic):
        if mo is None:
            import marimo as mo
        self.mo, self.title, self.curves_title, self.every_s, self.colours = mo, title, curves_title, every_s, colours
        self.clock = clock
        # the bar counts percent of the estimated work (marimo shows "done / total" and turns the rate into an ETA)
        self.units = 100
        self.scale = 100 / estimate.seconds if estimate is not None and estimate.seconds else None
        # -inf, not 0: time.monotonic() counts from boot, so on a machine up for less than every_s... no epoch would
        # ever be "due" after a sentinel of 0 (the first epoch must draw whatever the clock's origin)
        self._bar_cm, self.bar, self._shown, self._drawn, self._entries = None, None, 0, -math.inf, 0

    def __enter__(self) -> "MarimoView":
        self._bar_cm = self.mo.status.progress_bar(total=self.units, title=self.title, show_rate=False, show_eta=True,
                                                   remove_on_exit=True)
        self.bar = self._bar_cm.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar_cm.__exit__(*exc)
        self.mo.output.clear()

    def __call__(self, live: Live, event: str) -> None:
        if self.scale is not None:
            target = min(self.units - 1, int(self.scale * live.done_units()))
        else:
            target = min(self.units - 1, int(self.units * live.kept / max(1, live.total)))
        self.bar.update(increment=max(0, target - self._shown), subtitle=live.line())
        self._shown = max(self._shown, target)
        now, entries = self.clock(), sum(len(v) for v in live.curves.values())
        # an epoch redraws at most every every_s seconds; a finished run draws what is left
        due = event == "run" or (event == "epoch" and now - self._drawn > self.every_s)
        if entries > self._entries and due:
            self._drawn, self._entries = now, entries
            self.mo.output.replace_at_index(P.epoch_curves(live.curves, title=self.curves_title,
                                                           colours=self.colours), 1)


def run(fn: Callable, *, estimate: Estimate | None = None, title: str = "", view: str | None = "marimo",
        curves_title: str = "Per epoch, as it trains (eval mode, s_l = 0): loss, k-NN, rank of h, spread of z",
        curves_colours=None, **kwargs) -> Outcome:
    """fn(**kwargs, progress=, on_step=, on_epoch=) with a Live reporting to `view` ("marimo": MarimoView in the
    running cell; None: nothing shown). fn is experiments.compare, sweep_sl, run_configs or run_grid (with a
    results_dir, so that every finished run is stored as it finishes). A KeyboardInterrupt (Ctrl-C, marimo's stop)
    ends the call: Outcome.stopped, its message says how many runs are kept, and the same call resumes."""
    live = Live(estimate)
    shown = MarimoView(title, estimate, curves_title, colours=curves_colours) if view == "marimo" else None
    live.on_change = shown
    t0 = time.perf_counter()
    value, stopped = None, False
    try:
        if shown is not None:
            with shown:
                value = fn(**kwargs, progress=live.progress, on_step=live.on_step, on_epoch=live.on_epoch)
        else:
            value = fn(**kwargs, progress=live.progress, on_step=live.on_step, on_epoch=live.on_epoch)
    except KeyboardInterrupt:
        stopped = True
    return Outcome(value, stopped, live.kept, live.total, live.reused, time.perf_counter() - t0)


# -------------------------------------------------------------------------------------------- a notebook's button
def hint(estimate: Estimate, button: str, mo):
    """A section's one line before its button is pressed: what pressing costs here; above LONG_S a warning that
    the button will ask once more (press()). mo: the marimo module."""
    if estimate.long:
        return mo.callout(mo.md(
            f"<span class='run-hint'>**This is long: {estimate.text()}.** Pressing **{button}** asks once more "
            "before it starts; fewer epochs or seeds, a smaller tile or a CNN instead of a ResNet make it "
            "shorter. Stop it any time with marimo's ■ (finished runs are kept).</span>"), kind="warn")
    return mo.md(f"<span class='run-hint'>Press **{button}**: {estimate.text()}.</span>")


def press(fn: Callable, *, title: str, view: str | None = "marimo", confirmed: bool = False,
          get_confirmed: Callable | None = None, set_confirmed: Callable | None = None, results_dir=None,
          curves_colours=None, **kwargs) -> Outcome:
    """A notebook button's one package call: estimate fn(**kwargs) on this device (estimate_for), and when it is
    longer than LONG_S and neither `confirmed` nor already warned about (get_confirmed() holds the same settings),
    return an Outcome whose message is that warning, and remember it (set_confirmed), so that the next press of
    the same button on the same settings starts it (and, after marimo's stop, resumes it without a second
    warning). Else run(fn, ...) with its live view."""
    est = estimate_for(fn, results_dir, **kwargs)
    if est is not None and est.long and not confirmed:
        # the warning is about these settings, not about this estimate: after a stop the estimate changes (the kept
        # runs are free; notebook 03's `keep` grows), and the press that resumes must not warn again
        key = (title, id(kwargs.get("data")), repr({k: v for k, v in kwargs.items() if k not in ("data", "keep")}))
        if get_confirmed is None or get_confirmed() != key:
            if set_confirmed is not None:
                set_confirmed(key)
            return Outcome(None, False, 0, len(est.runs), est.n_stored, 0.0,
                           note=f"Not started: {est.text()}. Press again to start it, or choose fewer epochs or "
                                "seeds, or a smaller tile or encoder.")
    if results_dir is not None:
        kwargs["results_dir"] = results_dir
    out = run(fn, estimate=est, title=title, view=view, curves_colours=curves_colours, **kwargs)
    if out.stopped and est is not None:
        try:        # what is left: the same estimate, now with the kept runs in the store (a second Ctrl-C: skip it)
            left = estimate_for(fn, **kwargs)
            out.left = f"about {duration(left.seconds)} on {left.device}"
        except KeyboardInterrupt:
            pass
    return out


def json_bytes(payload) -> bytes:
    """A results payload as the JSON a browser download gets (the same text write_json puts on the server)."""
    return json.dumps(payload, indent=2, allow_nan=False).encode()


def save_row(button, payload: Callable | None, path, mo):
    """The save row of a section after a run: a browser download of the results (JSON, built when clicked) and
    `button` (a run_button) that writes the same file on the server. Nothing before a run (payload None)."""
    if payload is None or button is None:
        return None
    download = mo.download(data=lambda: json_bytes(payload()), filename=Path(path).name,
                           mimetype="application/json", label="Download JSON")
    return mo.hstack([download, button], justify="start", gap=1)


def save_on_server(button, payload: Callable | None, path, mo):
    """What the server-side save button does when pressed: write the payload atomically to `path` and say where;
    None when not pressed (and nothing to save without a run, so pressing before one is harmless)."""
    if button is None or not button.value:
        return None
    if payload is None:
        return mo.md("_Nothing to save yet: press the section's button first._")
    from .atomic import write_json
    out = write_json(path, payload())
    return mo.md(f"<span class='saved'>Saved `{out}` on the server (written atomically).</span>")
