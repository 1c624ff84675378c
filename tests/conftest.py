import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

os.environ.setdefault("IDSLAB_QUICK", "1")
# One intra-op thread: tiny CNNs gain little from two, and two threads stall badly whenever another process
# (a notebook kernel, the marimo server of the browser test) competes for the 2 cores.
torch.set_num_threads(1)


def load_script(name: str):
    """scripts/<name>.py imported as a module (the scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def streak_data(tile=16, n=(256, 128, 128), seed=0):
    """A tiny stand-in for idslab.datasets.SSLData: class 1 tiles hold a descending bright streak in noise."""
    g = torch.Generator().manual_seed(seed)

    def split(m):
        y = torch.arange(m) % 2
        x = torch.randn(m, 1, tile, tile, generator=g) * 3 + 5
        r = torch.randint(2, tile - 6, (m,), generator=g)
        for k in range(5):  # five pixels along a descending diagonal (built once, vectorised over samples)
            x[torch.arange(m), 0, (r + k).clamp(max=tile - 1), (r + k).clamp(max=tile - 1)] += 15 * y
        return SimpleNamespace(x=x, y=y)

    return SimpleNamespace(name="streaks", tile=tile, classes=("noise", "streak"), pretrain=split(n[0]),
                           probe_train=split(n[1]), probe_test=split(n[2]), meta={}, channels=1)


def signal_data(length=64, n=(256, 128, 128), seed=0):
    """streak_data one dimension down (issue 20): (n, 1, L) signals; class 1 holds a pair of peaks 8 samples apart
    with a 3 : 1 ratio (a doublet) at a random place, class 0 a single peak."""
    g = torch.Generator().manual_seed(seed)

    def split(m):
        y = torch.arange(m) % 2
        x = torch.randn(m, 1, length, generator=g) + 5
        at = torch.randint(4, length - 12, (m,), generator=g)
        x[torch.arange(m), 0, at + 8] += 6.0
        x[torch.arange(m), 0, at] += 2.0 * y
        return SimpleNamespace(x=x, y=y)

    return SimpleNamespace(name="signals", tile=length, classes=("single", "doublet"), pretrain=split(n[0]),
                           probe_train=split(n[1]), probe_test=split(n[2]), meta={}, channels=1)


@pytest.fixture
def streaks():
    return streak_data()
