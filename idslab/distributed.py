"""One large pre-training run over several processes: DistributedDataParallel, with every objective's loss computed
on the global batch (idslab.loss, gather=True: NT-Xent's negatives, VICReg's and Barlow Twins' batch statistics).

    torchrun --nproc-per-node 2 -m idslab.distributed_cli --encoder resnet50 --views ids --batch-size 512 --out r.json

It is idslab.train's engine (setup, loop, step, monitor, record) with the views sharded, the model wrapped in DDP, the
loss gathering what it needs and the epoch loss averaged over ranks; the command line lives in
idslab.distributed_cli. BYOL's and SimSiam's loss is a per-sample mean, which DDP's gradient average already makes
the global batch's; BYOL's EMA target is updated identically on every rank (same weights after the same averaged
gradients), so it needs no communication.

`--batch-size` is the *global* batch B (each of the W processes takes B/W samples). Every process draws the same
permutation, the same data views of the global batch and the same λ (all from the same seed), then keeps its own
slice, so the run is the single-process run of idslab.train.pretrain on the same global batch, up to the order of
floating-point sums: the gathered loss sees all 2B - 2 negatives (or the global batch statistics) and DDP's gradient
average equals the single-process gradient (tests/test_distributed.py checks every objective on the CPU with gloo). Computing the views of the global batch on
every process costs little next to a ResNet's forward pass.

Backend: nccl on CUDA (one GPU per process, LOCAL_RANK), gloo on the CPU. BatchNorm (ResNets) becomes SyncBatchNorm
on CUDA so its statistics are the global batch's too; on the CPU BatchNorm stays per process (gloo has no SyncBN
path), which differs slightly from one process; the batch-normalised projection head and predictor (`proj_bn`) do
the same. Rank 0 runs the monitor and the probes and writes the record.
"""
from __future__ import annotations

import os
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .monitor import monitor_set
from .train import (Engine, OnEpoch, Pretrained, Progress, TrainConfig, check_data, check_finite_input, check_tiles,
                    load_data, make_record, save_checkpoint)


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


class DDPEngine(Engine):
    """idslab.train's engine on one rank of a process group: the same set-up on every rank (same seed, so the same
    initial weights, permutation, data views and λ), each rank keeps its slice of the global batch's views, the
    model runs wrapped in DDP, the loss sees the global batch (gather), the epoch loss is averaged over ranks, and
    rank 0 alone runs the monitor."""
    gather = True

    def build(self) -> None:
        # the single path's build (model, Adam, the objective's target: each once) with the model wrapped in DDP
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        super().build()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if self.device.type == "cuda":   # in place below the root: the run's module keeps its (now synced) layers
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def views(self, step: int) -> torch.Tensor:                             # -> (2B/W, C, N, N)
        both = super().views(step)                                          # the global batch's views, same draws
        return torch.cat([shard(half, self.rank, self.world) for half in both.chunk(2)])

    def reduce(self, epoch_loss: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(epoch_loss)                                         # mean over ranks = the global loss
        return epoch_loss / (self.steps_per_epoch * self.world)

    def monitored(self) -> list[torch.nn.Module]:
        return [self.module] if self.rank == 0 else []

    def finish(self, history: list, wall: float, monitor: list) -> list[Pretrained]:
        self.module.eval()
        return [Pretrained(self.module, history, wall, f"{self.device} x{self.world} ({dist.get_backend()})",
                           monitor[0])]


def pretrain_ddp(cfg: TrainConfig, data=None, device: torch.device | None = None,
                 progress: Progress | None = None, on_epoch: OnEpoch | None = None) -> Pretrained:
    """idslab.train.pretrain across the process group: same RNG stream on every rank, global-batch views, each rank
    trains on its slice through DDP, NT-Xent gathers the negatives. Returns the (unwrapped) model on every rank."""
    world = dist.get_world_size()
    device = device or torch.device("cpu")
    if cfg.batch_size % world:
        raise ValueError(f"global batch_size {cfg.batch_size} must divide evenly over {world} processes")
    data = data if data is not None else load_data(cfg)
    check_tiles(cfg, data)
    x = data.pretrain.x.to(device, torch.float32)                       # (n, C, N, N)
    check_finite_input(x)
    return DDPEngine(cfg, x, device, monitor_set(data, device)).fit(progress, on_epoch)[0]


def run_ddp(cfg: TrainConfig, data=None, device: torch.device | None = None,
            checkpoint: str | None = None) -> dict | None:
    """idslab.train.run across the process group. Call on every rank: distributed pre-training, then rank 0 saves
    the checkpoint, runs the probes and returns the record (run()'s, plus "world_size"); other ranks return None."""
    t0 = time.perf_counter()
    data = data if data is not None else load_data(cfg)
    check_data(cfg, data)
    result = pretrain_ddp(cfg, data, device)
    if dist.get_rank() != 0:
        return None
    if checkpoint:
        save_checkpoint(checkpoint, result, cfg, data)
    return make_record(cfg, result, data, t0, world_size=dist.get_world_size())
