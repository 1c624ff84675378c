"""Data sets for idslab: simulated JRO meteor head echoes (the paper's section 4), CIFAR-10 vehicle vs animal
(section 4.3) and simulated galaxy spectra (one-dimensional, issue 20), with one interface (docs/DESIGN.md "Data
interface"):

    data = load("meteor", 16)                      # generated once, then read from the verified cache in data/
    data.pretrain.x  # (4000, 1, 16, 16) float32 calibrated SNR (dB);  data.probe_test.y  # (600,) int64
    load("spectra", 512).pretrain.x                # (4000, 1, 512) float32 flux, 1e-17 erg s^-1 cm^-2 A^-1
    summary(data)    # JSON-able sizes, class counts, value ranges, meta
"""
from __future__ import annotations

import dataclasses

import numbers
import os
import time
import warnings
from dataclasses import dataclass, field

import torch

from ..checks import check_folder
from . import cache
from .meteor import (CLASSES as METEOR_CLASSES, SIMULATOR_VERSION, TARGETS as METEOR_TARGETS, MeteorParams,
                     check_tile, echo_stats, rotated_streak, simulate_echo, simulate_scenes, tile_labels, tile_scenes,
                     trajectory)
from .spectra import SpectraParams

__all__ = ["Split", "SSLData", "Sizes", "load", "summary", "TARGETS_VERSION", "MeteorParams", "simulate_scenes",
           "simulate_echo", "tile_scenes", "tile_labels", "trajectory", "check_tile", "echo_stats",
           "SIMULATOR_VERSION", "METEOR_TARGETS", "rotated_streak", "per_class", "SpectraParams"]


@dataclass(frozen=True)
class Split:
    """x (n, C, N, N) float32 CPU (meteor: calibrated SNR dB, C = 1; cifar: RGB in [0, 1], C = 3), or (n, C, L)
    for one-dimensional data (spectra: flux, C = 1; a user's signals);
    y (n,) int64 in {0, 1} (meteor: 1 = head echo in tile; cifar: 1 = animal, 0 = vehicle; spectra: 1 = [O III]
    doublet); a user's file (datasets.arrays): 0..K-1, or -1 where unlabelled;
    targets: per-sample physics targets {name: (n,) float32} (meteor: METEOR_TARGETS, NaN where a tile has no
    echo, except mainlobe_px = 0; spectra: spectra.TARGETS, the line targets NaN for negatives; docs/DATA.md);
    empty for data sets without them (cifar, user files);
    ivar: the per-bin inverse variance of x (same shape, float32, 1 / x's units squared; 0 = no data) where the data
    carry a noise model (spectra: idslab.datasets.spectra.inverse_variance; a user's file: --ivar-key), read by the
    view 'reobserve' (idslab.views); None otherwise."""
    x: torch.Tensor
    y: torch.Tensor
    targets: dict = field(default_factory=dict)
    ivar: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Sizes:
    """Tiles (images) per split, each balanced 50/50 between the classes."""
    pretrain: int = 4000
    probe_train: int = 2000
    probe_test: int = 600     # the paper's accuracies move in steps of 1/600

    def __post_init__(self):
        for k in ("pretrain", "probe_train", "probe_test"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"Sizes.{k}={v!r}: need an int >= 2 (one tile of each class)")


@dataclass(frozen=True)
class SSLData:
    """Three disjoint splits of one data set at one tile size N (length L for 1-D data); meta is JSON-able."""
    name: str
    tile: int
    classes: tuple[str, ...]   # names of labels 0..K-1 (K = 2 for meteor and cifar)
    pretrain: Split
    probe_train: Split
    probe_test: Split
    meta: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.pretrain.x.shape[1])

    @property
    def dims(self) -> int:
        """1 for signals (n, C, L), 2 for images (n, C, N, N)."""
        return self.pretrain.x.dim() - 2


SPLIT_NAMES = ("pretrain", "probe_train", "probe_test")
# The meteor physics targets' arithmetic, in the cache key (not in SIMULATOR_VERSION, which keys run records: pixels
# and labels did not change): 2 = peak_snr_db by meteor.db_exact, the same on every CPU (issue 19).
TARGETS_VERSION = 2


