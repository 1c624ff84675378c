"""Embeddings out: the frozen 32-d representation h of every tile of a file, for use outside idslab.

    emb = idslab.embed("m.pt", "scenes.h5", data_key="x", label_key="mask")   # or a model, or an array
    emb.h        # (n_tiles, 32) float32: encoder output h, eval mode (s_l = 0, paper Sec. 4.1), projector dropped
    emb.y        # (n_tiles,) int64 labels, -1 where unlabelled or ambiguous
    emb.index    # (n_tiles, 3) int64: scene (image) index, top row, left column of the tile in pixels;
                 # signals (a 1-D encoder): (n_windows, 2): signal index, first sample of the window
    save_embeddings("h.npz", emb)   # .npy: h only; .npz: h, y, index, classes, meta (JSON)

The input standardisation is the model's own (Encoder.in_mean / in_std, fitted on its pre-training split and saved
in the checkpoint): new data is embedded with the same numbers, never re-standardised. Tiles are read scene chunk by
scene chunk (datasets.arrays.iter_tiles) and embedded in batches on the device, so a file larger than memory works.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .datasets.arrays import DataSource, TileSpec, chunk_tiles, file_state, fingerprint, open_data, scene_chunks
from .atomic import atomic_write, write_json, write_or_fallback
from .encoders import ENCODERS_1D, ENCODERS_2D, Encoder, SimCLRModel, encoder_tile
from .train import load_checkpoint, resolve_device

SUFFIXES = (".npy", ".npz")


@dataclass
class Embeddings:
    h: np.ndarray          # (n, 32) float32
    y: np.ndarray          # (n,) int64; -1: no label (unlabelled file, or an ambiguous tile of a mask)
    index: np.ndarray      # (n, 3) int64: scene, top row, left column (pixels); signals (n, 2): signal, first sample
    classes: tuple = ()
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.h.shape[0])


def _encoder(model, device) -> tuple[Encoder, dict]:
    info = {}
    if isinstance(model, (str, os.PathLike)):
        info = dict(model=str(model))
        model, cfg, _ = load_checkpoint(model, device="cpu")
        info["trained_config"] = cfg.to_dict()
    if isinstance(model, SimCLRModel):
        model = model.encoder
    if not isinstance(model, Encoder):
        raise ValueError(f"model must be a checkpoint path, a SimCLRModel or an Encoder, got {type(model).__name__}")
    return model.to(device).eval(), info


def _source(data, data_key, label_key, dims: int | None) -> DataSource:
    if isinstance(data, (str, os.PathLike)):
        return open_data(data, data_key, label_key, dims)
    from .datasets.arrays import _make
    x = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    return _make(Path("<array>"), "array", x, None, None, None, dims=dims)


_KIND = {1: "signals (1-D)", 2: "images (2-D)"}


def _channels(c: int) -> str:
    return f"{c} channel{'' if c == 1 else 's'}"


def _holds(src: DataSource) -> str:
    """What a source holds, in words: '40 images of 16x48, 1 channel' or '40 signals of 200 samples, 2 channels'."""
    if src.dims == 1:
        return f"{src.n} signals of {src.shape[2]} samples, {_channels(src.shape[1])}"
    also = f" (or, read as (n, C, L), signals of {_channels(src.shape[2])})" if src.three_d else ""
    return f"{src.n} images of {src.shape[2]}x{src.shape[3]}, {_channels(src.shape[1])}{also}"


def _cnns(dims: int) -> dict[int, str]:
    """{input size: name} of the CNNs of `dims` (1: signals, 2: images)."""
    return {encoder_tile(e): e for e in (ENCODERS_1D if dims == 1 else ENCODERS_2D) if e.startswith("cnn")}


def _train_hint(src: DataSource, dims: int) -> str:
    """The `idslab train` command that makes a model for this data read as `dims` (1: signals, 2: images): the
    largest CNN whose input fits it."""
    size = src.shape[-1] if dims == 1 else min(src.shape[2:]) if src.dims == 2 else None   # a 3-D array: (n, C, L)
    fits = [t for t in _cnns(dims) if size is not None and t <= size]
    encoder, tile = (_cnns(dims)[max(fits)], max(fits)) if fits else ("cnn1dN" if dims == 1 else "cnnN", "N")
    what = src.path if src.kind != "array" else "FILE"
    return f"`idslab train --data {what} --encoder {encoder} --tile {tile} --save-model m.pt`"


def _source_for(enc: Encoder, data, data_key, label_key) -> DataSource:
    """`data` read the way the model reads it: signals for a 1-D encoder, images for a 2-D one, with its channels.
    ValueError before any work: naming both kinds when the file holds the other kind (a 1-D model given images,
    or the reverse), else both channel counts."""
    dims, channels = enc.dims, enc.in_mean.numel()
    try:
        src, err = _source(data, data_key, label_key, dims), None
    except ValueError as e:
        src, err = None, e
    if src is not None and src.shape[1] == channels:
        return src
    if src is not None:
        src.close()
    try:   # what the file holds, by its shape alone (a 3-D array reads as images)
        with _source(data, data_key, label_key, None) as natural:
            if natural.dims != dims:
                noun = "signals (n, L) or (n, C, L)" if dims == 1 else "images (n, H, W) or (n, C, H, W)"
                err = ValueError(
                    f"this model ({enc.name}) takes {_KIND[dims]} of {_channels(channels)}, and {natural.path} "
                    f"holds {_KIND[natural.dims]}: {_holds(natural)}: embed {noun} with it, or train a model on this"
                    f" file ({_train_hint(natural, natural.dims)}) and embed with that")
    except ValueError:
        pass
    raise err or ValueError(f"{src.path} has {src.shape[1]} channel(s) but the model was trained on {channels}: "
                            f"embed data of the kind it was trained on ({_KIND[dims]}, {_channels(channels)})")


def _check_tile(enc: Encoder, src: DataSource, tile: int) -> None:
    """ValueError before any work unless the model's input fits the data: a CNN takes its own tile (window) only;
    a tile larger than the images (longer than the signals) advises what embed and train accept."""
    dims, name = enc.dims, enc.name
    unit = f"windows of {enc.tile} samples" if dims == 1 else f"{enc.tile}x{enc.tile} tiles"
    if name.startswith("cnn") and tile != enc.tile:
        raise ValueError(f"the model ({name}) takes {unit}, asked for tile={tile}: use --tile {enc.tile}")
    size = min(src.shape[2:])
    if tile <= size:
        return
    have = f"the signals of {src.path} ({size} samples)" if dims == 1 else \
        f"the images of {src.path} ({src.shape[2]}x{src.shape[3]})"
    if not name.startswith("cnn"):   # a ResNet takes any tile of at least 32 pixels
        fix = f"use --tile {size}" if size >= 32 else "embed images of at least 32x32 pixels"
        raise ValueError(f"tiles of {tile}x{tile} are larger than {have}: {fix}")
    cnns = _cnns(dims)
    fix = (f"embed {'longer signals' if dims == 1 else 'larger images'} with it, or train a model on this size "
           f"({_train_hint(src, dims)}) and embed with that" if min(cnns) <= size else
           f"pad them to {min(cnns)} or more: no idslab encoder takes smaller inputs (the smallest is "
           f"{cnns[min(cnns)]})")
    also = (f"; if the file holds signals (n, C, L), embed them with a 1-D model ({_train_hint(src, 1)})"
            if dims == 2 and src.three_d else "")
    raise ValueError(f"the model ({name}) takes {unit}, {'longer' if dims == 1 else 'larger'} than {have}: "
                     f"{fix}{also}")


def _model_hash(enc: Encoder) -> str:
    """sha256 of the encoder's weights and buffers (input standardisation included): another model, another hash."""
    h = hashlib.sha256()
    for name, t in enc.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _input_key(data, src: DataSource) -> object:
    """What identifies the input without reading it: a file's path and state (size, mtime, ctime, inode; per image
    of a folder), or an array's content hash."""
    if src.kind == "array":
        x = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
    return [str(Path(src.path).resolve()), file_state(src.path)]


