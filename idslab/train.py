"""SimCLR pre-training with data-space views, weight-space views (IDS), or both, then the probes.

One step: x (B, C, N, N) on the device -> two data views (identity for pure IDS) stacked as (2B, ...) -> one forward
pass through encoder + projector in which every perturbation site draws one λ per view (Eq. 1) -> NT-Xent(z1, z2).
The whole pre-training split lives on the device; batches are index gathers, views are batched tensor ops.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import __version__
from .datasets.cache import atomic_write
from .encoders import ENCODERS, SimCLRModel, build_encoder, encoder_tile
from .loss import nt_xent
from .perturb import check_modes, expand_sites, set_sites, set_views
from .probes import ProbeConfig, evaluate
from .views import parse_views

Progress = Callable[[int, int, float], None]  # (steps done, total steps, loss of the last step)


@dataclass
class TrainConfig:
    """One pre-training + probe run. Defaults are the protocol of docs/PROTOCOL.md."""
    dataset: str = "meteor"            # "meteor" | "cifar" | "file" (set by data_path)
    encoder: str = "cnn16"             # one of idslab.encoders.ENCODERS
    tile: int | None = None            # N; None -> the encoder's own tile size
    views: str = "ids"                 # '+'-joined names from idslab.views.VIEWS
    sites: dict = field(default_factory=lambda: {"fc1": 0.02})  # s_l (std of λ) per perturbation site, IDS only
    noise: str = "view"                # λ per "view" (Eq. 1 as in the paper) or per "sample" (idslab.perturb)
    scale_mode: str = "absolute"       # σ = s_l ("absolute") or s_l · RMS(W) ("relative", recomputed each step)
    epochs: int = 20                   # 0: no pre-training, probe the random initialisation (a reference)
    batch_size: int = 256              # B: samples per step, so 2B views
    lr: float = 1e-3                   # Adam
    weight_decay: float = 1e-6
    temperature: float = 0.5           # τ of NT-Xent
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

    def __post_init__(self):
        if self.data_path is not None and self.dataset in ("meteor", "file"):
            self.dataset = "file"          # a path names the data; "meteor" is only the default
        elif self.data_path is not None:
            raise ValueError(f"dataset={self.dataset!r} and data_path={self.data_path!r}: give one of them")
        if self.dataset == "file" and self.data_path is None:
            raise ValueError("dataset 'file' needs data_path (--data PATH): a .npy, .npz, .h5 file or image folder")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}: choose one of {', '.join(ENCODERS)}")
        if self.tile is None:
            self.tile = encoder_tile(self.encoder)
        if self.encoder.startswith("cnn") and self.tile != encoder_tile(self.encoder):
            raise ValueError(f"encoder {self.encoder} takes {encoder_tile(self.encoder)}x{encoder_tile(self.encoder)}"
                             f" tiles, got tile={self.tile}: use --encoder cnn{self.tile} or --tile "
                             f"{encoder_tile(self.encoder)}")
        parse_views(self.views)
        check_modes(self.noise, self.scale_mode)
        for site, s in self.sites.items():
            if not float(s) >= 0:
                raise ValueError(f"s_l for site {site!r} must be >= 0 (a standard deviation), got {s}")
        if set(self.sites) - {"fc1", "fc2"}:  # other names (conv layers, "all") checked on a weightless encoder
            with torch.device("meta"):
                expand_sites(build_encoder(self.encoder, 1), self.sites)
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        for name in ("batch_size", "n_pretrain", "n_probe_train", "n_probe_test", "knn_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2: NT-Xent needs negatives")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Pretrained:
    model: SimCLRModel          # .encoder gives h, .projector gives z
    loss_history: list          # mean NT-Xent per epoch
    wall_s: float               # pre-training seconds (data on the device, excluding data generation)
    device: str


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu. Asking for an absent accelerator is an error, not a silent CPU run."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
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
                path=cfg.data_path, data_key=cfg.data_key, label_key=cfg.label_key)


def build_model(cfg: TrainConfig, channels: int) -> SimCLRModel:
    """Encoder + projector with the config's perturbation sites armed (s_l = 0 unless 'ids' is in the views)."""
    model = SimCLRModel(build_encoder(cfg.encoder, channels))
    set_sites(model.encoder, dict(cfg.sites) if parse_views(cfg.views).ids else {}, cfg.noise, cfg.scale_mode)
    set_views(model, 2)  # the two views always run as one stacked batch
    return model


