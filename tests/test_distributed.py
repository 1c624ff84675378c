"""DDP with every objective equals one process on the same global batch (gloo, 2 CPU processes)."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from idslab.loss import nt_xent
from idslab.train import TrainConfig, build_model, pretrain
from tests.conftest import signal_data, streak_data

WORLD = 2
OBJECTIVES = ("byol", "simsiam", "vicreg", "barlow")
CFG = dict(encoder="cnn16", views="ids+flip", epochs=1, batch_size=32, n_pretrain=64, device="cpu", seed=3)


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
        objectives = {o: idist.pretrain_ddp(TrainConfig(**CFG, objective=o), streak_data(n=(64, 16, 16)))
                      for o in OBJECTIVES}
        rec = idist.run_ddp(TrainConfig(**{**CFG, "epochs": 0, "knn_k": 5}), streak_data(n=(64, 16, 16)))
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
    single = run(TrainConfig(**{**CFG, "epochs": 0, "knn_k": 5}), streak_data(n=(64, 16, 16)))
    assert set(got["record"]) - set(single) == {"world_size"} and got["record"]["world_size"] == WORLD
    assert got["record"]["device_name"] == single["device_name"]
    # the distributed training loop follows the single-process one (same permutation, views, λ) step for step
    ref = pretrain(TrainConfig(**CFG), streak_data(n=(64, 16, 16)))
    assert got["history"] == pytest.approx(ref.loss_history, rel=1e-4)
    for name, t in ref.model.state_dict().items():
        torch.testing.assert_close(got["state"][name], t, rtol=1e-3, atol=1e-4, msg=name)
    # every objective: the same losses (VICReg and Barlow Twins on gathered batch statistics), BYOL's EMA target and
    # predictor included; rank 0 ran the monitor
    from idslab.probes import embed
    from idslab.train import build_model
    for o, (history, state, monitor) in got["objectives"].items():
        ref = pretrain(TrainConfig(**CFG, objective=o), streak_data(n=(64, 16, 16)))
        assert history == pytest.approx(ref.loss_history, rel=1e-4), o
        assert len(monitor) == CFG["epochs"] and state.keys() == ref.model.state_dict().keys()
        model = build_model(TrainConfig(**CFG, objective=o), 1)
        model.load_state_dict(state)
        x = streak_data(n=(64, 16, 16)).probe_test.x
        h, h_ref = embed(model.encoder, x), embed(ref.model.encoder, x)
        assert float((h - h_ref).norm() / h_ref.norm()) < 1e-3, o


CFG_1D = dict(dataset="spectra", encoder="cnn1d64", views="ids+flip", sites={"all": 0.05}, epochs=1, batch_size=32, n_pretrain=64,
              device="cpu", seed=3)


def _worker_1d(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from idslab import distributed as idist
        res = idist.pretrain_ddp(TrainConfig(**CFG_1D), signal_data(n=(64, 16, 16)))
        if rank == 0:
            torch.save({"history": res.loss_history, "state": res.model.state_dict()}, out)
    finally:
        dist.destroy_process_group()


def test_ddp_takes_1d_encoders(tmp_path):
    """A 1-D encoder with conv sites trains under DDP exactly as in one process on the same global batch."""
    out = str(tmp_path / "rank0.pt")
    mp.start_processes(_worker_1d, args=(_free_port(), out), nprocs=WORLD, join=True, start_method="fork")
    got = torch.load(out, weights_only=False)
    ref = pretrain(TrainConfig(**CFG_1D), signal_data(n=(64, 16, 16)))
    assert got["history"] == pytest.approx(ref.loss_history, rel=1e-4)
    for name, t in ref.model.state_dict().items():
        torch.testing.assert_close(got["state"][name], t, rtol=1e-3, atol=1e-4, msg=name)


def test_the_torchrun_entry_point_parses_train_flags():
    """`torchrun -m idslab.distributed_cli` is the command line (idslab.distributed itself imports no CLI)."""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "idslab.distributed_cli", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and "--batch-size" in p.stdout and "global batch" in p.stdout
