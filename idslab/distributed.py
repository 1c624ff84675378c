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
average equals the single-process gradient. The objective's branches see the global batch's views, so whatever
they draw (the masked objective's patch mask) is one process's draw; the networks inside them run on this rank's
rows (DDPEngine._local). Per-view λ is the same draw on every rank by construction; per-sample λ (noise="sample")
is drawn for all 2B views just before the pass that would draw it, and each rank keeps its rows.
tests/test_distributed.py checks every objective with per-sample λ, and 1-D encoders with both noise modes and the
masked objective, on the CPU with gloo: losses equal to 1e-6. Computing the views and per-sample λ of the global
batch on every process costs little next to a ResNet's forward pass (a per-sample convolution site draws a kernel
per view of the global batch on every rank, W times its own share). On CUDA with bf16 autocast one process draws a
linear site's per-sample λ in bf16 and DDP in fp32: the same distribution, not the same numbers.

run_ddp has run()'s front and back (idslab.train.prepare and finish): bad data is refused on every rank before any
collective call, and rank 0 checks the model, builds the record and only then writes the checkpoint, through the
temp-folder fallback.

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

from .perturb import draw_shape, perturbed_layers
from .train import Engine, OnEpoch, Pretrained, Progress, TrainConfig, finish, fit_engine, prepare


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
    initial weights, permutation, data views and λ), the objective's branches on the global batch's views with the
    networks on this rank's slice of them (forward), the model wrapped in DDP, the loss on this rank's rows seeing
    the global batch (gather), the epoch loss averaged over ranks, and rank 0 alone running the monitor."""
    gather = True

    def build(self) -> None:
        # the single path's build (model, Adam, the objective's target: each once) with the model wrapped in DDP
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        super().build()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if self.device.type == "cuda":   # in place below the root: the run's module keeps its (now synced) layers
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        # broadcast_buffers=False: each rank's per-sample λ (the layers' eps buffers, set in _local) is its own rows
        # of the global draw, which DDP's default would overwrite with rank 0's at every forward. static_graph:
        # every step uses the same parameters, and an objective may leave some unused for good (the masked
        # objective's projection head), which DDP's reducer otherwise waits for forever
        return DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                   broadcast_buffers=False, static_graph=True)

    # The objective's branches run on the global batch, as in one process, so that every draw they make (the masked
    # objective's patch mask, per-sample λ) is the single path's draw, in its order, on the RNG stream every rank
    # shares; the networks inside them run on this rank's rows only (_local), and so does the loss (local outputs,
    # and the global ones the branches compute from the views themselves: the masked objective's target and mask).
    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, ...]:   # views (2B, ...) -> branches of 2B/W rows
        return self.objective.branches(self._local(self.model, self.module), self._local(self.target), views)

    def loss(self, out: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return super().loss(tuple(self._rows(t) if t.shape[0] == 2 * self.b else t for t in out))

    def _local(self, net: torch.nn.Module | None, layers: torch.nn.Module | None = None):
        """net (DDP, or BYOL's target) as a function of the global batch's rows (2B, ...) that runs on this rank's
        rows; `layers`: the module holding its perturbation sites (DDP's own module; default net)."""
        if net is None:
            return None
        layers = layers if layers is not None else net

        def run(x: torch.Tensor, *args):
            if self.cfg.noise == "sample":
                self._sample_noise(layers, x.shape[0])
            x = self._rows(x)
            if x.dim() == 4:                                                # images; signals (2B/W, C, L) as they are
                x = x.contiguous(memory_format=torch.channels_last)
            return net(x, *args)
        return run

    def _rows(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global (2B, ...) tensor: its shard of view 1's rows, then of view 2's."""
        return torch.cat([shard(half, self.rank, self.world) for half in t.chunk(2)])

    def _sample_noise(self, model: torch.nn.Module, rows: int) -> None:
        """Per-sample λ (noise="sample") as one process draws it: each of model's perturbed layers' standard-normal
        draw for all `rows` = 2B views of the global batch (shape idslab.perturb.draw_shape), in forward order, just
        before the pass that would draw it (the online network's, then BYOL's target's); each layer then gets this
        rank's rows in its `eps` buffer, which its forward uses instead of drawing. Drawn per rank, the λ of a
        sample would depend on the number of processes. Per-view λ needs nothing: every rank's layers draw the same
        (n_views, *W.shape) λ."""
        for layer in perturbed_layers(model).values():
            if layer.scale > 0:                                             # a site at s_l = 0 draws nothing
                layer.eps = self._rows(torch.randn(draw_shape(layer, rows), device=self.device))

    def reduce(self, epoch_loss: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(epoch_loss)                                         # mean over ranks = the global loss
        return epoch_loss / (self.steps_per_epoch * self.world)

    def monitored(self) -> list[torch.nn.Module]:
        return [self.module] if self.rank == 0 else []

    def finish(self, history: list, wall: float, monitor: list) -> list[Pretrained]:
        for layer in perturbed_layers(self.module).values():
            layer.eps = None                    # the last step's draw: further training would draw its own again
        self.module.eval()
        return [Pretrained(self.module, history, wall, f"{self.device} x{self.world} ({dist.get_backend()})",
                           monitor[0])]


def pretrain_ddp(cfg: TrainConfig, data=None, device: torch.device | None = None,
                 progress: Progress | None = None, on_epoch: OnEpoch | None = None) -> Pretrained:
    """idslab.train.pretrain across the process group: same RNG stream on every rank, global-batch views and λ,
    each rank trains on its slice through DDP, the losses gather what they need. Returns the (unwrapped) model on
    every rank. device: this rank's (distributed.init's; None: the CPU)."""
    data, device = _prepare(cfg, data, device)
    return fit_engine(DDPEngine, cfg, data, device, progress, on_epoch)[0]


def _prepare(cfg: TrainConfig, data, device: torch.device | None, checkpoint: str | None = None) -> tuple:
    """idslab.train.prepare on every rank (the same checks, so every rank refuses the same bad input before any
    collective call), plus the one rule of its own: the global batch divides over the processes."""
    world = dist.get_world_size()
    if cfg.batch_size % world:
        raise ValueError(f"global batch_size {cfg.batch_size} (--batch-size) must divide evenly over {world} "
                         f"processes: use a multiple of {world}")
    return prepare(cfg, data, checkpoint, device if device is not None else torch.device("cpu"))


def run_ddp(cfg: TrainConfig, data=None, device: torch.device | None = None,
            checkpoint: str | None = None) -> dict | None:
    """idslab.train.run across the process group. Call on every rank: the same front (prepare), distributed
    pre-training, then on rank 0 the same back (idslab.train.finish: non-finite checks, probes, the record, then
    the checkpoint with the temp-folder fallback) and the record (run()'s, plus "world_size"); other ranks return
    None."""
    t0 = time.perf_counter()
    data, device = _prepare(cfg, data, device, checkpoint)
    result = fit_engine(DDPEngine, cfg, data, device)[0]
    if dist.get_rank() != 0:
        return None
    return finish(cfg, result, data, t0, checkpoint, world_size=dist.get_world_size())
