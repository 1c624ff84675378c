"""A scientist's own data: arrays in .npy / .npz / HDF5 files or folders of images, cut into N x N tiles; or
one-dimensional signals (spectra, time series) in those files or a CSV, cut into windows of length N.

    src = open_data("scenes.h5", data_key="x", label_key="mask")   # lazy: reads shapes, not pixels
    data = load_file("scenes.h5", 16, label_key="mask")             # an SSLData, like load("meteor", 16)
    for x, y, index in iter_tiles(src, TileSpec(16)): ...           # every tile, streamed scene chunk by chunk
    load_file("spectra.csv", 512, stride=256)                      # signals: windows of 512 every 256 samples

Inputs ("scenes" below: one image of the stack, whatever its size)
- `.npy`: x only (memory-mapped, so only the scenes used are read). `.npz`: x and optional labels (keys `x`, `y`
  by default, or the only array in the file). HDF5 (`.h5`, `.hdf5`, `.hdf`): dataset paths (default `x`, `y`), read
  lazily with h5py, scene chunk by scene chunk: a file larger than memory can be tiled and subsampled. A folder of
  PNG / JPEG / TIFF images: one sub-folder per class (labelled, classes in sorted name order) or the images directly
  in the folder (unlabelled); all images must share one size and channel count.
- Shapes (n, H, W) (one channel) or (n, C, H, W). Any float, integer or bool dtype.
- Labels (optional): per scene, shape (n,), integers 0..K-1, every tile inherits its scene's label; or a per-pixel
  mask, shape (n, H, W), 0/1 or bool, labelled per tile with the meteor data's rule (`mask_labels`).

One-dimensional signals (issue 20; `dims=1`, which a 1-D encoder implies): shapes (n, L) or (n, C, L) in .npy, .npz
and HDF5 (an (n, L) array is always signals; a 3-D array is read as (n, C, L) only with dims=1, else as images
(n, H, W)), or a `.csv` with one signal per row (comma-separated numbers; an optional header row names the columns,
and the column `--label-key` names, or else one called "y" or "label", holds the labels; read whole, not lazily).
Labels per signal, shape (n,). The windows play the tiles' part: N samples long, starting every `stride` samples.

Units and normalisation: values are converted to float32 and otherwise pass through unchanged (dB stay dB, counts
stay counts, 8-bit images stay 0..255). The only normalisation is the model's own input standardisation, per
channel with the pre-training split's mean and standard deviation (Encoder.in_mean / in_std, stored in the saved
model, so embedding new data later uses the same numbers).

Tiles: corners on a grid of `stride` (default N: non-overlapping, as for the meteor data) starting at pixel 0;
edge="drop" (default) drops the tiles that would cross the right or bottom edge (the last H mod N rows are unused,
as a 512-row meteor scene has none for N dividing 512); edge="shift" adds one last row/column of tiles ending
exactly on the edge (it overlaps its neighbour), so every pixel is in some tile.

Splits: labelled data -> pretrain / probe_train / probe_test from disjoint scenes (a seeded permutation of the
scenes, fractions 0.6 / 0.2 / 0.2), ambiguous tiles (label -1) dropped, each split at most its size (Sizes), and
with balance=True the same number of tiles of every class (as the meteor splits are 50/50). Unlabelled data ->
every scene goes to pretrain (probes need labels; their splits are empty) and y is -1.

Every bad input raises ValueError / FileNotFoundError naming the file and the fix before any training starts.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ARRAY_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5", ".hdf", ".csv")
CSV_LABEL_COLUMNS = ("y", "label")   # a CSV header's default label column
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MASK_MIN_PIXELS = 4         # the meteor rule's pos_min_pixels: a tile with >= 4 mask pixels is positive
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)   # of the scenes: pretrain, probe_train, probe_test
CHUNK_BYTES = 64 * 2 ** 20  # scenes are read in chunks of about this many float32 bytes (bounded memory)
HASH_LIMIT = 2 * 2 ** 30    # files up to 2 GiB get a full sha256; larger ones a fingerprint of size + ends


# ------------------------------------------------------------------------------------------------------ reading
@dataclass
class DataSource:
    """A lazily opened data file. Shape (n, C, H, W) after the (n, H, W) -> C = 1 expansion; signals (dims = 1):
    (n, C, L) after (n, L) -> C = 1.

    labels: (n,) int64 per-scene labels or None; mask: the per-pixel mask array-like (n, H, W) or None (read lazily);
    classes: names of labels 0..K-1 (empty when unlabelled).
    """
    path: Path
    kind: str                   # "npy" | "npz" | "hdf5" | "images" | "csv" | "array"
    shape: tuple                # (n, C, H, W), or (n, C, L) for signals
    dtype: str
    data_key: str | None = None
    label_key: str | None = None
    labels: np.ndarray | None = None
    mask: object = None
    classes: tuple = ()
    _x: object = field(default=None, repr=False)       # array-like with numpy indexing over axis 0
    _files: list = field(default_factory=list, repr=False)
    _close: object = field(default=None, repr=False)
    dims: int = 2               # 2: images, 1: signals

    @property
    def n(self) -> int:
        return int(self.shape[0])

    @property
    def three_d(self) -> bool:
        """A 3-D array: images (n, H, W) or signals (n, C, L), as the encoder reads it; either may be meant."""
        return self.kind != "images" and len(getattr(self._x, "shape", ())) == 3

    @property
    def labelled(self) -> bool:
        return self.labels is not None or self.mask is not None

    def read(self, idx) -> np.ndarray:
        """Scenes idx (sorted, unique ints) -> (k, C, H, W) (signals: (k, C, L)) float32, values unchanged.
        NaN/inf -> ValueError."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.kind == "images":
            x = np.stack([_read_image(self._files[i], self.shape) for i in idx]) if idx.size else \
                np.zeros((0,) + tuple(self.shape[1:]), np.float32)
        else:
            x = np.asarray(self._x[idx], dtype=np.float32)   # h5py and memmaps read only these scenes
        x = x.reshape((len(idx),) + tuple(self.shape[1:]))
        _check_finite(x, idx, self)
        return x

    def read_mask(self, idx) -> np.ndarray:
        """Per-pixel mask of scenes idx -> (k, H, W) bool."""
        m = np.asarray(self.mask[np.asarray(idx, dtype=np.int64)])
        if m.dtype != bool:
            bad = ~np.isin(m, (0, 1))
            if bad.any():
                i = np.argwhere(bad)[0]
                raise ValueError(f"{self.path}: mask '{self.label_key}' has values other than 0/1 (e.g. "
                                 f"{m[tuple(i)]!r} in scene {int(idx[i[0]])}): save a bool or 0/1 mask, or "
                                 "per-scene labels of shape (n,)")
        return m.astype(bool)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_data(path, data_key: str | None = None, label_key: str | None = None, dims: int | None = None
              ) -> DataSource:
    """Open a .npy / .npz / HDF5 / CSV file or an image folder lazily and validate shapes and labels (not pixel
    values: those are checked as they are read). dims: 1 reads signals (n, C, L), 2 images; None: by the shape
    (a 2-D array or a CSV is signals, a 3-D or 4-D array images). See the module docstring for formats and
    defaults."""
    p = Path(path).expanduser()
    if dims not in (None, 1, 2):
        raise ValueError(f"dims={dims!r}: use 1 (signals, (n, L) or (n, C, L)) or 2 (images)")
    if not p.exists():
        raise FileNotFoundError(f"data file {p} does not exist: give the path to a .npy, .npz, .h5 or .csv file or "
                                "a folder of images")
    if p.is_dir():
        if data_key or label_key:
            raise ValueError(f"{p} is a folder of images: --data-key/--label-key apply only to .npz and HDF5 files")
        if dims == 1:
            raise ValueError(f"{p} is a folder of images, but a 1-D encoder takes signals: save them as (n, L) or "
                             "(n, C, L) arrays or a CSV")
        return _open_images(p)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        if data_key:
            raise ValueError(f"{p}: a CSV holds one table (one signal per row): leave out --data-key")
        if dims == 2:
            raise ValueError(f"{p}: a CSV holds signals (one per row), but the encoder takes images: use a 1-D "
                             "encoder (--encoder cnn1dL)")
        return _open_csv(p, label_key)
    if suffix == ".npy":
        if label_key:
            raise ValueError(f"{p}: a .npy file holds one array (x): save x and labels together in a .npz "
                             "(np.savez(path, x=x, y=y)) to use --label-key")
        if data_key:   # a key the file cannot have: ignoring it would hide a wrong file or a wrong flag
            raise ValueError(f"{p}: a .npy file holds one unnamed array, so --data-key {data_key!r} names nothing: "
                             "leave --data-key out, or give the .npz / .h5 file that holds that array")
        try:
            x = np.load(p, mmap_mode="r", allow_pickle=False)
        except Exception as e:
            raise ValueError(f"{p} is not a readable .npy file ({e}): save it with np.save") from e
        return _make(p, "npy", x, None, data_key, None, dims=dims)
    if suffix == ".npz":
        try:
            z = np.load(p, allow_pickle=False)
        except Exception as e:
            raise ValueError(f"{p} is not a readable .npz file ({e}): save it with np.savez") from e
        names = list(z.files)
        xk = _pick_key(p, names, data_key, "x", "--data-key", "array")
        yk = _pick_label_key(p, names, label_key, xk, "array")
        classes = tuple(str(c) for c in z["classes"]) if "classes" in names and yk else None
        return _make(p, "npz", z[xk], z[yk] if yk else None, xk, yk, classes, close=z.close, dims=dims)
    if suffix in (".h5", ".hdf5", ".hdf"):
        import h5py
        try:
            f = h5py.File(p, "r")
        except Exception as e:
            raise ValueError(f"{p} is not a readable HDF5 file ({e}): check the file, or save with h5py") from e
        try:
            names = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            xk = _pick_key(p, names, data_key, "x", "--data-key", "dataset")
            yk = _pick_label_key(p, names, label_key, xk, "dataset")
            y = f[yk] if yk else None
            classes = None
            if y is not None and "classes" in y.attrs:
                classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in y.attrs["classes"])
            return _make(p, "hdf5", f[xk], y, xk, yk, classes, close=f.close, dims=dims)
        except Exception:
            f.close()
            raise
    raise ValueError(f"{p}: unknown file type {suffix!r}: use .npy, .npz, .h5/.hdf5, .csv or a folder of "
                     "PNG/JPEG/TIFF images")


