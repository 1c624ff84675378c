"""Self-supervised pre-training with data-space views, weight-space views (IDS), or both, then the probes: the one
engine, for every objective (idslab.objectives: SimCLR's NT-Xent by default, BYOL, SimSiam, VICReg, Barlow Twins).

One step: x (B, C, N, N) on the device -> two data views (identity for pure IDS) stacked as (2B, ...) -> one forward
pass through encoder + projector (+ predictor, + the EMA target's pass for BYOL) in which every perturbation site
draws one λ per view (Eq. 1) -> the objective's loss -> one Adam update -> the objective's after-step update (BYOL's
EMA). The whole pre-training split lives on the device; batches are index gathers, views are batched tensor ops.
After every epoch the monitor (idslab.monitor) measures k-NN accuracy, effective rank and z_std in eval mode.

Every way of training (run / pretrain, idslab.multi.run_many / pretrain_many, idslab.distributed.run_ddp /
pretrain_ddp) has the same front and back, and the same engine between them (like nanoGPT's one loop with a DDP
flag):
  prepare()     before any work: the device, a writable checkpoint path, the data loaded and checked against the
                config (check_data, check_tiles)                          -> (data, device)
  setup()       seed, model, input standardisation (each engine's build) -> SimCLRModel
  Engine        the loop (epochs, permutations, NaN check, monitor, progress) and the step (views -> forward ->
                loss -> update -> after-step); idslab.multi.StackedEngine (K runs at once, torch.func) and
                idslab.distributed.DDPEngine (one run over W processes) override only how views are drawn, how the
                forward runs, how the epoch loss is reduced and which models the monitor reads, and call the same
                encoder forward and the same objective object (idslab.objectives.get(cfg): its build, branches,
                loss and after_step).
  finish()      non-finite checks, make_record() (the JSON-able record: config, losses, monitor, metrics, timings,
                device), then the checkpoint, with the temp-folder fallback: a run that fails any check, or
                whose record fails, leaves no model file.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import platform
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import __version__
from . import checks as C
from .atomic import SavedElsewhere, atomic_write, write_json, write_or_fallback  # noqa: F401 (re-exported)
from .diagnostics import representation_diagnostics
from .encoders import ENCODERS, SimCLRModel, build_encoder, encoder_dims, encoder_tile
from .monitor import MonitorSet, measure, monitor_set
from . import objectives
from .perturb import check_modes, expand_sites, set_sites, set_views
from .probes import ProbeConfig, evaluate
from .views import check_views_dims, parse_views

Progress = Callable[[int, int, float], None]  # (steps done, total steps, loss of the last step)
OnEpoch = Callable[[dict], None]               # the monitor's entry of the epoch that just ended (idslab.monitor)


@dataclass
class TrainConfig:
    """One pre-training + probe run. Defaults are the protocol of docs/PROTOCOL.md."""
    dataset: str = "meteor"            # "meteor" | "cifar" | "spectra" (1-D)
    encoder: str = "cnn16"             # one of idslab.encoders.ENCODERS
    tile: int | None = None            # N (1-D encoders: the length L); None -> the encoder's own
    views: str = "ids"                 # '+'-joined names from idslab.views.VIEWS
    sites: dict = field(default_factory=lambda: {"fc1": 0.02})  # s_l (std of λ) per perturbation site, IDS only
    noise: str = "view"                # λ per "view" (Eq. 1 as in the paper) or per "sample" (idslab.perturb)
    scale_mode: str = "absolute"       # σ = s_l ("absolute") or s_l · RMS(W) ("relative", recomputed each step)
    epochs: int = 20                   # 0: no pre-training, probe the random initialisation (a reference)
    batch_size: int = 256              # B: samples per step, so 2B views
    lr: float = 1e-3                   # Adam
    weight_decay: float = 1e-6
    temperature: float = 0.5           # τ of NT-Xent
    objective: str = "ntxent"          # idslab.objectives.OBJECTIVES: "ntxent" | "byol" | "simsiam" | "vicreg" | "barlow"
    target_noise: bool = True          # BYOL: the EMA target's sites draw their own λ (False: target at s_l = 0)
    ema: float = 0.996                 # BYOL: τ_base of the target's EMA schedule
    proj_dim: int = 16                 # D_p, the projection head's output (the loss reads z)
    proj_bn: bool = False              # BatchNorm in the projection head (SimCLR's head; not the paper's)
    seed: int = 0                      # model init, batch order, views, λ draws
    data_seed: int = 0                 # the dataset (same data across training seeds)
    n_pretrain: int = 4000
    n_probe_train: int = 2000
    n_probe_test: int = 600
    knn_k: int = 20
    knn_metric: str = "cosine"
    device: str = "auto"               # "auto" (cuda > mps > cpu) | "cpu" | "cuda" | "mps"
    amp: bool = True                   # bf16 autocast on CUDA (ignored elsewhere)
    data_dir: str | None = None       # dataset cache; None -> $IDSLAB_DATA or ./data
    cifar_dir: str | None = None
    download: bool = False             # torchvision CIFAR-10 download if no local copy
    data_path: str | None = None       # a user's .npy/.npz/HDF5 file or image folder (datasets.arrays); -> "file"
    data_key: str | None = None        # its array / HDF5 dataset of images (default "x" or the only one)
    label_key: str | None = None       # its labels: (n,) per image or an (n, H, W) mask (default "y" if present)
    stride: int | None = None          # its tiles' corners every `stride` pixels (None: N, no overlap)
    edge: str = "drop"                 # its tiles crossing the image edge: "drop", or "shift" one to end on it
    ivar_key: str | None = None        # its inverse-variance array (survey spectra), for the view 'reobserve'

    def __post_init__(self):
        # Every field is checked here, at construction, so a bad value fails before any data is loaded or any step
        # is trained, with a message that names the field, its CLI flag and the fix (docs/DESIGN.md "Bad input").
        _validate(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """to_dict() as the objective reads it: the fields it ignores (objectives.OPTIONAL less its `reads`) at their
        defaults, so they never change a record's hash (idslab.experiments.config_key). Validation refuses them away
        from the default; this also covers a config edited after construction."""
        return self.to_dict() | objectives.get(self.objective).ignored(self)


DATASETS = ("meteor", "cifar", "spectra", "file")
KNN_METRICS = ("cosine", "euclidean")
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def _validate(cfg: TrainConfig) -> None:
    """TrainConfig.__post_init__: check every field (type, range, consistency), normalise numbers; see the table in
    docs/RELIABILITY.md. Fields added later get at least the check their annotation implies (_check_by_type)."""
    _check_file(cfg)
    C.check_choice("dataset", cfg.dataset, DATASETS)
    C.check_choice("encoder", cfg.encoder, ENCODERS)
    _check_tile(cfg)
    if not isinstance(cfg.views, str):
        raise ValueError(f"{C.flag('views')} must be a string such as 'ids' or 'ids+flip', got {cfg.views!r}")
    spec = parse_views(cfg.views)
    check_views_dims(cfg.views, encoder_dims(cfg.encoder))  # e.g. flip90 on spectra, before any work
    _check_sites(cfg, spec.ids)
    check_modes(cfg.noise, cfg.scale_mode)  # --noise, --scale-mode
    cfg.epochs = C.check_int("epochs", cfg.epochs, lo=0, fix="0 probes the random initialisation")
    cfg.batch_size = C.check_int("batch_size", cfg.batch_size, lo=1, fix="samples per step (each objective's own "
                                 "minimum is checked below)")
    cfg.lr = C.check_float("lr", cfg.lr, lo=0.0, above=True, fix="Adam's learning rate, e.g. 1e-3 (0 trains nothing)")
    cfg.weight_decay = C.check_float("weight_decay", cfg.weight_decay, lo=0.0, fix="e.g. 1e-6, or 0 for none")
    cfg.temperature = C.check_float("temperature", cfg.temperature, lo=1e-4, above=True,
                                    fix="NT-Xent's temperature, e.g. 0.5 (the protocol's)")
    if not isinstance(cfg.objective, str):
        raise ValueError(f"{C.flag('objective')} must be a string, got {cfg.objective!r}")
    objective = objectives.get(cfg.objective)   # an unknown name fails here
    cfg.ema = C.check_float("ema", cfg.ema, lo=0.0, hi=1.0, fix="BYOL's τ_base, e.g. 0.996 (1 freezes the target)")
    cfg.proj_dim = C.check_int("proj_dim", cfg.proj_dim, lo=1, hi=4096, fix="the projection's size, e.g. 16 (the "
                               "paper's D_p)")
    for name in ("seed", "data_seed"):
        setattr(cfg, name, C.check_int(name, getattr(cfg, name), lo=0, hi=2 ** 32 - 1, fix="numpy seeds are 32-bit"))
    for name in ("n_pretrain", "n_probe_train", "n_probe_test"):
        setattr(cfg, name, C.check_int(name, getattr(cfg, name), lo=2, fix="each split needs a sample of each class"))
    if cfg.epochs > 0 and cfg.n_pretrain < cfg.batch_size:
        raise ValueError(f"{C.flag('batch_size')} {cfg.batch_size} exceeds the {cfg.n_pretrain} pre-training samples "
                         f"({C.flag('n_pretrain')}): lower --batch-size or raise --n-pretrain")
    cfg.knn_k = C.check_int("knn_k", cfg.knn_k, lo=1, hi=cfg.n_probe_train,
                            fix=f"k-NN votes among the {cfg.n_probe_train} probe-train samples (--n-probe-train)")
    C.check_choice("knn_metric", cfg.knn_metric, KNN_METRICS)
    if not isinstance(cfg.device, str) or not _DEVICE.fullmatch(cfg.device):
        raise ValueError(f"unknown {C.flag('device')} {cfg.device!r}: use auto, cpu, cuda, cuda:N or mps")
    for name in ("data_dir", "cifar_dir", "data_path"):
        C.check_path_arg(name, getattr(cfg, name))
    if cfg.data_dir is not None:  # structure only (no file is written at construction): not a file, not under one
        C.check_folder(cfg.data_dir, C.flag("data_dir"), write=False)
    for f in dataclasses.fields(cfg):  # whatever the rules above do not cover, by its annotation
        _check_by_type(cfg, f)
    objective.check(cfg)  # its own rules (the batch its loss needs, the fields it ignores), on the checked fields


def _check_file(cfg: TrainConfig) -> None:
    """A user's file (--data PATH) sets dataset "file"; its existence is checked when it is loaded. Tiling rules
    (--stride, --edge) are for such files: the meteor and CIFAR splits have their own fixed tiling."""
    if isinstance(cfg.data_path, os.PathLike):
        cfg.data_path = os.fspath(cfg.data_path)   # records and checkpoints stay JSON
    if cfg.data_path is not None and cfg.dataset in ("meteor", "file"):
        cfg.dataset = "file"          # a path names the data; "meteor" is only the default
    elif cfg.data_path is not None:
        raise ValueError(f"dataset={cfg.dataset!r} and data_path={cfg.data_path!r}: give one of them")
    if cfg.dataset == "file" and cfg.data_path is None:
        raise ValueError("dataset 'file' needs data_path (--data PATH): a .npy, .npz, .h5 file or image folder")
    if cfg.stride is not None:
        cfg.stride = C.check_int("stride", cfg.stride, lo=1, fix="pixels between tile corners, e.g. the tile size")
    C.check_choice("edge", cfg.edge, ("drop", "shift"))
    if cfg.dataset != "file" and (cfg.stride is not None or cfg.edge != "drop"):
        raise ValueError(f"{C.flag('stride')} / {C.flag('edge')} tile your own data (--data PATH); the {cfg.dataset} "
                         "splits have fixed tiles: leave them out")


def _check_tile(cfg: TrainConfig) -> None:
    own = encoder_tile(cfg.encoder)
    if cfg.tile is None:
        cfg.tile = own
    if not C.is_int(cfg.tile):
        raise ValueError(f"{C.flag('tile')} must be a whole number, got {cfg.tile!r}: e.g. --tile {own}")
    cfg.tile = int(cfg.tile)
    dims = encoder_dims(cfg.encoder)
    if (dims == 1) != (cfg.dataset == "spectra") and cfg.dataset != "file":
        want = ("a 1-D encoder, e.g. --encoder cnn1d512" if cfg.dataset == "spectra" else
                "a 2-D encoder (cnnN, resnetN), or --dataset spectra / --data PATH for signals")
        raise ValueError(f"{C.flag('encoder')} {cfg.encoder} takes {'signals (n, C, L)' if dims == 1 else 'images'}, "
                         f"but the {cfg.dataset} data are {'signals' if cfg.dataset == 'spectra' else 'images'}: "
                         f"use {want}")
    if dims == 1:
        if cfg.tile != own:
            lengths = {encoder_tile(e): e for e in ENCODERS if encoder_dims(e) == 1}
            other = f"--encoder {lengths[cfg.tile]} or " if cfg.tile in lengths else ""
            raise ValueError(f"encoder {cfg.encoder} takes signals of length {own}, got tile={cfg.tile}: use {other}"
                             f"--tile {own} (the 1-D CNNs exist for lengths {', '.join(map(str, lengths))})")
        return
    cnn_tiles = {encoder_tile(e): e for e in ENCODERS if e.startswith("cnn") and encoder_dims(e) == 2}
    if cfg.encoder.startswith("cnn") and cfg.tile != own:
        other = f"--encoder {cnn_tiles[cfg.tile]} or " if cfg.tile in cnn_tiles else ""
        raise ValueError(f"encoder {cfg.encoder} takes {own}x{own} tiles, got tile={cfg.tile}: use {other}--tile "
                         f"{own} (the CNNs exist for tiles {', '.join(map(str, cnn_tiles))})")
    if cfg.tile not in cnn_tiles or cfg.tile < 32 and not cfg.encoder.startswith("cnn"):
        raise ValueError(f"{C.flag('tile')}={cfg.tile}: {cfg.encoder} runs on tiles of "
                         f"{', '.join(str(t) for t in cnn_tiles if t >= 32 or cfg.encoder.startswith('cnn'))}")


@functools.lru_cache(maxsize=None)
def _weightless_encoder(encoder: str) -> torch.nn.Module:
    """The encoder built on the meta device (no memory, no init time), to check site names against; never run."""
    with torch.device("meta"):
        return build_encoder(encoder, 1)


def _check_sites(cfg: TrainConfig, ids: bool) -> None:
    if not isinstance(cfg.sites, dict):
        raise ValueError(f"sites must be a dict {{layer name: s_l}}, e.g. {{'fc1': 0.02}}, got {cfg.sites!r}")
    for name, s in cfg.sites.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"perturbation site names (--sites) must be layer names such as 'fc1', got {name!r}")
        if not C.is_real(s) or not math.isfinite(float(s)) or float(s) < 0:
            raise ValueError(f"s_l for site {name!r} (--sl / --sites) must be a finite number >= 0 (a standard "
                             f"deviation), got {s!r}: e.g. 0.02")
    if ids and not cfg.sites:
        raise ValueError("views include 'ids' but no perturbation site is given (--sites is empty): name one, e.g. "
                         "--sites fc1, or drop 'ids' from --views")
    cfg.sites = {name: float(s) for name, s in cfg.sites.items()}
    if set(cfg.sites) - {"fc1", "fc2"}:  # other names (conv layers, "all") checked on a weightless encoder
        try:
            expand_sites(_weightless_encoder(cfg.encoder), cfg.sites)
        except ValueError as e:
            raise ValueError(f"{e} (--sites)") from None


def _check_by_type(cfg: TrainConfig, f: dataclasses.Field) -> None:
    v, kinds = getattr(cfg, f.name), {k.strip() for k in str(f.type).split("|")}
    if v is None and "None" in kinds:
        return
    ok = {"int": C.is_int, "float": C.is_real, "bool": lambda x: isinstance(x, bool),
          "str": lambda x: isinstance(x, str), "dict": lambda x: isinstance(x, dict)}
    known = [k for k in kinds if k in ok]
    if known and not any(ok[k](v) for k in known):
        raise ValueError(f"{C.flag(f.name)} must be {' or '.join(sorted(kinds))}, got {v!r} ({type(v).__name__})")
    if "float" in known and C.is_real(v) and not math.isfinite(float(v)):
        raise ValueError(f"{C.flag(f.name)} must be a finite number, got {v!r}")


@dataclass
class Pretrained:
    model: SimCLRModel          # .encoder gives h, .projector gives z
    loss_history: list          # the objective's mean loss per epoch
    wall_s: float               # pre-training seconds (data on the device, excluding data generation; monitor included)
    device: str
    monitor: list = field(default_factory=list)   # one idslab.monitor entry per epoch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu. Asking for an absent accelerator is an error, not a silent CPU run."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(name, (str, torch.device)) or isinstance(name, str) and not _DEVICE.fullmatch(name):
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch sees no CUDA GPU: use --device cpu or auto")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for but it is not available: use --device cpu or auto")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def load_data(cfg: TrainConfig):
    """The SSLData for a config (generated or read from the data/ cache)."""
    from .datasets import Sizes, load
    return load(cfg.dataset, cfg.tile, seed=cfg.data_seed, data_dir=cfg.data_dir, cifar_dir=cfg.cifar_dir,
                download=cfg.download, sizes=Sizes(cfg.n_pretrain, cfg.n_probe_train, cfg.n_probe_test),
                path=cfg.data_path, data_key=cfg.data_key, label_key=cfg.label_key, stride=cfg.stride, edge=cfg.edge,
                ivar_key=cfg.ivar_key,
                dims=encoder_dims(cfg.encoder) if cfg.dataset == "file" else None)


def build_model(cfg: TrainConfig, channels: int) -> SimCLRModel:
    """Encoder + projector with the config's perturbation sites armed (s_l = 0 unless 'ids' is in the views)."""
    objective = objectives.get(cfg.objective)
    model = SimCLRModel(build_encoder(cfg.encoder, channels), cfg.proj_dim, cfg.proj_bn, objective.predictor,
                        objective.decoder)
    set_sites(model.encoder, dict(cfg.sites) if parse_views(cfg.views).ids else {}, cfg.noise, cfg.scale_mode)
    set_views(model, 2)  # the two views always run as one stacked batch
    return model


