"""Notebook 01 with CIFAR chosen and no CIFAR folder: a callout naming the fix, and every later section waits
(data is None) instead of vanishing with the error only in the server log. Runs the notebook programmatically
(marimo's App.run with the control cell's values given), IDSLAB_QUICK=1, in a subprocess."""
import subprocess
import textwrap

import pytest

from .conftest import PYTHON, ROOT, quick_env

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import importlib.util, json, types
    spec = importlib.util.spec_from_file_location("nb01", "notebooks/01_ids_vs_flip.py")
    nb = importlib.util.module_from_spec(spec); spec.loader.exec_module(nb)
    ui = lambda v: types.SimpleNamespace(value=v)
    outputs, defs = nb.app.run(defs=dict(dataset=ui("cifar"), tile=ui("8"), encoder_kind=ui("cnn"),
                                         conditions=ui(["flip", "ids"]), sl=ui(0.02), CONDITIONS={}))
    html = " ".join(getattr(o, "text", str(o)) for o in outputs if o is not None)
    print(json.dumps({"data_none": defs.get("data") is None, "callout": "Cannot load cifar" in html,
                      "fix": "IDSLAB_CIFAR_DIR" in html and "--download" in html}))
""")


def test_cifar_without_a_folder_shows_the_fix(tmp_path):
    env = quick_env(IDSLAB_CIFAR_DIR=str(tmp_path / "no_cifar_here"), IDSLAB_DATA=str(tmp_path / "data"))
    proc = subprocess.run([PYTHON, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().splitlines()[-1] == '{"data_none": true, "callout": true, "fix": true}'
