"""Issue 19 (faults, round 3): no finished work lost to a failing write, no non-finite model saved or embedded,
caches that see content, probes that measure something, truthful interrupt messages, the environment honoured,
two sweeps sharing one store. Each test failed on main before this work (docs/RELIABILITY.md, "Round 3")."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from idslab import atomic, cli, experiments as ex, train
from idslab.datasets import Sizes, cache, load
from idslab.datasets import arrays as A
from idslab.train import TrainConfig, load_checkpoint, run
from tests.conftest import streak_data

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--epochs", "1", "--batch-size", "64", "--device", "cpu", "--quiet"]
TINY = dict(encoder="cnn16", views="ids", epochs=1, batch_size=64, device="cpu", n_pretrain=256,
            n_probe_train=128, n_probe_test=128)


@pytest.fixture
def fake_data(monkeypatch):
    monkeypatch.setattr(train, "load_data", lambda cfg: streak_data(cfg.tile))


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """Atomic writes to the paths (or into the folders) added to the returned set fail with ENOSPC, as on a full
    disk (at the rename, the one step every atomic write takes); the temp-folder fallback goes to tmp_path/fallback/
    so the test can read it."""
    failing = set()
    real = os.replace

    def replace(src, dst, *a, **k):
        d = Path(dst)
        if os.fspath(d) in failing or os.fspath(d.parent) in failing:
            raise OSError(28, "No space left on device", os.fspath(src))
        return real(src, dst, *a, **k)
    monkeypatch.setattr(atomic.os, "replace", replace)
    fb = tmp_path / "fallback"
    monkeypatch.setattr(atomic, "fallback_path", lambda t: fb / Path(t).name, raising=False)
    return failing


def no_traceback(err: str) -> None:
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------ failing writes
def test_train_save_model_fallback_is_an_error_not_exit_0(tmp_path, fake_data, full_disk, capsys):
    target = tmp_path / "m.pt"
    full_disk.add(os.fspath(target))
    assert cli.main(["train", *FAST, "--save-model", str(target)]) == 1
    err = capsys.readouterr().err
    no_traceback(err)
    assert str(target) in err and str(tmp_path / "fallback" / "m.pt") in err and "free space" in err
    assert not target.exists() and load_checkpoint(tmp_path / "fallback" / "m.pt")[0] is not None


def test_embed_out_on_a_full_disk_keeps_the_embeddings(tmp_path, full_disk, capsys):
    x = np.random.default_rng(0).standard_normal((6, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6) % 2)
    cfg = TrainConfig(data_path=str(tmp_path / "d.npz"), encoder="cnn16", epochs=1, batch_size=8, n_pretrain=16,
                      n_probe_train=4, n_probe_test=4, knn_k=2, device="cpu")
    run(cfg, checkpoint=str(tmp_path / "m.pt"))
    target = tmp_path / "h.npz"
    full_disk.add(os.fspath(target))
    assert cli.main(["embed", "--model", str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.npz"), "--out",
                     str(target), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    no_traceback(err)
    assert str(target) in err and "saved them to" in err and "free space" in err
    assert np.load(tmp_path / "fallback" / "h.npz")["h"].shape == (24, 32)


def test_compare_out_on_a_full_disk_keeps_the_first_run(tmp_path, fake_data, full_disk, capsys):
    target = tmp_path / "c.json"
    full_disk.add(os.fspath(target))
    assert cli.main(["compare", *FAST, "--conditions", "flip,ids", "--controls", "", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    no_traceback(err)
    assert str(target) in err and "free space" in err
    recs = json.loads((tmp_path / "fallback" / "c.json").read_text())
    assert [r["config"]["views"] for r in recs] == ["flip", "ids"]


def test_compare_results_store_on_a_full_disk_stops_with_the_run_saved(tmp_path, fake_data, full_disk, capsys):
    store = tmp_path / "store"
    full_disk.add(os.fspath(store))
    assert cli.main(["compare", *FAST, "--conditions", "flip,ids", "--controls", "", "--results",
                     str(store)]) == 1
    err = capsys.readouterr().err
    no_traceback(err)
    assert str(store) in err and "rerun" in err and "free space" in err
    spilled = list((tmp_path / "fallback" / "store").glob("*.json"))
    assert len(spilled) == 1 and json.loads(spilled[0].read_text())["config"]["views"] == "flip"


def test_reproduce_store_on_a_full_disk_stops_with_every_finished_run_saved(tmp_path, full_disk, monkeypatch):
    monkeypatch.setattr(ex, "run", lambda cfg, data=None, progress=None: _fake_record(cfg))
    cfgs = [TrainConfig(**TINY, seed=s) for s in range(3)]
    full_disk.add(os.fspath(tmp_path / "s"))
    with pytest.raises(atomic.SavedElsewhere, match="rerun the same command to resume") as e:
        ex.run_configs(cfgs, data=streak_data(), results_dir=tmp_path / "s")
    assert "free space" in str(e.value)
    assert len(list((tmp_path / "fallback" / "s").glob("*.json"))) == 1   # the run that finished, nothing lost


def _fake_record(cfg, sleep: float = 0.0, log: list | None = None):
    if sleep:
        time.sleep(sleep)
    if log is not None:
        log.append((cfg.seed, threading.current_thread().name))
    return {"config": cfg.to_dict(), "metrics": {"mlp_acc": 0.6, "knn_acc": 0.55}, "loss_history": [1.0],
            "wall_s": 0.0, "pretrain_s": 0.0, "device": "cpu"}


def test_write_errors_name_the_target_not_a_temporary_file(tmp_path, monkeypatch):
    def full(fd, *a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as e:
        atomic.write_json(tmp_path / "r.json", {"a": 1})
    assert e.value.filename == str(tmp_path / "r.json") and e.value.errno == 28
    assert list(tmp_path.iterdir()) == []                                   # no temporary file left behind


# ----------------------------------------------------------------------------------------------- non-finite models
class _HugeLastStep(torch.optim.Adam):
    """Adam whose last step leaves finite but 1e30-sized weights, as one step of --lr 1e30 does: every parameter is
    finite, yet the encoder's output overflows to inf/NaN."""
    steps_left = 4

    def step(self, closure=None):
        out = super().step(closure)
        type(self).steps_left -= 1
        if type(self).steps_left == 0:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.copy_(torch.sign(p) * 1e30 + 1e30)
        return out