def _pick_key(p, names, key, default, flag, what) -> str:
    if key is not None:
        if key not in names:
            raise ValueError(f"{p} has no {what} {key!r}; its {what}s are: {', '.join(names) or '(none)'}: "
                             f"pass {flag} NAME")
        return key
    if default in names:
        return default
    arrays = [n for n in names if n not in ("y", "classes", "mask", "labels")]
    if len(arrays) == 1:
        return arrays[0]
    raise ValueError(f"{p} has no {what} named {default!r} and {len(names)} {what}s ({', '.join(names) or 'none'}):"
                     f" say which holds the images with {flag} NAME")


def _pick_label_key(p, names, key, xk, what) -> str | None:
    if key is not None:
        return _pick_key(p, names, key, "y", "--label-key", what)
    return "y" if "y" in names and xk != "y" else None   # no labels: unlabelled data (pre-training only)


def _make(p, kind, x, y, xk, yk, classes=None, close=None, dims: int | None = None) -> DataSource:
    shape = tuple(int(s) for s in x.shape)
    what = f"{p}" + (f" ({'array' if kind == 'npz' else 'dataset'} {xk!r})" if kind in ("npz", "hdf5") else "")
    dt = np.dtype(x.dtype)
    if not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer) or dt == bool):
        raise ValueError(f"{what} has dtype {dt}: need float, integer or bool values")
    dims = dims or (1 if len(shape) == 2 else 2)
    if dims == 1:
        if len(shape) == 2:
            shape = (shape[0], 1, shape[1])
        elif len(shape) != 3:
            raise ValueError(f"{what} has shape {tuple(x.shape)}: a 1-D encoder takes signals (n, L) or (n, C, L); "
                             "use a 2-D encoder (cnnN) for images")
    elif len(shape) == 3:
        shape = (shape[0], 1, shape[1], shape[2])
    elif len(shape) == 4:
        if shape[1] > 16 and shape[3] <= 4:
            raise ValueError(f"{what} has shape {tuple(x.shape)}, which looks channels-last (n, H, W, C): save "
                             f"x.transpose(0, 3, 1, 2) to get (n, C, H, W)")
    else:
        hint = (" (signals (n, L) need a 1-D encoder: --encoder cnn1dL)" if len(shape) == 2 else
                ": signals are (n, L) or (n, C, L), images (n, H, W) or (n, C, H, W)")
        raise ValueError(f"{what} has shape {tuple(x.shape)}: images need (n, H, W) or (n, C, H, W){hint}")
    if shape[0] == 0:
        raise ValueError(f"{what} holds no {'signals' if dims == 1 else 'images'} (shape {tuple(x.shape)}): nothing "
                         "to train on")
    src = DataSource(p, kind, shape, str(dt), xk, yk, _x=x, _close=close, dims=dims)
    if y is not None:
        ys = tuple(int(s) for s in y.shape)
        if dims == 1 and ys != shape[:1]:
            raise ValueError(f"{p}: x has {shape[0]} signals but labels {yk!r} have shape {ys}: need one label per "
                             f"signal, shape ({shape[0]},)")
        if ys[:1] != shape[:1]:
            raise ValueError(f"{p}: x has {shape[0]} images but labels {yk!r} have shape {ys}: need one label per "
                             f"image ({shape[0]},) or a per-pixel mask ({shape[0]}, {shape[2]}, {shape[3]})")
        if ys == (shape[0],):
            src.labels = check_labels(np.asarray(y), f"{p} labels {yk!r}")
            k = int(src.labels.max()) + 1
            src.classes = tuple(classes) if classes and len(classes) == k else tuple(f"class_{i}" for i in range(k))
        elif ys == (shape[0], shape[2], shape[3]):
            src.mask = y
            src.classes = ("negative", "positive")
        else:
            raise ValueError(f"{p}: labels {yk!r} have shape {ys}: need ({shape[0]},) per image or a per-pixel mask "
                             f"({shape[0]}, {shape[2]}, {shape[3]}) matching x {shape}")
    return src


