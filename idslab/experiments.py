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
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .encoders import ENCODERS
from .train import TrainConfig, load_data, run, write_json

RunProgress = Callable[[int, int, "dict | None"], None]  # (runs done, total runs, last record or None at the start)

# Config fields that do not change what a run computes: left out of the record's hash so a move of the data folder
# or "auto" vs "cuda" still finds the finished record.
_NOT_HASHED = ("data_dir", "cifar_dir", "download", "device")
# Fields added after records existed: left out of the hash while at these defaults, so old records keep their names.
_HASHED_IF_NOT_DEFAULT = {"noise": "view", "scale_mode": "absolute", "data_path": None, "data_key": None,
                          "label_key": None}

# The paper's conditions: column name in its tables -> our views string.
CONDITIONS = {"flip": "Baseline", "fft": "In-domain", "ids": "IDS"}

# --------------------------------------------------------------------------------------------------- grids
# CPU-sized protocol for --quick: same everything as the full protocol except sizes and epochs (and fewer encoders,
# s_l values). The probe-test split keeps the paper's 600 samples so accuracies move in the same 1/600 steps.
QUICK = dict(n_pretrain=2048, n_probe_train=1024, n_probe_test=600, epochs=10)
FIG3_SLS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.20)    # the paper's range 0.01-0.20 (its exact grid unknown)


@dataclass(frozen=True)
class Grid:
    """One reproduce grid. `overrides` are TrainConfig fields that differ from the defaults (quick versions only)."""
    name: str
    title: str
    dataset: str
    encoders: tuple[str, ...]
    conditions: tuple[str, ...]          # views strings
    seeds: tuple[int, ...]
    sls: tuple[float, ...] = (0.02,)     # s_l at fc1 for IDS conditions (Tables 1, 2: 0.02; Figure 3: swept)
    overrides: dict = field(default_factory=dict)
    quick: bool = False

    def configs(self, **extra) -> list[TrainConfig]:
        """Every cell as a TrainConfig, in run order (encoder, s_l, condition, seed). `extra`: e.g. device,
        data_dir, cifar_dir (not part of the protocol)."""
        out = []
        for enc in self.encoders:
            for sl in self.sls:
                for views in self.conditions:
                    if "ids" not in views and sl != self.sls[0]:
                        continue  # s_l does nothing without IDS: one cell per data-space condition
                    for seed in self.seeds:
                        out.append(TrainConfig(dataset=self.dataset, encoder=enc, views=views, sites={"fc1": sl},
                                               seed=seed, **{**self.overrides, **extra}))
        return out

    def describe(self) -> dict:
        cfgs = self.configs()
        return {"name": self.name, "title": self.title, "quick": self.quick, "dataset": self.dataset,
                "encoders": list(self.encoders), "conditions": list(self.conditions), "sls": list(self.sls),
                "seeds": list(self.seeds), "runs": len(cfgs), "protocol": protocol(cfgs[0])}


def get_grid(name: str, quick: bool = False) -> Grid:
    """The grid behind the paper's 'table1', 'table2' or 'fig3'; quick=True gives its CPU-sized version."""
    if name == "table1":
        if quick:
            return Grid("table1", "Table 1 (quick, CPU-sized): meteor", "meteor", ("cnn8", "cnn16"),
                        ("flip", "fft", "ids"), (0, 1, 2), overrides=QUICK, quick=True)
        return Grid("table1", "Table 1: meteor head-echo detection", "meteor", ENCODERS, ("flip", "fft", "ids"),
                    (0, 1, 2))
    if name == "table2":
        if quick:
            return Grid("table2", "Table 2 (quick, CPU-sized): CIFAR-10 vehicle vs animal", "cifar",
                        ("cnn8", "cnn16"), ("flip", "ids"), (0, 1, 2), overrides=QUICK, quick=True)
        return Grid("table2", "Table 2: CIFAR-10 vehicle vs animal", "cifar", ENCODERS, ("flip", "ids"), (0, 1, 2))
    if name == "fig3":
        if quick:
            return Grid("fig3", "Figure 3 (quick, CPU-sized): s_l sweep, CNN-16, meteor", "meteor", ("cnn16",),
                        ("ids",), (0, 1, 2), sls=(0.01, 0.02, 0.05, 0.10, 0.20), overrides=QUICK, quick=True)
        return Grid("fig3", "Figure 3: s_l sweep, CNN-16, meteor", "meteor", ("cnn16",), ("ids",), (0, 1, 2, 3, 4),
                    sls=FIG3_SLS)
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
    except ImportError:
        pass
    return None


def config_key(cfg: TrainConfig) -> dict:
    """What determines a run's result, and so what the record's name hashes: the config (less paths and device
    string) and the data set's version, so a change of the meteor simulator never reuses stale records."""
    key = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_HASHED}
    for k, default in _HASHED_IF_NOT_DEFAULT.items():
        if key.get(k) == default:
            del key[k]
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
        os.replace(path, aside)
        warnings.warn(f"results store: {path} is not a valid run record ({problem}); moved it to {aside} and the "
                      "cell will be rerun", stacklevel=2)
    return None