def test_a_diverged_run_leaves_no_model_file_and_names_lr(tmp_path, fake_data, monkeypatch, capsys):
    _HugeLastStep.steps_left = 256 // 64
    monkeypatch.setattr(train.torch.optim, "Adam", _HugeLastStep)
    assert cli.main(["train", *FAST, "--save-model", str(tmp_path / "div.pt")]) == 2
    err = capsys.readouterr().err
    no_traceback(err)
    assert "diverged" in err and "--lr" in err
    assert not (tmp_path / "div.pt").exists() and list(tmp_path.iterdir()) == []


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path):
    model = train.build_model(TrainConfig(**TINY), 1)
    sd = model.state_dict()
    sd["encoder.fc1.weight"][0, 0] = float("nan")
    torch.save({"state_dict": sd, "config": TrainConfig(**TINY).to_dict(), "loss_history": [1.0]},
               tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="NaN/inf weights.*--lr"):
        load_checkpoint(tmp_path / "nan.pt")


def test_save_checkpoint_refuses_a_nan_model(tmp_path):
    model = train.build_model(TrainConfig(**TINY), 1)
    with torch.no_grad():
        model.encoder.fc1.weight[0, 0] = float("inf")
    res = train.Pretrained(model, [1.0], 0.0, "cpu")
    with pytest.raises(FloatingPointError, match="diverged"):
        train.save_checkpoint(tmp_path / "m.pt", res, TrainConfig(**TINY))
    assert not (tmp_path / "m.pt").exists()


