"""One large pre-training run over several processes: DistributedDataParallel + NT-Xent with negatives gathered
across processes (idslab.loss.nt_xent(..., gather=True)).

    torchrun --nproc-per-node 2 -m idslab.distributed --encoder resnet50 --views ids --batch-size 512 --out r.json

`--batch-size` is the *global* batch B (each of the W processes takes B/W samples). Every process draws the same
permutation, the same data views of the global batch and the same λ (all from the same seed), then keeps its own
slice, so the run is the single-process run of idslab.train.pretrain on the same global batch, up to the order of
floating-point sums: the gathered loss sees all 2B - 2 negatives and DDP's gradient average equals the single-process
gradient (tests/test_distributed.py checks both on the CPU with gloo). Computing the views of the global batch on
every process costs little next to a ResNet's forward pass.

Backend: nccl on CUDA (one GPU per process, LOCAL_RANK), gloo on the CPU. BatchNorm (ResNets) becomes SyncBatchNorm
on CUDA so its statistics are the global batch's too; on the CPU BatchNorm stays per process (gloo has no SyncBN
path), which differs slightly from one process. Rank 0 runs the probes and writes the record.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .loss import nt_xent
from .train import Pretrained, TrainConfig, build_model, load_data, probe_config, seed_everything
from .views import parse_views


def init(backend: str | None = None) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT). -> (rank, world, device)."""
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if dist.get_backend() == "nccl":
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def shard(t: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This process's contiguous slice of a global batch (B, ...) -> (B / W, ...)."""
    b = t.shape[0] // world
    return t[rank * b:(rank + 1) * b]


def pretrain_ddp(cfg: TrainConfig, data=None, device: torch.device | None = None) -> Pretrained:
    """idslab.train.pretrain across the process group: same RNG stream on every rank, global-batch views, each rank
    trains on its slice through DDP, NT-Xent gathers the negatives. Returns the (unwrapped) model on every rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    device = device or torch.device("cpu")
    if cfg.batch_size % world:
        raise ValueError(f"global batch_size {cfg.batch_size} must divide evenly over {world} processes")
    data = data if data is not None else load_data(cfg)
    seed_everything(cfg.seed)                                            # identical on every rank, on purpose
    x = data.pretrain.x.to(device, torch.float32)                       # (n, C, N, N)
    n, b = x.shape[0], cfg.batch_size
    if n < b:
        raise ValueError(f"batch_size {b} exceeds the {n} pre-training samples: lower --batch-size")
    model = build_model(cfg, x.shape[1])
    model.encoder.in_mean.copy_(x.mean(dim=(0, 2, 3)))
    model.encoder.in_std.copy_(x.std(dim=(0, 2, 3)).clamp_min(1e-6))
    model.to(device).train()
    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    spec = parse_views(cfg.views)
    opt = torch.optim.Adam(ddp.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = cfg.amp and device.type == "cuda"
    steps, history = n // b, []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, device=device)
        epoch_loss = torch.zeros((), device=device)
        for step in range(steps):
            xb = x[perm[step * b:(step + 1) * b]]                        # the global batch (B, C, N, N)
            v1, v2 = spec(xb), spec(xb)                                  # same draws as one process would make
            local = torch.cat([shard(v1, rank, world), shard(v2, rank, world)])  # (2B/W, ...)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                z = ddp(local)                                           # λ1, λ2 drawn inside, same on all ranks
            half = z.shape[0] // 2
            loss = nt_xent(z[:half], z[half:], cfg.temperature, gather=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()                                              # DDP averages the gradients over ranks
            opt.step()
            epoch_loss += loss.detach()
        dist.all_reduce(epoch_loss)                                      # mean over ranks = the global-batch loss
        mean_loss = float(epoch_loss) / (steps * world)
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"NT-Xent became {mean_loss} in epoch {epoch + 1}: lower --lr or --sl")
        history.append(mean_loss)
        if rank == 0:
            print(f"epoch {epoch + 1}/{cfg.epochs}: loss {mean_loss:.4f}", flush=True)
    wall = time.perf_counter() - t0
    model.eval()
    return Pretrained(model, history, wall, f"{device} x{world} ({dist.get_backend()})")


def _record(cfg: TrainConfig, data, result: Pretrained, t0: float) -> dict:
    """The same record as idslab.train.run, for a distributed pre-training (probes on this process)."""
    import platform

    from . import __version__
    from .probes import evaluate
    metrics = evaluate(result.model.encoder, data, probe_config(cfg))
    dev = next(result.model.parameters()).device
    return {"config": cfg.to_dict(), "loss_history": result.loss_history, "metrics": metrics,
            "pretrain_s": result.wall_s, "wall_s": time.perf_counter() - t0, "device": result.device,
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.machine(),
            "versions": {"idslab": __version__, "torch": torch.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main(argv: list[str] | None = None) -> int:
    from .cli import add_config_args, config_from_args

    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node W -m idslab.distributed",
                                description="One pre-training over W processes (DDP, negatives gathered), then the "
                                            "probes on rank 0. --batch-size is the global batch.")
    add_config_args(p, skip=("device",))
    p.add_argument("--out", help="rank 0 writes the JSON record here")
    p.add_argument("--checkpoint", help="rank 0 saves the model here")
    args = p.parse_args(argv)
    rank, world, device = init()
    try:
        cfg = config_from_args(args, device=str(device.type))
        data = load_data(cfg)
        t0 = time.perf_counter()
        result = pretrain_ddp(cfg, data, device)
        if rank == 0:
            from .train import save_checkpoint, write_json
            rec = _record(cfg, data, result, t0)
            rec["world_size"] = world
            m = rec["metrics"]
            print(f"mlp {m['mlp_acc']:.4f}  knn {m['knn_acc']:.4f}  pretrain {result.wall_s:.1f} s on "
                  f"{result.device}", flush=True)
            if args.out:
                write_json(args.out, rec)
            if args.checkpoint:
                save_checkpoint(args.checkpoint, result, cfg)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
