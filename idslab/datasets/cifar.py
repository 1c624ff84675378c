"""CIFAR-10 as a binary vehicle (0) vs animal (1) task, paper section 4.3, with the meteor data's split structure.

Sources, in order: ``cifar_dir`` (a folder of class sub-folders: ``DIR/<class>/*.jpg`` is a train folder, or
``DIR/train/<class>/...`` plus optionally ``DIR/test/<class>/...``); torchvision's CIFAR10 in data_dir with
``download=True`` (or already downloaded there). Images are decoded once into a verified uint8 cache in data_dir
(50,000 x 3 x 32 x 32 = 150 MB) and resized to the tile size N at load time (antialiased bilinear), because the paper
runs every encoder, CNN-8 to ResNet-50, on CIFAR too. Without a test split, probe-test is a seeded held-out part of
train, disjoint from pre-train and probe-train at the image level.
"""
from __future__ import annotations

import hashlib
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import cache

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VEHICLES = ("airplane", "automobile", "ship", "truck")
ANIMALS = ("bird", "cat", "deer", "dog", "frog", "horse")
CLASSES = ("vehicle", "animal")
DECODER_VERSION = "cifar-1"
_EXT = (".jpg", ".jpeg", ".png", ".bmp")
_FIX = "pass --cifar-dir ../shared/datasets/cifar10-train-jpg (a folder of class sub-folders) or --download"


def binary_labels(cls10: torch.Tensor) -> torch.Tensor:
    """CIFAR-10 class index (torchvision order) -> 1 animal / 0 vehicle."""
    animal = torch.tensor([c in ANIMALS for c in CIFAR10_CLASSES])
    return animal[cls10].long()