def check_labels(y: np.ndarray, what: str) -> np.ndarray:
    """Labels must be integers 0..K-1 with every class present; returns them as int64."""
    y = np.asarray(y)
    if y.dtype == bool:
        y = y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            bad = y[~np.isfinite(y) | (y != np.round(y))][:5]
            raise ValueError(f"{what}: labels must be integers 0..K-1, found {bad.tolist()}: save integer class "
                             "indices (np.unique(y, return_inverse=True)[1])")
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels have dtype {y.dtype}: need integers 0..K-1 (np.unique(y, "
                         "return_inverse=True)[1] turns names into indices)")
    y = y.astype(np.int64)
    values = np.unique(y)
    if values.size and (values[0] < 0 or values[-1] != values.size - 1):
        raise ValueError(f"{what}: labels must be 0..K-1 with every class present, found values "
                         f"{values[:10].tolist()}{' ...' if values.size > 10 else ''}: remap them with "
                         "np.unique(y, return_inverse=True)[1]")
    return y


def _open_csv(p: Path, label_key: str | None) -> DataSource:
    """A CSV of signals, one per row, read whole (numpy): an optional header row (any field not a number), whose
    column label_key (or "y" / "label") holds per-signal labels. Every row must have the same number of columns."""
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{p} is not a readable text CSV ({e}): save it with np.savetxt(path, x, delimiter=',')") \
            from e
    rows = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not rows:
        raise ValueError(f"{p} is empty: write one signal per row, comma-separated")

    def number(v: str) -> bool:
        try:
            float(v)
            return True
        except ValueError:
            return False
    first = [v.strip() for v in rows[0][1].split(",")]
    header = None if all(number(v) for v in first) else first
    body = rows[1:] if header else rows
    if not body:
        raise ValueError(f"{p} holds a header and no signals: write one signal per row below it")
    width = len(first)
    bad = next(((i, len(ln.split(","))) for i, ln in body if len(ln.split(",")) != width), None)
    if bad:
        raise ValueError(f"{p}: line {bad[0]} has {bad[1]} columns, the first row {width}: every row must be one "
                         "signal of the same length")
    try:
        a = np.array([[float(v) for v in ln.split(",")] for _, ln in body], np.float64)
    except ValueError:
        i, ln = next((i, ln) for i, ln in body if not all(number(v) for v in ln.split(",")))
        v = next(v for v in ln.split(",") if not number(v))
        raise ValueError(f"{p}: line {i} holds {v.strip()!r}, not a number: a CSV of signals holds numbers only "
                         "(and an optional header row)") from None
    col = None
    if label_key is not None:
        if header is None:
            raise ValueError(f"{p} has no header row, so --label-key {label_key!r} names no column: add a header "
                             "(e.g. y,b0,b1,...) or store the labels in a .npz")
        if label_key not in header:
            raise ValueError(f"{p} has no column {label_key!r}; its columns are {', '.join(header[:8])}"
                             f"{' ...' if len(header) > 8 else ''}: pass --label-key NAME")
        col = header.index(label_key)
    elif header is not None:
        col = next((header.index(c) for c in CSV_LABEL_COLUMNS if c in header), None)
    y = a[:, col] if col is not None else None
    x = np.delete(a, col, axis=1) if col is not None else a
    if x.shape[1] == 0:
        raise ValueError(f"{p} holds labels and no signal values: one signal per row, comma-separated")
    yk = header[col] if col is not None else None
    return _make(p, "csv", x.astype(np.float32), y, None, yk, dims=1)


def _check_finite(x: np.ndarray, idx: np.ndarray, src: DataSource) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        n_nan, n_inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
        pos = np.argwhere(bad)
        scenes = np.unique(idx[pos[:, 0]])
        first = ", ".join(str((int(idx[i[0]]),) + tuple(int(v) for v in i[1:])) for i in pos[:3])
        key = f" ({src.data_key!r})" if src.data_key else ""
        what, where = ("signal(s)", "signal, channel, sample") if src.dims == 1 else ("image(s)",
                                                                                     "image, channel, row, col")
        raise ValueError(f"{src.path}{key}: {n_nan} NaN and {n_inf} inf values in {scenes.size} {what} "
                         f"{scenes[:10].tolist()}{' ...' if scenes.size > 10 else ''}, first at [{where}] = {first}:"
                         " replace them (e.g. np.nan_to_num(x, nan=floor, posinf=..., neginf=...)) or drop those "
                         f"{what[:-3]}s")


def _open_images(root: Path) -> DataSource:
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    direct = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if subdirs and direct:
        raise ValueError(f"{root} holds both images and sub-folders: put every image in a class sub-folder "
                         "(labelled) or all directly in the folder (unlabelled)")
    files, labels, classes = direct, None, ()
    if subdirs:
        files, lab = [], []
        for k, d in enumerate(subdirs):
            fs = sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not fs:
                raise ValueError(f"class folder {d} holds no PNG/JPEG/TIFF images: add images or remove it")
            files += fs
            lab += [k] * len(fs)
        labels, classes = np.asarray(lab, np.int64), tuple(d.name for d in subdirs)
    if not files:
        raise ValueError(f"{root} holds no PNG/JPEG/TIFF images (and no class sub-folders): put images "
                         f"({', '.join(IMAGE_SUFFIXES)}) in it, one sub-folder per class if labelled")
    first = _image_array(files[0])
    shape = (len(files),) + first.shape
    src = DataSource(root, "images", shape, str(first.dtype), labels=labels, classes=classes, _files=files)
    return src


def _image_array(f: Path) -> np.ndarray:
    """One image file -> (C, H, W), raw values (8-bit: 0..255, 16-bit: 0..65535, float TIFF unchanged)."""
    from PIL import Image
    try:
        with Image.open(f) as im:
            a = np.asarray(im.convert("RGB") if im.mode in ("P", "CMYK", "YCbCr", "LA", "PA") else im)
    except Exception as e:
        raise ValueError(f"image {f} cannot be read ({e}): re-save it as PNG or TIFF") from e
    return a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)


