"""A small verified, atomic file cache for generated or decoded data sets under data/.

File layout: an ASCII header line ``IDSLAB-CACHE v1 <sha256 of payload> <payload bytes>\\n`` followed by the payload
(``torch.save`` of a dict of tensors and JSON-able values). Writes go through idslab.atomic.atomic_write (a temporary
file in the same directory, fsync'ed, then os.replace'd over the target), so a crash never leaves half a cache.
Reads check the header, the length and the checksum: a truncated or garbled file raises CacheError, which the
callers turn into "regenerate with a warning".
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import torch

from ..atomic import atomic_write, write_fix

MAGIC = b"IDSLAB-CACHE v1"


class CacheError(Exception):
    """The cache file is missing, truncated, corrupt or of another format."""


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $IDSLAB_DATA, else ./data. ValueError when $IDSLAB_DATA is set but empty
    or names a file (a typo there would otherwise scatter caches into ./data or fail deep inside a write)."""
    if path is not None:
        return Path(path)
    env = env_path("IDSLAB_DATA", "the data cache folder")
    if env is not None and env.exists() and not env.is_dir():
        raise ValueError(f"$IDSLAB_DATA={os.environ['IDSLAB_DATA']} is a file, not a folder: point it at a folder for "
                         "the data cache, or unset it (then ./data is used)")
    return env if env is not None else Path("data")


def env_path(name: str, what: str) -> Path | None:
    """The path in environment variable `name` (~ expanded), None when unset; ValueError when set but empty (most
    often `export NAME=$UNSET_VARIABLE`)."""
    value = os.environ.get(name)
    if value is None:
        return None
    if not value.strip():
        raise ValueError(f"${name} is set but empty: set it to {what}, or unset it (`unset {name}`)")
    return Path(value).expanduser()


def cache_key(obj) -> str:
    """sha256 of the canonical JSON of obj (parameters, sizes, seed, tile, simulator version): 16 hex chars."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(path: str | os.PathLike, obj: dict) -> Path:
    """Atomically write obj (tensors, numbers, strings, lists, dicts) to path with a checksum header."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getbuffer()
    header = b"%s %s %d\n" % (MAGIC, hashlib.sha256(payload).hexdigest().encode(), len(payload))
    return atomic_write(path, header, payload)


def save_or_warn(path: str | os.PathLike, obj: dict) -> Path | None:
    """save(), but a cache that cannot be written (read-only or full disk, a file where the folder should be) costs
    only a warning: the data just generated is still returned to the caller instead of being lost."""
    try:
        return save(path, obj)
    except (OSError, ValueError) as e:
        fix = write_fix(e, path, "--data-dir / $IDSLAB_DATA") if isinstance(e, OSError) \
            else "point --data-dir / $IDSLAB_DATA at a writable folder"
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        warnings.warn(f"could not write the data cache {path} ({reason}); using the data uncached (it will be built "
                      f"again next time): {fix}", stacklevel=2)
        return None


def load(path: str | os.PathLike) -> dict:
    """Read and verify a cache file; raises CacheError when it is missing or does not check out."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise CacheError(f"{path}: no cache file") from e
    except OSError as e:  # a folder in its place, no read permission
        raise CacheError(f"{path}: unreadable ({e.strerror or e})") from e
    nl = raw.find(b"\n", 0, 200)
    head, payload = raw[:max(nl, 0)], memoryview(raw)[nl + 1:]        # a view: no copy of a 1 GB payload
    parts = head.split(b" ")
    if nl < 0 or len(parts) != 4 or b" ".join(parts[:2]) != MAGIC:
        raise CacheError(f"{path}: not an idslab cache file (bad header)")
    digest, size = parts[2].decode(errors="replace"), parts[3]
    if not size.isdigit() or int(size) != len(payload):
        raise CacheError(f"{path}: truncated or padded ({len(payload)} payload bytes, header says {size.decode()})")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CacheError(f"{path}: checksum mismatch (corrupt file)")
    try:
        return torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as e:  # a checksum collision is not a realistic case, a foreign pickle is
        raise CacheError(f"{path}: unreadable payload ({e})") from e