def setup(cfg: TrainConfig, x: torch.Tensor, device: torch.device) -> SimCLRModel:
    """The start of every run: seed, model, input standardisation. x: the pre-training split (n, C, N, N) or
    (n, C, L) on the device; the encoder's in_mean/in_std (per channel) come from it. -> model on the device, in
    training mode. Seeding first makes the model initialisation (and every later draw) a function of cfg.seed."""
    seed_everything(cfg.seed)
    model = build_model(cfg, x.shape[1])
    over = (0, *range(2, x.dim()))                                    # every axis but the channel
    model.encoder.in_mean.copy_(x.mean(dim=over))
    model.encoder.in_std.copy_(x.std(dim=over).clamp_min(1e-6))
    return model.to(device).train()


def two_views(spec, xb: torch.Tensor, ivar: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, N, N) -> (2B, C, N, N): view 1 then view 2, each an independent draw of the data views (identity for
    pure IDS, whose two views come from the two λ drawn inside the forward pass). ivar: the batch's per-bin inverse
    variance (Split.ivar), read by the view 'reobserve'."""
    return torch.cat([spec(xb, ivar), spec(xb, ivar)])


class Engine:
    """One pre-training run on one process: the loop and the step that every path shares.

    Subclasses change only the hooks: `build` / `wrap` (the model that runs the step: DDP's wrapper), `new_epoch` (the
    permutation), `views` (a step's input), `forward` (the objective's branches; may be stacked over K runs), `loss`
    (may return one loss per stacked run, shape (K,)), `after_step` (BYOL's EMA), `reduce` (the summed epoch loss ->
    its mean), `monitored` (the models the monitor reads) and `finish`; every path calls the same objective object,
    `self.objective` (idslab.objectives.get(cfg)). monitor: the fixed samples of idslab.monitor (None: no monitor
    entries).
    """
    gather = False   # DDP: losses see the global batch (idslab.loss)

    def __init__(self, cfg: TrainConfig, x: torch.Tensor, device: torch.device, monitor: MonitorSet | None = None,
                 ivar: torch.Tensor | None = None):
        n = x.shape[0]
        self.ivar = ivar                                                     # (n, ...) like x, or None
        if n < cfg.batch_size:
            raise ValueError(f"batch_size {cfg.batch_size} exceeds the {n} pre-training samples: lower --batch-size")
        self.cfg, self.x, self.device, self.monitor = cfg, x, device, monitor
        self.n, self.b = n, cfg.batch_size
        self.steps_per_epoch = n // cfg.batch_size                           # drop the ragged last batch
        self.amp = cfg.amp and device.type == "cuda"                         # bf16 autocast on CUDA only
        self.objective = objectives.get(cfg)                                 # its own state: BYOL's EMA pairs
        self.build()

    # ---- hooks (the single-process path)
    def build(self) -> None:
        # channels_last: oneDNN (CPU) and cuDNN (CUDA) convolutions run without layout reorders in this format;
        # measured 1.2-1.3x per CNN-16 step on the CPU (docs/BENCHMARKS.md). Same values up to float rounding.
        self.module = setup(self.cfg, self.x, self.device).to(memory_format=torch.channels_last)
        self.spec = parse_views(self.cfg.views)
        self.model = self.wrap(self.module)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        # BYOL's EMA target, outside the optimiser, following the module's own parameters (None for the others)
        self.target = self.objective.build(self.module)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The model the step runs, around the run's own module (DDP wraps it; here it is the module)."""
        return module

    def new_epoch(self) -> None:
        self.perm = torch.randperm(self.n, device=self.device)

    def views(self, step: int) -> torch.Tensor:                             # -> (2B, C, N, N)
        idx = self.perm[step * self.b:(step + 1) * self.b]
        return two_views(self.spec, self.x[idx], None if self.ivar is None else self.ivar[idx])

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, ...]:    # λ drawn inside; see objectives.branches
        if views.dim() == 4:                                                # images; signals (2B, C, L) as they are
            views = views.contiguous(memory_format=torch.channels_last)
        return self.objective.branches(self.model, self.target, views)

    def loss(self, out: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return self.objective.loss(out, gather=self.gather)

    def after_step(self, done: int, total: int) -> None:
        """After the optimiser step `done` (1-based) of `total`: BYOL's target follows the online network."""
        self.objective.after_step(done, total)

    def reduce(self, epoch_loss: torch.Tensor) -> torch.Tensor:
        return epoch_loss / self.steps_per_epoch

    def monitored(self) -> list[torch.nn.Module]:
        """The models the monitor reads after an epoch, one per run (the stacked path: its runs' synced copies)."""
        return [self.model]

    def finish(self, history: list, wall: float, monitor: list) -> list[Pretrained]:
        self.model.eval()
        return [Pretrained(self.model, history, wall, str(self.device), monitor[0])]

    # ---- the step and the loop, shared by every path
    def step(self, step: int, done: int = 1, total: int = 1) -> torch.Tensor:
        """views -> forward (bf16 autocast on CUDA) -> loss -> Adam update -> after-step. -> the detached loss (or
        (K,)). done: this step's 1-based number in the run, total: the run's steps (BYOL's EMA schedule)."""
        views = self.views(step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.forward(views)
        loss = self.loss(out)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()                              # stacked runs: run k's gradients are d loss_k only
        self.opt.step()
        self.after_step(done, total)
        return loss.detach()

    def fit(self, progress: Progress | None = None, on_epoch: OnEpoch | None = None) -> list[Pretrained]:
        """cfg.epochs epochs of steps; loss history = the objective's mean loss per epoch (one device sync per
        epoch); after each epoch the monitor's entry per run, handed to on_epoch (stacked: with "run": k)."""
        cfg = self.cfg
        total, done, history = cfg.epochs * self.steps_per_epoch, 0, []
        monitor: list[list] = [[] for _ in range(getattr(self, "n_runs", 1))]
        t0 = time.perf_counter()
        for epoch in range(cfg.epochs):
            self.new_epoch()
            epoch_loss = None
            for step in range(self.steps_per_epoch):
                done += 1
                loss = self.step(step, done, total)
                epoch_loss = loss if epoch_loss is None else epoch_loss + loss
                if progress is not None:
                    progress(done, total, float(loss.float().mean()))
            mean = self.reduce(epoch_loss).tolist()                         # float, or one per stacked run
            bad = [k for k, v in enumerate(np.atleast_1d(mean)) if not np.isfinite(v)]
            if bad:
                runs = f" (stacked runs {bad})" if isinstance(mean, list) else ""
                raise FloatingPointError(f"training diverged: the {cfg.objective} loss became non-finite in epoch "
                                         f"{epoch + 1}{runs}: {_diverged_fix(cfg)}")
            history.append(mean)
            if self.monitor is not None:
                self._monitor(epoch + 1, mean, t0, monitor, on_epoch)
        results = self.finish(history, time.perf_counter() - t0, monitor)
        for r in results:          # the loss guard above sees the loss *before* the last update, not after it
            check_finite_model(r.model, cfg)
            # back to the default layout: probes and a reloaded checkpoint then compute exactly the same h
            r.model.to(memory_format=torch.contiguous_format)
        return results

    def _monitor(self, epoch: int, mean, t0: float, monitor: list, on_epoch: OnEpoch | None) -> None:
        losses = np.atleast_1d(mean)
        for k, model in enumerate(self.monitored()):
            check_finite_model(model, self.cfg)   # a diverged run stops here, not in the monitor's SVD
            entry = {"epoch": epoch, "loss": float(losses[k]),
                     **measure(model, self.monitor, self.cfg.knn_k, self.cfg.knn_metric, _diverged_fix(self.cfg)),
                     "wall_s": time.perf_counter() - t0}
            monitor[k].append(entry)
            if on_epoch is not None:
                on_epoch({**entry, "run": k} if len(monitor) > 1 else entry)


def check_tiles(cfg: TrainConfig, data) -> None:
    """ValueError unless the data's tiles are the config's tile size (and 1-D data meet a 1-D encoder)."""
    x = data.pretrain.x
    if x.dim() - 2 != encoder_dims(cfg.encoder):
        raise ValueError(f"the data are {'signals (n, C, L)' if x.dim() == 3 else 'images (n, C, N, N)'} but encoder "
                         f"{cfg.encoder} takes {'signals' if encoder_dims(cfg.encoder) == 1 else 'images'}: use "
                         f"{'--encoder cnn1d' + str(x.shape[-1]) if x.dim() == 3 else 'a 2-D --encoder (cnnN)'}")
    if x.shape[-1] != cfg.tile:
        size = f"length {x.shape[-1]}" if x.dim() == 3 else f"tiles {x.shape[-1]}x{x.shape[-1]}"
        raise ValueError(f"data {size} but the config says tile={cfg.tile}")


def prepare(cfg: TrainConfig, data=None, checkpoint: str | os.PathLike | None = None,
            device: torch.device | None = None) -> tuple:
    """The front of every run (run, pretrain, multi.run_many / pretrain_many, distributed.run_ddp / pretrain_ddp),
    before any work: the device (an absent accelerator fails before the data is loaded; `device` given: a DDP rank's
    own), the checkpoint path writable, the data loaded (None: the config's) and checked against the config
    (check_data: splits, classes, k-NN's k, NaN/inf; check_tiles: tile size and dimensionality). -> (data, device).
    Seeding is setup()'s, the first thing every engine's build does (per run on the stacked path)."""
    device = device if device is not None else resolve_device(cfg.device)
    if checkpoint:
        C.check_writable(checkpoint, "checkpoint (--save-model)")
    data = data if data is not None else load_data(cfg)
    check_data(cfg, data)
    check_tiles(cfg, data)
    return data, device


def fit_engine(engine: type, cfg, data, device: torch.device, progress: Progress | None = None,
               on_epoch: OnEpoch | None = None) -> list[Pretrained]:
    """The engine (Engine, multi.StackedEngine with cfg a list, distributed.DDPEngine) on prepared data: the
    pre-training split (and its inverse variances, which the view 'reobserve' reads) resident on the device, the
    monitor's fixed probe samples. -> its fit(): one Pretrained per run."""
    x = data.pretrain.x.to(device, torch.float32)                       # (n, C, N, N) or (n, C, L)
    ivar = getattr(data.pretrain, "ivar", None)
    ivar = ivar.to(device, torch.float32) if ivar is not None else None
    return engine(cfg, x, device, monitor_set(data, device), ivar=ivar).fit(progress, on_epoch)


def pretrain(cfg: TrainConfig, data=None, progress: Progress | None = None,
             on_epoch: OnEpoch | None = None) -> Pretrained:
    """Pre-train encoder + projector (+ predictor) with the config's objective on data.pretrain (labels unused; the
    monitor reads fixed probe subsets). Deterministic on the CPU. progress(done, total, loss) after every step,
    on_epoch(monitor entry) after every epoch."""
    data, device = prepare(cfg, data)
    return fit_engine(Engine, cfg, data, device, progress, on_epoch)[0]


def device_name(device: str | torch.device) -> str:
    """The hardware behind a torch device, for records: the GPU's name, else the CPU's."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def check_finite_model(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """FloatingPointError if any parameter or buffer is NaN/inf (e.g. the final optimiser step diverged)."""
    bad = non_finite_tensors(model)
    if bad:
        raise FloatingPointError(f"training diverged: {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} hold "
                                 f"NaN/inf after the last step: {_diverged_fix(cfg)}")


def non_finite_tensors(model: torch.nn.Module) -> list[str]:
    """Names of the floating-point parameters and buffers holding NaN/inf."""
    return [n for n, t in [*model.named_parameters(), *model.named_buffers()]
            if t.is_floating_point() and not torch.isfinite(t).all()]


def _diverged_fix(cfg: TrainConfig) -> str:
    """The advice of every 'training diverged' message: the objective's own knobs (NT-Xent's --temperature, BYOL's
    --ema), never one the run ignores."""
    return f"{objectives.get(cfg).divergence_advice(cfg)}; no model file was written"


def check_finite_output(model: SimCLRModel, x: torch.Tensor, cfg: TrainConfig, n: int = 256) -> None:
    """FloatingPointError if the encoder maps some of the first n samples of x (n, C, N, N) to NaN/inf h: weights
    can be finite and still huge (one Adam step moves each by about lr: --lr 1e30 gives 1e30-sized weights), and
    the probes, the embeddings and a saved model would then be meaningless. Eval mode, s_l = 0, as the probes."""
    from .probes import embed
    if not len(x):
        return
    h = embed(model.encoder, x[:n])
    bad = int((~torch.isfinite(h)).any(1).sum())
    if bad:
        raise FloatingPointError(f"training diverged: the trained encoder maps {bad} of {len(h)} samples to NaN/inf "
                                 f"embeddings (its weights are finite but too large): {_diverged_fix(cfg)}")


def run(cfg: TrainConfig, data=None, progress: Progress | None = None, checkpoint: str | None = None,
        on_epoch: OnEpoch | None = None) -> dict:
    """Pre-train, then probe. Returns the JSON-able record of the run; `checkpoint`: also save the model there, once
    the run has passed every check (a diverged run leaves no model file). If that path fails, the model goes to the
    temp folder: record["checkpoint"] says where and record["checkpoint_note"] why. progress / on_epoch: as
    pretrain's."""
    t0 = time.perf_counter()
    data, device = prepare(cfg, data, checkpoint)
    result = fit_engine(Engine, cfg, data, device, progress, on_epoch)[0]
    return finish(cfg, result, data, t0, checkpoint)


def finish(cfg: TrainConfig, result: Pretrained, data, t0: float, checkpoint: str | os.PathLike | None = None,
           **extra) -> dict:
    """The back of every run (run, multi.run_many per run, distributed.run_ddp on rank 0): the non-finite checks
    (weights: check_finite_model; the encoder's output: in make_record), the record (make_record, with `extra`),
    then and only then the checkpoint, through save_checkpoint_or_fallback: a diverged run or a failing probe
    leaves no model file, and a failing write sends the model to the temp folder (record["checkpoint"] where it
    went, None if nowhere; record["checkpoint_note"] why). The record holds the run's monitor entries."""
    check_finite_model(result.model, cfg)
    rec = make_record(cfg, result, data, t0, **extra)     # checks the model's output first: divergence stops here
    if checkpoint:
        try:
            saved, note = save_checkpoint_or_fallback(checkpoint, result, cfg, data)
        except SavedElsewhere as e:  # neither its path nor the temp folder took it: the record still goes out
            saved, note = None, str(e)
        rec["checkpoint"] = None if saved is None else str(saved)
        if note is not None:
            rec["checkpoint_note"] = note
    return rec


def make_record(cfg: TrainConfig, result: Pretrained, data, t0: float, **extra) -> dict:
    """Probe a pre-trained model and build its JSON-able run record (t0: perf_counter at the start of the run): the
    one record builder of every path (run, multi.run_many, distributed.run_ddp); `extra` adds path-specific keys
    (stacked, stacked_pretrain_s, world_size). Unlabelled data (a user's file without labels): pre-training only,
    metrics None. FloatingPointError (training diverged) when the encoder's output is not finite. The record's
    "sizes" are the splits actually used (a user's file can hold fewer tiles than config n_pretrain etc. ask for)."""
    check_finite_output(result.model, data.probe_test.x if len(data.probe_test.y) else data.pretrain.x, cfg)
    metrics = None
    if len(data.probe_test.y):
        metrics = evaluate(result.model.encoder, data, probe_config(cfg))
        # alignment/uniformity/effective rank (issue 9): positives from the run's own views and armed perturbation
        metrics["diagnostics"] = representation_diagnostics(result.model, data.probe_test.x, cfg.views, None,
                                                            seed=cfg.seed, ivar=getattr(data.probe_test, "ivar", None))
    return {
        "config": cfg.to_dict(),
        "sizes": {name: len(getattr(data, name).y) for name in ("pretrain", "probe_train", "probe_test")},
        "loss_history": result.loss_history,
        "final_loss": result.loss_history[-1] if result.loss_history else None,
        "monitor": result.monitor,
        "metrics": metrics,
        "pretrain_s": result.wall_s,
        "wall_s": time.perf_counter() - t0,
        "device": result.device,
        "device_name": device_name(next(result.model.parameters()).device),
        "versions": {"idslab": __version__, "torch": torch.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def check_data(cfg: TrainConfig, data) -> None:
    """Before any training: the probe splits are non-empty with labels in 0..K-1 and at least two classes, k-NN has k
    neighbours to vote, and no split holds NaN/inf (which would surface an epoch later as a 'diverged' loss, or as a
    50% probe)."""
    unlabelled = len(data.probe_train.y) == 0 and len(data.probe_test.y) == 0  # a user's file: pre-training only
    for name in ("pretrain", "probe_train", "probe_test"):
        split = getattr(data, name)
        if name != "pretrain" and unlabelled:
            continue
        if len(split.y) < 1 or len(split.x) != len(split.y):
            raise ValueError(f"the {name} split has {len(split.x)} samples and {len(split.y)} labels: it needs at "
                             "least one sample and one label per sample")
        if not torch.isfinite(split.x).all():
            bad = int((~torch.isfinite(split.x)).sum())
            what = "pre-training data" if name == "pretrain" else f"{name} split"   # else an epoch later: "diverged"
            raise ValueError(f"the {what} holds {bad} NaN/inf values: clean or regenerate the data")
        if name != "pretrain" and not (split.y >= 0).all():   # the probes take any K classes 0..K-1
            raise ValueError(f"the {name} labels must be class indices 0..K-1, got values "
                             f"{sorted(set(split.y.unique().tolist()))[:10]}")
        if name != "pretrain" and len(split.y.unique()) < 2:  # one class: every probe scores 100%, measuring nothing
            raise ValueError(f"the {name} split holds one class only (label {int(split.y[0])}, {len(split.y)} "
                             "samples): a probe needs at least two classes to measure anything; give data with "
                             "every class in every split (more images, or labels of both kinds)")
    n_probe = len(data.probe_train.y)
    if cfg.knn_k > n_probe and not unlabelled:
        raise ValueError(f"{C.flag('knn_k')}={cfg.knn_k} but the data has {n_probe} probe-train samples: lower "
                         "--knn-k (k-NN would otherwise vote among fewer neighbours than the record says)")


def probe_config(cfg: TrainConfig) -> ProbeConfig:
    return ProbeConfig(knn_k=cfg.knn_k, knn_metric=cfg.knn_metric, seed=cfg.seed)


def save_checkpoint(path: str | os.PathLike, result: Pretrained, cfg: TrainConfig, data=None) -> None:
    """Model weights (with the input standardisation, encoder.in_mean / in_std), config, loss history and what it
    was trained on (`data_info`: the data set's name, tile, classes and, for a user's file, its fingerprint), in one
    file, written atomically. FloatingPointError, writing nothing, if a weight is NaN/inf (a diverged model)."""
    check_finite_model(result.model, cfg)
    buf = io.BytesIO()
    torch.save({"state_dict": result.model.state_dict(), "config": cfg.to_dict(),
                "loss_history": result.loss_history, "version": __version__,
                "data_info": data_info(data) if data is not None else None}, buf)
    atomic_write(path, buf.getbuffer())


def data_info(data) -> dict:
    """JSON-able record of an SSLData for a checkpoint: name, tile, channels, classes, input standardisation units,
    and for a user's file the path, sha256, keys and tiling rule."""
    m = data.meta
    keep = ("source", "format", "data_key", "label_key", "stride", "edge", "units", "seed", "params", "label_kind")
    return dict(name=data.name, tile=data.tile, channels=data.channels, classes=list(data.classes),
                **{k: m[k] for k in keep if k in m})


def save_checkpoint_or_fallback(path: str | os.PathLike, result: Pretrained, cfg: TrainConfig, data=None
                                ) -> tuple[Path, str | None]:
    """save_checkpoint, but a write that fails after training (disk full, folder gone) does not lose the model: it
    goes to the temp folder instead. Returns (the path written, None) or (the fallback, the message saying why and
    what to do). If the temp folder fails too: atomic.SavedElsewhere (an OSError naming both)."""
    saved, problem = write_or_fallback(path, lambda p: save_checkpoint(p, result, cfg, data), "model")
    return saved, None if problem is None else str(problem)


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> tuple[SimCLRModel, TrainConfig, list]:
    """Inverse of save_checkpoint: (model in eval mode, config, loss history).

    Raises FileNotFoundError for a missing file, ValueError for anything that is not an idslab checkpoint."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValueError(f"checkpoint path must be a non-empty path, got {path!r}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {p} does not exist: give the file `idslab train --save-model` wrote")
    if p.is_dir():
        raise ValueError(f"checkpoint {p} is a folder: give the .pt file `idslab train --save-model` wrote")
    device = resolve_device(device)
    try:
        ckpt = torch.load(p, map_location=device, weights_only=True)
    except Exception as e:  # torch's own text advises weights_only=False, i.e. running untrusted code: not ours
        raise ValueError(f"checkpoint {p} is not a readable idslab checkpoint ({type(e).__name__}; the file is "
                         "truncated, corrupt or of another format): retrain with --save-model or restore it") from e
    keys = ("state_dict", "config", "loss_history")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in keys) or not isinstance(ckpt["config"], dict):
        raise ValueError(f"checkpoint {p} is not an idslab checkpoint (needs {', '.join(keys)}): give the file "
                         "`idslab train --save-model` wrote")
    try:
        cfg = TrainConfig(**ckpt["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"checkpoint {p} holds a config this idslab version cannot use ({e}): retrain it") from e
    try:
        channels = ckpt["state_dict"]["encoder.in_mean"].numel()
        model = build_model(cfg, channels)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, AttributeError) as e:
        raise ValueError(f"checkpoint {p}: its weights do not fit a {cfg.encoder} ({type(e).__name__}): the file is "
                         "damaged or from another idslab version; retrain it") from e
    bad = non_finite_tensors(model)
    if bad:  # a diverged model (saved by an older idslab, or edited): every h it gives would be NaN
        raise ValueError(f"checkpoint {p} holds NaN/inf weights ({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''})"
                         f": the run that saved it diverged; retrain with a lower learning rate (--lr, it was "
                         f"{cfg.lr:g})")
    return model.to(device).eval(), cfg, ckpt["loss_history"]
