"""Shared set-up for the notebook checks: the repo root, the notebooks, and a quick-mode environment."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
BUILD = ROOT / "build" / "notebooks"        # ignored (.gitignore: build/)
SCREENSHOTS = ROOT / "screenshots"          # ignored (.gitignore: screenshots/)
PYTHON = sys.executable
BIN = Path(sys.executable).parent           # the venv's bin/: marimo lives next to python


def quick_env(**extra) -> dict:
    """The environment every notebook check runs in: IDSLAB_QUICK=1 (tiny sizes), the repo's data cache."""
    env = dict(os.environ, IDSLAB_QUICK="1", PYTHONUNBUFFERED="1", **extra)
    env.setdefault("IDSLAB_DATA", str(ROOT / "data"))
    # this checkout's idslab, whichever one the venv has installed (a worktree sharing another checkout's venv)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def notebook_ids():
    return [p.stem for p in NOTEBOOKS]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