def _read_image(f: Path, shape) -> np.ndarray:
    a = _image_array(f)
    if a.shape != tuple(shape[1:]):
        raise ValueError(f"image {f} is {a.shape[0]} channel(s) of {a.shape[1]}x{a.shape[2]}, the first image "
                         f"was {shape[1]} of {shape[2]}x{shape[3]}: every image must share one size and mode")
    return a.astype(np.float32)


def fingerprint(path) -> dict:
    """What a model was trained on: path, size and sha256 of the content (full up to HASH_LIMIT; otherwise of the
    size and the first and last 16 MiB, marked partial); for an image folder, of every image's relative path and
    content (the same limit over the folder's total size). Cached per state of the file(s) (size, modification and
    change times, inode of each), so an image replaced in place, even with the same size and time stamp, is hashed
    again: a results store asks once per config."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise FileNotFoundError(f"data file {p} does not exist: give the path to a .npy, .npz or .h5 file or a "
                                "folder of images")
    return dict(_fingerprint(str(p), file_state(p)))


def file_state(path) -> tuple:
    """What any change of a file changes, without reading it (_state); of an image folder, (relative path,) +
    _state of every image."""
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        return tuple((str(f.relative_to(p)),) + _state(f) for f in _folder_images(p))
    return _state(p)


def _state(p: Path) -> tuple:
    """What any change of a file changes: size, modification time, inode, and the change time (ctime), which no
    tool can set back (a `cp -p` or `touch -r` over the file restores mtime, not ctime)."""
    st = p.stat()
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _folder_images(p: Path) -> list[Path]:
    return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


@functools.lru_cache(maxsize=64)
def _fingerprint(path: str, state: tuple) -> tuple:
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        total = sum(s[1] for s in state)
        for rel, size, *_ in state:
            h.update(f"{rel}:{size}\n".encode())
            if total <= HASH_LIMIT:
                h.update(hashlib.sha256((p / rel).read_bytes()).digest())
        how = "names and contents" if total <= HASH_LIMIT else "names and sizes (over 2 GiB)"
        return tuple(dict(path=str(p), files=len(state), sha256=h.hexdigest(), hash_of=how).items())
    size = state[0]
    with open(p, "rb") as fh:
        if size <= HASH_LIMIT:
            for block in iter(lambda: fh.read(2 ** 22), b""):
                h.update(block)
            how = "content"
        else:
            h.update(str(size).encode())
            h.update(fh.read(2 ** 24))
            fh.seek(size - 2 ** 24)
            h.update(fh.read(2 ** 24))
            how = "size and first/last 16 MiB"
    return tuple(dict(path=str(p), bytes=size, sha256=h.hexdigest(), hash_of=how).items())


# ------------------------------------------------------------------------------------------------------- tiling
@dataclass(frozen=True)
class TileSpec:
    """N x N tiles with corners every `stride` pixels (None: N, non-overlapping); edge "drop" | "shift"."""
    tile: int
    stride: int | None = None
    edge: str = "drop"
    mask_min_pixels: int = MASK_MIN_PIXELS

    def __post_init__(self):
        for name in ("tile", "stride", "mask_min_pixels"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"{name}={v!r}: need a positive integer")
        if self.edge not in ("drop", "shift"):
            raise ValueError(f"edge={self.edge!r}: use 'drop' (tiles crossing the edge are left out) or 'shift' "
                             "(one last tile ends on the edge)")

    @property
    def step(self) -> int:
        return self.stride or self.tile


def window_starts(size: int, spec: TileSpec) -> np.ndarray:
    """First indices of the tiles (windows) along one axis of `size`: every spec.step from 0; edge "shift" adds one
    ending on the edge. Needs spec.tile <= size."""
    n = spec.tile
    s = np.arange(0, size - n + 1, spec.step)
    if spec.edge == "shift" and s[-1] + n < size:
        s = np.append(s, size - n)
    return s


def tile_grid(height: int, width: int, spec: TileSpec, what: str = "the images") -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (rows (R,), cols (K,)) of the tiles of one H x W scene; tiles are row-major over them."""
    n = spec.tile
    if n > height or n > width:
        raise ValueError(f"tile {n}x{n} is larger than {what} ({height}x{width}): choose --tile <= "
                         f"{min(height, width)} (and a matching --encoder cnnN)")
    return window_starts(height, spec), window_starts(width, spec)