def load_records(results_dir: str | os.PathLike, grid: Grid | None = None) -> list[dict]:
    """All finished records in a folder (sorted by file name). With `grid`, only that grid's cells, in run order,
    skipping cells not yet run."""
    results_dir = Path(results_dir)
    if grid is not None:
        recs = (read_record(record_path(results_dir, c)) for c in grid.configs())
        return [r for r in recs if r is not None]
    if not results_dir.is_dir():
        return []
    recs = (read_record(p) for p in sorted(results_dir.glob("*.json")))
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
                progress: RunProgress | None = None, grid_name: str | None = None, stack: bool | str = False
                ) -> list[dict]:
    """Run every config (skipping those with a finished record in results_dir) and return their records in order.

    data: one SSLData for all configs, or None to load each config's data (cached across configs).
    stack: train compatible configs (same CNN and protocol, different seeds/conditions/s_l) several at a time with
        idslab.multi (True; "auto" does so on CUDA only, where it is faster); False: one after another.
    """
    cfgs = list(cfgs)
    total, records = len(cfgs), [None] * len(cfgs)
    if progress is not None:
        progress(0, total, None)
    todo = []
    for i, cfg in enumerate(cfgs):
        rec = read_record(record_path(results_dir, cfg), set_aside=True) if results_dir is not None else None
        if rec is not None:
            records[i] = rec
        else:
            todo.append(i)
    done = total - len(todo)
    if progress is not None and done:
        progress(done, total, None)
    get_data = _DataCache(data)

    def finish(i: int, rec: dict) -> None:
        nonlocal done
        rec["hash"] = config_hash(cfgs[i])
        rec["data_version"] = data_version(cfgs[i].dataset)
        if grid_name is not None:
            rec["grid"] = grid_name
        if results_dir is not None:
            write_json(record_path(results_dir, cfgs[i]), rec)
        records[i] = rec
        done += 1
        if progress is not None:
            progress(done, total, rec)

    use_stack = _want_stack(stack, cfgs)
    if use_stack:
        from .multi import group_compatible, run_many
        for group in group_compatible([cfgs[i] for i in todo], todo):
            idx = [i for i, _ in group]
            try:
                recs = run_many([c for _, c in group], get_data(group[0][1])) if len(group) > 1 else None
            except (RuntimeError, NotImplementedError) as e:  # e.g. an op vmap cannot batch on this build
                warnings.warn(f"stacked training failed ({e}); running these {len(group)} configs one by one")
                recs = None
            if recs is None:
                recs = [run(cfgs[i], get_data(cfgs[i])) for i in idx]
            for i, rec in zip(idx, recs):
                finish(i, rec)
    else:
        for i in todo:
            finish(i, run(cfgs[i], get_data(cfgs[i])))
    return records


def _want_stack(stack: bool | str, cfgs: list[TrainConfig]) -> bool:
    if stack == "auto":
        import torch
        from .train import resolve_device
        return bool(cfgs) and resolve_device(cfgs[0].device).type == "cuda" and torch.cuda.is_available()
    return bool(stack)


def run_grid(grid: Grid, results_dir: str | os.PathLike = "results", data=None, progress: RunProgress | None = None,
             stack: bool | str = "auto", **extra) -> list[dict]:
    """Run (or resume) a grid; records go to <results_dir>/<grid.name>[_quick]/. extra: TrainConfig fields outside
    the protocol (device, data_dir, cifar_dir). Returns the records in run order."""
    t0 = time.perf_counter()
    folder = grid_dir(results_dir, grid)
    recs = run_configs(grid.configs(**extra), data=data, results_dir=folder, progress=progress,
                       grid_name=grid.name, stack=stack)
    write_json(folder / "grid.json", {**grid.describe(), "last_wall_s": time.perf_counter() - t0})
    return recs


def grid_dir(results_dir: str | os.PathLike, grid: Grid) -> Path:
    return Path(results_dir) / (grid.name + ("_quick" if grid.quick else ""))


def sweep_sl(base: TrainConfig, sls: list[float], seeds: list[int], data=None,
             results_dir: str | os.PathLike | None = None, progress: RunProgress | None = None,
             stack: bool | str = False) -> list[dict]:
    """Sweep s_l (every perturbation site of `base` set to each value) x seeds; the rest of `base` is kept.

    Returns one idslab.train.run record per (s_l, seed), s_l-major. With results_dir each record is stored there and
    reused on rerun. progress(done_runs, total_runs, last_record_or_None) after each run (None at the start).
    """
    if "ids" not in base.views.split("+"):
        raise ValueError(f"sweep_sl needs IDS in the views (s_l does nothing otherwise), got views={base.views!r}")
    if not sls or not seeds:
        raise ValueError("sweep_sl needs at least one s_l and one seed")
    sites = list(base.sites) or ["fc1"]
    cfgs = [dataclasses.replace(base, sites={k: float(s) for k in sites}, seed=int(seed))
            for s in sls for seed in seeds]
    return run_configs(cfgs, data=data, results_dir=results_dir, progress=progress, stack=stack)
