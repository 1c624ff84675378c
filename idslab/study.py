"""The paper's whole study in one command (issue 25): Table 1 (meteor), Table 2 (CIFAR-10) for all 8 encoders with
every condition and the controls (none, floor, trivial, supervised; 3 paired seeds), and Figure 3 (5 seeds), through
the one engine (idslab.experiments.run_configs -> idslab.train.run / idslab.multi.run_many), in an order that makes a
cut useful, resumable from the results store, inside a time budget, packed into one small archive.

    idslab reproduce all --device cuda --budget-s 540 --out $OUT      # the GPU loan
    idslab reproduce all --device cuda --dry-run                      # every cell, the order, the estimate
    idslab reproduce all --tiny --device cpu --out /tmp/o             # the same path at test sizes (tests/test_study.py)

Cells are the grids of idslab.experiments (get_grid: the same configs, hashes and folders as `idslab reproduce
table1|table2|fig3`, so records are shared with those commands). The order (plan()):
  tier 0  seed 0 of IDS, flip, no augmentation, the floor and the trivial and supervised controls, for every
          encoder of Tables 1 and 2;
  tier 1  seed 0 of the rest (the FFT mask of Table 1 and its ResNets' IDS on every layer, experiments.EVERY_LAYER;
          Figure 3's s_l sweep and its controls), and every other seed
          of the small CNNs (CNN-8 to CNN-64, Figure 3's CNN-16: the encoders multi.can_stack stacks on a GPU);
  tier 2  seeds 1 and 2 of CNN-128, CNN-256, ResNet-18 and ResNet-50: run only if the budget remains (BIG).
At full size CNN-256 and the ResNets pre-train 5 epochs, not 20: the grids' own per-row protocol
(experiments.SHORT_ROWS, so that tier 0 fits one loan), the same in `idslab reproduce table1|table2`. A control
whose record stands for several cells (the trivial one: one per data set, experiments.control_path) is one cell.
Within a tier, grid by grid (Table 2 first, GRID_ORDER), cheap encoders first and the cells of one (grid, encoder)
together, so the stacked path (idslab.multi, CUDA only: on the CPU it is slower for every encoder,
benchmarks/bench_stack.py) gets them in one group. Every record is written atomically as its cell finishes
(experiments' store); a rerun of the same command trains only the cells without a record.

The estimate (estimate()) is a stated model, not a measurement: per-encoder costs of one full-protocol run measured
on an NVIDIA H200 (docs/GPU_CHECK.md, 2026-12-04, torch 2.11) scaled to the device asked for (COST_MODELS).
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import __version__
from .atomic import atomic_write, write_json
from .encoders import ENCODERS_2D
from .experiments import (SUPERVISED_EPOCHS, Grid, Store, baseline_run, control_path, get_grid, load_records,
                          read_control_record, read_record, record_path, run_configs)
from .records import condition_name
from .report import write_report
from .train import TrainConfig

GRIDS = ("table1", "table2", "fig3")
# Within a tier, grid by grid, Table 2 first: its data (one CIFAR-10 decode, then a resize per tile) are ready in
# about 30 s, while the meteor sets (252 s in all on 16 cores, N = 256 alone 89 s) generate beside the training;
# by this order the modelled wait for data falls from 130 s to 28 s (estimate()).
GRID_ORDER = ("table2", "table1", "fig3")
SIZES = ("full", "quick", "tiny")
# tiny: the study's code path end to end in seconds on one CPU thread (tests/test_study.py); not a result
TINY = dict(n_pretrain=128, n_probe_train=64, n_probe_test=64, epochs=1, batch_size=64)
SUFFIX = {"full": "", "quick": "_quick", "tiny": "_tiny"}
# Encoders whose seeds after the first are tier 2 (run only if the budget remains): one of their runs costs 3-30
# small-CNN runs (COST_MODELS), and the small CNNs stack on a GPU while these do not (multi.can_stack).
BIG = ("cnn128", "cnn256", "resnet18", "resnet50")

# ------------------------------------------------------------------------------------------------ cost model
# Measured on one NVIDIA H200 (docs/GPU_CHECK.md, `idslab train --views ids`, full protocol: 20 epochs x 15 steps of
# 2 x 256 views): pre-training seconds and whole-run seconds (data load + pre-training + probes) per encoder.
H200_PRETRAIN_S = {"cnn8": 1.6, "cnn16": 1.6, "cnn32": 1.6, "cnn64": 1.8, "cnn128": 3.1, "cnn256": 13.2,
                   "resnet18": 18.0, "resnet50": 44.0}
H200_RUN_S = {"cnn8": 3.8, "cnn16": 3.9, "cnn32": 3.7, "cnn64": 4.2, "cnn128": 6.3, "cnn256": 18.8,
              "resnet18": 23.5, "resnet50": 50.0}
H200_STEPS = 300
# The H200's whole-run seconds are single `idslab train` processes: they include the process's CUDA start-up and
# warm-up, which a study pays once, not per cell. CPU-side probe work of one CNN-8 cell (make_record: k-NN, MLP
# probe, physics probes, diagnostics on 2,000 + 600 tiles) measured on the 2-core CPU: 0.44-0.55 CPU-s, the larger
# taken (benchmarks/bench_probes.py, 2026-12-07). So of CNN-8's 2.2 s beyond pre-training, START_S = 2.2 - 0.55 is
# start-up, counted once per study and taken off every encoder's per-cell probe time (the rest, e.g. embedding
# 2,600 tiles, stays).
PROBE_CNN8_S = 0.55
START_S = H200_RUN_S["cnn8"] - H200_PRETRAIN_S["cnn8"] - PROBE_CNN8_S
# Stacking K runs (bench_throughput.py on the H200): samples/s of 8 stacked CNN-16 runs / one run = 329,042 / 65,749
# = 5.0; CNN-64: 78,319 / 67,435 = 1.16. CNN-8 is taken as CNN-16, CNN-32 as CNN-64 (not measured: the lower bound).
H200_STACK8 = {"cnn8": 5.0, "cnn16": 5.0, "cnn32": 1.16, "cnn64": 1.16}
# Meteor generation on the H200 machine's 16 cores, default sizes (docs/GPU_CHECK.md), seconds per tile N; CIFAR's
# decode is not measured there: 30 s is an assumption (the decode is cached in the data folder after the first run).
H200_DATA_S = {("meteor", 8): 16.9, ("meteor", 16): 18.0, ("meteor", 32): 22.0, ("meteor", 64): 28.2,
               ("meteor", 128): 37.8, ("meteor", 256): 89.3}
CIFAR_DECODE_S = 30.0


@dataclass(frozen=True)
class CostModel:
    """Seconds of a cell on a device, from the H200 measurements above. train: the step part x `train`; probes
    (CPU-side scikit-learn and small GPU passes) x `probe`; data generation x `data`. What each factor rests on is
    `basis`."""
    name: str
    train: float
    probe: float
    data: float
    basis: str


COST_MODELS = {
    "cuda": CostModel("H100 estimate", 1.43, 1.0, 1.0,
                      "a model from the H200's measurements (docs/GPU_CHECK.md); training steps x 1.43 = the "
                      "H200/H100 memory-bandwidth ratio (4.8 / 3.35 TB/s, same tensor cores: the pessimistic case, "
                      "steps entirely bandwidth-bound), probes and data generation (CPU-side, 16 cores on both "
                      "machines) x 1, the probes net of the process's start-up (START_S, once per study)"),
    "cpu": CostModel("CPU extrapolation", 60.0, 3.0, 8.0,
                     "H200 costs x 60 for steps (ResNet-18 at N = 64 on this 2-core CPU, 1 thread: 1.4 s per 128 "
                     "views; the H200 runs 4,406 views/s at N = 256), x 3 for probes, x 8 for data (1 core vs 16); a "
                     "rough scale for --budget-s on a CPU, which corrects it by the measured/estimated ratio as it "
                     "runs"),
}


@dataclass(frozen=True, eq=False)
class Cell:
    """One unit of the study: a trained cell (kind "train": a condition, "none" or the floor) or a baseline control
    (kind "trivial" | "supervised"), its grid, tier and record folder. also: the other encoders whose cells its
    record stands for (the trivial control: every encoder of its tile; it stands for every seed too)."""
    grid: str
    kind: str
    cfg: TrainConfig
    tier: int
    folder: str
    also: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        c = self.cfg
        if self.kind == "trivial":
            also = f"; also {', '.join(self.also)}" if self.also else ""
            return f"{self.grid} {c.encoder} trivial (tile {c.tile}, every seed{also})"
        if self.kind != "train":
            what = self.kind
        elif c.epochs == 0:
            what = "floor"
        elif self.grid == "fig3":
            what = f"ids s_l={c.sites['fc1']:g}"
        else:
            what = condition_name(c.views, c.sites)
        return f"{self.grid} {c.encoder} {what} seed {c.seed}"

    @property
    def path(self) -> Path:
        if self.kind == "train":
            return record_path(self.folder, self.cfg)
        return control_path(self.folder, self.kind, self.cfg, SUPERVISED_EPOCHS)

    def stored(self) -> bool:
        if self.kind == "train":
            return read_record(self.path) is not None
        return read_control_record(self.path) is not None


def study_grid(name: str, size: str, encoders: tuple[str, ...] | None = None) -> Grid:
    """The grid of one paper result at a size: "full" (docs/PROTOCOL.md), "quick" (CPU-sized) or "tiny" (the quick
    grid's shape cut to CNN-8, 2 seeds and 2 s_l values at TINY sizes, with Table 1's every-layer IDS: a test of the
    code path, not a result).
    encoders: keep only these rows (ValueError if none of them is in the grid)."""
    if size not in SIZES:
        raise ValueError(f"unknown study size {size!r}: choose one of {', '.join(SIZES)}")
    grid = get_grid(name, quick=size != "full")
    if size == "tiny":      # (CNN-8 stands in for the full Table 1's every-layer ResNet rows, to test their path)
        grid = dataclasses.replace(grid, encoders=("cnn8",) if name != "fig3" else ("cnn16",), seeds=(0, 1),
                                   every_layer=("cnn8",) if get_grid(name).every_layer else (),
                                   sls=(0.0, 0.05) if name == "fig3" else grid.sls, per_encoder={},
                                   overrides={**grid.overrides, **TINY}, title=grid.title + " (tiny: a test)")
    if encoders:
        rows = tuple(e for e in grid.encoders if e in encoders)
        if not rows and name != "fig3":
            raise ValueError(f"none of --encoders {', '.join(encoders)} is in {name} ({', '.join(grid.encoders)})")
        grid = dataclasses.replace(grid, encoders=rows)
    return grid


def _tier(grid: str, cfg: TrainConfig, first: bool, s0: int) -> int:
    """The module doc's tiers. first: IDS, flip, none, the floor or a trivial/supervised control (tier 0 at seed
    s0 in Tables 1 and 2)."""
    if cfg.seed == s0:
        return 0 if first and grid != "fig3" else 1
    return 2 if cfg.encoder in BIG else 1


def plan(size: str = "full", grids=GRIDS, encoders: tuple[str, ...] | None = None, results: str = "results",
         **extra) -> list[Cell]:
    """Every cell of the study, in run order (module doc). extra: TrainConfig fields outside the protocol (device,
    data_dir, cifar_dir). Raises ValueError for an unknown grid, size or encoder, before any work."""
    bad = [g for g in grids if g not in GRIDS]
    if bad or not grids:
        raise ValueError(f"--grids {','.join(grids)}: choose from {', '.join(GRIDS)}")
    if encoders:
        unknown = [e for e in encoders if e not in ENCODERS_2D]
        if unknown:
            raise ValueError(f"unknown --encoders {unknown}: choose from {', '.join(ENCODERS_2D)}")
    cells = []
    for name in grids:
        grid = study_grid(name, size, encoders)
        folder = str(Path(results) / (name + SUFFIX[size]))
        s0 = grid.seeds[0]
        for cfg in grid.configs(**extra):
            first = condition_name(cfg.views, cfg.sites) in ("ids", "flip", "none")
            cells.append(Cell(name, "train", cfg, _tier(name, cfg, first, s0), folder))
        shared: dict = {}           # control record path -> its first cell (the others it stands for: `also`)
        for kind, cfg in grid.baseline_configs(**extra):
            path = control_path(folder, kind, cfg, SUPERVISED_EPOCHS)
            if path in shared:
                first = shared[path]
                if cfg.encoder != first.cfg.encoder and cfg.encoder not in first.also:
                    shared[path] = dataclasses.replace(first, also=first.also + (cfg.encoder,))
                continue
            shared[path] = Cell(name, kind, cfg, _tier(name, cfg, True, s0), folder)
        cells += shared.values()
    rank = {e: i for i, e in enumerate(ENCODERS_2D)}     # cheap first (CNN-8 ... ResNet-50)
    kinds = {"train": 0, "trivial": 1, "supervised": 2}
    keyed = sorted(enumerate(cells), key=lambda ic: (ic[1].tier, GRID_ORDER.index(ic[1].grid),
                                                     rank.get(ic[1].cfg.encoder, 99), kinds[ic[1].kind], ic[0]))
    return [c for _, c in keyed]


def batches(cells: list[Cell]) -> list[list[Cell]]:
    """Consecutive cells of one folder, kind and data set: one run_configs call (or one control each)."""
    out: list[list[Cell]] = []
    for c in cells:
        key = (c.folder, c.kind, c.cfg.dataset, c.cfg.tile)
        if out and c.kind == "train" and (out[-1][0].folder, out[-1][0].kind, out[-1][0].cfg.dataset,
                                          out[-1][0].cfg.tile) == key:
            out[-1].append(c)
        else:
            out.append([c])
    return out


# ------------------------------------------------------------------------------------------------ the estimate
def _steps(cfg: TrainConfig) -> int:
    return cfg.epochs * (cfg.n_pretrain // cfg.batch_size)


def _scale(cfg: TrainConfig) -> float:
    """Work of one step relative to the H200 reference (batch 256, the encoder's own tile)."""
    return cfg.batch_size / 256


def cell_seconds(cell: Cell, model: CostModel, stacked: int = 1) -> float:
    """Estimated seconds of one cell (stacked: the size of its stacked group; a run's step cost / the measured
    stacking speed-up at 8, capped at the group size)."""
    enc, cfg = cell.cfg.encoder, cell.cfg
    step = H200_PRETRAIN_S[enc] / H200_STEPS * _scale(cfg) * model.train
    probe = (H200_RUN_S[enc] - H200_PRETRAIN_S[enc] - START_S) * model.probe * (cfg.n_probe_train +
                                                                              cfg.n_probe_test) / 2600
    if cell.kind == "trivial":
        return 1.0 * model.probe
    if cell.kind == "supervised":   # 30 epochs of probe-train, one view per sample (half an SSL step's work)
        sup_steps = SUPERVISED_EPOCHS * -(-cfg.n_probe_train // cfg.batch_size)
        return sup_steps * step / 2 + 0.5 * model.probe
    speed = min(float(stacked), H200_STACK8.get(enc, 1.0)) if stacked > 1 else 1.0
    return _steps(cfg) * step / speed + probe


def estimate(cells: list[Cell], device: str = "cuda", stack: bool = True) -> dict:
    """The study's wall time on `device` under COST_MODELS[device] ("cuda": an H100; "cpu": a rough scale), as a
    timeline: data sets generated in order of first use, in parallel with training (prefetch), each cell starting
    when its data is ready. Returns {"model", "basis", "cells": [(cell, seconds)], "total_s", "by_tier",
    "tier_end_s", "data_s", "stored"} (cells with a record already count 0; tier_end_s: the wall time at which
    each tier's last cell ends, i.e. what a budget must hold for that tier and the ones before it)."""
    model = COST_MODELS["cuda" if device.startswith("cuda") else "cpu"]
    per, stored = [], 0
    groups = {}
    if stacking(stack, device):
        from .multi import group_compatible
        for b in batches(cells):
            if b[0].kind == "train":
                for g in group_compatible([c.cfg for c in b], [id(c) for c in b]):
                    for i, _ in g:
                        groups[i] = len(g)
    ready, gen_t = {}, 0.0
    t = START_S * model.probe                               # the process's CUDA start-up, once
    for c in cells:                                         # data in order of first use, one generator at a time
        key = (c.cfg.dataset, c.cfg.tile)
        if key not in ready:
            g = H200_DATA_S.get(key, CIFAR_DECODE_S if key[0] == "cifar" and not any(k[0] == "cifar" for k in ready)
                                else 2.0) * model.data
            g *= (c.cfg.n_pretrain + c.cfg.n_probe_train + c.cfg.n_probe_test) / 6600
            gen_t += g
            ready[key] = gen_t
    data_wait = 0.0
    by_tier: dict = {}
    tier_end: dict = {}
    for c in cells:
        if c.stored():
            s, stored = 0.0, stored + 1
        else:
            s = cell_seconds(c, model, groups.get(id(c), 1))
        start = max(t, ready[(c.cfg.dataset, c.cfg.tile)])
        data_wait += start - t
        t = start + s
        per.append((c, s))
        by_tier[c.tier] = by_tier.get(c.tier, 0.0) + s
        tier_end[c.tier] = t
    return {"model": model.name, "basis": model.basis, "cells": per, "total_s": t, "by_tier": by_tier,
            "tier_end_s": tier_end, "data_s": gen_t, "data_wait_s": data_wait, "stored": stored}


def _cuts(cells) -> dict:
    """{(encoders, their pre-training epochs, their grid's usual epochs): [grids]}: the rows that pre-train for
    another length than most rows of their grid (read from the cells, whatever built them)."""
    epochs: dict = {}
    for c in cells:
        if c.kind == "train" and c.cfg.epochs > 0:
            epochs.setdefault(c.grid, {})[c.cfg.encoder] = c.cfg.epochs
    out: dict = {}
    for grid, per in epochs.items():
        values = list(per.values())
        base = max(set(values), key=values.count)
        for n in dict.fromkeys(v for v in values if v != base):
            out.setdefault((tuple(e for e, v in per.items() if v == n), n, base), []).append(grid)
    return out


def stacking(stack: bool | str, device: str) -> bool:
    """Whether the study stacks small CNN runs (idslab.multi): on CUDA when asked ("auto" or True), never on the
    CPU, where the stacked path is slower than sequential runs for every encoder multi.can_stack accepts (0.3-0.7x,
    benchmarks/bench_stack.py, docs/BENCHMARKS.md)."""
    return bool(stack) and device.startswith("cuda")


def estimate_text(est: dict, cells_listed: bool = False) -> str:
    lines = []
    if cells_listed:
        lines += ["| # | tier | cell | est. s |", "|---:|---:|---|---:|"]
        lines += [f"| {i} | {c.tier} | {c.label}{' (stored)' if s == 0 and c.stored() else ''} | {s:.1f} |"
                  for i, (c, s) in enumerate(est["cells"], 1)]
        lines.append("")
    n = len(est["cells"])
    by_enc: dict = {}
    for c, sec in est["cells"]:
        part = "probes" if c.kind == "train" and c.cfg.epochs == 0 else c.kind
        by_enc.setdefault(c.cfg.encoder, {}).setdefault(part, 0.0)
        by_enc[c.cfg.encoder][part] += sec
    lines.append("by encoder (est. min): " + "; ".join(
        f"{e} {sum(v.values()) / 60:.1f}" for e, v in by_enc.items()))
    tiers = ", ".join(f"tier {k}: {v / 60:.1f} min" for k, v in sorted(est["by_tier"].items()))
    lines.append(f"estimate ({est['model']}, a model, not a measurement): {n} cells ({est['stored']} stored), "
                 f"{est['total_s'] / 60:.1f} min wall ({tiers}; data generation {est['data_s']:.0f} s in parallel, "
                 f"{est['data_wait_s']:.0f} s of it waited for)")
    for (encs, n, base), grids in _cuts(c for c, _ in est["cells"]).items():
        lines.append(f"  cut ({', '.join(grids)}): {', '.join(encs)} pre-train {n} epochs, not the protocol's {base} "
                     "(the grids' own rows, experiments.SHORT_ROWS)")
    ends = est["tier_end_s"]
    if ends:   # what a budget must hold for each tier and those before it (tier 2: only if the budget remains)
        lines.append("  cumulative: " + ", ".join(f"tier {k} ends at {v / 60:.1f} min"
                                                  for k, v in sorted(ends.items()))
                     + (" (tier 2: only if the budget remains)" if 2 in ends else ""))
    lines.append(f"  model: {est['basis']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ running it
def _generate(dataset: str, tile: int, seed: int, sizes: tuple, data_dir, cifar_dir) -> float:
    """Build one data set into the cache (a worker process: the training process only reads the cache)."""
    from .datasets import Sizes, load
    t0 = time.perf_counter()
    load(dataset, tile, seed=seed, sizes=Sizes(*sizes), data_dir=data_dir, cifar_dir=cifar_dir)
    return time.perf_counter() - t0


class _Data:
    """The study's data sets: generated in a worker process in order of first use (prefetch), so generation runs
    while the GPU trains; loaded here from the cache when a cell needs them, dropped when no later cell does."""

    def __init__(self, cells: list[Cell], prefetch: bool):
        from .train import load_data
        self.load_data = load_data
        self.uses: dict = {}
        self.first: dict = {}
        for c in cells:
            k = self.key(c.cfg)
            self.uses[k] = self.uses.get(k, 0) + 1
            self.first.setdefault(k, c.cfg)
        self.loaded: dict = {}
        self.pool, self.futures = None, {}
        if prefetch and self.first:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            for k, cfg in self.first.items():
                self.futures[k] = self.pool.submit(_generate, cfg.dataset, cfg.tile, cfg.data_seed,
                                                   (cfg.n_pretrain, cfg.n_probe_train, cfg.n_probe_test),
                                                   cfg.data_dir, cfg.cifar_dir)

    @staticmethod
    def key(cfg: TrainConfig) -> tuple:
        return (cfg.dataset, cfg.tile, cfg.n_pretrain, cfg.n_probe_train, cfg.n_probe_test, cfg.data_seed)

    def get(self, cfg: TrainConfig):
        k = self.key(cfg)
        if k not in self.loaded:
            if k in self.futures:
                self.futures.pop(k).result()                 # its generation's error, if any, surfaces here
            self.loaded[k] = self.load_data(cfg)
        return self.loaded[k]

    def done_with(self, cfg: TrainConfig, n: int = 1) -> None:
        k = self.key(cfg)
        self.uses[k] -= n
        if self.uses[k] <= 0:
            self.loaded.pop(k, None)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def check_sources(cells: list[Cell], cifar_dir: str | None, data_dir: str | None) -> None:
    """ValueError before any work if Table 2's cells are planned and no CIFAR-10 source exists."""
    if not any(c.cfg.dataset == "cifar" for c in cells):
        return
    from .datasets.cache import data_dir as resolve_data_dir
    if cifar_dir or os.environ.get("IDSLAB_CIFAR_DIR") or (resolve_data_dir(data_dir) / "cifar-10-batches-py").is_dir():
        return
    raise ValueError("Table 2 needs CIFAR-10 and none was found: give --cifar-dir DIR (class sub-folders) or set "
                     "$IDSLAB_CIFAR_DIR, or leave Table 2 out with --grids table1,fig3")


def run_study(cells: list[Cell], budget_s: float | None = None, stack: bool | str = "auto", prefetch: bool = False,
              log: Callable[[str], None] = print, device: str = "cpu") -> dict:
    """Run the cells in order (batches: run_configs for trained cells, experiments' baseline runner for the
    controls), each record written atomically as it finishes; a cell with a record is skipped. budget_s: before each
    batch, stop if the time spent plus the batch's estimate (scaled by the measured/estimated ratio so far) passes
    it. Returns {"done", "ran", "skipped", "left", "wall_s", "stopped_by_budget"}."""
    model = COST_MODELS["cuda" if device.startswith("cuda") else "cpu"]
    stack = stacking(stack, device)
    todo = [c for c in cells if not c.stored()]
    data = _Data(todo, prefetch)
    t0 = time.perf_counter()
    spent_est = spent = 0.0
    ran, stopped, left = 0, False, []
    try:
        for b in batches(todo):
            est = sum(cell_seconds(c, model, len(b) if stack and len(b) > 1 else 1) for c in b)
            ratio = spent / spent_est if spent_est > 0 else 1.0
            elapsed = time.perf_counter() - t0
            if budget_s is not None and elapsed + est * ratio > budget_s:
                stopped = True
                left = [c for c in todo if not c.stored()]
                log(f"study: budget {budget_s:.0f} s: {elapsed:.0f} s spent, next batch ({b[0].label}, {len(b)} "
                    f"cells) estimated {est * ratio:.0f} s: stopping with {len(left)} cells left (rerun the same "
                    "command to continue)")
                break
            tb = time.perf_counter()
            d = data.get(b[0].cfg)
            if b[0].kind == "train":
                run_configs([c.cfg for c in b], data=d, results_dir=b[0].folder, grid_name=b[0].grid, stack=stack)
            else:
                with Store(b[0].folder) as store:
                    baseline_run(b[0].kind, b[0].cfg, d, Path(b[0].folder), SUPERVISED_EPOCHS, store)
            data.done_with(b[0].cfg, len(b))
            took = time.perf_counter() - tb
            spent, spent_est, ran = spent + took, spent_est + est, ran + len(b)
            log(f"study: {b[0].label}{f' (+{len(b) - 1} cells)' if len(b) > 1 else ''}: {took:.1f} s "
                f"(est. {est:.1f}); {ran}/{len(todo)} cells, {time.perf_counter() - t0:.0f} s")
    finally:
        data.close()
    return {"done": sum(c.stored() for c in cells), "ran": ran, "skipped": len(cells) - len(todo),
            "left": len(left), "wall_s": time.perf_counter() - t0, "stopped_by_budget": stopped}


def write_tables(cells: list[Cell], out_dir: str | Path, size: str) -> list[Path]:
    """The report of each grid (report.write_report: Markdown, CSV, Figure 3's plot) from the records stored so
    far, into out_dir."""
    paths = []
    for name in dict.fromkeys(c.grid for c in cells):
        folder = next(c.folder for c in cells if c.grid == name)
        encoders = tuple(dict.fromkeys(e for c in cells if c.grid == name for e in (c.cfg.encoder, *c.also)))
        grid = study_grid(name, size, encoders)
        # the grid's cells in run order, a shared trivial record shown in every row and seed it stands for
        recs = load_records(folder, grid)
        if recs:
            paths += write_report(recs, name, out_dir, quick=size != "full", title=grid.report_title)
    return paths


def pack(cells: list[Cell], out_dir: str | Path, manifest: dict, size: str) -> Path:
    """One archive, <out_dir>/study.tar.gz (written atomically): every stored record of the cells, the tables, and
    manifest.json (versions, device, what ran, the estimate). Small: JSON and Markdown only, no checkpoints."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = out_dir / "tables"
    paths = write_tables(cells, tables, size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        add("study/manifest.json", json.dumps(manifest, indent=1, default=str).encode())
        for c in cells:
            if c.path.exists():
                add(f"study/records/{Path(c.folder).name}/{c.path.name}", c.path.read_bytes())
        for p in paths:
            add(f"study/tables/{p.name}", p.read_bytes())
    path = out_dir / "study.tar.gz"
    atomic_write(path, buf.getvalue())
    write_json(out_dir / "manifest.json", manifest)
    return path


def manifest(cells: list[Cell], est: dict, result: dict | None, size: str, device: str) -> dict:
    import torch
    dev_name = None
    if device.startswith("cuda") and torch.cuda.is_available():
        dev_name = torch.cuda.get_device_name()
    return {"idslab": __version__, "torch": torch.__version__, "cuda": torch.version.cuda, "device": device,
            "device_name": dev_name or platform.processor() or platform.machine(), "size": size,
            "cells": len(cells), "stored": sum(c.stored() for c in cells), "run": result,
            "estimate": {"model": est["model"], "basis": est["basis"], "total_s": est["total_s"]},
            "order": [c.label for c in cells], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


__all__ = ["GRIDS", "SIZES", "TINY", "BIG", "COST_MODELS", "Cell", "study_grid", "plan", "batches", "estimate",
           "stacking", "estimate_text", "check_sources", "run_study", "write_tables", "pack", "manifest"]
