"""DDP with every objective and both noise modes equals one process on the same global batch (gloo, 2 CPU
processes), and run_ddp has run()'s front and back: bad data refused before training, the checkpoint written only
after the record, through the temp-folder fallback."""
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from idslab.loss import nt_xent
from idslab.train import TrainConfig, build_model, pretrain
from tests.conftest import signal_data, streak_data

WORLD = 2
OBJECTIVES = ("ntxent", "byol", "simsiam", "vicreg", "barlow")
CFG = dict(encoder="cnn16", views="ids+flip", epochs=1, batch_size=32, n_pretrain=64, device="cpu", seed=3, knn_k=5)
# per-sample λ on a convolution and a linear layer: each sample's λ must be the one it gets in one process
SAMPLE = dict(noise="sample", sites={"features.0": 0.05, "fc1": 0.05})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 1, 16, 16, generator=g), torch.randn(8, 1, 16, 16, generator=g)   # two views, B = 8


def _single():
    """Loss and gradients of one process on the global batch, with the same λ draws (seed 1 before forward)."""
    torch.manual_seed(0)
    model = build_model(TrainConfig(encoder="cnn16"), 1)
    v1, v2 = _batch()
    torch.manual_seed(1)
    z = model(torch.cat([v1, v2]))
    loss = nt_xent(z[:8], z[8:], 0.5)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from torch.nn.parallel import DistributedDataParallel as DDP

        from idslab import distributed as idist
        torch.manual_seed(0)
        model = build_model(TrainConfig(encoder="cnn16"), 1)
        ddp = DDP(model)
        v1, v2 = _batch()
        local = torch.cat([idist.shard(v1, rank, WORLD), idist.shard(v2, rank, WORLD)])
        torch.manual_seed(1)
        z = ddp(local)
        loss = nt_xent(z[:4], z[4:], 0.5, gather=True)
        loss.backward()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        # one short end-to-end pre-training through the module's own loop
        res = idist.pretrain_ddp(TrainConfig(**CFG), streak_data(n=(64, 16, 16)))
        objectives = {o: idist.pretrain_ddp(TrainConfig(**CFG, **SAMPLE, objective=o), streak_data(n=(64, 16, 16)))
                      for o in OBJECTIVES}
        rec = idist.run_ddp(TrainConfig(**{**CFG, "epochs": 0}), streak_data(n=(64, 16, 16)))
        assert (rec is None) == (rank != 0)
        if rank == 0:
            torch.save({"loss": mean / WORLD, "grads": {n: p.grad.clone() for n, p in model.named_parameters()},
                        "history": res.loss_history, "state": res.model.state_dict(), "record": rec,
                        "objectives": {o: (r.loss_history, r.model.state_dict(), r.monitor)
                                       for o, r in objectives.items()}}, out)
    finally:
        dist.destroy_process_group()


