"""Reproduce grids for the paper's Table 1, Table 2 and Figure 3, and the results store (docs/PROTOCOL.md).

A grid is encoders x conditions (views strings) x s_l values x seeds on one dataset, under one protocol (the
TrainConfig defaults, identical across conditions as the paper requires). Every cell is one `idslab.train.run`;
its record is written atomically to `<results_dir>/<grid>/<hash>.json`, the hash taken over the config fields that
change the result (not paths, not the device string). A rerun reads finished records instead of training again,
so an interrupted grid resumes where it stopped.

    from idslab.experiments import get_grid, run_grid, load_records
    records = run_grid(get_grid("fig3", quick=True), results_dir="results")

    from idslab.experiments import sweep_sl          # the notebooks' s_l sweep
    records = sweep_sl(TrainConfig(epochs=5), sls=[0.01, 0.05, 0.1], seeds=[0, 1], results_dir="results/sweep")
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import __version__, baselines
from .encoders import ENCODERS_2D
from .records import metric_value
from .train import TrainConfig, device_name, load_data, pretrain, resolve_device, run, write_json

RunProgress = Callable[[int, int, "dict | None"], None]  # (runs done, total runs, last record or None at the start)


@dataclass(frozen=True)
class RunRef:
    """Which run a step or epoch callback is about (the notebooks' live progress names it): its place among the
    call's runs (0-based, in run order), their number, its label and its config (None for a baseline control)."""
    index: int
    total: int
    label: str
    cfg: "TrainConfig | None"


# Live callbacks of compare / sweep_sl / run_configs (idslab.live turns them into a progress bar and curves):
#   on_step(run, steps done, total steps, loss of the last step): after every optimiser step, and once with
#       (run, 0, total steps, None) when a run starts (total 0 for the trivial and supervised controls);
#   on_epoch(run, entry): after every epoch, entry = the engine's per-epoch monitor dict (idslab.train).
StepCallback = Callable[[RunRef, int, int, "float | None"], None]
EpochCallback = Callable[[RunRef, dict], None]


def _live_kwargs(ref: RunRef, on_step: StepCallback | None, on_epoch: EpochCallback | None) -> dict:
    """The engine's progress/on_epoch arguments for one run, bound to its RunRef (only those asked for)."""
    kw = {}
    if on_step is not None:
        on_step(ref, 0, ref.cfg.epochs * (ref.cfg.n_pretrain // ref.cfg.batch_size) if ref.cfg else 0, None)
        kw["progress"] = lambda done, total, loss: on_step(ref, done, total, loss)
    if on_epoch is not None:
        kw["on_epoch"] = lambda entry: on_epoch(ref, entry)
    return kw


def run_label(cfg: TrainConfig) -> str:
    """A short name for a run in progress lines: views (and s_l with IDS), head and seed; 'floor' for epochs = 0."""
    if cfg.epochs == 0:
        return f"floor (seed {cfg.seed})"
    name = cfg.views
    if "ids" in cfg.views.split("+"):
        name += " s_l=" + ",".join(f"{v:g}" if k == "fc1" else f"{k}:{v:g}" for k, v in cfg.sites.items())
    if cfg.proj_bn:
        name += ", BN head"
    return f"{name} (seed {cfg.seed})"

# Config fields that do not change what a run computes: left out of the record's hash so a move of the data folder
# or "auto" vs "cuda" still finds the finished record.
_NOT_HASHED = ("data_dir", "cifar_dir", "download", "device")
# Fields added after records existed: left out of the hash while at these defaults, so old records keep their names.
_HASHED_IF_NOT_DEFAULT = {"noise": "view", "scale_mode": "absolute", "data_path": None, "data_key": None,
                          "label_key": None, "proj_dim": 16, "proj_bn": False, "stride": None,
                          "edge": "drop", "objective": "ntxent", "target_noise": True, "ema": 0.996, "ivar_key": None}

# The paper's conditions: column name in its tables -> our views string.
CONDITIONS = {"flip": "Baseline", "fft": "In-domain", "ids": "IDS"}

# --------------------------------------------------------------------------------------------------- grids
# CPU-sized protocol for --quick: same everything as the full protocol except sizes and epochs (and fewer encoders,
# s_l values). The probe-test split keeps the paper's 600 samples so accuracies move in the same 1/600 steps.
QUICK = dict(n_pretrain=2048, n_probe_train=1024, n_probe_test=600, epochs=10)
FIG3_SLS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.20)    # the paper's range 0.01-0.20 (its exact grid unknown)


@dataclass(frozen=True)
class Grid:
    """One reproduce grid. `overrides` are TrainConfig fields that differ from the defaults (quick versions only);
    `per_encoder` those that differ for one encoder's row ({encoder: {field: value}}, over `overrides`): every
    cell of that row, conditions and controls alike, so its comparisons stay paired (SHORT_ROWS)."""
    name: str
    title: str
    dataset: str
    encoders: tuple[str, ...]
    conditions: tuple[str, ...]          # views strings
    seeds: tuple[int, ...]
    sls: tuple[float, ...] = (0.02,)     # s_l at fc1 for IDS conditions (Tables 1, 2: 0.02; Figure 3: swept)
    overrides: dict = field(default_factory=dict)
    quick: bool = False
    controls: tuple[str, ...] = ()       # of CONTROLS; "none" and "floor" are trained cells, trivial/supervised not
    per_encoder: dict = field(default_factory=dict)
    every_layer: tuple[str, ...] = ()    # rows that also get the EVERY_LAYER conditions (the paper's Discussion)

    def row(self, encoder: str, pretrains: bool = True) -> dict:
        """The TrainConfig fields of one encoder's row: the grid's overrides, then its per_encoder ones.
        pretrains=False (the trivial and supervised controls): without "epochs", which only pre-training reads
        (the supervised control trains SUPERVISED_EPOCHS), so those controls keep one config, and one record, for
        every pre-training length."""
        own = {k: v for k, v in self.per_encoder.get(encoder, {}).items() if pretrains or k != "epochs"}
        return {**self.overrides, **own}

    @property
    def report_title(self) -> str:
        """The title with what differs between the rows' protocols (per_encoder, the rows present), e.g.
        "Table 1: ... (5 pre-training epochs for CNN-256, ResNet-18, ResNet-50; 20 for the others)"."""
        epochs = {e: self.per_encoder[e]["epochs"] for e in self.encoders if "epochs" in self.per_encoder.get(e, {})}
        if not epochs:
            return self.title
        base = self.overrides.get("epochs", TrainConfig().epochs)
        parts = [f"{n} pre-training epochs for {', '.join(_row_name(e) for e in epochs if epochs[e] == n)}"
                 for n in dict.fromkeys(epochs.values())]
        if len(epochs) < len(self.encoders):
            parts.append(f"{base} for the others")
        return f"{self.title} ({'; '.join(parts)})"

    def configs(self, controls: bool = True, **extra) -> list[TrainConfig]:
        """Every trained cell as a TrainConfig, in run order (encoder; s_l, condition, seed; the EVERY_LAYER
        conditions of an every_layer row; then the "none" and "floor" controls per seed). controls=False: the
        paper's cells only (no controls, no every-layer conditions). `extra`: e.g. device, data_dir, cifar_dir (not
        part of the protocol)."""
        out = []
        for enc in self.encoders:
            make = lambda **kw: TrainConfig(dataset=self.dataset, encoder=enc, **{**self.row(enc), **extra, **kw})
            for sl in self.sls:
                for views in self.conditions:
                    if "ids" not in views and sl != self.sls[0]:
                        continue  # s_l does nothing without IDS: one cell per data-space condition
                    for seed in self.seeds:
                        out.append(make(views=views, sites={"fc1": sl}, seed=seed))
            if controls and enc in self.every_layer:
                out += [make(views="ids", seed=seed, **over) for over in EVERY_LAYER.values() for seed in self.seeds]
            if controls:
                for name, over in (("none", {}), ("floor", {"epochs": 0})):
                    if name in self.controls:
                        out += [make(views="none", sites={"fc1": self.sls[0]}, seed=seed, **over)
                                for seed in self.seeds]
        return out

    def baseline_configs(self, **extra) -> list[tuple[str, TrainConfig]]:
        """(control name, config) of the trivial and supervised controls: per encoder and seed, as the tables show
        them. The trivial one reads only the data (control_path: one record per data set, shared by every encoder
        of its tile and every seed)."""
        return [(name, TrainConfig(dataset=self.dataset, encoder=enc, views="none", sites={"fc1": self.sls[0]},
                                   seed=seed, **{**self.row(enc, pretrains=False), **extra}))
                for enc in self.encoders for name in ("trivial", "supervised") if name in self.controls
                for seed in self.seeds]

    def describe(self) -> dict:
        cfgs = self.configs()
        controls = {control_path("", name, c).name for name, c in self.baseline_configs()}
        return {"name": self.name, "title": self.report_title, "quick": self.quick, "dataset": self.dataset,
                "encoders": list(self.encoders), "conditions": list(self.conditions), "sls": list(self.sls),
                "every_layer": list(self.every_layer),
                "seeds": list(self.seeds), "controls": list(self.controls), "per_encoder": self.per_encoder,
                "runs": len(cfgs) + len(controls), "protocol": protocol(cfgs[0])}


# The full Tables 1 and 2's one per-row change of the protocol: CNN-256 and the ResNets pre-train 5 epochs (75 steps
# of 2 x 256 views) instead of 20, every condition and the "none" control of the row alike (the floor has 0; the
# trivial and supervised controls do not pre-train). Why: by the study's cost model (idslab.study.estimate) their
# 20-epoch seed-0 cells alone take 12 of the first tier's 16 minutes on an H100, so every encoder's seed 0 could
# not fit one 9-minute GPU loan (issue 25). Its cost, measured on ResNet-18 at N = 32 on the CPU (docs/PROTOCOL.md,
# "Fourth pass"): the FFT cell falls from 91.2% to 84.8% and the row keeps its order, so the cut rows are lower
# bounds; at N = 256 it is not measured. In the grid,
# so `idslab reproduce table1|table2` and `idslab reproduce all` build the same cells (the same records); the
# report's title says it (Grid.report_title). SHORT_ROWS = {} gives the paper's 20 epochs on every row.
SHORT_ROWS = {"cnn256": {"epochs": 5}, "resnet18": {"epochs": 5}, "resnet50": {"epochs": 5}}

# The paper's Discussion ("single-site IDS under-perturbs deep backbones") as two more conditions of Table 1's ResNet
# rows, named by records.condition_name: weight noise on every conv and linear weight, one λ per view per step,
# relative to each layer's RMS weight (perturb.py), either 0.1 on every layer (SimGRACE's rule) or 0.1/√L on each of
# the L layers (the summed perturbation of h stays near 0.1 at any depth). The first was fixed before its first run,
# the second from that depth argument after ResNet-50's first cell (probe-test split), neither tuned. At N = 32 on
# the CPU (docs/PROTOCOL.md, "Sixth pass", 3 paired seeds) "all" lifts ResNet-18 by +22.4 points over identical
# views and beats flips on both ResNets; the FFT mask stays ahead. Whether that holds at the paper's N = 256 is what these cells measure;
# the fc1-only "ids" column stays the paper's method.
EVERY_LAYER = {"ids_all": {"sites": {"all": 0.1}, "scale_mode": "relative"},
               "ids_all_depth": {"sites": {"all_depth": 0.1}, "scale_mode": "relative"}}
DISCUSSION_ROWS = ("resnet18", "resnet50")


def _row_name(encoder: str) -> str:
    """The paper's name of an encoder's row: cnn256 -> CNN-256, resnet18 -> ResNet-18."""
    for prefix, name in (("resnet", "ResNet-"), ("cnn", "CNN-")):
        if encoder.startswith(prefix) and encoder[len(prefix):].isdigit():
            return name + encoder[len(prefix):]
    return encoder


def get_grid(name: str, quick: bool = False) -> Grid:
    """The grid behind the paper's 'table1', 'table2' or 'fig3'; quick=True gives its CPU-sized version. Every grid
    carries the controls (issue 9): Tables 1 and 2 all four, Figure 3 the floor, trivial and supervised ones, with
    s_l = 0 (IDS without noise: identical views, i.e. no augmentation) as its first point."""
    t_controls = ("none", "floor", "trivial", "supervised")
    f_controls = ("floor", "trivial", "supervised")
    if name == "table1":
        if quick:
            return Grid("table1", "Table 1 (quick, CPU-sized): meteor", "meteor", ("cnn8", "cnn16"),
                        ("flip", "fft", "ids"), (0, 1, 2), overrides=QUICK, quick=True, controls=t_controls)
        return Grid("table1", "Table 1: meteor head-echo detection", "meteor", ENCODERS_2D, ("flip", "fft", "ids"),
                    (0, 1, 2), controls=t_controls, per_encoder=SHORT_ROWS, every_layer=DISCUSSION_ROWS)
    if name == "table2":
        if quick:
            return Grid("table2", "Table 2 (quick, CPU-sized): CIFAR-10 vehicle vs animal", "cifar",
                        ("cnn8", "cnn16"), ("flip", "ids"), (0, 1, 2), overrides=QUICK, quick=True,
                        controls=t_controls)
        return Grid("table2", "Table 2: CIFAR-10 vehicle vs animal", "cifar", ENCODERS_2D, ("flip", "ids"), (0, 1, 2),
                    controls=t_controls, per_encoder=SHORT_ROWS)
    if name == "fig3":
        if quick:
            return Grid("fig3", "Figure 3 (quick, CPU-sized): s_l sweep, CNN-16, meteor", "meteor", ("cnn16",),
                        ("ids",), (0, 1, 2), sls=(0.0, 0.01, 0.02, 0.05, 0.10, 0.20), overrides=QUICK, quick=True,
                        controls=f_controls)
        return Grid("fig3", "Figure 3: s_l sweep, CNN-16, meteor", "meteor", ("cnn16",), ("ids",), (0, 1, 2, 3, 4),
                    sls=(0.0,) + FIG3_SLS, controls=f_controls)
    raise ValueError(f"unknown grid {name!r}: choose table1, table2 or fig3")


GRID_NAMES = ("table1", "table2", "fig3")


def protocol(cfg: TrainConfig) -> dict:
    """The protocol fields of a config (what must be identical across conditions), for records and docs."""
    keys = ("dataset", "epochs", "batch_size", "lr", "weight_decay", "temperature", "n_pretrain", "n_probe_train",
            "n_probe_test", "knn_k", "knn_metric", "data_seed", "amp")
    return {k: getattr(cfg, k) for k in keys} | {"optimizer": "Adam"}


# --------------------------------------------------------------------------------------------------- store
def data_version(dataset: str) -> str | None:
    """The generator/decoder version of a data set (idslab.datasets bumps it whenever the bytes change)."""
    try:
        if dataset == "meteor":
            from .datasets.meteor import SIMULATOR_VERSION
            return SIMULATOR_VERSION
        if dataset == "cifar":
            from .datasets.cifar import DECODER_VERSION
            return DECODER_VERSION
        if dataset == "spectra":
            from .datasets.spectra import SIMULATOR_VERSION as SPECTRA_VERSION
            return SPECTRA_VERSION
    except ImportError:
        pass
    return None


def config_key(cfg: TrainConfig) -> dict:
    """What determines a run's result, and so what the record's name hashes: the config (less paths and device
    string) and the data set's version, so a change of the meteor simulator never reuses stale records. The config
    as its objective reads it (TrainConfig.identity): a field the objective ignores never changes the hash."""
    key = {k: v for k, v in cfg.identity().items() if k not in _NOT_HASHED}
    for k, default in _HASHED_IF_NOT_DEFAULT.items():
        if key.get(k) == default:
            del key[k]
    if cfg.dataset == "file":  # a user's file: its content, so an edited file never reuses records of the old one
        from .datasets.arrays import fingerprint
        key["data_sha256"] = fingerprint(cfg.data_path)["sha256"]
    return key | {"data_version": data_version(cfg.dataset)}


def config_hash(cfg: TrainConfig) -> str:
    blob = json.dumps(config_key(cfg), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def record_path(results_dir: str | os.PathLike, cfg: TrainConfig) -> Path:
    return Path(results_dir) / f"{config_hash(cfg)}.json"


def record_problem(rec, expect_hash: str | None = None) -> str | None:
    """Why `rec` is not a usable finished run record (None if it is): what the reports and the runner read must be
    there with the right types, accuracies in [0, 1], losses finite, and (given expect_hash) the hash its cell has."""
    if not isinstance(rec, dict):
        return f"not a JSON object but {type(rec).__name__}"
    c, m, h = rec.get("config"), rec.get("metrics"), rec.get("loss_history")
    if not isinstance(c, dict) or not isinstance(m, dict):
        return "no 'config' and 'metrics' objects"
    for key, kind in (("dataset", str), ("encoder", str), ("views", str), ("seed", int), ("sites", dict)):
        if not isinstance(c.get(key), kind) or isinstance(c.get(key), bool):
            return f"config.{key} is {c.get(key)!r}, not a {kind.__name__}"
    if not all(_is_num(v) and v >= 0 for v in c["sites"].values()):
        return f"config.sites {c['sites']!r} is not a map of s_l >= 0"
    for name in ("mlp", "knn"):
        acc, ci = m.get(f"{name}_acc"), m.get(f"{name}_ci")
        if not (_is_num(acc) and 0 <= acc <= 1):
            return f"metrics.{name}_acc is {acc!r}, not an accuracy in [0, 1]"
        if ci is not None and not (isinstance(ci, list) and len(ci) == 2
                                   and all(_is_num(v) and 0 <= v <= 1 for v in ci)):
            return f"metrics.{name}_ci is {ci!r}, not an interval [lo, hi] in [0, 1]"
    if not isinstance(h, list) or not all(_is_num(v) for v in h):
        return "loss_history is not a list of finite numbers"
    if expect_hash is not None and rec.get("hash", expect_hash) != expect_hash:
        return f"its hash {rec.get('hash')!r} is another cell's (expected {expect_hash})"
    return None


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def read_record(path: str | os.PathLike, set_aside: bool = False) -> dict | None:
    """A finished record, or None if the file is missing, half-written or not a valid record (record_problem).

    set_aside=True (the runner, which then reruns the cell): an invalid file is renamed to <name>.invalid[.N], never
    deleted, with a warning saying why and where it went."""
    path = Path(path)
    if not path.exists():  # also when a parent is a file: nothing to read, nothing to set aside
        return None
    try:
        rec = json.loads(path.read_text())
        problem = record_problem(rec, expect_hash=path.stem if set_aside else None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
        problem = f"unreadable ({type(e).__name__}: {e})"
    if problem is None:
        return rec
    if set_aside:
        aside = path.with_name(path.name + ".invalid")
        n = 0
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.invalid.{n}")
        try:
            os.replace(path, aside)
            where = f"moved it to {aside}"
        except OSError as e:
            where = f"could not move it aside ({e.strerror or e})"
        warnings.warn(f"results store: {path} is not a valid run record ({problem}); {where} and the cell will be "
                      "rerun", stacklevel=2)
    return None


def load_records(results_dir: str | os.PathLike, grid: Grid | None = None) -> list[dict]:
    """All finished records in a folder (sorted by file name). With `grid`, only that grid's cells, in run order,
    skipping cells not yet run."""
    results_dir = Path(results_dir)
    if grid is not None:
        recs = [read_record(record_path(results_dir, c)) for c in grid.configs()]
        recs += [read_control_record(control_path(results_dir, name, c), c) for name, c in grid.baseline_configs()]
        return [r for r in recs if r is not None]
    if not results_dir.is_dir():
        return []
    recs = [read_record(p) for p in sorted(results_dir.glob("*.json")) if not p.name.startswith("control_")]
    recs += [read_control_record(p) for p in sorted(results_dir.glob("control_*.json"))]
    return [r for r in recs if r is not None]


# --------------------------------------------------------------------------------------------------- runner
class _DataCache:
    """One SSLData per (dataset, tile, sizes, data seed): every condition and seed of a cell sees the same data."""

    def __init__(self, data=None):
        self.fixed, self.cache = data, {}

    def __call__(self, cfg: TrainConfig):
        if self.fixed is not None:
            return self.fixed
        key = (cfg.dataset, cfg.tile, cfg.n_pretrain, cfg.n_probe_train, cfg.n_probe_test, cfg.data_seed,
               cfg.data_dir, cfg.cifar_dir)
        if key not in self.cache:
            self.cache.clear()  # grids run tile by tile: keep one dataset in memory (256x256 tiles are large)
            self.cache[key] = load_data(cfg)
        return self.cache[key]


def run_configs(cfgs: Iterable[TrainConfig], data=None, results_dir: str | os.PathLike | None = None,
                progress: RunProgress | None = None, grid_name: str | None = None, stack: bool | str = False,
                poll_s: float = 2.0, on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None
                ) -> list[dict]:
    """Run every config (skipping those with a finished record in results_dir) and return their records in order.

    data: one SSLData for all configs, or None to load each config's data (cached across configs).
    stack: train compatible configs (same CNN and protocol, different seeds/conditions/s_l) several at a time with
        idslab.multi (True; "auto" does so on CUDA only, where it is faster); False: one after another.
    With results_dir, every cell is claimed before it is trained (idslab.claims): a cell another live process is
    training is left to it and its record read when it appears (checked every poll_s seconds), so two sweeps on
    one store share the work. A record that cannot be written goes to the temp folder and the run stops there
    (atomic.SavedElsewhere, naming both paths and the fix).
    on_step, on_epoch: live callbacks (StepCallback, EpochCallback; RunRef.label from run_label). A stacked group
        reports its steps under its first run's RunRef, labelled with the group's size, and each epoch entry under
        its own run. Every record is stored as it finishes, so an interrupt (Ctrl-C, a notebook's stop) keeps them.
    """
    cfgs = list(cfgs)
    total, records = len(cfgs), [None] * len(cfgs)
    path = (lambda i: record_path(results_dir, cfgs[i])) if results_dir is not None else (lambda i: None)
    if progress is not None:
        progress(0, total, None)
    todo = []
    for i, cfg in enumerate(cfgs):
        rec = read_record(path(i), set_aside=True) if results_dir is not None else None
        if rec is not None:
            records[i] = rec
        else:
            todo.append(i)
    done = total - len(todo)
    if progress is not None and done:
        progress(done, total, None)
    get_data = _DataCache(data)
    store = Store(results_dir)

    def finish(i: int, rec: dict) -> None:
        nonlocal done
        rec["hash"] = config_hash(cfgs[i])
        rec["data_version"] = data_version(cfgs[i].dataset)
        if grid_name is not None:
            rec["grid"] = grid_name
        records[i] = rec
        if results_dir is not None:
            store.write_record(path(i), rec)
            store.claims.release(path(i))
        done += 1
        if progress is not None:
            progress(done, total, rec)

    ref = lambda i, label=None: RunRef(i, total, label or run_label(cfgs[i]), cfgs[i])

    def one(i: int) -> dict:
        return run(cfgs[i], get_data(cfgs[i]), **_live_kwargs(ref(i), on_step, on_epoch))

    def stacked(idx: list[int]) -> list[dict] | None:
        """The group's records from one stacked run (idslab.multi.run_many), or None, having said why, when the
        stack does not fit in the GPU's memory: the configs then run one by one. Any other error is the stacked
        path's to report (a bug there must not hide behind a slower sweep that looks the same)."""
        import torch
        from .multi import run_many
        kw = _live_kwargs(ref(idx[0], f"{len(idx)} runs at once"), on_step, None)
        if on_epoch is not None:
            kw["on_epoch"] = lambda entry: on_epoch(ref(idx[entry.get("run", 0)]), entry)
        try:
            return run_many([cfgs[i] for i in idx], get_data(cfgs[idx[0]]), **kw)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()                      # the stack's activations, before the runs alone
            device = cfgs[idx[0]].device
            warnings.warn(f"stacked run out of memory on {device_name(resolve_device(device))}; running the "
                          f"{len(idx)} configs one by one", stacklevel=2)
            return None

    def found(i: int) -> bool:
        """The record appeared (another process finished the cell): take it."""
        nonlocal done
        rec = read_record(path(i))
        if rec is None:
            return False
        records[i] = rec
        done += 1
        if progress is not None:
            progress(done, total, {**rec, "reused": True})      # the flag tells idslab.live it was not trained here
        return True

    def mine(idx: list[int]) -> tuple[list[int], list[int]]:
        """Split cells into those this process claims now and those another live process holds."""
        if results_dir is None:
            return idx, []
        ours, theirs = [], []
        for i in idx:
            if not store.claims.claim(path(i)):
                theirs.append(i)
            elif found(i):                       # finished by another process between our read and our claim
                store.claims.release(path(i))
            else:
                ours.append(i)
        return ours, theirs

    deferred = []
    with store:
        use_stack = _want_stack(stack, cfgs)
        if use_stack:
            from .multi import group_compatible
            for group in group_compatible([cfgs[i] for i in todo], todo):
                idx, theirs = mine([i for i, _ in group])
                deferred += theirs
                if not idx:
                    continue
                # a group of one: a config that cannot stack (multi.can_stack, decided before any work) or alone
                recs = stacked(idx) if len(idx) > 1 else None
                if recs is None:
                    recs = [one(i) for i in idx]
                for i, rec in zip(idx, recs):
                    finish(i, rec)
                store.check()
        else:
            for i in todo:
                ours, theirs = mine([i])
                deferred += theirs
                for i in ours:
                    finish(i, one(i))
                    store.check()
        # cells another process claimed: wait for their records; a claim that goes stale (its process died) or is
        # released without a record (it failed or was interrupted) is taken over here
        while deferred:
            waiting = []
            for i in deferred:
                if found(i):
                    continue
                ours, _ = mine([i])
                if ours:
                    finish(i, one(i))
                    store.check()
                elif records[i] is None:
                    waiting.append(i)
            deferred = waiting
            if deferred:
                time.sleep(poll_s)
    return records


class Store:
    """A results store's writes for one sweep: records (and checkpoints) written atomically, cells claimed
    (idslab.claims). A write that fails (disk full, folder removed) sends that result, and every later one of this
    sweep, to one folder in the temp folder; check() then stops the sweep with a message naming both folders and
    the fix. results_dir None: nothing is stored or claimed."""

    def __init__(self, results_dir):
        from .claims import Claims
        self.dir = Path(results_dir) if results_dir is not None else None
        self.claims = Claims()
        self.spill, self.first, self.error, self.n = None, None, None, 0

    def write(self, path: Path, write) -> None:
        """write(path), or write(spill folder / path.name) once a write to the store has failed."""
        if self.spill is None:
            try:
                write(path)
                return
            except OSError as e:
                from .atomic import fallback_path
                self.spill, self.first, self.error = fallback_path(self.dir), path, e
        try:
            write(self.spill / path.name)
        except OSError as e2:
            from .atomic import SavedElsewhere
            raise SavedElsewhere("record", path, None, self.error, e2) from self.error
        self.n += 1

    def write_record(self, path: Path, rec: dict) -> None:
        self.write(path, lambda p: write_json(p, rec))

    def check(self) -> None:
        """SavedElsewhere if a write has failed: the sweep stops, every finished result already saved."""
        if self.spill is not None:
            from .atomic import SavedElsewhere
            raise SavedElsewhere("record", self.first, f"{self.spill}/", self.error,
                                 then=f"; the {self.n} finished result(s) of this run that could not be stored are "
                                      f"there: move them into {self.dir} and rerun the same command to resume")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.claims.close()


def _want_stack(stack: bool | str, cfgs: list[TrainConfig]) -> bool:
    if stack == "auto":
        import torch
        return bool(cfgs) and resolve_device(cfgs[0].device).type == "cuda" and torch.cuda.is_available()
    return bool(stack)


def run_grid(grid: Grid, results_dir: str | os.PathLike = "results", data=None, progress: RunProgress | None = None,
             stack: bool | str = "auto", on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None,
             **extra) -> list[dict]:
    """Run (or resume) a grid; records go to <results_dir>/<grid.name>[_quick]/. extra: TrainConfig fields outside
    the protocol (device, data_dir, cifar_dir). Returns the records in run order. Two processes on one store share
    the cells (run_configs' claims). on_step, on_epoch: live callbacks (see run_configs)."""
    t0 = time.perf_counter()
    folder = grid_dir(results_dir, grid)
    base_cfgs = grid.baseline_configs(**extra)
    n_base = len(base_cfgs)
    inner = None
    if progress is not None:   # one count over trained cells and baseline controls
        inner = lambda done, total, rec: progress(done, total + n_base, rec)
    recs = run_configs(grid.configs(**extra), data=data, results_dir=folder, progress=inner,
                       grid_name=grid.name, stack=stack, on_step=on_step, on_epoch=on_epoch)
    get_data = _DataCache(data)
    n_trained = len(recs)
    with Store(folder) as store:
        for k, (name, cfg) in enumerate(base_cfgs):
            step = None
            if on_step is not None:
                ref = RunRef(n_trained + k, n_trained + n_base, f"{name} (seed {cfg.seed}, {cfg.encoder})", None)
                on_step(ref, 0, 0, None)
                step = lambda d, t, loss, ref=ref: on_step(ref, d, t, loss)
            rec = baseline_run(name, cfg, get_data, folder, SUPERVISED_EPOCHS, store, progress=step)
            rec["grid"] = grid.name
            recs.append(rec)
            if progress is not None:
                progress(n_trained + k + 1, n_trained + n_base, rec)
        store.write(folder / "grid.json", lambda p: write_json(p, {**grid.describe(),
                                                                    "last_wall_s": time.perf_counter() - t0}))
        store.check()
    return recs


def grid_dir(results_dir: str | os.PathLike, grid: Grid) -> Path:
    return Path(results_dir) / (grid.name + ("_quick" if grid.quick else ""))


def sweep_sl(base: TrainConfig, sls: list[float], seeds: list[int], data=None,
             results_dir: str | os.PathLike | None = None, progress: RunProgress | None = None,
             stack: bool | str = False, include_zero: bool = True, floor: bool = True,
             on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None) -> list[dict]:
    """Sweep s_l (every perturbation site of `base` set to each value) x seeds; the rest of `base` is kept.

    Returns one idslab.train.run record per (s_l, seed), s_l-major, s_l = 0 first when include_zero (IDS with no
    noise: identical views, the no-augmentation control), then with floor one random-init record per seed
    (epochs = 0, s_l = 0), marked record["control"] = "floor" (plots must not draw it as an s_l point). Every
    record has "final_loss" (last epoch's NT-Xent; None for the floor): at large s_l training can stop learning
    while the probes sit at the floor, and a flat accuracy curve must not hide that. With results_dir each record
    is stored there and reused on rerun. progress(done_runs, total_runs, last_record_or_None) after each run;
    on_step, on_epoch: live callbacks (see run_configs).
    """
    cfgs, n_sweep = sweep_configs(base, sls, seeds, include_zero, floor)
    recs = run_configs(cfgs, data=data, results_dir=results_dir, progress=progress, stack=stack, on_step=on_step,
                       on_epoch=on_epoch)
    for rec in recs[n_sweep:]:
        rec["control"] = "floor"
    for rec in recs:
        rec.setdefault("final_loss", rec["loss_history"][-1] if rec.get("loss_history") else None)
    return recs


def sweep_configs(base: TrainConfig, sls: list[float], seeds: list[int], include_zero: bool = True,
                  floor: bool = True) -> tuple[list[TrainConfig], int]:
    """The runs of sweep_sl in run order, and how many of them are s_l points (the floor runs follow).
    Raises ValueError for a base without IDS, no s_l or seed, or a seed that is not a whole number."""
    if "ids" not in base.views.split("+"):
        raise ValueError(f"sweep_sl needs IDS in the views (s_l does nothing otherwise), got views={base.views!r}")
    if not sls or not seeds:
        raise ValueError("sweep_sl needs at least one s_l and one seed")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral)]
    if bad:
        raise ValueError(f"sweep_sl seeds must be whole numbers, got {bad}")
    sites = list(base.sites) or ["fc1"]
    values = sorted({0.0, *map(float, sls)}) if include_zero else [float(s) for s in sls]
    cfgs = [dataclasses.replace(base, sites={k: float(s) for k in sites}, seed=int(seed))
            for s in values for seed in seeds]
    n_sweep = len(cfgs)
    if floor:
        cfgs += [dataclasses.replace(base, sites={k: 0.0 for k in sites}, seed=int(seed), epochs=0)
                 for seed in seeds]
    return cfgs, n_sweep


def warm_encoder(data, encoder: str, sl: float = 0.02, epochs: int = 1, batch_size: int = 256,
                 device: str = "auto"):
    """A briefly IDS-pre-trained model (SimCLRModel on the CPU, eval mode) for the weight-space diagnostics of
    notebook 01 before its run button has trained one: an untrained encoder maps every tile to nearly the same h,
    which says little about what a perturbation does. One epoch at s_l on fc1 over data.pretrain, seed 0."""
    n = len(data.pretrain.y)
    cfg = TrainConfig(dataset=data.name, encoder=encoder, tile=data.tile, views="ids", sites={"fc1": float(sl)},
                      epochs=epochs, batch_size=min(batch_size, n), n_pretrain=n, device=device)
    return pretrain(cfg, data).model.cpu().eval()


# --------------------------------------------------------------------------------------------------- compare
# The controls every comparison carries (issue 9): what "learned something" and "better" are measured against.
#   floor       the random initialisation, probed exactly like a trained encoder (epochs = 0)
#   none        no augmentation: both views are the same input (views="none"), trained exactly like the others;
#               the reference of the paired differences
#   trivial     logistic regression on global tile statistics (idslab.baselines.trivial_baseline)
#   supervised  the same encoder trained with labels on probe-train (idslab.baselines.supervised_ceiling with
#               train_on="probe_train": the label-matched reference, the probes' 2000 labels; the ceiling over all
#               labelled tiles, train_on="all", is benchmarks/bench_meteor.py controls' and sits 1-5 points higher)
CONTROLS = ("floor", "none", "trivial", "supervised")
SUPERVISED_EPOCHS = 30


def parse_condition(c) -> tuple[str, dict]:
    """A condition as (label, TrainConfig overrides).

    str: a views string, e.g. "flip", "fft", "ids", "ids+flip" (IDS at the base config's sites).
    dict: {"views": ..., optional "sl" (s_l at every site of the base config, or fc1), "sites" ({site: s_l}),
    "label", and any other TrainConfig field}, e.g. {"views": "ids", "sl": 0.05, "label": "IDS 0.05"}.
    """
    if isinstance(c, str):
        if not c.strip():
            raise ValueError("an empty condition: give a views string such as 'ids' or 'flip'")
        return c.strip(), {"views": c.strip()}
    if not isinstance(c, dict) or "views" not in c:
        raise ValueError(f"condition {c!r}: give a views string or a dict with at least 'views'")
    over = {k: v for k, v in c.items() if k not in ("label", "sl")}
    if "sl" in c:
        over["sites"] = {"fc1": float(c["sl"])} if "sites" not in c else {k: float(c["sl"]) for k in c["sites"]}
    label = c.get("label")
    if label is None:
        label = c["views"]
        if "ids" in c["views"].split("+") and "sites" in over:
            label += " s_l=" + ",".join(f"{v:g}" for v in over["sites"].values())
    return str(label), over


def paired_difference(a, b, level: float = 0.95) -> dict:
    """Mean of the paired differences a_i - b_i (same seed i, same data) with a Student-t interval over seeds.

    Returns {"mean", "ci" ([lo, hi], None for one pair), "sd" (sample sd of the differences), "n"}.
    """
    from scipy import stats
    d = np.asarray(a, float) - np.asarray(b, float)
    if d.size == 0:
        raise ValueError("paired_difference needs at least one pair")
    n, mean = d.size, float(d.mean())
    if n < 2:
        return {"mean": mean, "ci": None, "sd": None, "n": n}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
    return {"mean": mean, "ci": [mean - half, mean + half], "sd": sd, "n": n}


def gap_closed(acc: float | None, floor: float | None, ceiling: float | None) -> float | None:
    """(acc - floor) / (ceiling - floor): 0 at the random-init floor, 1 at the supervised ceiling."""
    if acc is None or floor is None or ceiling is None or not ceiling > floor:
        return None
    return (acc - floor) / (ceiling - floor)


TABLE_METRICS = ("mlp_acc", "knn_acc", "linear10_acc", "physics.velocity_r2", "physics.slope_r2",
                 "physics.snr_r2", "physics.altitude_r2", "physics.line_snr_r2", "physics.line_width_r2",
                 "physics.continuum_slope_r2", "physics.direction_acc", "diagnostics.effective_rank",
                 "diagnostics.alignment", "diagnostics.uniformity", "final_loss")


@dataclass
class Comparison:
    """What compare() returns.

    records: one run record per (label, seed) for the conditions and the trained controls (floor, none), each
        with "label" and "role" ("condition" | "control"); control records of trivial/supervised have metrics
        {"acc", "ci", "n_test"}.
    models: label -> SimCLRModel of the first seed (eval mode), for conditions, "none" and "floor".
    embeddings: label -> (h (embed_n, 32) float32 numpy of probe_test, y (embed_n,) int numpy).
    controls: control name -> {"acc" (mean MLP accuracy over seeds; trivial/supervised: their own classifier),
        "sd", "n", and the mean of every other metric of TABLE_METRICS that the records hold}.
    """
    base: TrainConfig
    labels: list
    seeds: list
    records: list
    models: dict
    embeddings: dict
    controls: dict

    def runs(self, label: str) -> list[dict]:
        return [r for r in self.records if r.get("label") == label]

    def values(self, label: str, metric: str = "mlp_acc") -> list:
        """Per-seed values of a metric for one label, in seed order, accuracies as fractions (records.metric_value;
        trivial/supervised: their one accuracy 'acc' for both probes' columns)."""
        return [metric_value(r, metric, percent=False)
                for r in sorted(self.runs(label), key=lambda r: r["config"]["seed"])]

    def difference(self, label: str, metric: str = "mlp_acc", against: str = "none") -> dict | None:
        """Paired-seed difference label - against (same seeds, same data), or None if either is missing."""
        a, b = self.values(label, metric), self.values(against, metric)
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        return paired_difference(*zip(*pairs)) if pairs else None

    def table(self, metric: str = "mlp_acc") -> list[dict]:
        """Rows for display: every condition, then the controls. Per row: "label", "role", "n" (seeds), the mean
        and sd over seeds of each metric in TABLE_METRICS present (key and key + "_sd", dots -> '_', e.g.
        "physics_velocity_r2"), "gap_closed" (of `metric` between floor and supervised), and "vs_none" (paired
        difference of `metric` against no augmentation: {"mean", "ci", "sd", "n"}, conditions only)."""
        fl = [v for v in self.values("floor", metric) if isinstance(v, (int, float))]
        floor = float(np.mean(fl)) if fl else None
        ceiling = self.controls.get("supervised", {}).get("acc")
        rows = []
        names = list(self.labels) + [c for c in CONTROLS if c in self.controls and c not in self.labels]
        for label in names:
            role = "condition" if label in self.labels else "control"
            row = {"label": label, "role": role, "n": len(self.runs(label))}
            for m in TABLE_METRICS:
                vals = [v for v in self.values(label, m) if isinstance(v, (int, float))]
                if vals:
                    key = m.replace(".", "_")
                    row[key], row[key + "_sd"] = float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 \
                        else 0.0
            acc = row.get(metric.replace(".", "_"))
            row["gap_closed"] = gap_closed(acc, floor, ceiling)
            row["vs_none"] = self.difference(label, metric) if role == "condition" and label != "none" else None
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        """What a saved comparison holds (JSON-able; models and embeddings stay out): its run records, the
        controls' summaries, the table and the seeds."""
        return {"records": self.records, "controls": self.controls, "table": self.table(), "seeds": list(self.seeds)}

    def markdown(self, metric: str = "mlp_acc") -> str:
        """The table as Markdown (accuracies in %, R² and ranks as numbers, mean ± sd over seeds)."""
        return comparison_markdown(self.table(metric), self.base, self.seeds)


def comparison_markdown(rows: list[dict], base: TrainConfig | None = None, seeds=None) -> str:
    """A Comparison.table() as Markdown: one row per condition and control."""
    def pct(r, k):
        return "–" if k not in r else f"{100 * r[k]:.1f} ± {100 * r[k + '_sd']:.1f}" if r["n"] > 1 \
            else f"{100 * r[k]:.1f}"

    def num(r, k, f=".2f"):
        return "–" if k not in r else f"{r[k]:{f}} ± {r[k + '_sd']:{f}}" if r["n"] > 1 else f"{r[k]:{f}}"

    def diff(r):
        d = r.get("vs_none")
        if not d:
            return "–"
        ci = f" [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]" if d["ci"] else ""
        return f"{100 * d['mean']:+.1f}{ci}"

    has = lambda k: any(k in r for r in rows)
    cols = [("MLP (%)", lambda r: pct(r, "mlp_acc")), ("k-NN (%)", lambda r: pct(r, "knn_acc"))]
    if has("linear10_acc"):
        cols.append(("10-class linear (%)", lambda r: pct(r, "linear10_acc")))
    cols += [("gap closed", lambda r: "–" if r.get("gap_closed") is None else f"{r['gap_closed']:.2f}"),
             ("MLP − none (pts, 95% CI)", diff)]
    if has("physics_velocity_r2"):
        cols.append(("velocity R²", lambda r: num(r, "physics_velocity_r2")))
    if has("physics_direction_acc"):
        cols.append(("direction (%)", lambda r: pct(r, "physics_direction_acc")))
    if has("diagnostics_effective_rank"):
        cols.append(("eff. rank", lambda r: num(r, "diagnostics_effective_rank", ".1f")))
    cols.append(("seeds", lambda r: str(r["n"])))
    out = ["| condition | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        name = r["label"] if r["role"] == "condition" else f"*{r['label']}* (control)"
        out.append(f"| {name} | " + " | ".join(f(r) for _, f in cols) + " |")
    return "\n".join(out)


def _trained_run(cfg: TrainConfig, data, results_dir: Path | None, keep_model: bool, store: "Store", **live):
    """One run with its model: (record, model or None). With results_dir the record (and, if keep_model, the
    checkpoint <hash>.pt) is stored there and read back on rerun; a cell another live process has claimed is waited
    for (claims, as in run_configs). live: pretrain's progress / on_epoch."""
    from .train import load_checkpoint, make_record, pretrain, save_checkpoint
    path = record_path(results_dir, cfg) if results_dir is not None else None
    ckpt = path.with_suffix(".pt") if path is not None else None

    def stored():
        rec = read_record(path, set_aside=True) if path is not None else None
        if rec is not None and (not keep_model or ckpt.exists()):
            model = None
            if keep_model:
                try:
                    model = load_checkpoint(ckpt)[0]
                except (ValueError, KeyError, RuntimeError):
                    return None                  # a corrupt checkpoint: train again
            return rec, model
        return None

    found = stored() if path is None else _claim_or_wait(path, store, stored)
    if found is not None:
        return found
    try:
        t0 = time.perf_counter()
        result = pretrain(cfg, data, **live)
        rec = make_record(cfg, result, data, t0)
        rec["hash"], rec["data_version"] = config_hash(cfg), data_version(cfg.dataset)
        if path is not None:
            if keep_model:
                store.write(ckpt, lambda p: save_checkpoint(p, result, cfg))
            store.write_record(path, rec)
    finally:
        if path is not None:
            store.claims.release(path)
    store.check()
    return rec, result.model.cpu().eval() if keep_model else None


def _claim_or_wait(path: Path, store: "Store", stored: Callable, poll_s: float = 2.0):
    """What stored() finds for a cell (e.g. its record), or None once this process holds the cell's claim: while
    another live process holds it, wait for its result (a stale or released claim is taken over)."""
    while True:
        found = stored()
        if found is not None:
            return found
        if store.claims.claim(path):
            found = stored()                     # finished between our look and our claim
            if found is not None:
                store.claims.release(path)
            return found
        time.sleep(poll_s)


def _control_key(name: str, cfg: TrainConfig, **extra) -> str:
    blob = json.dumps({"control": name, **config_key(cfg), **extra}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


# What the data of a config depend on (train.load_data's arguments, less paths): all the trivial control reads.
DATA_FIELDS = ("dataset", "tile", "n_pretrain", "n_probe_train", "n_probe_test", "data_seed", "data_path", "data_key",
               "label_key", "stride", "edge", "ivar_key")


def data_key(cfg: TrainConfig) -> dict:
    """The part of config_key that fixes a config's data set: DATA_FIELDS (those at their added-later defaults
    left out, as config_key does), the file's content for dataset "file", the data version and the encoder's
    dimensionality (1-D or 2-D tiles of a file)."""
    from .encoders import encoder_dims
    key = config_key(cfg)
    return {k: v for k, v in key.items() if k in DATA_FIELDS + ("data_sha256", "data_version")} | {
        "dims": encoder_dims(cfg.encoder)}


def control_path(results_dir, name: str, cfg: TrainConfig, supervised_epochs: int = SUPERVISED_EPOCHS) -> Path:
    """Where the trivial/supervised control of a config is stored: control_<name>_<hash>.json. supervised: hash
    over the config less paths and device, the data version and the supervised epochs. trivial: over the data
    only (data_key): a logistic regression on tile statistics of the probe splits (baselines.trivial_baseline),
    whose result depends on neither the encoder (beyond its tile), the training seed nor the protocol, so one
    record per data set stands for every such cell (read_control_record(path, cfg))."""
    if name == "trivial":
        blob = json.dumps({"control": name, **data_key(cfg)}, sort_keys=True, default=str)
        return Path(results_dir) / f"control_trivial_{hashlib.sha1(blob.encode()).hexdigest()[:16]}.json"
    return Path(results_dir) / f"control_{name}_{_control_key(name, cfg, sup_epochs=supervised_epochs)}.json"


def read_control_record(path, cfg: TrainConfig | None = None) -> dict | None:
    """A finished trivial/supervised control record, or None if missing or not one (it will be rerun).
    cfg: the cell it is read for; a trivial record (one per data set, control_path) then carries that cell's
    config, so the tables show it in every encoder's row and seed it stands for ("computed_for": the config it was
    computed with)."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    ok = (isinstance(rec, dict) and rec.get("control") in ("trivial", "supervised")
          and isinstance(rec.get("config"), dict) and isinstance(rec.get("metrics"), dict)
          and _is_num(rec["metrics"].get("acc")) and 0 <= rec["metrics"]["acc"] <= 1)
    if not ok:
        return None
    return _for_cell(rec, cfg) if cfg is not None else rec


def _for_cell(rec: dict, cfg: TrainConfig) -> dict:
    """A shared trivial record as the record of the cell `cfg` (its config; the original as "computed_for")."""
    if rec.get("control") != "trivial" or rec["config"] == cfg.to_dict():
        return rec
    return {**rec, "config": cfg.to_dict(), "computed_for": rec.get("computed_for", rec["config"])}


def baseline_run(name: str, cfg: TrainConfig, data, results_dir: Path | None, supervised_epochs: int,
                  store: "Store | None" = None, progress=None) -> dict:
    """trivial or supervised control for one seed, as a record {"control", "config", "metrics": {acc, ci, n_test}}.
    Stored in results_dir (control_path) and read back on rerun (claimed like a trained cell). data: an SSLData, or
    a callable cfg -> SSLData (loaded only when the control has to run). progress(step, total, loss): the
    supervised training's steps."""
    if results_dir is None:
        return _baseline_record(name, cfg, data(cfg) if callable(data) else data, supervised_epochs,
                                progress)
    store = store if store is not None else Store(results_dir)
    path = control_path(results_dir, name, cfg, supervised_epochs)
    rec = _claim_or_wait(path, store, lambda: read_control_record(path, cfg))
    if rec is not None:
        return rec
    try:
        rec = _baseline_record(name, cfg, data(cfg) if callable(data) else data, supervised_epochs,
                                progress)
        store.write_record(path, rec)
    finally:
        store.claims.release(path)
    store.check()
    return rec


def _baseline_record(name: str, cfg: TrainConfig, data, supervised_epochs: int, progress=None) -> dict:
    t0 = time.perf_counter()
    if name == "trivial":   # seed 0 for every cell: one record per data set (control_path), whichever seed asks
        res = baselines.trivial_baseline(data, seed=0)
    else:
        res = baselines.supervised_ceiling(cfg, data, epochs=supervised_epochs, train_on="probe_train",
                                           **({"progress": progress} if progress is not None else {}))
    import platform

    import torch

    dev = str(resolve_device(cfg.device))
    return {"control": name, "config": cfg.to_dict(), "metrics": {"acc": res["acc"], "ci": list(res["ci"]),
                                                                   "n_test": res.get("n_test")},
            "wall_s": time.perf_counter() - t0, "data_version": data_version(cfg.dataset), "device": dev,
            "device_name": torch.cuda.get_device_name() if dev.startswith("cuda") else platform.processor()
            or platform.machine(), "versions": {"idslab": __version__, "torch": torch.__version__},
            "supervised_epochs": supervised_epochs if name == "supervised" else None,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


@dataclass(frozen=True)
class PlannedRun:
    """One run of a compare() call, in run order (compare_plan)."""
    label: str
    role: str            # "condition" | "control"
    kind: str            # "train" (pre-training, then the probes; epochs = 0 for the floor) | "trivial" | "supervised"
    cfg: TrainConfig
    keep_model: bool     # compare keeps its model (the first seed of each trained label, when keep_models)


def compare_plan(base: TrainConfig, conditions: list, seeds=(0,), controls=CONTROLS,
                 supervised_epochs: int = SUPERVISED_EPOCHS, keep_models: bool = True
                 ) -> tuple[list[str], list[PlannedRun]]:
    """The condition labels and every run of compare(...) in run order: each condition and the trained controls
    ("none", "floor") per seed, then the trivial and supervised controls per seed. Validates everything first
    (ValueError: unknown condition or control, duplicate labels, no seeds, a bad config or supervised_epochs), so
    a notebook can estimate a comparison's time before running it (idslab.live.estimate)."""
    parsed = [parse_condition(c) for c in conditions]
    labels = [lab for lab, _ in parsed]
    if len(set(labels)) != len(labels):
        raise ValueError(f"conditions need distinct labels, got {labels}: give dicts with 'label'")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    bad = [c for c in controls if c not in CONTROLS]
    if bad:
        raise ValueError(f"unknown controls {bad}: choose from {', '.join(CONTROLS)}")
    if "floor" in labels or ("none" in labels and parsed[labels.index("none")][1] != {"views": "none"}):
        raise ValueError("'floor' and 'none' are control names: label your condition differently")
    trained = [(lab, over) for lab, over in parsed]
    if "none" in controls and "none" not in labels:
        trained.append(("none", {"views": "none"}))
    if "floor" in controls:
        trained.append(("floor", {"views": "none", "epochs": 0}))
    cfgs = {lab: dataclasses.replace(base, **over) for lab, over in trained}   # validates every one now
    baselines_wanted = [c for c in ("trivial", "supervised") if c in controls]
    if "supervised" in baselines_wanted and (isinstance(supervised_epochs, bool) or not isinstance(
            supervised_epochs, int) or supervised_epochs < 1):  # checked now, not after every condition has trained
        raise ValueError(f"supervised_epochs (--supervised-epochs) must be a whole number >= 1, got "
                         f"{supervised_epochs!r}")
    runs = [PlannedRun(lab, "condition" if lab in labels else "control", "train",
                       dataclasses.replace(cfgs[lab], seed=seed), keep_models and k == 0)
            for lab, _ in trained for k, seed in enumerate(seeds)]
    # views "none": the baselines ignore views; the same config (and stored record) as a grid's control
    runs += [PlannedRun(name, "control", name, dataclasses.replace(base, seed=seed, views="none"), False)
             for name in baselines_wanted for seed in seeds]
    return labels, runs


def is_stored(run: PlannedRun, results_dir: str | os.PathLike | None,
              supervised_epochs: int = SUPERVISED_EPOCHS) -> bool:
    """Whether compare() would reuse this run from results_dir instead of computing it (a finished record, and the
    checkpoint when the run keeps its model)."""
    if results_dir is None:
        return False
    if run.kind != "train":
        return read_control_record(control_path(results_dir, run.kind, run.cfg, supervised_epochs)) is not None
    path = record_path(results_dir, run.cfg)
    return read_record(path) is not None and (not run.keep_model or path.with_suffix(".pt").exists())


def compare(base: TrainConfig, conditions: list, seeds=(0,), controls=CONTROLS, data=None,
            progress: RunProgress | None = None, embed_n: int = 1000, results_dir: str | os.PathLike | None = None,
            supervised_epochs: int = SUPERVISED_EPOCHS, keep_models: bool = True,
            on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None) -> Comparison:
    """Compare views conditions on one encoder and one data set, with the controls, over paired seeds.

    base: the protocol (encoder, data, epochs, ...); every condition and control differs from it only in views/
        sites (and epochs = 0 for the floor). conditions: views strings or dicts (see parse_condition), e.g.
        ["flip", "fft", {"views": "ids", "sl": 0.02}]. seeds: training seeds; every condition and control runs
        each of them on the same data, so differences are paired. controls: any of CONTROLS ("floor", "none",
        "trivial", "supervised"; trivial/supervised come from idslab.baselines). progress(runs done, runs total,
        last record or None) after each run (a run reused from results_dir: the record with "reused": True);
        on_step, on_epoch: live callbacks (StepCallback, EpochCallback).
        embed_n: probe-test samples whose h is returned in `embeddings`. results_dir: store every record (and the
        first seed's models) there as it finishes and reuse them on rerun, so an interrupted comparison resumes.
        keep_models=False: no models or embeddings (a stored record without its checkpoint is then reused instead
        of retrained, e.g. the CLI on a grid's folder).
    Raises ValueError for an unknown condition/control or no seeds, before any work (compare_plan).
    """
    from .train import load_data
    labels, plan = compare_plan(base, conditions, seeds, controls, supervised_epochs, keep_models)
    seeds = [int(s) for s in seeds]
    data = data if data is not None else load_data(base)
    results_dir = Path(results_dir) if results_dir is not None else None
    total = len(plan)
    if progress is not None:
        progress(0, total, None)
    records, models, embeddings = [], {}, {}
    trivial: dict = {}      # the trivial control reads only the data: computed once per call, shown for every seed
    n_emb = min(embed_n, len(data.probe_test.y))
    # claims (released as each cell ends, and all of them when the call ends, an interrupt included: a notebook's
    # next press in the same process must not wait on a claim of its own) and writes that fall back, as run_configs
    with Store(results_dir) as store:
        for done, run_ in enumerate(plan, start=1):
            ref = RunRef(done - 1, total, run_.label, run_.cfg if run_.kind == "train" else None)
            reused = progress is not None and is_stored(run_, results_dir, supervised_epochs)
            if run_.kind == "train":
                rec, model = _trained_run(run_.cfg, data, results_dir, run_.keep_model, store,
                                          **_live_kwargs(ref, on_step, on_epoch))
                if model is not None:
                    from .probes import embed
                    models[run_.label] = model
                    embeddings[run_.label] = (embed(model.encoder, data.probe_test.x[:n_emb], "cpu").numpy(),
                                              data.probe_test.y[:n_emb].numpy())
            else:
                step = None
                if on_step is not None:
                    on_step(ref, 0, 0, None)
                    step = lambda d, t, loss, ref=ref: on_step(ref, d, t, loss)
                key = control_path("", "trivial", run_.cfg) if run_.kind == "trivial" else None
                if key is not None and key in trivial:
                    rec = _for_cell(trivial[key], run_.cfg)
                else:
                    rec = baseline_run(run_.kind, run_.cfg, data, results_dir, supervised_epochs, store,
                                       progress=step)
                    if key is not None:
                        trivial[key] = rec
            records.append({**rec, "label": run_.label, "role": run_.role})
            if progress is not None:   # a reused run flagged for idslab.live (the returned records are unflagged)
                progress(done, total, {**records[-1], "reused": True} if reused else records[-1])
    return summarise(base, labels, seeds, records, models, embeddings)


def summarise(base: TrainConfig, labels: list, seeds: list, records: list, models: dict | None = None,
              embeddings: dict | None = None) -> Comparison:
    """A Comparison of finished records (each with "label" and "role"), with the controls' summaries: what
    compare() returns, also for records read back from a results store without training."""
    comp = Comparison(base, list(labels), list(seeds), records, models or {}, embeddings or {}, {})
    for name in CONTROLS:
        if comp.runs(name):
            accs = [v for v in comp.values(name, "mlp_acc") if v is not None]
            summary = {"acc": float(np.mean(accs)), "sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                       "n": len(accs), "acc_per_seed": accs}
            for m in TABLE_METRICS[1:]:
                vals = [v for v in comp.values(name, m) if isinstance(v, (int, float))]
                if vals:
                    summary[m.replace(".", "_")] = float(np.mean(vals))
            comp.controls[name] = summary
    return comp
