"""Atomic file writes: a crash (or a reader) never sees half a file. Used for data caches, run records and checkpoints.

A leaf module (standard library only), so every layer of the package can write files safely without importing a
layer it does not belong to. Three guarantees (docs/RELIABILITY.md):
- a reader or a crash sees the old file or the new one, never half of one (temporary file, fsync, rename);
- a temporary file left by a killed write (SIGKILL, power loss) is removed by the next write to the same place;
- a finished result whose own path fails (full disk, folder gone) goes to the temp folder instead
  (write_or_fallback), and every message names the path and the fix.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable

# A temporary file is named <target name>.<host>-<pid>.<random>.tmp, so the next writer can tell a dead writer's
# leftover (same host, process gone) from a live one's file in progress.
_TMP_SUFFIX = ".tmp"
STALE_UNTAGGED_S = 600       # a temporary file without an owner tag (older idslab) older than this is a leftover
STALE_ANY_S = 86_400         # any temporary file older than a day is a leftover (another host's, or a reused pid)


def _host() -> str:
    return socket.gethostname().replace(".", "_").replace("-", "_") or "host"


def atomic_write(path: str | os.PathLike, *chunks: bytes) -> Path:
    """Write bytes to path atomically: a temporary file in the same folder, fsync'ed, then os.replace'd over path
    (atomic on POSIX), so a reader or a crash sees the old file or the new one, never half of one. Leftover
    temporary files of earlier killed writes to the same path are removed first. An OSError names `path` (not the
    temporary file) as its filename."""
    path = Path(path)
    if path.is_symlink():  # write through the link (the user's file is its target); os.replace would replace the link
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():  # os.replace would swap a folder or a device (/dev/null!) for a file
        raise ValueError(f"{path} exists and is not a regular file: give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{_host()}-{os.getpid()}.",
                                   suffix=_TMP_SUFFIX)
    except OSError as e:
        raise _named(e, path) from e
    try:
        # mkstemp makes the file 0600 and the rename keeps that: give it the mode a plain open() would (0666 & ~umask)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _named(e, path) from e
        raise
    return path


def temp_name(path: str | os.PathLike, tag: str) -> str:
    """A temporary file name next to path in the owner-tagged form remove_stale_temps understands, for writers that
    cannot hand atomic_write their bytes (h5py writes a file itself)."""
    return f"{Path(path).name}.{_host()}-{os.getpid()}.{tag}{_TMP_SUFFIX}"


def _named(e: OSError, path: Path) -> OSError:
    """The same error (same class, errno and reason) about the target path rather than the temporary file."""
    return OSError(e.errno, e.strerror or str(e), str(path)) if e.errno else e


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writes to `path` left behind (<name>.*.tmp next to it): those of a
    process of this host that no longer runs, untagged ones (older idslab) older than STALE_UNTAGGED_S, and any
    older than STALE_ANY_S. A live writer's file is never touched. Returns the files removed."""
    path = Path(path)
    prefix, now, host, gone = path.name + ".", time.time(), _host(), []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return gone
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)) or name == path.name:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if not entry.is_file(follow_symlinks=False):
                continue
        except OSError:
            continue
        parts = name[len(prefix):-len(_TMP_SUFFIX)].split(".")  # ["<host>-<pid>", random] or [random] (untagged)
        if len(parts) > 2:
            continue                                              # another target's, e.g. of "<name>.5"
        o_host, _, o_pid = parts[0].rpartition("-")
        tagged = len(parts) == 2 and bool(o_host) and o_pid.isdigit()
        stale = age > STALE_ANY_S or (not tagged and age > STALE_UNTAGGED_S) or (
            tagged and o_host == host and not process_alive(int(o_pid)))
        if stale:
            try:
                os.unlink(entry.path)
                gone.append(Path(entry.path))
            except OSError:
                pass
    return gone


def process_alive(pid: int) -> bool:
    """Whether a process of this host with this id runs (a reused id counts as alive: the file stays, until a day)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:  # Linux: a zombie (exited, not yet reaped by its parent) answers kill(0) but is gone
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:
        return True


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


# ------------------------------------------------------------------------------------------ failing writes
def fallback_path(target: str | os.PathLike) -> Path:
    """Where to put a finished result whose own path failed: the system temp folder, same name + a timestamp."""
    t = Path(target)
    return Path(tempfile.gettempdir()) / f"{t.stem}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}{t.suffix}"


def write_fix(e: OSError, path: str | os.PathLike, how: str = "") -> str:
    """What to do about a failed write to `path`, by its cause. how: where another folder is chosen, e.g. '--out'."""
    folder = Path(path).parent
    other = f" with {how}" if how else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"free space on the disk that holds {folder} (or choose a folder on another disk{other})"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"check the permissions of {folder} (or choose another folder{other})"
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"the folder {folder} is gone: create it again (or choose another folder{other})"
    return f"check {folder} (or choose another folder{other})"


def describe_os_error(e: OSError, path: str | os.PathLike | None = None) -> str:
    """'PATH: reason: fix' for an OSError about a file."""
    path = path if path is not None else (e.filename or "the file")
    return f"{path}: {e.strerror or e}: {write_fix(e, path)}"


class SavedElsewhere(OSError):
    """A finished result could not be written to its own path and was written to the temp folder instead (or, if
    that failed too, nowhere: `fallback` is then None). str() is the whole message: both paths, the cause, the fix."""

    def __init__(self, what: str, path, fallback, cause: OSError, cause2: OSError | None = None, then: str = ""):
        self.what, self.path, self.fallback, self.cause = what, Path(path), fallback, cause
        reason = cause.strerror or str(cause)
        if fallback is not None:
            it = "them" if what.endswith("s") else "it"
            msg = (f"could not write the {what} to {path} ({reason}); saved {it} to {fallback} instead: "
                   f"{write_fix(cause, path)}{then}")
        else:
            msg = (f"could not write the {what} to {path} ({reason}), nor to the temp folder "
                   f"({cause2.strerror if cause2 is not None else '?'}): {write_fix(cause, path)}, then rerun")
        super().__init__(cause.errno, msg)

    def __str__(self) -> str:
        return self.strerror


def write_or_fallback(path: str | os.PathLike, write: Callable[[Path], object], what: str,
                      then: str = "") -> tuple[Path, SavedElsewhere | None]:
    """write(path); if that raises OSError, write(fallback_path(path)) instead. Returns (the path written, None) or
    (the fallback, a SavedElsewhere to report: the caller decides whether to stop). If the fallback fails too, the
    SavedElsewhere (fallback None) is raised. `then`: appended to the message, e.g. ', then move it back and rerun'."""
    try:
        write(Path(path))
        return Path(path), None
    except OSError as e:
        alt = fallback_path(path)
        try:
            write(alt)
        except OSError as e2:
            raise SavedElsewhere(what, path, None, e, e2) from e
        return alt, SavedElsewhere(what, path, alt, e, then=then)