def test_ddp_loss_and_gradients_equal_one_process(tmp_path):
    out = str(tmp_path / "rank0.pt")
    # fork: the workers inherit the imported torch instead of re-importing it (seconds on a busy 2-core CPU)
    mp.start_processes(_worker, args=(_free_port(), out), nprocs=WORLD, join=True, start_method="fork")
    got = torch.load(out, weights_only=False)
    loss, grads = _single()
    torch.testing.assert_close(got["loss"], loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == got["grads"].keys()
    for name, g in grads.items():
        torch.testing.assert_close(got["grads"][name], g, rtol=1e-4, atol=1e-6, msg=f"gradient of {name}")
    # one record builder: the DDP record is run()'s plus world_size
    from idslab.train import run
    single = run(TrainConfig(**{**CFG, "epochs": 0}), streak_data(n=(64, 16, 16)))
    assert set(got["record"]) - set(single) == {"world_size"} and got["record"]["world_size"] == WORLD
    assert got["record"]["device_name"] == single["device_name"]
    # the distributed training loop follows the single-process one (same permutation, views, λ) step for step
    ref = pretrain(TrainConfig(**CFG), streak_data(n=(64, 16, 16)))
    assert got["history"] == pytest.approx(ref.loss_history, rel=1e-4)
    for name, t in ref.model.state_dict().items():
        torch.testing.assert_close(got["state"][name], t, rtol=1e-3, atol=1e-4, msg=name)
    # every objective with per-sample λ: the same losses (VICReg and Barlow Twins on gathered batch statistics),
    # BYOL's EMA target and predictor included (its target's sites draw their own λ after the online ones); rank 0
    # ran the monitor
    from idslab.probes import embed
    from idslab.train import build_model
    assert set(got["objectives"]) == set(OBJECTIVES)
    for o, (history, state, monitor) in got["objectives"].items():
        ref = pretrain(TrainConfig(**CFG, **SAMPLE, objective=o), streak_data(n=(64, 16, 16)))
        assert history == pytest.approx(ref.loss_history, rel=1e-6), o
        assert len(monitor) == CFG["epochs"] and state.keys() == ref.model.state_dict().keys()
        model = build_model(TrainConfig(**CFG, **SAMPLE, objective=o), 1)
        model.load_state_dict(state)
        x = streak_data(n=(64, 16, 16)).probe_test.x
        h, h_ref = embed(model.encoder, x), embed(ref.model.encoder, x)
        assert float((h - h_ref).norm() / h_ref.norm()) < 1e-3, o


CFG_1D = dict(dataset="spectra", encoder="cnn1d64", views="ids+flip", sites={"all": 0.05}, epochs=1, batch_size=32,
              n_pretrain=64, device="cpu", seed=3, knn_k=5)
# the masked objective (1-D only): its patch mask, drawn inside the objective's branches, must be one process's too
# and the view 'reobserve', which reads the pre-training split's inverse variance (Split.ivar)
VARIANTS_1D = {"view": {}, "sample": dict(noise="sample"), "masked": dict(objective="masked"),
               "masked, sample": dict(objective="masked", noise="sample"), "reobserve": dict(views="ids+reobserve")}


def _signals():
    data = signal_data(n=(64, 16, 16))
    data.pretrain.ivar = torch.ones_like(data.pretrain.x)          # signal_data's noise has unit variance
    return data


def _worker_1d(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from idslab import distributed as idist
        res = {k: idist.pretrain_ddp(TrainConfig(**{**CFG_1D, **v}), _signals())
               for k, v in VARIANTS_1D.items()}
        if rank == 0:
            torch.save({k: (r.loss_history, r.model.state_dict()) for k, r in res.items()}, out)
    finally:
        dist.destroy_process_group()


def test_ddp_takes_1d_encoders(tmp_path):
    """A 1-D encoder with conv sites trains under DDP exactly as in one process on the same global batch: per-view
    and per-sample λ, the masked objective (its projection head unused: DDP's static graph), and a view that reads
    the inverse variance."""
    out = str(tmp_path / "rank0.pt")
    mp.start_processes(_worker_1d, args=(_free_port(), out), nprocs=WORLD, join=True, start_method="fork")
    got = torch.load(out, weights_only=False)
    assert set(got) == set(VARIANTS_1D)
    for k, v in VARIANTS_1D.items():
        history, state = got[k]
        ref = pretrain(TrainConfig(**{**CFG_1D, **v}), _signals())
        assert history == pytest.approx(ref.loss_history, rel=1e-6), k
        for name, t in ref.model.state_dict().items():
            torch.testing.assert_close(state[name], t, rtol=1e-3, atol=1e-4, msg=f"{k}: {name}")


def test_the_torchrun_entry_point_parses_train_flags():
    """`torchrun -m idslab.distributed_cli` is the command line (idslab.distributed itself imports no CLI)."""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "idslab.distributed_cli", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and "--batch-size" in p.stdout and "global batch" in p.stdout


# ---------------------------------------------------------------------------------- run_ddp's front and back
SMALL = dict(CFG, views="ids", n_probe_train=16, n_probe_test=16)


def one_class(data):
    """data with a probe-test split of one class: run() refuses it (a probe would measure nothing)."""
    data.probe_test.y = torch.zeros_like(data.probe_test.y)
    return data


def _attempt(fn):
    try:
        return fn()
    except Exception as e:  # the outcome is the test's to judge, in the parent process
        return f"{type(e).__name__}: {e}"


def _worker_front_back(rank, port, tmp):
    """Each case on both ranks; rank 0 saves what happened (the return value or the exception) and which files
    exist afterwards."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from idslab import atomic
        from idslab import distributed as idist
        from idslab import train
        trained = []
        fit = idist.DDPEngine.fit
        got = {}
        with pytest.MonkeyPatch.context() as m:
            m.setattr(idist.DDPEngine, "fit", lambda self, *a: trained.append(1) or fit(self, *a))
            got["one_class_run"] = _attempt(lambda: idist.run_ddp(TrainConfig(**SMALL), one_class(
                streak_data(n=(64, 16, 16)))))
            got["one_class_pretrain"] = _attempt(lambda: idist.pretrain_ddp(TrainConfig(**SMALL), one_class(
                streak_data(n=(64, 16, 16)))))
            got["trained_on_bad_data"] = len(trained)
        # one Adam step of lr 1e30: finite weights of size 1e30, whose encoder output overflows
        huge = TrainConfig(**{**SMALL, "n_pretrain": 32, "lr": 1e30})
        got["huge"] = _attempt(lambda: idist.run_ddp(huge, streak_data(n=(32, 16, 16)), checkpoint=f"{tmp}/huge.pt"))
        with pytest.MonkeyPatch.context() as m:   # the record fails (a probe): no model file may be left
            m.setattr(train, "evaluate", lambda *a: (_ for _ in ()).throw(RuntimeError("the probe failed")))
            got["probe_fails"] = _attempt(lambda: idist.run_ddp(TrainConfig(**SMALL), streak_data(n=(64, 16, 16)),
                                                                checkpoint=f"{tmp}/probe.pt"))
        with pytest.MonkeyPatch.context() as m:   # a full disk at the checkpoint's own path: the temp folder
            real = os.replace
            m.setattr(atomic.os, "replace", lambda s, d, *a, **k: (_ for _ in ()).throw(
                OSError(28, "No space left on device", s)) if str(d) == f"{tmp}/full.pt" else real(s, d, *a, **k))
            m.setattr(atomic, "fallback_path", lambda t: Path(tmp) / "fallback" / Path(t).name)
            got["full_disk"] = _attempt(lambda: idist.run_ddp(TrainConfig(**SMALL), streak_data(n=(64, 16, 16)),
                                                              checkpoint=f"{tmp}/full.pt"))
        if rank == 0:
            got["files"] = sorted(str(p.relative_to(tmp)) for p in Path(tmp).rglob("*.pt"))
            torch.save(got, f"{tmp}/got")
    finally:
        dist.destroy_process_group()


def test_run_ddp_validates_first_and_writes_the_checkpoint_after_the_record(tmp_path):
    """run_ddp = run(): a one-class probe split is refused on every rank before any training step (pretrain_ddp
    too); a diverged model (finite weights, non-finite output) and a failing record leave no checkpoint; a
    checkpoint whose path fails goes to the temp folder and the record says where and why."""
    mp.start_processes(_worker_front_back, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True,
                       start_method="fork")
    got = torch.load(tmp_path / "got", weights_only=False)
    for case in ("one_class_run", "one_class_pretrain"):
        assert got[case].startswith("ValueError") and "one class" in got[case], got[case]
    assert got["trained_on_bad_data"] == 0
    assert got["huge"].startswith("FloatingPointError") and "diverged" in got["huge"], got["huge"]
    assert got["probe_fails"] == "RuntimeError: the probe failed"
    rec = got["full_disk"]
    assert isinstance(rec, dict), rec
    assert rec["checkpoint"] == str(tmp_path / "fallback" / "full.pt") and "No space left" in rec["checkpoint_note"]
    assert rec["world_size"] == WORLD and rec["metrics"]["mlp_acc"] >= 0
    assert got["files"] == ["fallback/full.pt"]          # nothing from the diverged run or the failed record
