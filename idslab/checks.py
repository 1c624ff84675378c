"""Input checks shared by the user-facing entry points (TrainConfig, the CLI, load_checkpoint, the results store).

The package-wide rule (docs/DESIGN.md "Bad input"): every entry point validates its inputs before doing any work and
raises ValueError / FileNotFoundError naming the input and the fix. These helpers build those messages, so every
entry point words them the same way: "<name> must be <rule>, got <value>: <fix>".

Nothing here imports from the rest of idslab but idslab.atomic (both sit at the top of the data flow).
"""
from __future__ import annotations

import math
import numbers
import os
import tempfile
from pathlib import Path

from .atomic import fallback_path  # noqa: F401 (re-exported: the entry points import it from here)


def flag(name: str) -> str:
    """'knn_k' -> 'knn_k (--knn-k)': the config field and its CLI flag, so one message serves both audiences."""
    return f"{name} (--{name.replace('_', '-')})"


def is_int(value) -> bool:
    """A whole number that is not a bool (True would silently be 1 epoch) and not a float (2.5 epochs)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name: str, value, lo: int | None = None, hi: int | None = None, fix: str = "") -> int:
    """value as an int, or ValueError: not a whole number, or outside [lo, hi]."""
    if not is_int(value):
        raise ValueError(f"{flag(name)} must be a whole number, got {value!r} ({type(value).__name__})"
                         + (f": {fix}" if fix else ""))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}" if lo is not None else f"<= {hi}"
        raise ValueError(f"{flag(name)} must be {rng}, got {value}" + (f": {fix}" if fix else ""))
    return int(value)


def check_float(name: str, value, lo: float | None = None, above: bool = False, hi: float | None = None,
                fix: str = "") -> float:
    """value as a finite float, or ValueError. lo: the smallest allowed value (excluded when above=True)."""
    if not is_real(value):
        raise ValueError(f"{flag(name)} must be a number, got {value!r} ({type(value).__name__})"
                         + (f": {fix}" if fix else ""))
    v = float(value)
    bad = not math.isfinite(v) or (lo is not None and (v <= lo if above else v < lo)) or (hi is not None and v > hi)
    if bad:
        rule = "a finite number" + (f" {'>' if above else '>='} {lo:g}" if lo is not None else "") \
            + (f" and <= {hi:g}" if hi is not None else "")
        raise ValueError(f"{flag(name)} must be {rule}, got {value!r}" + (f": {fix}" if fix else ""))
    return v


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {flag(name)} {value!r}: choose one of {', '.join(map(str, choices))}")
    return value


def check_path_arg(name: str, value, optional: bool = True) -> None:
    """A path-valued field: None (if optional), or a non-empty str / PathLike."""
    if value is None and optional:
        return
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ValueError(f"{flag(name)} must be a non-empty path, got {value!r}")


def check_writable(path: str | os.PathLike, what: str) -> Path:
    """Fail now, not after an hour of training, if file `path` cannot be written: it is a folder or a device, a
    parent is a file, or the nearest existing folder refuses a new file. Creates nothing that stays behind (missing
    parent folders are made later by the writer). `what` names the input, e.g. '--out'."""
    if path is None or not str(path).strip():
        raise ValueError(f"{what}: empty path: give a file name, e.g. {what} run.json")
    p = Path(path)
    _check_name_lengths(p, what)
    if p.is_dir():
        raise ValueError(f"{what} {p} is a folder: give a file name inside it, e.g. {what} {p / 'run.json'}")
    if p.exists() and not p.is_file():  # a device or pipe: the atomic rename would replace it (as root: /dev/null)
        raise ValueError(f"{what} {p} is not a regular file: give a file path")
    _probe_write(_nearest_folder(p.parent, p, what), p, what)
    return p


def check_folder(path: str | os.PathLike, what: str, write: bool = True) -> Path:
    """A folder argument: not a file, no file among its parents, and (write=True) the nearest existing folder takes
    a new file. Creates nothing that stays behind. `what` names the input, e.g. '--results'."""
    if path is None or not str(path).strip():
        raise ValueError(f"{what}: empty path: give a folder")
    p = Path(path)
    _check_name_lengths(p, what)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{what} {p} is a file, not a folder: choose another path")
    folder = _nearest_folder(p, p, what)
    if write:
        _probe_write(folder, p, what)
    return p


def _check_name_lengths(p: Path, what: str) -> None:
    """ValueError for a path part longer than the file system takes (NAME_MAX, 255 bytes on most), before any work:
    otherwise the write after training fails, and the temp-folder fallback, which keeps the name, fails with it."""
    limit = 255
    try:
        limit = os.pathconf(_nearest_folder(p.parent, p, what), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        pass
    for part in p.parts:
        n = len(os.fsencode(part))
        if n > limit:
            raise ValueError(f"{what} {str(p)[:60]}...: the name {part[:30]}... is {n} bytes, longer than the {limit} "
                             "this file system allows: choose a shorter name")


def _nearest_folder(start: Path, p: Path, what: str) -> Path:
    """The nearest existing ancestor of start (itself included); ValueError if it is a file."""
    parent = start
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{what} {p}: {parent} is a file, not a folder: choose another path")
    return parent


def _probe_write(folder: Path, p: Path, what: str) -> None:
    try:  # the only reliable test (os.access says yes to root on a read-only mount)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".idslab-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{what} {p}: cannot write in {folder} ({e.strerror or e}): choose a writable folder")