def load(name: str, tile: int, *, seed: int = 0, sizes: Sizes = Sizes(), data_dir=None, cifar_dir=None,
         download: bool = False, params: MeteorParams | SpectraParams | None = None, path=None, data_key=None,
         label_key=None, stride: int | None = None, edge: str = "drop", dims: int | None = None,
         ivar_key: str | None = None) -> SSLData:
    """The data set `name` ("meteor" | "cifar" | "spectra") at tile size N (8..256, dividing 512; spectra: the
    length L = 512), from the cache or built.

    data_dir: cache folder (default $IDSLAB_DATA or ./data). cifar_dir: a folder of class sub-folders (see
    idslab.datasets.cifar; default $IDSLAB_CIFAR_DIR); download: fetch CIFAR-10 through torchvision. params:
    MeteorParams or SpectraParams.
    name "file": a user's .npy / .npz / HDF5 / CSV file or image folder at `path` (idslab.datasets.arrays.load_file),
    tiled (windowed, for 1-D data) with corners every `stride` pixels (None: N) and `edge` "drop" | "shift" (only
    files have these); dims: 1 reads a 3-D array as signals (n, C, L), 2 as images (n, H, W) (None: by shape);
    ivar_key: the file's inverse-variance array (Split.ivar, for the view 'reobserve'; arrays.load_file).
    Raises ValueError / FileNotFoundError naming the problem and the fix.
    """
    if name == "file":
        from .arrays import load_file
        if path is None:
            raise ValueError("load('file', ...) needs path=: a .npy, .npz, .h5 or .csv file or a folder of images")
        return load_file(path, tile, data_key=data_key, label_key=label_key, seed=seed, sizes=sizes, stride=stride,
                         edge=edge, dims=dims, ivar_key=ivar_key)
    if ivar_key is not None:
        raise ValueError(f"ivar_key (--ivar-key) reads a user's file (name 'file'); the {name} data bring their own "
                         "noise model" if name == "spectra" else f"ivar_key (--ivar-key) reads a user's file (name "
                         f"'file'); the {name} data have no inverse variance")
    if stride is not None or edge != "drop":
        raise ValueError(f"stride / edge tile a user's file (name 'file'); the {name} splits have fixed tiles")
    if name == "spectra":
        from .spectra import check_length
        params = params if params is not None else SpectraParams()
        if not isinstance(params, SpectraParams):
            raise ValueError(f"params={type(params).__name__}: the spectra take an idslab.datasets.SpectraParams")
        check_length(tile, params)
    else:
        check_tile(tile)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"data seed={seed!r}: need a whole number in 0..2**32-1")
    check_folder(cache.data_dir(data_dir), "data_dir (--data-dir)" if data_dir is not None else "$IDSLAB_DATA",
                 write=False)  # not a file, not under one
    if name == "cifar" and cifar_dir is None:   # every command honours $IDSLAB_CIFAR_DIR, as reproduce always did
        cifar_dir = cache.env_path("IDSLAB_CIFAR_DIR", "a folder of CIFAR-10 images in class sub-folders")
    if not isinstance(sizes, Sizes):
        raise ValueError(f"sizes={sizes!r}: pass an idslab.datasets.Sizes")
    if name in ("meteor", "cifar", "spectra"):
        check_memory(sizes, tile, 1 if name != "cifar" else 3, dims=1 if name == "spectra" else 2)
    if name == "meteor":
        params = params if params is not None else MeteorParams()
        if not isinstance(params, MeteorParams):
            raise ValueError(f"params={type(params).__name__}: the meteor data take an idslab.datasets.MeteorParams")
        return _load_meteor(tile, seed, sizes, cache.data_dir(data_dir), params)
    if name == "spectra":
        return _load_spectra(tile, seed, sizes, cache.data_dir(data_dir), params)
    if name == "cifar":
        from .cifar import load_cifar
        return load_cifar(tile, seed=seed, sizes=sizes, data_dir=cache.data_dir(data_dir), cifar_dir=cifar_dir,
                          download=download)
    raise ValueError(f"unknown data set {name!r}: use 'meteor', 'cifar', 'spectra' or 'file' (with path=)")


def check_memory(sizes: Sizes, tile: int, channels: int, dims: int = 2) -> None:
    """ValueError before generating or decoding when the float32 splits alone would not fit in this machine's memory
    (e.g. --n-pretrain 1000000000: otherwise minutes of generation, then an out-of-memory kill)."""
    need = (sizes.pretrain + sizes.probe_train + sizes.probe_test) * channels * tile ** dims * 4
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: no check
        return
    if need > have:
        raise ValueError(f"sizes {sizes.pretrain} + {sizes.probe_train} + {sizes.probe_test} tiles of {tile}x{tile}x"
                         f"{channels} need {need / 2 ** 30:.1f} GiB as float32, more than this machine's "
                         f"{have / 2 ** 30:.1f} GiB: lower --n-pretrain / --n-probe-train / --n-probe-test")