class _Partial:
    """`<out>.partial/`: the finished chunks of an embed to `out`, written as each is embedded (chunk_<k>.npz: h, y,
    index; atomic), under key.json, what they were made with (model hash, input state, keys, tiling, chunking). A
    rerun with the same key resumes from them; another key starts again, with a warning."""

    def __init__(self, out, key: dict):
        self.dir = Path(str(out) + ".partial")
        key = json.loads(json.dumps(key))         # the key as key.json reads back (tuples -> lists)
        try:
            kept = json.loads((self.dir / "key.json").read_text())
        except (OSError, ValueError):
            kept = None
        if kept != key:
            if self._files():
                warnings.warn(f"{self.dir} holds the chunks of another embedding (another model, input file or "
                              "tiling): starting again", stacklevel=3)
            self.remove()
            write_json(self.dir / "key.json", key)

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("chunk_*.npz")) if self.dir.is_dir() else []

    def path(self, k: int) -> Path:
        return self.dir / f"chunk_{k:06d}.npz"

    def load(self, k: int):
        """(h, y, index) of chunk k, or None if it is not finished (or unreadable: it is embedded again)."""
        try:
            with np.load(self.path(k)) as z:
                return z["h"], z["y"], z["index"]
        except (OSError, ValueError, KeyError):
            return None

    def save(self, k: int, part) -> None:
        buf = io.BytesIO()
        np.savez(buf, h=part[0], y=part[1], index=part[2])
        atomic_write(self.path(k), buf.getbuffer())

    def remove(self) -> None:
        """Remove the chunks and key.json (only what embed writes), then the folder if that left it empty."""
        for f in self._files() + [self.dir / "key.json"]:
            f.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass


@torch.no_grad()
def embed(model, data, *, tile: int | None = None, data_key: str | None = None, label_key: str | None = None,
          stride: int | None = None, edge: str = "drop", batch_size: int = 1024, device: str = "auto",
          out: str | os.PathLike | None = None, progress=None) -> Embeddings:
    """h of every tile of `data` under a frozen encoder (s_l = 0), read and embedded chunk by chunk of scenes
    (datasets.arrays.scene_chunks, about 64 MiB each), so a file larger than memory works.

    model: a checkpoint path (train --save-model), a SimCLRModel or an Encoder. data: a path (.npy, .npz, HDF5,
    CSV, image folder) or an array (n, H, W) / (n, C, H, W); for a 1-D encoder signals (n, L) / (n, C, L), cut into
    windows. tile: default the encoder's own input size; stride/edge: the tiling rule of datasets.arrays.TileSpec.
    out: also write .npy / .npz (save_embeddings), atomically at the end (a failing path: the temp folder, with a
    warning; meta["written_to"] says where and meta["write_note"] why); meanwhile each finished chunk is kept in
    `<out>.partial/`, so a cut run called again with the same model, input, keys and tiling resumes after its last
    finished chunk (a changed one starts again, with a warning); the folder is removed once `out` is written.
    progress(done, total, tiles, seconds): chunks finished of total (resumed ones included), and the tiles this
    call embedded in its seconds so far; called before the first chunk is read and after each chunk.
    Raises ValueError before any work when the data's kind (signals or images), channels or size do not fit the
    model.
    """
    if out is not None and Path(out).suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out {out}: write .npy (h only) or .npz (h, labels, tile indices)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    enc, info = _encoder(model, dev)
    tile = tile or info.get("trained_config", {}).get("tile") or enc.tile
    src = _source_for(enc, data, data_key, label_key)
    try:
        _check_tile(enc, src, tile)
        spec = TileSpec(tile, stride, edge)
        blocks = scene_chunks(src)
        partial = None if out is None else _Partial(out, dict(
            model=_model_hash(enc), data=_input_key(data, src), data_key=src.data_key, label_key=src.label_key,
            dims=enc.dims, tile=tile, stride=spec.step, edge=edge, chunk_scenes=len(blocks[0]), chunks=len(blocks)))
        parts = [partial.load(k) if partial is not None else None for k in range(len(blocks))]
        done, tiles, t0 = sum(p is not None for p in parts), 0, time.perf_counter()
        if progress is not None:
            progress(done, len(blocks), 0, 0.0)
        for k, block in enumerate(blocks):
            if parts[k] is not None:
                continue
            x, y, index = chunk_tiles(src, spec, block)
            h = torch.cat([enc(xb.to(dev, non_blocking=True)).float().cpu()
                           for xb in torch.from_numpy(x).split(batch_size)]).numpy()
            check_finite_embeddings(h, info.get("model", enc.name))   # before it is kept: never a NaN chunk
            parts[k] = (h, y.astype(np.int64), index.astype(np.int64))
            if partial is not None:
                partial.save(k, parts[k])
            done, tiles = done + 1, tiles + len(h)
            if progress is not None:
                progress(done, len(blocks), tiles, time.perf_counter() - t0)
        h, y, index = (np.concatenate(a) for a in zip(*parts))
        meta = dict(info, data=fingerprint(src.path) if src.kind != "array" else dict(path="<array>"),
                    data_key=src.data_key, label_key=src.label_key, tile=tile, stride=spec.step, edge=edge,
                    file_shape=list(src.shape), dims=enc.dims, encoder=enc.name, device=str(dev),
                    in_mean=enc.in_mean.cpu().tolist(), in_std=enc.in_std.cpu().tolist(),
                    seconds=round(time.perf_counter() - t0, 3))
        emb = Embeddings(h, y, index, tuple(src.classes), meta)
    finally:
        src.close()
    if out is not None:   # a failing path (full disk) sends them to the temp folder, with a warning saying where
        written, problem = write_or_fallback(out, lambda p: save_embeddings(p, emb), "embeddings")
        partial.remove()
        emb.meta["written_to"] = str(written)
        if problem is not None:
            emb.meta["write_note"] = str(problem)
            warnings.warn(str(problem), stacklevel=2)
    return emb


