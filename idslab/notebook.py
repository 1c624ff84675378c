"""The notebooks' one set-up call (notebooks 01, 04 and 05): the mode (quick, auto), the device and its thread count,
the folders (data cache, CIFAR, results store) and the sizes each notebook runs at on this device.

    import marimo as mo
    from idslab.notebook import setup
    nb = setup("05", mo)          # nb.budget["epochs"], nb.device, nb.store, ...

Before this module each of the three notebooks carried its own near-copy of these lines (issue 26). Sizes
(`BUDGETS`): quick (IDSLAB_QUICK=1, CI: seconds), GPU, and the 2-core CPU default, sized for about 20 s of CPU
per button in 01 and 04 and under the 2-minute warning in 05 (docs/BENCHMARKS.md, docs/NOTEBOOKS.md). Imports
only idslab.checks (the command line's folder check); marimo only through the `mo` it is handed.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The sizes per notebook and device. 01 and 04: tiles (n_pretrain / n_probe_train / n_probe_test); 05: spectra
# (`sizes` = datasets.Sizes arguments). epochs: pre-training epochs per run; draws: perturbed passes per sample in
# the weight-space cloud; supervised_epochs: the supervised control's epochs (05).
BUDGETS = {
    "01": {
        "quick": dict(n_pretrain=256, n_probe_train=128, n_probe_test=128, epochs=1, batch_size=64, seeds=1,
                      sweep_epochs=1, sweep_sls=(0.05,), sweep_seeds=2, head_epochs=2, draws=32),
        "gpu": dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=30, batch_size=256, seeds=3,
                    sweep_epochs=20, sweep_sls=(0.01, 0.02, 0.05, 0.1, 0.2), sweep_seeds=3, head_epochs=20,
                    draws=256),
        # head_epochs = epochs: the paper-head runs of section 5 are then section 3's, reused from the store
        "cpu": dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=5, batch_size=256, seeds=1,
                    sweep_epochs=3, sweep_sls=(0.02, 0.2), sweep_seeds=2, head_epochs=5, draws=128),
    },
    "04": {
        "quick": dict(n_pretrain=256, n_probe_train=128, n_probe_test=128, epochs=2, batch_size=64, seeds=1),
        "gpu": dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=30, batch_size=256, seeds=3),
        "cpu": dict(n_pretrain=4000, n_probe_train=2000, n_probe_test=600, epochs=5, batch_size=256, seeds=1),
    },
    "05": {
        "quick": dict(sizes=(256, 128, 100), epochs=1, batch_size=64, draws=8, supervised_epochs=10),
        "gpu": dict(sizes=(4000, 2000, 600), epochs=30, batch_size=256, draws=64, supervised_epochs=30),
        # 10 epochs: at 5 every trained encoder was level with the floor (docs/NOTEBOOKS.md); 30 supervised epochs: at
        # 10 the supervised control (78.9%) was no ceiling
        "cpu": dict(sizes=(2000, 1000, 600), epochs=10, batch_size=256, draws=24, supervised_epochs=30),
    },
}


@dataclass(frozen=True)
class NotebookSetup:
    """What every notebook cell below the set-up reads.

    quick: IDSLAB_QUICK=1 (tiny sizes, a temporary results folder removed at exit). auto: not in a marimo kernel
        (plain script, the exported .ipynb under nbval): no button can be pressed, so the button cells run once by
        themselves. gpu, device ("cuda" | "cpu"). view: "marimo" (live progress and curves in the running cell) or
        None (a script). root: the checkout (the folder above the package). data_dir: $IDSLAB_DATA, else the
        checkout's data/ (None outside a checkout: idslab's own default, ./data). cifar_dir: $IDSLAB_CIFAR_DIR, else
        the shared CIFAR-10 folder beside the checkout when there is one. results_dir: results/notebooks/ (saved
        files); store: its store/ (every finished run, written as it finishes). budget: BUDGETS[notebook][mode].
    """
    notebook: str
    quick: bool
    auto: bool
    gpu: bool
    device: str
    view: str | None
    root: Path
    data_dir: str | None
    cifar_dir: str | None
    results_dir: Path
    store: Path
    budget: dict

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "gpu" if self.gpu else "cpu"


def quick_mode(env=None) -> bool:
    """IDSLAB_QUICK set to anything but '' or '0'."""
    return (env if env is not None else os.environ).get("IDSLAB_QUICK", "0") not in ("", "0")


def data_dir(env=None, root: Path | None = None) -> str | None:
    """The notebooks' data cache folder: $IDSLAB_DATA (~ expanded), else the checkout's data/ (None outside a
    checkout: idslab's own default, ./data). A notebook has no command-line flag, so a bad $IDSLAB_DATA (set but
    empty, a file, under a file, not writable) is a ValueError naming it and the fix here, before any work, not a
    traceback about a flag deep in the first data load."""
    from .checks import check_folder
    env = env if env is not None else os.environ
    root = root if root is not None else Path(__file__).resolve().parent.parent
    default = str(root / "data") if (root / "pyproject.toml").exists() else None
    if "IDSLAB_DATA" not in env:
        return default
    fix = ("set IDSLAB_DATA to a folder you can write before starting the notebook (`export IDSLAB_DATA=/path/to/"
           f"folder`), or unset it (`unset IDSLAB_DATA`) to use {default or './data'}")
    value = env["IDSLAB_DATA"]
    if not value.strip():
        raise ValueError(f"$IDSLAB_DATA is set but empty: {fix}")
    try:
        return str(check_folder(os.path.expanduser(value), "$IDSLAB_DATA"))
    except ValueError as e:
        raise ValueError(f"{e}; {fix}") from None


def setup(notebook: str, mo, env=None, gpu: bool | None = None) -> NotebookSetup:
    """The set-up of notebook `notebook` ("01", "04", "05"): modes, device, folders and sizes (NotebookSetup).

    mo: the marimo module (its running_in_notebook() decides auto). env: the environment to read (default
    os.environ). gpu: override CUDA detection (tests). On a CPU it sets torch to one intra-op thread: on a 2-core
    CPU shared with the marimo server and the browser, torch's thread hand-offs dominate these small tensors
    (measured in notebook 01: probes 0.7 s instead of 17-30 s, training 8x faster). Quick mode makes a temporary
    results folder, removed at exit. Raises ValueError for a notebook without sizes or a bad $IDSLAB_DATA (data_dir)
    before any work."""
    if notebook not in BUDGETS:
        raise ValueError(f"notebook {notebook!r}: no sizes for it; use one of {', '.join(BUDGETS)} "
                         "(or add its sizes to idslab.notebook.BUDGETS)")
    import torch
    env = env if env is not None else os.environ
    quick = quick_mode(env)
    gpu = torch.cuda.is_available() if gpu is None else bool(gpu)
    if not gpu:
        torch.set_num_threads(1)
    auto = not mo.running_in_notebook()
    root = Path(__file__).resolve().parent.parent
    checkout = (root / "pyproject.toml").exists()
    data = data_dir(env, root)
    shared = root.parent / "shared" / "datasets" / "cifar10-train-jpg"
    cifar_dir = env.get("IDSLAB_CIFAR_DIR") or (str(shared) if shared.is_dir() else None)
    if quick:
        results_dir = Path(tempfile.mkdtemp(prefix=f"idslab_nb{notebook}_"))
        atexit.register(shutil.rmtree, results_dir, True)
    else:
        results_dir = root / "results" / "notebooks" if checkout else Path("results") / "notebooks"
    mode = "quick" if quick else "gpu" if gpu else "cpu"
    return NotebookSetup(notebook=notebook, quick=quick, auto=auto, gpu=gpu, device="cuda" if gpu else "cpu",
                         view=None if auto else "marimo", root=root, data_dir=data, cifar_dir=cifar_dir,
                         results_dir=results_dir, store=results_dir / "store", budget=dict(BUDGETS[notebook][mode]))


# Notebook 05's first method (an experiments.compare condition): the best one measured at the notebook's CPU
# defaults (docs/NOTEBOOKS.md, "05_spectra.py": 2000 / 1000 / 600 spectra, BUDGETS["05"]["cpu"], 3 paired seeds).
# One setting: the notebook's section 5 trains it first and its lesson reads it first.
FIRST_05 = {"views": "simclr", "label": "scaling and jitter"}   # 1-D "simclr": random scaling and jitter
