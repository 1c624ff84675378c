"""idslab.notebook.setup: the one set-up call of notebooks 01, 04 and 05 (issue 26) gives each its modes, device,
folders and sizes; the three notebooks call it instead of carrying a copy of the set-up cell."""
import ast
import os
from pathlib import Path

import pytest
import torch

from idslab import notebook as NB

ROOT = Path(__file__).resolve().parents[1]


class FakeMarimo:
    """What setup reads of marimo: whether it runs in a marimo kernel."""
    def __init__(self, running: bool):
        self.running = running

    def running_in_notebook(self) -> bool:
        return self.running


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_modes_device_and_sizes_follow_the_environment(threads, tmp_path):
    torch.set_num_threads(2)                  # setup must bring a CPU notebook to one thread
    cpu = NB.setup("05", FakeMarimo(True), env={"IDSLAB_DATA": str(tmp_path)}, gpu=False)
    assert (cpu.mode, cpu.quick, cpu.auto, cpu.device, cpu.view) == ("cpu", False, False, "cpu", "marimo")
    assert cpu.budget == NB.BUDGETS["05"]["cpu"] and cpu.budget is not NB.BUDGETS["05"]["cpu"]   # a copy
    assert cpu.data_dir == str(tmp_path) and cpu.store == cpu.results_dir / "store"
    assert cpu.results_dir == ROOT / "results" / "notebooks" and torch.get_num_threads() == 1
    gpu = NB.setup("01", FakeMarimo(False), env={}, gpu=True)
    assert (gpu.mode, gpu.device, gpu.auto, gpu.view) == ("gpu", "cuda", True, None)
    assert gpu.budget["epochs"] == NB.BUDGETS["01"]["gpu"]["epochs"] and gpu.data_dir == str(ROOT / "data")
    quick = NB.setup("04", FakeMarimo(False), env={"IDSLAB_QUICK": "1"}, gpu=False)
    assert quick.mode == "quick" and quick.budget == NB.BUDGETS["04"]["quick"]
    assert quick.results_dir.is_dir() and quick.results_dir.name.startswith("idslab_nb04_")   # a temp folder
    assert not NB.quick_mode({"IDSLAB_QUICK": "0"}) and not NB.quick_mode({"IDSLAB_QUICK": ""})


def test_cifar_folder_from_the_environment_wins(threads, tmp_path):
    s = NB.setup("01", FakeMarimo(True), env={"IDSLAB_CIFAR_DIR": str(tmp_path)}, gpu=False)
    assert s.cifar_dir == str(tmp_path)


def test_unknown_notebook_is_a_value_error_naming_the_fix():
    with pytest.raises(ValueError, match=r"notebook '02'.*01, 04, 05.*BUDGETS"):
        NB.setup("02", FakeMarimo(True), env={})


def test_every_budget_has_the_keys_its_notebook_reads():
    for nb, keys in (("01", {"n_pretrain", "n_probe_train", "n_probe_test", "epochs", "batch_size", "seeds",
                             "sweep_epochs", "sweep_sls", "sweep_seeds", "head_epochs", "draws"}),
                     ("04", {"n_pretrain", "n_probe_train", "n_probe_test", "epochs", "batch_size", "seeds"}),
                     ("05", {"sizes", "epochs", "batch_size", "draws", "supervised_epochs"})):
        for mode in ("quick", "gpu", "cpu"):
            assert set(NB.BUDGETS[nb][mode]) == keys, (nb, mode)
    # notebook 05's first method is one compare condition it can train
    from idslab.experiments import parse_condition
    label, over = parse_condition(NB.FIRST_05)
    assert label and over["views"]


def _setup_cell(path: Path) -> ast.FunctionDef:
    tree = ast.parse(path.read_text())
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_"
                and not n.args.args)


@pytest.mark.parametrize("name", ["01_ids_vs_flip", "04_objectives", "05_spectra"])
def test_the_notebooks_call_setup_instead_of_a_copy(name):
    """The set-up cell calls idslab.notebook.setup once and no longer reads the environment, the device or the
    folders itself (what the three near-copies did)."""
    cell = _setup_cell(ROOT / "notebooks" / f"{name}.py")
    src = ast.unparse(cell)
    calls = [n for n in ast.walk(cell) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup"]
    assert len(calls) == 1 and ast.unparse(calls[0].args[0]) == repr(name[:2])
    for copied in ("os.environ", "tempfile", "atexit", "cuda.is_available", "set_num_threads", "mkdtemp"):
        assert copied not in src, f"{name}: the set-up cell still does {copied} itself"
    assert os.path.exists(ROOT / "idslab" / "notebook.py")


@pytest.mark.parametrize("bad", ["FILE", "FILE/under", ""])
def test_a_bad_idslab_data_is_named_with_the_fix_at_setup(threads, tmp_path, bad):
    """A notebook has no --data-dir: a bad $IDSLAB_DATA (a file, under a file, set but empty) was a traceback naming
    --data-dir at the first data load; setup names $IDSLAB_DATA and how to set or unset it, before any work."""
    (tmp_path / "FILE").write_text("x")
    value = str(tmp_path / bad) if bad else ""
    with pytest.raises(ValueError) as e:
        NB.setup("01", FakeMarimo(True), env={"IDSLAB_DATA": value}, gpu=False)
    msg = str(e.value)
    assert "$IDSLAB_DATA" in msg and "export IDSLAB_DATA=" in msg and "unset IDSLAB_DATA" in msg
    assert "--data-dir" not in msg and "--" not in msg.replace("--data-dir", "")   # no flag a notebook lacks
    assert NB.setup("01", FakeMarimo(True), env={"IDSLAB_DATA": str(tmp_path / "new")}, gpu=False).data_dir == \
        str(tmp_path / "new")                                                        # a folder still to make is fine


@pytest.mark.parametrize("name", ["00_meteor_radar", "02_reproduce", "03_your_data"])
def test_the_other_notebooks_take_the_data_folder_from_data_dir(name):
    """Notebooks without setup read $IDSLAB_DATA through idslab.notebook.data_dir too, so a bad value is named with
    the fix there as well (their own `os.environ.get("IDSLAB_DATA")` passed it on unchecked)."""
    src = (ROOT / "notebooks" / f"{name}.py").read_text()
    assert "from idslab.notebook import data_dir" in src and 'environ.get("IDSLAB_DATA")' not in src