def grid_of(src: DataSource, spec: TileSpec) -> tuple[np.ndarray, ...]:
    """The tiles of one scene: (rows, cols) for images (tile_grid), (starts,) for signals (windows of spec.tile
    samples every spec.step)."""
    if src.dims == 2:
        try:
            return tile_grid(src.shape[2], src.shape[3], spec, f"the images of {src.path}")
        except ValueError as e:
            if src.shape[1] == 1 and src.kind != "images":     # a 3-D array: perhaps signals (n, C, L)
                raise ValueError(f"{e}; if the file holds signals (n, C, L), read it as such: a 1-D encoder "
                                 "(--encoder cnn1dN), or `idslab data --dims 1`") from None
            raise
    n, length = spec.tile, src.shape[2]
    if n > length:
        raise ValueError(f"windows of {n} samples are longer than the signals of {src.path} ({length}): choose "
                         f"--tile <= {length} (and a matching --encoder cnn1dN)")
    return (window_starts(length, spec),)


def cut_windows(x: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """(k, C, L) -> (k, S, C, n) windows of n samples at the given starts (one gather, no Python loop)."""
    k, c = x.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, n, axis=2)                   # (k, C, L-n+1, n)
    return np.ascontiguousarray(win[:, :, starts].transpose(0, 2, 1, 3))


