"""Every marimo notebook (a) runs as a plain script and (b) exported to .ipynb passes nbval, both in quick mode
(IDSLAB_QUICK=1) where the heavy cells run once with tiny sizes (buttons are never pressed outside a marimo
kernel, so the notebooks run them automatically there).

What this runs, per notebook (from the repo root):
    IDSLAB_QUICK=1 python notebooks/NAME.py
    marimo export ipynb --sort topological -f -o build/notebooks/NAME.ipynb notebooks/NAME.py
    IDSLAB_QUICK=1 python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider build/notebooks/NAME.ipynb
"""
import subprocess

import pytest

from .conftest import BIN, BUILD, NOTEBOOKS, PYTHON, ROOT, quick_env

pytestmark = pytest.mark.slow
TIMEOUT_S = 240  # per notebook; quick mode takes well under a minute on 2 cores


def _run(cmd, timeout=TIMEOUT_S):
    proc = subprocess.run(cmd, cwd=ROOT, env=quick_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} failed (rc {proc.returncode})\n"
                                  f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc


def test_there_are_notebooks():
    assert {"00_meteor_radar", "01_ids_vs_flip", "05_spectra"} <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_as_script(notebook):
    _run([PYTHON, str(notebook.relative_to(ROOT))])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval(notebook):
    BUILD.mkdir(parents=True, exist_ok=True)
    ipynb = BUILD / f"{notebook.stem}.ipynb"
    _run([str(BIN / "marimo"), "export", "ipynb", "--sort", "topological", "-f", "-o", str(ipynb),
          str(notebook.relative_to(ROOT))], timeout=120)
    assert ipynb.exists() and ipynb.stat().st_size > 0
    proc = _run([PYTHON, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=180",
                 "-p", "no:cacheprovider", "-q", str(ipynb.relative_to(ROOT))])
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]