# ----------------------------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------------------------
def find_folders(cifar_dir) -> tuple[Path, Path | None]:
    """(train folder, test folder or None) of a cifar_dir; errors name the path and the fix."""
    root = Path(cifar_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise FileNotFoundError(f"CIFAR folder {root} is a file, not a folder: {_FIX}")
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR folder {root} does not exist: {_FIX}")
    train = root / "train" if (root / "train").is_dir() else root
    test = root / "test" if (root / "test").is_dir() and train != root else None
    for folder in (train, test):
        if folder is None:
            continue
        missing = [c for c in CIFAR10_CLASSES if not (folder / c).is_dir()]
        if missing:
            raise FileNotFoundError(f"CIFAR folder {folder} lacks the class sub-folders {missing}: expected "
                                    f"{folder}/<class>/*.jpg for all ten CIFAR-10 classes; {_FIX}")
    return train, test


def _list_images(folder: Path) -> tuple[list[str], np.ndarray, dict]:
    """Sorted image paths (strings: pathlib is slow at 50k files), CIFAR-10 class indices and a fingerprint of
    every file's state: name, size, modification and change times, inode. Any change to an image (rewritten in
    place with any size, replaced by a rename, restored with its old time stamp: ctime cannot be set back) changes
    it; one stat per file (0.45 s for 50,000 files, against about 10 s to decode them)."""
    files, labels, finger = [], [], {}
    for k, c in enumerate(CIFAR10_CLASSES):
        d = os.path.join(folder, c)
        entries = sorted((e for e in os.scandir(d) if os.path.splitext(e.name)[1].lower() in _EXT),
                         key=lambda e: e.name)
        if not entries:
            raise FileNotFoundError(f"{d} holds no images ({'/'.join(_EXT)}): {_FIX}")
        h = hashlib.sha256()
        for e in entries:
            st = e.stat()
            h.update(f"{e.name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
        files += [os.path.join(d, e.name) for e in entries]
        labels += [k] * len(entries)
        finger[c] = [len(entries), h.hexdigest()[:16]]
    return files, np.array(labels, np.int64), finger


def _decode(path: str) -> np.ndarray:
    from PIL import Image
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (32, 32):
                im = im.resize((32, 32), Image.BILINEAR)
            return np.array(im, dtype=np.uint8)
    except Exception as e:
        raise ValueError(f"cannot read image {path} ({e}): remove or replace it") from e


def _decode_all(files: list[str], chunk: int = 4096) -> torch.Tensor:
    """(n, 3, 32, 32) uint8. JPEGs go through torchvision's batched decoder (about 3x faster than PIL in a thread
    pool on 2 cores: 3000 CIFAR JPEGs in 0.6 s vs 2.0 s); other formats, odd sizes or a failing batch fall back
    to PIL file by file, which names the unreadable file."""
    with warnings.catch_warnings():   # torchvision 0.29 deprecates its decoders in favour of torchcodec
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_jpeg, read_file
    out = torch.empty(len(files), 3, 32, 32, dtype=torch.uint8)
    for i in range(0, len(files), chunk):
        part = files[i:i + chunk]
        imgs = None
        if all(f.lower().endswith((".jpg", ".jpeg")) for f in part):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    imgs = decode_jpeg([read_file(f) for f in part], mode=ImageReadMode.RGB)
                if any(im.shape != (3, 32, 32) for im in imgs):
                    imgs = None
            except RuntimeError:
                imgs = None
        if imgs is None:
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                imgs = [torch.from_numpy(a).permute(2, 0, 1) for a in pool.map(_decode, part)]
        out[i:i + len(part)] = torch.stack(imgs)
    return out


def decode_folder(folder: Path, data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of a class-folder tree as (n, 3, 32, 32) uint8 and (n,) CIFAR-10 class indices, decoded once
    (PIL in a thread pool) and cached; the cache key covers the folder and the state of every file (_list_images:
    adding, removing, renaming or rewriting any image decodes again)."""
    files, labels, finger = _list_images(folder)
    key = cache.cache_key(dict(folder=str(folder.resolve()), classes=finger, version=DECODER_VERSION))
    path = data_dir / f"cifar_{folder.name}_{key}.pt"
    if path.exists():
        try:
            obj = cache.load(path)
            return obj["x"], obj["y"]
        except cache.CacheError as e:
            warnings.warn(f"CIFAR cache unusable, decoding again: {e}", stacklevel=3)
    x = _decode_all(files)
    y = torch.from_numpy(labels)
    cache.save_or_warn(path, dict(x=x, y=y, folder=str(folder)))
    return x, y


def _torchvision(data_dir: Path, download: bool) -> tuple[tuple, tuple]:
    from torchvision.datasets import CIFAR10
    out = []
    for train in (True, False):
        try:
            ds = CIFAR10(root=str(data_dir), train=train, download=download)
        except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
            raise FileNotFoundError(f"torchvision CIFAR-10 not found in {data_dir} ({e}): {_FIX}") from e
        out.append((torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)))
    return out[0], out[1]


# ----------------------------------------------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------------------------------------------
def resize(x: torch.Tensor, tile: int, chunk: int = 2048) -> torch.Tensor:
    """uint8 (n, 3, 32, 32) -> float32 (n, 3, N, N) in [0, 1], antialiased bilinear (identity for N = 32)."""
    out = torch.empty(x.shape[0], 3, tile, tile)
    for i in range(0, x.shape[0], chunk):
        xb = x[i:i + chunk].float().div_(255.0)
        if tile != xb.shape[-1]:
            xb = F.interpolate(xb, size=(tile, tile), mode="bilinear", antialias=True, align_corners=False)
        out[i:i + chunk] = xb.clamp_(0.0, 1.0)
    return out


def _balanced(y: torch.Tensor, counts: list[int], gen: torch.Generator, where: str) -> list[torch.Tensor]:
    """Consecutive disjoint index sets, each with counts[i] // 2 vehicles and the rest animals, shuffled."""
    per_class = [torch.nonzero(y == c).flatten() for c in (0, 1)]
    per_class = [p[torch.randperm(len(p), generator=gen)] for p in per_class]
    need = [sum(n // 2 for n in counts), sum(n - n // 2 for n in counts)]
    for c in (0, 1):
        if need[c] > len(per_class[c]):
            raise ValueError(f"CIFAR {where} has {len(per_class[c])} {CLASSES[c]} images, the splits need "
                             f"{need[c]}: lower --pretrain/--probe-train/--probe-test")
    out, used = [], [0, 0]
    for n in counts:
        take = []
        for c, k in ((0, n // 2), (1, n - n // 2)):
            take.append(per_class[c][used[c]:used[c] + k])
            used[c] += k
        idx = torch.cat(take)
        out.append(idx[torch.randperm(len(idx), generator=gen)])
    return out


def load_cifar(tile: int, *, seed: int = 0, sizes=None, data_dir: Path, cifar_dir=None, download: bool = False):
    """CIFAR-10 vehicle/animal SSLData at tile N (see module docstring). Splits are a function of the seed."""
    from . import SPLIT_NAMES, Sizes, Split, SSLData
    sizes = sizes or Sizes()
    t0 = time.perf_counter()
    data_dir = Path(data_dir)
    if cifar_dir is not None:
        train_dir, test_dir = find_folders(cifar_dir)
        train = decode_folder(train_dir, data_dir)
        test = decode_folder(test_dir, data_dir) if test_dir is not None else None
        source = dict(kind="folder", train=str(train_dir), test=str(test_dir) if test_dir else None)
    elif download or (data_dir / "cifar-10-batches-py").is_dir():
        train, test = _torchvision(data_dir, download)
        source = dict(kind="torchvision", root=str(data_dir))
    else:
        raise FileNotFoundError(f"no CIFAR-10 source: no cifar_dir given and no torchvision copy in {data_dir}; "
                                f"{_FIX}")
    gen = torch.Generator().manual_seed(int(seed))
    ytr = binary_labels(train[1])
    n = [sizes.pretrain, sizes.probe_train, sizes.probe_test]
    if test is None:   # carve a seeded held-out probe-test from train
        idx = _balanced(ytr, n, gen, "train")
        parts = [(train, i) for i in idx]
    else:
        idx = _balanced(ytr, n[:2], gen, "train") + _balanced(binary_labels(test[1]), n[2:], gen, "test")
        parts = [(train, idx[0]), (train, idx[1]), (test, idx[2])]
    # targets["class10"]: the CIFAR-10 class index (torchvision order), for the 10-class linear probe (issue 9)
    splits = {name: Split(resize(src[0][i], tile), binary_labels(src[1][i]), targets={"class10": src[1][i].long()})
              for name, (src, i) in zip(SPLIT_NAMES, parts)}
    meta = dict(dataset="cifar", seed=seed, tile=tile, sizes=vars(sizes), source=source,
                held_out_test=test is None, n_train_images=int(len(train[1])),
                n_test_images=int(len(test[1])) if test is not None else 0, units="RGB in [0, 1]",
                resize="antialiased bilinear from 32x32" if tile != 32 else "none (native 32x32)",
                load_seconds=round(time.perf_counter() - t0, 3))
    return SSLData("cifar", tile, CLASSES, meta=meta, **splits)