def cut(src: DataSource, x: np.ndarray, grid: tuple, tile: int) -> np.ndarray:
    """Scenes x (k, C, ...) -> (k, T, C, ...) tiles or windows at the corners of grid (grid_of)."""
    return cut_tiles(x, *grid, tile) if src.dims == 2 else cut_windows(x, grid[0], tile)


def cut_tiles(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, tile: int) -> np.ndarray:
    """(k, C, H, W) -> (k, R*K, C, N, N) tiles at the given corners, row-major (one gather, no Python loop)."""
    k, c = x.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (tile, tile), axis=(2, 3))   # (k, C, H-N+1, W-N+1, N, N)
    t = win[:, :, rows[:, None], cols[None, :]]                                     # (k, C, R, K, N, N)
    return np.ascontiguousarray(t.transpose(0, 2, 3, 1, 4, 5).reshape(k, rows.size * cols.size, c, tile, tile))


def mask_labels(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, tile: int,
                min_pixels: int = MASK_MIN_PIXELS) -> np.ndarray:
    """The meteor data's tile rule on a per-pixel mask (k, H, W) -> (k, T) int8: 1 (positive) with >= min_pixels
    mask pixels in the tile, 0 (negative) with none, -1 (ambiguous: a sliver, excluded from every split) between.
    (The simulator also asks a positive tile's noise-free peak to be >= 10 dB; a measured mask carries no
    noise-free SNR, so here the pixel count alone decides.)"""
    counts = cut_tiles(mask[:, None].astype(np.int32), rows, cols, tile).sum((2, 3, 4))
    return np.where(counts >= min_pixels, 1, np.where(counts == 0, 0, -1)).astype(np.int8)