def pretrain(cfg: TrainConfig, data=None, progress: Progress | None = None) -> Pretrained:
    """Pre-train encoder + projector with NT-Xent on data.pretrain (labels unused). Deterministic on the CPU."""
    data = data if data is not None else load_data(cfg)
    if data.pretrain.x.shape[-1] != cfg.tile:
        raise ValueError(f"data tiles are {data.pretrain.x.shape[-1]}x{data.pretrain.x.shape[-1]} "
                         f"but the config says tile={cfg.tile}")
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    x = data.pretrain.x.to(device, torch.float32)                       # (n, C, N, N), resident on the device
    n = x.shape[0]
    if n < cfg.batch_size:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the {n} pre-training samples: lower --batch-size")
    model = build_model(cfg, x.shape[1])
    model.encoder.in_mean.copy_(x.mean(dim=(0, 2, 3)))
    model.encoder.in_std.copy_(x.std(dim=(0, 2, 3)).clamp_min(1e-6))
    model.to(device).train()
    spec = parse_views(cfg.views)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = cfg.amp and device.type == "cuda"
    steps_per_epoch = n // cfg.batch_size                                # drop the ragged last batch
    total, done, history = cfg.epochs * steps_per_epoch, 0, []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, device=device)
        epoch_loss = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            xb = x[perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]]
            views = torch.cat([spec(xb), spec(xb)])                      # (2B, C, N, N); λ1, λ2 drawn inside
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                z = model(views)
            loss = nt_xent(z[: cfg.batch_size], z[cfg.batch_size:], cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            epoch_loss += loss.detach()
            done += 1
            if progress is not None:
                progress(done, total, loss.item())
        mean_loss = float(epoch_loss) / steps_per_epoch                  # one device sync per epoch
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"NT-Xent became {mean_loss} in epoch {epoch + 1}: lower the learning rate "
                                     f"(--lr, now {cfg.lr}) or s_l (--sl, now {cfg.sites}), or raise --temperature")
        history.append(mean_loss)
    wall = time.perf_counter() - t0
    model.eval()
    return Pretrained(model, history, wall, str(device))


def run(cfg: TrainConfig, data=None, progress: Progress | None = None, checkpoint: str | None = None) -> dict:
    """Pre-train, then probe. Returns the JSON-able record of the run; `checkpoint`: also save the model there."""
    t0 = time.perf_counter()
    data = data if data is not None else load_data(cfg)
    result = pretrain(cfg, data, progress)
    if checkpoint:
        save_checkpoint(checkpoint, result, cfg, data)
    # unlabelled data (a user's file without labels): pre-training only, no probes
    metrics = evaluate(result.model.encoder, data, probe_config(cfg)) if len(data.probe_test.y) else None
    return {
        "config": cfg.to_dict(),
        "loss_history": result.loss_history,
        "metrics": metrics,
        "pretrain_s": result.wall_s,
        "wall_s": time.perf_counter() - t0,
        "device": result.device,
        "device_name": torch.cuda.get_device_name() if result.device.startswith("cuda") else platform.processor()
        or platform.machine(),
        "versions": {"idslab": __version__, "torch": torch.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def probe_config(cfg: TrainConfig) -> ProbeConfig:
    return ProbeConfig(knn_k=cfg.knn_k, knn_metric=cfg.knn_metric, seed=cfg.seed)


def save_checkpoint(path: str | os.PathLike, result: Pretrained, cfg: TrainConfig, data=None) -> None:
    """Model weights (with the input standardisation, encoder.in_mean / in_std), config, loss history and what it
    was trained on (`data_info`: the data set's name, tile, classes and, for a user's file, its fingerprint), in one
    file, written atomically."""
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


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> tuple[SimCLRModel, TrainConfig, list]:
    """Inverse of save_checkpoint: (model in eval mode, config, loss history)."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f"checkpoint {path} is unreadable or corrupt ({e}): retrain or restore it") from e
    cfg = TrainConfig(**ckpt["config"])
    channels = ckpt["state_dict"]["encoder.in_mean"].numel()
    model = build_model(cfg, channels)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), cfg, ckpt["loss_history"]


def write_json(path: str | os.PathLike, obj) -> None:
    """Write JSON atomically: a crash never leaves half a record."""
    atomic_write(path, json.dumps(obj, indent=2).encode())