def check_finite_embeddings(h: np.ndarray, model) -> None:
    """FloatingPointError if some h (n, 32) is NaN/inf: never written, never returned. The input was checked finite
    as it was read (datasets.arrays), so the model is at fault: a diverged one (saved by an older idslab) or one
    whose finite but huge weights overflow on this data."""
    bad = ~np.isfinite(h).all(1)
    if bad.any():
        raise FloatingPointError(f"the model {model} maps {int(bad.sum())} of {len(h)} tiles to NaN/inf embeddings "
                                 "(its training diverged, or its weights overflow on this data): nothing was written;"
                                 " retrain it with a lower learning rate (--lr) and check the data's value range")


def save_embeddings(path: str | os.PathLike, emb: Embeddings) -> None:
    """.npy: h (n, 32) only. .npz: h, y, index (scene, row, col), classes, meta (a JSON string). Atomic."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: write .npy (h only) or .npz (h, labels, tile indices)")
    buf = io.BytesIO()
    if suffix == ".npy":
        np.save(buf, emb.h)
    else:
        np.savez(buf, h=emb.h, y=emb.y, index=emb.index, classes=np.asarray(emb.classes, dtype=str),
                 meta=np.asarray(json.dumps(emb.meta)))
    atomic_write(path, buf.getbuffer())


# ------------------------------------------------------------------------------- notebook 03: train, look, export
@dataclass
class Trained:
    """One condition or control on a user's data: the model, its probes, and h of one split for plots (probe-test
    when the data is labelled, else pre-training). Controls (role "control"): "floor", the untrained encoder probed
    the same way, and "trivial", a logistic regression on tile statistics (no model: result and h are None)."""
    cfg: object            # TrainConfig
    result: object         # train.Pretrained (None for "trivial")
    metrics: dict | None   # probes.evaluate() or None (no labels); trivial: {"mlp_acc", "mlp_ci"}
    h: np.ndarray | None   # (n, 32)
    y: np.ndarray | None   # (n,) int64, -1 = unlabelled
    role: str = "condition"
    label: str = ""        # the views string, "floor" or "trivial"


class RunRef(NamedTuple):
    """Which run a live callback is about: the fields of experiments.RunRef (which sits below this module)."""
    index: int
    total: int
    label: str
    cfg: object


def _data_key(data) -> str:
    """What identifies a user's data set for `keep`: its meta (source file, fingerprint, keys, tiling) and tile."""
    blob = json.dumps({"meta": data.meta, "tile": data.tile, "n": [len(data.pretrain.y), len(data.probe_train.y),
                                                                    len(data.probe_test.y)]},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _keep_key(data, label: str, cfg) -> tuple:
    return _data_key(data), label, json.dumps(cfg.to_dict(), sort_keys=True, default=str)


def planned_runs(cfgs, data, controls: bool = True, keep: dict | None = None) -> list[tuple]:
    """The runs of pretrain_and_embed in order: (label, role, config, already in keep)."""
    cfgs = list(cfgs)
    runs = [(c.views, "condition", c) for c in cfgs]
    if controls and len(data.probe_test.y) and cfgs:
        runs.append(("floor", "control", dataclasses.replace(cfgs[0], views="none", epochs=0)))
        runs.append(("trivial", "control", cfgs[0]))
    return [(label, role, cfg, _keep_key(data, label, cfg) in (keep or {})) for label, role, cfg in runs]


def pretrain_and_embed(cfgs, data, progress=None, on_step=None, on_epoch=None, controls: bool = True,
                       keep: dict | None = None) -> dict[str, Trained]:
    """Pre-train each config on the same data (train.pretrain), probe it when the data has labels, and embed one
    split; with `controls` (and labels) also the random-init floor (the first config with epochs = 0) and the trivial
    baseline (idslab.baselines.trivial_baseline). Returns {label: Trained}: the configs under their views strings,
    then "floor" and "trivial".

    progress(done, total, record): after each run, record = {"label", "reused", "monitor"} (the
    idslab.live convention of experiments.compare); on_step(run, done, total, loss) and on_epoch(run, entry) with a
    RunRef. keep: a dict that holds finished runs (by data and config): a stopped call keeps what finished there,
    and the same call with the same dict reuses it.
    """
    from . import baselines
    from .probes import embed as embed_tensor, evaluate
    from .train import pretrain, probe_config
    labelled = len(data.probe_test.y) > 0
    split = data.probe_test if labelled else data.pretrain
    keep = keep if keep is not None else {}
    runs = planned_runs(cfgs, data, controls, keep)
    out = {}
    if progress is not None:
        progress(0, len(runs), None)
    for i, (label, role, cfg, _) in enumerate(runs):
        key = _keep_key(data, label, cfg)
        reused = key in keep
        if not reused:
            ref = RunRef(i, len(runs), label, cfg if label != "trivial" else None)   # as experiments.RunRef
            if on_step is not None:
                on_step(ref, 0, cfg.epochs * (len(data.pretrain.y) // cfg.batch_size) if label != "trivial" else 0,
                        None)
            if label == "trivial":
                res = baselines.trivial_baseline(data, seed=cfg.seed)
                t = Trained(cfg, None, {"mlp_acc": res["acc"], "mlp_ci": list(res["ci"])}, None, None, role, label)
            else:
                live = {}
                if on_step is not None:
                    live["progress"] = lambda d, tot, loss, ref=ref: on_step(ref, d, tot, loss)
                if on_epoch is not None:
                    live["on_epoch"] = lambda entry, ref=ref: on_epoch(ref, entry)
                result = pretrain(cfg, data, **live)
                metrics = evaluate(result.model.encoder, data, probe_config(cfg)) if labelled else None
                h = embed_tensor(result.model.encoder, split.x).cpu().numpy()
                t = Trained(cfg, result, metrics, h, split.y.numpy().astype(np.int64), role, label)
            keep[key] = t
        out[label] = keep[key]
        if progress is not None:
            r = out[label].result
            progress(i + 1, len(runs), {"label": label, "reused": reused,
                                        "monitor": list(getattr(r, "monitor", None) or [])})
    return out


def export(trained: dict, data, out_dir) -> dict[str, dict[str, Path]]:
    """For each condition: its model (train.save_checkpoint, with the data fingerprint and input standardisation)
    and the embeddings of every tile of the data's file (.npz with labels and tile indices), in out_dir.
    Returns {views: {"model": path, "embeddings": path}}."""
    from .train import save_checkpoint
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    m = data.meta
    paths = {}
    for views, t in ((v, t) for v, t in trained.items() if t.role == "condition"):
        stem = views.replace("+", "_")
        model_path, emb_path = out_dir / f"model_{stem}.pt", out_dir / f"embeddings_{stem}.npz"
        save_checkpoint(model_path, t.result, t.cfg, data)
        embed(t.result.model, m["source"]["path"], tile=data.tile, data_key=m.get("data_key"),
              label_key=m.get("label_key"), stride=m.get("stride"), edge=m.get("edge", "drop"), out=emb_path,
              device=str(next(t.result.model.parameters()).device))
        paths[views] = dict(model=model_path, embeddings=emb_path)
    return paths
