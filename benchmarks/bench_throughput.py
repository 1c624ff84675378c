"""Pre-training throughput: idslab's training path vs the usual tutorial pipeline, same encoder, data and batch.

    python benchmarks/bench_throughput.py --encoder cnn16 --batch-size 256 --steps 30 --device auto

Pipelines (samples per second = pre-training samples consumed per second, each sample giving two views):
  reference   torchvision per-sample transforms (random h/v flip + rotation by any angle, the paper's baseline views)
              in a Dataset/DataLoader, two forward passes (one per view), one model at a time: the SimCLR tutorial
              loop. --workers sets DataLoader workers (0: in the main process).
  idslab flip idslab.train.pretrain, views="flip": data resident on the device, views as batched tensor ops, both
              views in one stacked forward, bf16 autocast on CUDA.
  idslab ids  the same with views="ids" (no data transform; weight noise at fc1).
  stacked xK  idslab.multi.pretrain_many: K runs (seeds) of views="ids" trained at once with torch.func/vmap;
              samples/s counts all K runs' samples.
Timed regions exclude one warm-up step/epoch; CUDA is synchronised before the clock stops. --repeat R measures
all pipelines R times in turn (so load changes hit them alike) and prints each round's ratios with the load average.
Besides wall-clock samples/s, on the CPU (DataLoader workers 0) it prints samples per CPU-second of this process
(time.process_time): on a machine shared with other jobs that ratio is far steadier than the wall-clock one.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idslab.encoders import build_encoder, encoder_tile  # noqa: E402
from idslab.loss import nt_xent  # noqa: E402
from idslab.train import TrainConfig, pretrain, resolve_device  # noqa: E402
from idslab.encoders import SimCLRModel  # noqa: E402


def synthetic(n: int, channels: int, tile: int):
    """Random tiles of the right shape (throughput does not depend on content), wrapped like idslab's SSLData."""
    from types import SimpleNamespace
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, channels, tile, tile, generator=g)
    y = torch.arange(n) % 2
    split = SimpleNamespace(x=x, y=y)
    return SimpleNamespace(pretrain=split, probe_train=split, probe_test=split, channels=channels, tile=tile)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------------- reference
class TwoViews(torch.utils.data.Dataset):
    """Per-sample torchvision transforms, two independent views per item (the SimCLR tutorial's Dataset)."""

    def __init__(self, x):
        import torchvision.transforms.v2 as T
        self.x = x
        self.t = T.Compose([T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(360)])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.t(self.x[i]), self.t(self.x[i])


def reference(x, cfg: TrainConfig, steps: int, workers: int, device) -> float:
    torch.manual_seed(0)
    model = SimCLRModel(build_encoder(cfg.encoder, x.shape[1])).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = torch.utils.data.DataLoader(TwoViews(x), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    done, t0, c0 = -1, None, None
    while done < steps:
        for v1, v2 in loader:
            if done == 0:                                    # first step is warm-up
                _sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
            v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
            loss = nt_xent(model(v1), model(v2), cfg.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done >= steps:
                break
    _sync(device)
    return steps * cfg.batch_size, time.perf_counter() - t0, time.process_time() - c0


# ------------------------------------------------------------------------------------------------- idslab
def idslab_path(data, cfg: TrainConfig, steps: int) -> float:
    per_epoch = data.pretrain.x.shape[0] // cfg.batch_size
    epochs = max(1, math.ceil(steps / per_epoch))
    pretrain(TrainConfig(**{**cfg.to_dict(), "epochs": 1}), data)           # warm-up (kernels, allocator)
    c0 = time.process_time()
    res = pretrain(TrainConfig(**{**cfg.to_dict(), "epochs": epochs}), data)
    return epochs * per_epoch * cfg.batch_size, res.wall_s, time.process_time() - c0   # CPU time: set-up included


def stacked_path(data, cfg: TrainConfig, steps: int, k: int) -> float:
    from idslab.multi import pretrain_many
    per_epoch = data.pretrain.x.shape[0] // cfg.batch_size
    epochs = max(1, math.ceil(steps / per_epoch))
    mk = lambda e: [TrainConfig(**{**cfg.to_dict(), "epochs": e, "seed": s}) for s in range(k)]
    pretrain_many(mk(1), data)                                             # warm-up
    c0 = time.process_time()
    res = pretrain_many(mk(epochs), data)
    return k * epochs * per_epoch * cfg.batch_size, res[0].wall_s * k, time.process_time() - c0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", default="cnn16")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=30, help="timed optimiser steps per pipeline")
    p.add_argument("--n", type=int, default=4096, help="pre-training samples (synthetic)")
    p.add_argument("--channels", type=int, default=1, help="1 = radar, 3 = RGB")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the reference")
    p.add_argument("--stack", type=int, default=8, help="K runs for the stacked pipeline (0: skip)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--repeat", type=int, default=1, help="measure every pipeline this many times, in turn")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    tile = encoder_tile(args.encoder)
    data = synthetic(args.n, args.channels, tile)
    base = dict(encoder=args.encoder, batch_size=args.batch_size, device=str(device), n_pretrain=args.n)
    pipelines = [
        ("reference (torchvision + DataLoader, 1 model)",
         lambda: reference(data.pretrain.x, TrainConfig(**base, views="flip"), args.steps, args.workers, device)),
        ("idslab flip (device-resident, batched views)",
         lambda: idslab_path(data, TrainConfig(**base, views="flip"), args.steps)),
        ("idslab ids", lambda: idslab_path(data, TrainConfig(**base, views="ids"), args.steps))]
    if args.stack > 1 and args.encoder.startswith("cnn"):
        pipelines.append((f"idslab ids, stacked x{args.stack} (torch.func)",
                          lambda: stacked_path(data, TrainConfig(**base, views="ids"), args.steps, args.stack)))
    cpu_ratio = device.type == "cpu" and args.workers == 0      # worker processes' CPU time is not ours to count
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    print(f"\n{args.encoder}, tile {tile}, batch {args.batch_size}, {args.steps} timed steps, "
          f"device {device} ({name}), torch {torch.__version__}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    head = "| round | load avg (1 min) | pipeline | samples/s | x reference |" + \
        (" samples/CPU-s | x reference (CPU) |" if cpu_ratio else "")
    print(head + "\n|" + "---|" * (head.count("|") - 1))
    for r in range(args.repeat):
        load = os.getloadavg()[0]
        rows = [(label, *fn()) for label, fn in pipelines]
        ref_wall, ref_cpu = rows[0][1] / rows[0][2], rows[0][1] / max(rows[0][3], 1e-9)
        for label, n, wall, cpu in rows:
            line = f"| {r + 1} | {load:.1f} | {label} | {n / wall:,.0f} | {n / wall / ref_wall:.2f} |"
            if cpu_ratio:
                line += f" {n / cpu:,.0f} | {n / cpu / ref_cpu:.2f} |"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