def test_embed_never_writes_nonfinite_embeddings(tmp_path, capsys):
    from idslab.embeddings import embed
    model = train.build_model(TrainConfig(**TINY), 1).eval()
    with torch.no_grad():                      # finite weights whose output overflows (an old diverged model)
        for p in model.encoder.parameters():
            p.fill_(1e30)
    x = np.ones((2, 16, 16), np.float32)
    with pytest.raises(FloatingPointError, match="NaN/inf embeddings.*nothing was written"):
        embed(model, x, out=tmp_path / "h.npy")
    assert not (tmp_path / "h.npy").exists()


# ---------------------------------------------------------------------------------------- caches that see content
def _bmp(path: Path, value: int) -> None:
    """An image file whose size does not depend on its pixels (BMP, uncompressed TIFF)."""
    from PIL import Image
    Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(path)


def test_cifar_cache_sees_an_image_replaced_in_place(tmp_path):
    from idslab.datasets.cifar import CIFAR10_CLASSES, decode_folder
    root = tmp_path / "imgs"
    for k, c in enumerate(CIFAR10_CLASSES):
        (root / c).mkdir(parents=True)
        for i in range(2):
            _bmp(root / c / f"{i}.bmp", 10 * k + i)
    x1, _ = decode_folder(root, tmp_path)
    f = root / "cat" / "0.bmp"
    st = f.stat()
    _bmp(f, 200)                                               # same name, same size, new pixels
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))           # even the old modification time
    x2, _ = decode_folder(root, tmp_path)
    i = sorted(str(p) for p in root.rglob("*.bmp")).index(str(f))
    assert int(x1[i, 0, 0, 0]) == 30 and int(x2[i, 0, 0, 0]) == 200


def test_image_folder_fingerprint_sees_content(tmp_path):
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            _bmp(root / c / f"{i}.tif", i)
    before = A.fingerprint(root)["sha256"]
    f = root / "a" / "0.tif"
    size = f.stat().st_size
    st = f.stat()
    _bmp(f, 99)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == size and A.fingerprint(root)["files"] == 4
    assert A.fingerprint(root)["sha256"] != before


# ----------------------------------------------------------------------------------- probes that measure nothing
@pytest.mark.parametrize("split", ["probe_train", "probe_test"])
def test_a_single_class_probe_split_is_refused_before_training(split, monkeypatch):
    data = streak_data()
    getattr(data, split).y.zero_()
    monkeypatch.setattr(train, "pretrain", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=f"{split} split holds one class"):
        run(TrainConfig(**TINY), data)