def _load_generated(name: str, key_obj: dict, path, build, targets) -> tuple[dict, dict, bool, float]:
    """The cache of a simulated data set (meteor, spectra): read `path` if it holds `key_obj`'s data, else
    build() -> generate()'s dict, cache it (atomic; an unwritable cache costs a warning) and use it. Returns
    ({split: Split}, info, cached, seconds)."""
    t0 = time.perf_counter()
    obj = None
    if path.exists():
        try:
            obj = cache.load(path)
            if obj.get("key") != key_obj:
                raise cache.CacheError(f"{path}: written for other parameters")
        except cache.CacheError as e:
            warnings.warn(f"{name} cache unusable, regenerating: {e}", stacklevel=4)
            obj = None
    cached = obj is not None
    if obj is None:
        out = build()
        obj = dict(key=key_obj, info=out["info"],
                   **{f"{s}_{k}": t for s in SPLIT_NAMES for k, t in zip("xy", out[s][:2])},
                   **{f"{s}_t_{k}": t for s in SPLIT_NAMES for k, t in out[s][2].items()})
        cache.save_or_warn(path, obj)
    splits = {s: Split(obj[f"{s}_x"].float(), obj[f"{s}_y"], {k: obj[f"{s}_t_{k}"] for k in targets})
              for s in SPLIT_NAMES}
    return splits, obj["info"], cached, round(time.perf_counter() - t0, 3)


def _load_meteor(tile: int, seed: int, sizes: Sizes, root, params: MeteorParams) -> SSLData:
    from .meteor import generate
    key_obj = dict(params=params.to_json(), sizes=vars(sizes), seed=seed, tile=tile, version=SIMULATOR_VERSION,
                   targets=TARGETS_VERSION)
    path = root / f"meteor_t{tile}_s{seed}_{cache.cache_key(key_obj)}.pt"
    splits, info, cached, secs = _load_generated("meteor", key_obj, path,
                                                 lambda: generate(tile, sizes, params, seed), METEOR_TARGETS)
    meta = dict(dataset="meteor", seed=seed, tile=tile, sizes=vars(sizes), params=params.to_json(),
                simulator_version=SIMULATOR_VERSION, cache_path=str(path), cached=cached,
                generation_seconds=info["seconds"], load_seconds=secs,
                scenes={s: info[s] for s in SPLIT_NAMES}, units="calibrated SNR, dB",
                layout="x[..., i, j]: i = range gate (altitude increasing with i), j = pulse (time)")
    return SSLData("meteor", tile, METEOR_CLASSES, meta=meta, **splits)


def _load_spectra(length: int, seed: int, sizes: Sizes, root, params: SpectraParams) -> SSLData:
    from . import spectra
    key_obj = dict(params=params.to_json(), sizes=vars(sizes), seed=seed, tile=length,
                   version=spectra.SIMULATOR_VERSION)
    path = root / f"spectra_L{length}_s{seed}_{cache.cache_key(key_obj)}.pt"
    splits, info, cached, secs = _load_generated("spectra", key_obj, path,
                                                 lambda: spectra.generate(length, sizes, params, seed),
                                                 spectra.TARGETS)
    # the noise model's per-bin inverse variance, from each spectrum's own flux (as a pipeline estimates it)
    splits = {k: dataclasses.replace(v, ivar=spectra.inverse_variance(v.x, params)) for k, v in splits.items()}
    lam = params.wavelength()
    meta = dict(dataset="spectra", seed=seed, tile=length, sizes=vars(sizes), params=params.to_json(),
                simulator_version=spectra.SIMULATOR_VERSION, cache_path=str(path), cached=cached,
                generation_seconds=info["seconds"], load_seconds=secs, splits={s: info[s] for s in SPLIT_NAMES},
                units="flux density, 1e-17 erg s^-1 cm^-2 A^-1",
                layout=f"x[..., i]: i = log-wavelength bin, {lam[0]:.1f} to {lam[-1]:.1f} A (vacuum, cluster rest "
                       f"frame), {params.kms_per_bin:.2f} km/s per bin")
    return SSLData("spectra", length, spectra.CLASSES, meta=meta, **splits)


def per_class(y: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the first k samples of class 0, then the first k of class 1 (fewer where a class has fewer):
    the tiles notebooks and figures show side by side. y (n,) int in {0, 1} -> (<= 2k,) int64."""
    y = torch.as_tensor(y)
    return torch.cat([torch.nonzero(y == c)[:k, 0] for c in (0, 1)])


def summary(data: SSLData) -> dict:
    """JSON-able: per-split sizes, class counts and value ranges, plus the data set's meta."""
    def split(s: Split) -> dict:
        labelled = s.y[s.y >= 0]  # -1: unlabelled (a user's file without labels)
        counts = torch.bincount(labelled, minlength=len(data.classes)).tolist() if labelled.numel() else []
        x = s.x
        return dict(n=len(s.y), shape=list(x.shape), class_counts=dict(zip(data.classes, counts)) if counts else None,
                    x_min=round(float(x.min()), 4) if x.numel() else None,
                    x_max=round(float(x.max()), 4) if x.numel() else None,
                    x_mean=round(float(x.mean()), 4) if x.numel() else None,
                    x_std=round(float(x.std()), 4) if x.numel() > 1 else None, targets=sorted(s.targets))
    return dict(name=data.name, tile=data.tile, channels=data.channels, classes=list(data.classes),
                splits={s: split(getattr(data, s)) for s in SPLIT_NAMES}, meta=data.meta)