def _chunk_scenes(src: DataSource) -> int:
    per = 4 * int(np.prod(src.shape[1:]))
    return max(1, CHUNK_BYTES // per)


def tile_labels(src: DataSource, spec: TileSpec, scenes: np.ndarray | None = None) -> np.ndarray:
    """(n_scenes, T) int8 labels of every tile (-1: unlabelled or ambiguous); reads the mask only."""
    grid = grid_of(src, spec)
    scenes = np.arange(src.n) if scenes is None else np.asarray(scenes)
    t = int(np.prod([g.size for g in grid]))
    if src.labels is not None:
        return np.repeat(src.labels[scenes][:, None], t, 1).astype(np.int64)
    if src.mask is None:
        return np.full((scenes.size, t), -1, np.int64)
    step = max(1, CHUNK_BYTES // (4 * src.shape[2] * src.shape[3]))
    out = [mask_labels(src.read_mask(scenes[i:i + step]), *grid, spec.tile, spec.mask_min_pixels)
           for i in range(0, scenes.size, step)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, t), np.int64)


def read_tiles(src: DataSource, spec: TileSpec, scene: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Tiles (scene[i], pos[i]) -> (m, C, N, N) (signals: (m, C, N)) float32, reading each needed scene once, chunk
    by chunk, in the order given."""
    grid = grid_of(src, spec)
    scene, pos = np.asarray(scene, np.int64), np.asarray(pos, np.int64)
    out = np.empty((scene.size, src.shape[1]) + (spec.tile,) * src.dims, np.float32)
    uniq = np.unique(scene)
    step = _chunk_scenes(src)
    for i in range(0, uniq.size, step):
        block = uniq[i:i + step]
        tiles = cut(src, src.read(block), grid, spec.tile)                  # (b, T, C, N, N) or (b, T, C, N)
        sel = np.nonzero(np.isin(scene, block))[0]
        out[sel] = tiles[np.searchsorted(block, scene[sel]), pos[sel]]
    return out


def scene_chunks(src: DataSource) -> list[np.ndarray]:
    """The scenes (images or signals) iter_tiles reads at a time, in order: blocks of about CHUNK_BYTES of float32."""
    step = _chunk_scenes(src)
    return [np.arange(i, min(src.n, i + step)) for i in range(0, src.n, step)]


def chunk_tiles(src: DataSource, spec: TileSpec, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every tile of the scenes `block` (one of scene_chunks), read from the file now: (x, y, index) as iter_tiles
    yields them."""
    grid = grid_of(src, spec)
    corners = np.stack([g.ravel() for g in np.meshgrid(*grid, indexing="ij")], 1)   # (T, 2) or (T, 1)
    x = cut(src, src.read(block), grid, spec.tile)
    y = tile_labels(src, spec, block)
    index = np.concatenate([np.repeat(block, corners.shape[0])[:, None], np.tile(corners, (block.size, 1))], 1)
    return x.reshape((-1,) + x.shape[2:]), y.reshape(-1), index


def iter_tiles(src: DataSource, spec: TileSpec):
    """Every tile of every scene in order, chunk by chunk (scene_chunks): yields (x (m, C, N, N) float32, y (m,)
    int64 with -1 for unlabelled/ambiguous, index (m, 3) int64 = scene, top row, left column in pixels). Signals:
    x (m, C, N) windows and index (m, 2) = signal, first sample."""
    grid_of(src, spec)   # a tile larger than the scenes: the error before the first read
    for block in scene_chunks(src):
        yield chunk_tiles(src, spec, block)


# ------------------------------------------------------------------------------------------------------- splits
def scene_splits(n: int, labelled: bool, seed: int = 0, fractions=SPLIT_FRACTIONS, what: str = "the data",
                 strata: np.ndarray | None = None) -> list[np.ndarray]:
    """Scene indices of pretrain, probe_train, probe_test (disjoint; a seeded permutation cut by fractions).
    strata (n,): per-image labels, cut class by class so every split holds every class (>= 1 image each when a
    class has >= 3). Unlabelled: every scene is a pre-training scene."""
    if not labelled:
        return [np.arange(n), np.zeros(0, np.int64), np.zeros(0, np.int64)]
    if n < 3:
        raise ValueError(f"{what} has {n} image(s): labelled data needs >= 3 so that pre-training, probe-train and "
                         "probe-test come from different images (or drop the labels to pre-train only)")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    f = np.cumsum(np.asarray(fractions, float) / sum(fractions))[:2]
    groups = [np.arange(n)] if strata is None else [np.nonzero(strata == k)[0] for k in np.unique(strata)]
    parts = [[], [], []]
    for g in groups:
        perm = g[rng.permutation(g.size)]
        cuts = np.round(f * g.size).astype(int)
        if g.size >= 3:                                   # every split gets at least one image of this group
            cuts = np.clip(cuts, [1, 2], [g.size - 2, g.size - 1])
            cuts[1] = max(cuts[1], cuts[0] + 1)
        for k, part in enumerate(np.split(perm, cuts)):
            parts[k].append(part)
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def _choose(lab: np.ndarray, cap: int, balance: bool, labelled: bool, rng, n_classes: int = 2) -> np.ndarray:
    """Flat tile indices into lab (S, T): at most cap, uniformly; with balance, the same number of every class
    0..n_classes-1 (none at all when a class is missing: the caller reports it)."""
    flat = lab.ravel()
    if not labelled:
        pool = np.arange(flat.size)
        return np.sort(rng.choice(pool, min(cap, pool.size), replace=False))
    pools = [np.nonzero(flat == k)[0] for k in range(n_classes)]
    if not balance:
        pool = np.nonzero(flat >= 0)[0]
        return np.sort(rng.choice(pool, min(cap, pool.size), replace=False))
    per = min([p.size for p in pools] + [cap // max(1, len(pools))]) if pools else 0
    return np.sort(np.concatenate([rng.choice(p, per, replace=False) for p in pools])) if pools else \
        np.zeros(0, np.int64)


def load_file(path, tile: int | None = None, *, data_key: str | None = None, label_key: str | None = None,
              stride: int | None = None, edge: str = "drop", seed: int = 0, sizes=None, balance: bool = True,
              fractions=SPLIT_FRACTIONS, mask_min_pixels: int = MASK_MIN_PIXELS, dims: int | None = None,
              ivar_key: str | None = None):
    """An SSLData from a user's file (see the module docstring). tile None: the images' own size (square only), or
    the signals' length. dims: 1 signals, 2 images, None by the shape (open_data).
    ivar_key (--ivar-key): an array / HDF5 dataset of the same file and shape as the data holding each value's
    inverse variance (survey spectra carry one, e.g. SDSS's "ivar"; 0 = no data), cut into the same windows and
    kept as Split.ivar for the view 'reobserve'; must be finite and >= 0.
    sizes: an idslab.datasets.Sizes of at most this many tiles per split (default Sizes(): 4000 / 2000 / 600).
    meta has the file's fingerprint, tile rule, scenes per split, and the majority-class share of probe-test
    (the trivial baseline an accuracy must beat)."""
    from . import Split, SSLData, Sizes, SPLIT_NAMES
    sizes = sizes or Sizes()
    src = open_data(path, data_key, label_key, dims)
    isrc = None
    try:
        if ivar_key is not None:
            isrc = _open_ivar(path, ivar_key, src, dims)
        n, c = src.shape[:2]
        h, w = src.shape[2:] if src.dims == 2 else (1, src.shape[2])
        if tile is None:
            if h != w and src.dims == 2:
                raise ValueError(f"{src.path}: images are {h}x{w}: pass --tile N to cut N x N tiles")
            tile = w
        spec = TileSpec(tile, stride, edge, mask_min_pixels)
        grid = grid_of(src, spec)
        labelled = src.labelled
        scenes = scene_splits(n, labelled, seed, fractions, str(src.path), strata=src.labels)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 13, 1]))
        splits, info = {}, {}
        for name, sc in zip(SPLIT_NAMES, scenes):
            lab = tile_labels(src, spec, sc)                                  # (S, T)
            take = _choose(lab, getattr(sizes, name), balance, labelled, rng, len(src.classes))
            t = lab.shape[1]
            scene, pos = sc[take // t], take % t
            x = read_tiles(src, spec, scene, pos)
            y = lab.ravel()[take] if take.size else np.zeros(0, np.int64)
            perm = rng.permutation(take.size)                                 # no scene order within a split
            ivar = None
            if isrc is not None:
                ivar = read_tiles(isrc, spec, scene, pos)[perm]
                if not np.isfinite(ivar).all() or (ivar < 0).any():
                    raise ValueError(f"{src.path}: the inverse variance --ivar-key {ivar_key!r} holds negative or "
                                     "NaN/inf values: an inverse variance is >= 0 (0 where a bin has no data)")
                ivar = torch.from_numpy(np.ascontiguousarray(ivar))
            splits[name] = Split(torch.from_numpy(x[perm]), torch.from_numpy(np.asarray(y, np.int64)[perm]),
                                 ivar=ivar)
            info[name] = dict(scenes=int(sc.size), candidates=int((lab >= 0).sum()) if labelled else int(lab.size),
                              ambiguous=int((lab < 0).sum()) if src.mask is not None else 0)
        if labelled:
            for name in SPLIT_NAMES:
                if len(splits[name]) == 0:
                    raise ValueError(f"{src.path}: the {name} split ({info[name]['scenes']} images) got no "
                                     f"labelled tiles{' of some class' if balance else ''}: every class must occur "
                                     "in the images of every split: give more images"
                                     + (", or load with balance=False" if balance else ""))
        y_te = splits["probe_test"].y
        majority = float(torch.bincount(y_te).max()) / len(y_te) if len(y_te) else None
        unused = dict(rows=int(h - (grid[0][-1] + tile)), cols=int(w - (grid[1][-1] + tile))) if src.dims == 2 else \
            dict(samples=int(w - (grid[0][-1] + tile)))
        meta = dict(dataset="file", source=fingerprint(src.path), format=src.kind, data_key=src.data_key,
                    ivar_key=ivar_key,
                    label_key=src.label_key, file_shape=list(src.shape), file_dtype=src.dtype, labelled=labelled,
                    label_kind="mask" if src.mask is not None else (
                        ("per signal" if src.dims == 1 else "per image") if labelled else None), seed=seed,
                    tile=tile, stride=spec.step, edge=edge, dims=src.dims,
                    tiles_per_scene=int(np.prod([g.size for g in grid])),
                    unused_edge_pixels=unused, mask_min_pixels=mask_min_pixels if src.mask is not None else None,
                    balance=balance, sizes=vars(sizes), splits=info, majority_baseline=majority,
                    units="as stored in the file (float32; no rescaling)")
        return SSLData(f"file:{src.path.name}", tile, tuple(src.classes) or ("unlabelled",), meta=meta, **splits)
    finally:
        src.close()
        if isrc is not None:
            isrc.close()


def _open_ivar(path, ivar_key: str, src: DataSource, dims: int | None) -> DataSource:
    """The inverse-variance array `ivar_key` of the same .npz / HDF5 file, opened lazily like the data; ValueError
    unless its shape is the data's."""
    if src.kind not in ("npz", "hdf5"):
        raise ValueError(f"{src.path}: --ivar-key names an array beside the data, which only .npz and HDF5 files "
                         "hold: save x and ivar together (np.savez(path, x=x, ivar=ivar))")
    if ivar_key == src.data_key:
        raise ValueError(f"--ivar-key {ivar_key!r} is the data array itself: name the inverse-variance array")
    try:
        isrc = open_data(path, ivar_key, None, dims)
    except ValueError as e:                     # its messages name --data-key: here the key came from --ivar-key
        raise ValueError(str(e).replace("--data-key", "--ivar-key")) from e
    if tuple(isrc.shape) != tuple(src.shape):
        isrc.close()
        raise ValueError(f"{src.path}: the inverse variance --ivar-key {ivar_key!r} has shape {tuple(isrc.shape)}, "
                         f"the data {src.data_key!r} {tuple(src.shape)}: they must match value for value")
    return isrc


def describe(path, tile: int | None = None, **kw) -> dict:
    """`idslab data PATH --json`: the file (format, shape, dtype), the tile rule, and summary() of the splits."""
    from . import summary
    return summary(load_file(path, tile, **kw))


def write_hdf5(path, x: np.ndarray, y: np.ndarray | None = None, data_key: str = "x", label_key: str = "y",
               classes=None, chunk_scenes: int = 1) -> None:
    """Save arrays as an HDF5 file that load_file reads lazily (chunked one scene per chunk, gzip-free so a read
    is a copy). Atomic: written to a temporary name, then renamed."""
    import h5py
    from ..atomic import remove_stale_temps, temp_name
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)                    # a killed earlier write's leftover (idslab.atomic's naming)
    tmp = path.with_name(temp_name(path, "h5"))
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(data_key, data=x, chunks=(chunk_scenes,) + tuple(x.shape[1:]))
            if y is not None:
                d = f.create_dataset(label_key, data=y, chunks=(chunk_scenes,) + tuple(y.shape[1:]) if y.ndim > 1
                                     else None)
                if classes:
                    d.attrs["classes"] = [str(c) for c in classes]
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_meteor_example(path, n_scenes: int = 16, seed: int = 0) -> Path:
    """The worked example of docs/DATA.md "Your own data": n simulated 512 x 512 meteor scenes (calibrated SNR dB,
    datasets.meteor.simulate_scenes) with their per-pixel head-echo masks, as the HDF5 datasets 'x' (n, 512, 512)
    float32 and 'mask' (n, 512, 512) bool: a file like one a radar group could have. Returns the path."""
    from .meteor import simulate_scenes
    x, mask, _ = simulate_scenes(n_scenes, seed=seed)
    write_hdf5(path, x, mask, label_key="mask")
    return Path(path)
