"""Claims on the cells of a results store, so that two sweeps on one store share the work instead of each doing all
of it (`idslab reproduce` twice, in two terminals or on two machines sharing the folder).

Before a process trains a cell it creates `<record>.claim` (O_CREAT | O_EXCL: exactly one process succeeds) holding
its host, process id and start time; it removes the claim once the record is written, or when it stops (any
exception, Ctrl-C). Another process skips a cell whose claim is live and comes back for it after the rest, reading
the record when it appears. A claim is live while its holder refreshes it: a thread touches every claim it holds
every HEARTBEAT_S seconds. A claim is stale, and taken over, when its process is gone (same host: the process id no
longer runs, e.g. after SIGKILL) or it has not been refreshed for STALE_S seconds (another host's process died, or
it is stopped): nobody ever waits forever on a dead claim. Two processes taking over the same stale claim at the
same instant can both run that cell (the record is written atomically either way): the cost of a rare race is a
duplicated run, never a lost or half-written record.

Standard library only (like idslab.atomic).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from .atomic import process_alive

HEARTBEAT_S = 30.0
STALE_S = 300.0
SUFFIX = ".claim"


def claim_path(target: str | os.PathLike) -> Path:
    return Path(os.fspath(target) + SUFFIX)


class Claims:
    """The claims one process holds on a results store's cells (any folder: claims sit next to their targets).

        with Claims() as claims:
            if claims.claim(path):      # False: another live process holds it
                ... write path ...
                claims.release(path)
    """

    def __init__(self, heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S):
        self.heartbeat_s, self.stale_s = heartbeat_s, stale_s
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.held: dict[Path, str] = {}                 # claim file -> our token
        self._lock, self._thread = threading.Lock(), None

    # ---- claiming
    def claim(self, target: str | os.PathLike) -> bool:
        """Claim target (True), or False when another live process holds it. A stale claim is taken over."""
        path = claim_path(target)
        if path in self.held:
            return True
        for _ in range(2):                              # once more after setting a stale claim aside
            token = uuid.uuid4().hex
            try:
                path.parent.mkdir(parents=True, exist_ok=True)   # a new store: its folder may not exist yet
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                if not self._set_aside_if_stale(path):
                    return False
                continue
            except OSError:                             # an unwritable store: run without sharing
                return True
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump({"host": self.host, "pid": self.pid, "token": token,
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f)
            except OSError:                             # a full disk: no empty claim left to block others
                path.unlink(missing_ok=True)
                return True
            with self._lock:
                self.held[path] = token
                if self._thread is None:          # the heartbeat runs while this process holds a claim
                    self._thread = threading.Thread(target=self._beat, name="idslab-claims", daemon=True)
                    self._thread.start()
            return True
        return False

    def release(self, target: str | os.PathLike) -> None:
        """Remove our claim on target (if it is still ours: a claim taken over as stale is left to its new holder)."""
        path = claim_path(target)
        with self._lock:
            token = self.held.pop(path, None)
        if token is not None and self._token(path) == token:
            try:
                path.unlink()
            except OSError:
                pass

    def is_stale(self, path: Path, info: dict | None = None) -> bool:
        """A claim whose process is gone (same host) or that nobody has refreshed for stale_s seconds."""
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return False                                # gone already: nothing to take over
        info = self._read(path) if info is None else info
        if info and info.get("host") == self.host and isinstance(info.get("pid"), int) and info["pid"] != self.pid:
            if not process_alive(info["pid"]):
                return True
        return age > self.stale_s

    def close(self) -> None:
        """Release every claim (the heartbeat then stops by itself)."""
        for path in list(self.held):
            self.release(Path(os.fspath(path)[:-len(SUFFIX)]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- internals
    def _set_aside_if_stale(self, path: Path) -> bool:
        info = self._read(path)
        if not self.is_stale(path, info):
            return False
        aside = path.with_name(f"{path.name}.stale.{uuid.uuid4().hex[:8]}")
        try:
            os.replace(path, aside)
            aside.unlink()
        except OSError:
            pass                                        # someone else set it aside first: try to claim anyway
        return True

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            info = json.loads(path.read_text())
            return info if isinstance(info, dict) else None
        except (OSError, ValueError):                   # half-written by its creator, or gone
            return None

    def _token(self, path: Path) -> str | None:
        info = self._read(path)
        return info.get("token") if info else None

    def _beat(self) -> None:
        while True:
            with self._lock:
                paths = list(self.held)
                if not paths:
                    self._thread = None
                    return
            for path in paths:
                try:
                    os.utime(path)
                except OSError:
                    pass
            time.sleep(self.heartbeat_s)
