"""Atomic file writes: a crash (or a reader) never sees half a file. Used for data caches, run records and checkpoints.

A leaf module (standard library only), so every layer of the package can write files safely without importing a
layer it does not belong to.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, *chunks: bytes) -> Path:
    """Write bytes to path atomically: a temporary file in the same folder, fsync'ed, then os.replace'd over path
    (atomic on POSIX), so a reader or a crash sees the old file or the new one, never half of one."""
    path = Path(path)
    if path.exists() and not path.is_file():  # os.replace would swap a folder or a device (/dev/null!) for a file
        raise ValueError(f"{path} exists and is not a regular file: give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        # mkstemp makes the file 0600 and the rename keeps that: give it the mode a plain open() would (0666 & ~umask)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask (read by setting and restoring it: the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write obj as indented JSON, atomically: a crash never leaves half a record. NaN/inf are refused (bare
    NaN/Infinity is not JSON; most readers reject it): ValueError naming the path."""
    try:
        text = json.dumps(obj, indent=2, allow_nan=False)
    except ValueError as e:
        raise ValueError(f"refusing to write {path}: the record holds NaN or infinity ({e}), which is not valid JSON"
                         ) from e
    return atomic_write(path, text.encode())
