"""Stacked vs sequential pre-training, per encoder, side by side in one run: is idslab.multi's stacked path
(K runs in one vmapped step) at least as fast as the same K runs one after another through idslab.train, for every
encoder it stacks (multi.can_stack)? Issue 25: "on this CPU, the stacked path must not be slower than sequential
runs for any encoder it is used for".

    OMP_NUM_THREADS=1 python benchmarks/bench_stack.py --device cpu --threads 1 --k 4 --repeat 2

Same synthetic data, configs (views "ids", seeds 0..K-1) and steps on both paths; one untimed warm-up epoch of each
first. Reports samples/s (all K runs' pre-training samples per wall second), samples per CPU-second of this process
(time.process_time: on a shared machine far steadier than the wall clock) and the ratio stacked / sequential of each;
a ratio below 1 means stacking is slower there. Rounds alternate the two paths so load changes hit both alike.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idslab.encoders import encoder_dims, encoder_tile  # noqa: E402
from idslab.multi import can_stack, pretrain_many  # noqa: E402
from idslab.train import TrainConfig, pretrain, resolve_device  # noqa: E402

DEFAULT = "cnn8,cnn16,cnn32,cnn64,cnn1d512"


def synthetic(n: int, encoder: str):
    """Random inputs of the encoder's shape (throughput does not depend on content), wrapped like an SSLData."""
    from types import SimpleNamespace
    tile = encoder_tile(encoder)
    shape = (n, 1, tile) if encoder_dims(encoder) == 1 else (n, 1, tile, tile)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    split = SimpleNamespace(x=x, y=torch.arange(n) % 2)
    return SimpleNamespace(pretrain=split, probe_train=split, probe_test=split, channels=1, tile=tile)


def configs(encoder: str, k: int, epochs: int, n: int, batch: int, device: str) -> list[TrainConfig]:
    dataset = "spectra" if encoder_dims(encoder) == 1 else "meteor"     # the data are synthetic; checks need a kind
    return [TrainConfig(dataset=dataset, encoder=encoder, views="ids", seed=s, epochs=epochs, n_pretrain=n,
                        batch_size=batch, device=device) for s in range(k)]


def sequential(cfgs, data) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    for c in cfgs:
        pretrain(c, data)
    return time.perf_counter() - w0, time.process_time() - c0


def stacked(cfgs, data) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    pretrain_many(cfgs, data)
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoders", default=DEFAULT, help="comma-separated; each must be one multi.can_stack stacks")
    p.add_argument("--k", type=int, default=4, help="runs per stack")
    p.add_argument("--n", type=int, default=512, help="pre-training samples (synthetic)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--repeat", type=int, default=2, help="rounds (each times both paths)")
    args = p.parse_args(argv)
    if args.k < 2:
        raise SystemExit("--k must be >= 2: stacking one run is the sequential path")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    encs = [e.strip() for e in args.encoders.split(",") if e.strip()]
    for e in encs:
        if not can_stack(configs(e, 1, 1, args.n, args.batch_size, str(device))[0]):
            raise SystemExit(f"--encoders: {e} is not stacked by multi.can_stack (nothing to compare)")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    print(f"\nstacked x{args.k} vs {args.k} sequential runs, views ids, {args.n} samples, batch {args.batch_size}, "
          f"{args.epochs} epochs, device {device} ({name}), torch {torch.__version__}, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| encoder | round | load avg (1 min) | sequential samples/s | stacked samples/s | stacked / sequential "
          "(wall) | sequential samples/CPU-s | stacked samples/CPU-s | stacked / sequential (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for e in encs:
        data = synthetic(args.n, e)
        warm = configs(e, args.k, 1, args.n, args.batch_size, str(device))
        sequential(warm, data), stacked(warm, data)                         # kernels, allocator, vmap tracing
        cfgs = configs(e, args.k, args.epochs, args.n, args.batch_size, str(device))
        samples = args.k * args.epochs * (args.n // args.batch_size) * args.batch_size
        for r in range(args.repeat):
            load = os.getloadavg()[0]
            order = (sequential, stacked) if r % 2 == 0 else (stacked, sequential)
            got = {fn.__name__: fn(cfgs, data) for fn in order}
            (sw, sc), (kw, kc) = got["sequential"], got["stacked"]
            print(f"| {e} | {r + 1} | {load:.1f} | {samples / sw:,.0f} | {samples / kw:,.0f} | {sw / kw:.2f} | "
                  f"{samples / sc:,.0f} | {samples / kc:,.0f} | {sc / kc:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