def test_a_single_class_user_file_is_an_error_through_the_cli(tmp_path, monkeypatch, capsys):
    x = np.random.default_rng(0).standard_normal((10, 16, 16)).astype(np.float32)
    np.savez(tmp_path / "one.npz", x=x, y=np.zeros(10, int))     # labelled, but every label is 0: K = 1
    monkeypatch.setattr(train, "pretrain", lambda *a, **k: pytest.fail("trained"))
    rc = cli.main(["train", "--data", str(tmp_path / "one.npz"), "--encoder", "cnn16", "--batch-size", "2",
                   "--knn-k", "1", "--epochs", "1", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "one class" in err, err


# ---------------------------------------------------------------------------------------------------- regression
@pytest.mark.parametrize("tile", ["0", "-16"])
def test_data_meteor_tile_0_is_refused(tile, tmp_path, monkeypatch, capsys):
    from idslab.datasets import meteor
    monkeypatch.setattr(meteor, "generate", lambda *a, **k: pytest.fail("generated data"))
    assert cli.main(["data", "meteor", "--tile", tile, "--data-dir", str(tmp_path)]) == 2
    assert "tile" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- truthful messages
def _interrupt(*a, **k):
    raise KeyboardInterrupt


@pytest.mark.parametrize("argv,patch", [
    (["train", *FAST], "idslab.train.load_data"),
    (["data", "meteor", "--tile", "16"], "idslab.datasets.load"),
])
def test_ctrl_c_says_resume_only_where_something_resumes(argv, patch, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(patch, _interrupt)
    assert cli.main(argv + (["--data-dir", str(tmp_path)] if argv[0] == "data" else [])) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("idslab: interrupted (Ctrl-C)") and "resume" not in err.replace("does not resume", "")
    assert len(err.splitlines()) == 1


def test_ctrl_c_in_embed_says_rerun_to_resume(tmp_path, monkeypatch, capsys):
    import idslab.embeddings   # embed keeps each finished chunk in OUT.partial/ (issue 24)
    monkeypatch.setattr(idslab.embeddings, "embed", _interrupt)
    assert cli.main(["embed", "--model", "m.pt", "--data", "d.npy", "--out", str(tmp_path / "h.npy")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"{tmp_path / 'h.npy'}.partial: rerun the same command to resume" in err


def test_ctrl_c_in_reproduce_says_rerun_to_resume(tmp_path, monkeypatch, capsys):
    import idslab.experiments_cli as ecli
    monkeypatch.setattr(ecli, "run_grid", _interrupt)
    assert cli.main(["reproduce", "fig3", "--quick", "--results", str(tmp_path)]) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err


_INTERRUPTED_IMPORT = """
import sys
class Stop:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt   # as Ctrl-C while torch loads
sys.meta_path.insert(0, Stop())
from idslab.cli import main           # what the console script `idslab` does
sys.exit(main(["train", "--epochs", "1"]))
"""


def test_ctrl_c_while_importing_is_one_line_and_exit_130():
    p = subprocess.run([sys.executable, "-c", _INTERRUPTED_IMPORT], capture_output=True, text=True, timeout=120,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 130, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.strip() == "idslab: interrupted (Ctrl-C); nothing was written"


_SIGTERM = """
import os, signal, sys, time
from idslab import cli, train
def terminated(cfg):
    os.kill(os.getpid(), signal.SIGTERM)    # as a scheduler's stop, in the middle of the work
    time.sleep(30)
train.load_data = terminated
before = signal.getsignal(signal.SIGTERM)
rc = cli.main(["train", "--epochs", "1", "--device", "cpu", "--quiet"])
sys.exit(rc if signal.getsignal(signal.SIGTERM) is before else 99)   # main() puts the handler back
"""


def test_sigterm_is_handled_like_ctrl_c():
    p = subprocess.run([sys.executable, "-c", _SIGTERM], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 143 and "idslab: interrupted (SIGTERM)" in p.stderr, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr


def test_the_record_keeps_the_sizes_actually_used(tmp_path):
    x = np.random.default_rng(0).standard_normal((10, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 2)       # 10 images of 4 tiles: far below 4000/2000/600
    cfg = TrainConfig(data_path=str(tmp_path / "d.npz"), encoder="cnn16", epochs=1, batch_size=8, knn_k=2,
                      device="cpu")
    rec = run(cfg)
    assert rec["sizes"] == {"pretrain": 24, "probe_train": 8, "probe_test": 8}
    assert rec["metrics"]["n_test"] == rec["sizes"]["probe_test"]


# ------------------------------------------------------------------------------------------------- environment
def test_reproduce_honours_idslab_data(tmp_path, monkeypatch):
    import idslab.experiments_cli as ecli
    seen = {}
    monkeypatch.setattr(ecli, "run_grid", lambda grid, results, **kw: seen.update(kw) or [])
    monkeypatch.setattr(ecli, "write_report", lambda *a, **k: [])
    monkeypatch.setenv("IDSLAB_DATA", str(tmp_path / "cache"))
    assert cli.main(["reproduce", "fig3", "--quick", "--results", str(tmp_path / "r"), "--quiet"]) == 0
    assert cache.data_dir(seen["data_dir"]) == tmp_path / "cache"


@pytest.mark.parametrize("argv", [["data", "meteor", "--tile", "16"], ["train", *FAST],
                                  ["reproduce", "fig3", "--quick", "--results", "RESULTS"]])
@pytest.mark.parametrize("value,msg", [("", "is set but empty"), ("FILE", "is a file, not a folder")])
def test_an_empty_or_file_idslab_data_is_a_clear_error(argv, value, msg, tmp_path, monkeypatch, capsys):
    from idslab.datasets import meteor
    monkeypatch.setattr(meteor, "generate", lambda *a, **k: pytest.fail("generated data"))
    monkeypatch.setattr(ex, "run", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "FILE").write_text("x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IDSLAB_DATA", str(tmp_path / value) if value else "")
    argv = [str(tmp_path / "r") if a == "RESULTS" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "$IDSLAB_DATA" in err and msg in err
    assert not (tmp_path / "data").exists()


def test_data_key_for_a_keyless_npy_is_an_error(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 16, 16), np.float32))
    with pytest.raises(ValueError, match="--data-key 'img' names nothing"):
        A.open_data(tmp_path / "x.npy", data_key="img")
    assert cli.main(["data", str(tmp_path / "x.npy"), "--data-key", "img", "--tile", "16"]) == 2


# -------------------------------------------------------------------------------------- leftovers of killed writes
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_writes_temporary_files_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "r.json"
    host = atomic._host()
    dead = tmp_path / f"r.json.{host}-{_dead_pid()}.abc123.tmp"      # a write killed by SIGKILL
    old = tmp_path / "r.json.k3j_x9q1.tmp"                           # an untagged one (older idslab), an hour old
    live = tmp_path / f"r.json.{host}-{os.getpid()}.zzz.tmp"        # a live writer's: kept
    other = tmp_path / "r.json.5.tmp"                                 # not a temporary file of r.json: kept
    for f in (dead, old, live, other):
        f.write_bytes(b"x" * 1000)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    atomic.write_json(target, {"a": 1})
    assert not dead.exists() and not old.exists() and live.exists()
    assert json.loads(target.read_text()) == {"a": 1}


def test_a_sigkilled_cache_write_leaves_nothing_after_the_next_write(tmp_path):
    """A real kill -9 in the middle of a cache write, then the same write again."""
    code = ("import sys, os, time, torch; from idslab.datasets import cache\n"
            "real = os.fsync\n"
            "def slow(fd): print('writing', flush=True); time.sleep(60)\n"
            "os.fsync = slow\n"
            f"cache.save({str(tmp_path / 'c.pt')!r}, {{'x': torch.zeros(1000)}})\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().strip() == "writing"
    p.kill()
    p.wait()
    assert len(list(tmp_path.glob("c.pt.*.tmp"))) == 1 and not (tmp_path / "c.pt").exists()
    cache.save(tmp_path / "c.pt", {"x": torch.ones(3)})
    assert [f.name for f in tmp_path.iterdir()] == ["c.pt"] and cache.load(tmp_path / "c.pt")["x"].sum() == 3


# ----------------------------------------------------------------------------------------- two sweeps, one store
def test_two_sweeps_on_one_store_share_the_work(tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(ex, "run", lambda cfg, data=None, progress=None: _fake_record(cfg, 0.2, log))
    cfgs = [TrainConfig(**TINY, seed=s) for s in range(6)]
    out = {}

    def sweep(name):
        out[name] = ex.run_configs(cfgs, data=streak_data(), results_dir=tmp_path, poll_s=0.05)
    threads = [threading.Thread(target=sweep, args=(n,), name=n) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(s for s, _ in log) == list(range(6))                 # every cell trained exactly once
    for recs in out.values():
        assert [r["config"]["seed"] for r in recs] == list(range(6))   # each sweep returns the whole grid
    assert not list(tmp_path.glob("*.claim"))


def test_a_dead_claimants_cells_are_taken_over(tmp_path, monkeypatch):
    from idslab.claims import Claims, claim_path
    log = []
    monkeypatch.setattr(ex, "run", lambda cfg, data=None, progress=None: _fake_record(cfg, 0, log))
    cfgs = [TrainConfig(**TINY, seed=s) for s in range(2)]
    dead = claim_path(ex.record_path(tmp_path, cfgs[0]))              # killed (same host: its pid is gone)
    dead.write_text(json.dumps({"host": Claims().host, "pid": _dead_pid(), "token": "x"}))
    silent = claim_path(ex.record_path(tmp_path, cfgs[1]))            # another host's, not refreshed for an hour
    silent.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "y"}))
    os.utime(silent, (time.time() - 3600, time.time() - 3600))
    recs = ex.run_configs(cfgs, data=streak_data(), results_dir=tmp_path, poll_s=0.05)   # a wait would hang here
    assert len(log) == 2 and all(r is not None for r in recs)                           # (pytest-timeout ends it)
    assert not list(tmp_path.glob("*.claim*"))


def test_a_live_claim_is_waited_for_then_taken_over_when_its_process_dies(tmp_path, monkeypatch):
    from idslab.claims import Claims, claim_path
    log = []
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    alive_when_run = []

    def run(cfg, data=None, progress=None):
        alive_when_run.append(holder.poll() is None)
        return _fake_record(cfg, 0, log)
    monkeypatch.setattr(ex, "run", run)
    cfg = TrainConfig(**TINY)
    claim_path(ex.record_path(tmp_path, cfg)).write_text(
        json.dumps({"host": Claims().host, "pid": holder.pid, "token": "z"}))
    ex.run_configs([cfg], data=streak_data(), results_dir=tmp_path, poll_s=0.05)
    holder.wait()
    assert alive_when_run == [False] and len(log) == 1     # waited while its claimant lived, then ran it once


_SWEEP = """
import sys, time
from idslab import experiments as ex
from idslab.train import TrainConfig
from tests.conftest import streak_data
def run(cfg, data=None, progress=None):   # a run that takes a while (training is not what is tested here)
    print(cfg.seed, flush=True)
    time.sleep(0.3)
    return {"config": cfg.to_dict(), "metrics": {"mlp_acc": 0.6, "knn_acc": 0.55}, "loss_history": [1.0]}
ex.run = run
import os, pathlib
ready = pathlib.Path(sys.argv[1]) / "ready"
ready.mkdir(exist_ok=True)
(ready / str(os.getpid())).touch()
while len(list(ready.iterdir())) < 2:     # start together: imports take seconds, and differently long
    time.sleep(0.05)
cfgs = [TrainConfig(encoder="cnn16", epochs=1, batch_size=64, n_pretrain=128, n_probe_train=64, n_probe_test=64,
                    seed=s) for s in range(8)]
ex.run_configs(cfgs, data=streak_data(), results_dir=sys.argv[1], poll_s=0.1)
"""


def test_two_processes_on_one_store_train_each_cell_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _SWEEP, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(s) for o in outs for s in o) == list(range(8)) and all(outs), outs
    assert len(list(tmp_path.glob("*.json"))) == 8 and not list(tmp_path.glob("*.claim"))


# ----------------------------------------------------------------------- further cases found beyond the list
def test_a_quoted_tilde_means_the_home_folder(tmp_path, fake_data, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *FAST, "--out", "~/r.json"]) == 0
    assert (tmp_path / "home" / "r.json").is_file() and not (tmp_path / "~").exists()


def test_an_output_that_is_a_symlink_is_written_through(tmp_path, fake_data):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "r.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real" / "r.json")
    assert cli.main(["train", *FAST, "--out", str(tmp_path / "link.json")]) == 0
    assert (tmp_path / "link.json").is_symlink() and "metrics" in json.loads((tmp_path / "real" / "r.json").read_text())


def test_a_file_name_too_long_fails_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "load_data", lambda cfg: pytest.fail("work started"))
    assert cli.main(["train", *FAST, "--out", str(tmp_path / ("a" * 300 + ".json"))]) == 2
    assert "longer than the" in capsys.readouterr().err


def test_when_nothing_can_be_written_the_record_goes_to_stdout(tmp_path, fake_data, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(atomic, "fallback_path", lambda t: tmp_path / "afile" / "no.json")   # the temp folder fails
    real = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda s, d, *a: (_ for _ in ()).throw(OSError(28, "No space left on "
                        "device", s)) if Path(d).name == "r.json" else real(s, d, *a))
    assert cli.main(["train", *FAST, "--out", str(tmp_path / "r.json")]) == 1
    out, err = capsys.readouterr()
    assert "nor to the temp folder" in err and "follows on stdout" in err
    assert json.loads(out[out.index("{"):])["metrics"]["mlp_acc"] >= 0


def test_a_model_that_cannot_be_written_anywhere_still_leaves_its_record(tmp_path, fake_data, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(atomic, "fallback_path", lambda t: tmp_path / "afile" / "m.pt")
    real = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda s, d, *a: (_ for _ in ()).throw(OSError(28, "No space left on "
                        "device", s)) if Path(d).name == "m.pt" else real(s, d, *a))
    assert cli.main(["train", *FAST, "--save-model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "r.json")]) == 1
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["checkpoint"] is None and "nor to the temp folder" in rec["checkpoint_note"]


def test_idslab_data_says_and_exits_1_when_its_cache_is_not_written(tmp_path, monkeypatch, capsys):
    from idslab.datasets import meteor
    fake = {s: (torch.zeros(4, 1, 16, 16), torch.tensor([0, 1, 0, 1]), {k: torch.zeros(4) for k in meteor.TARGETS})
            for s in meteor.SPLITS}
    monkeypatch.setattr(meteor, "generate", lambda *a, **k: {**fake, "info": {"seconds": 0.0, **{
        s: {} for s in meteor.SPLITS}}})
    monkeypatch.setattr(meteor, "echo_stats", lambda **k: {"n": 1, "peak_snr_db": [1, 2, 3],
                                                          "duration_pulses": [1, 2, 3], "extent_per_pulse": [1, 2, 3]})
    import idslab.datasets as D
    monkeypatch.setattr(D, "echo_stats", meteor.echo_stats)
    (tmp_path / "cache").mkdir()
    monkeypatch.setattr(cache, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.warns(UserWarning, match="could not write the data cache .* free space"):
        rc = cli.main(["data", "meteor", "--data-dir", str(tmp_path / "cache"), "--pretrain", "4", "--probe-train",
                       "4", "--probe-test", "4"])
    assert rc == 1 and "NOT written" in capsys.readouterr().out


def test_a_claim_that_cannot_be_written_does_not_block_anyone(tmp_path, monkeypatch):
    from idslab.claims import Claims, claim_path
    real = os.fdopen

    def full(fd, *a, **k):
        f = real(fd, *a, **k)
        f.write = lambda *_: (_ for _ in ()).throw(OSError(28, "No space left on device"))
        return f
    monkeypatch.setattr("idslab.claims.os.fdopen", full)
    assert Claims().claim(tmp_path / "r.json")            # runs without sharing ...
    assert not claim_path(tmp_path / "r.json").exists()   # ... and leaves no empty claim that others would wait on


def test_write_hdf5_cleans_a_killed_writes_leftover(tmp_path):
    dead = tmp_path / f"s.h5.{atomic._host()}-{_dead_pid()}.h5.tmp"
    dead.write_bytes(b"x" * 100)
    A.write_hdf5(tmp_path / "s.h5", np.zeros((2, 8, 8), np.float32))
    assert sorted(f.name for f in tmp_path.iterdir()) == ["s.h5"]


def test_a_new_store_folder_is_claimed_too(tmp_path):
    from idslab.claims import Claims
    a, b = Claims(), Claims()
    b.pid = -1                                             # as another process of this host, alive (its claim fresh)
    assert a.claim(tmp_path / "new" / "r.json") and not b.claim(tmp_path / "new" / "r.json")
    a.close()
