"""Before/after of the CPU speed changes of issue 11, side by side in one process: one CNN-16 training step (views ->
forward -> NT-Xent -> Adam) as the engine runs it now (conv -> maxpool -> ReLU in place, channels_last) and as it
ran before (conv -> ReLU -> maxpool, default layout), plus the tutorial reference's step; rounds alternate so load
changes hit all alike. Reports wall and CPU (time.process_time) seconds per step, best of the rounds.

    python benchmarks/ab_cpu_step.py --rounds 5 --threads 1
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_throughput import TwoViews, synthetic  # noqa: E402
from idslab.loss import nt_xent  # noqa: E402
from idslab.train import Engine, TrainConfig  # noqa: E402


def relu_first(seq: nn.Sequential) -> nn.Sequential:
    """The encoder's blocks in the previous order: conv -> ReLU -> maxpool (same values, 4x the ReLU work)."""
    mods, out, i = list(seq), [], 0
    while i < len(mods):
        if isinstance(mods[i], nn.MaxPool2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU):
            out += [nn.ReLU(), mods[i]]
            i += 2
        else:
            out.append(mods[i])
            i += 1
    return nn.Sequential(*out)


def engine_step(data, encoder: str, before: bool):
    cfg = TrainConfig(encoder=encoder, views="flip", batch_size=256, device="cpu", n_pretrain=len(data.pretrain.x))
    e = Engine(cfg, data.pretrain.x, torch.device("cpu"))
    if before:
        e.model.encoder.features = relu_first(e.model.encoder.features)
        e.model = e.model.to(memory_format=torch.contiguous_format)
        e.forward = lambda views: e.objective.branches(e.model, e.target, views)   # the engine's, without channels_last
        e.opt = torch.optim.Adam(e.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return stepper(e)


def stepper(e: Engine):
    """A callable that runs the engine's next training step (a new epoch's permutation first, then wrapping)."""
    e.new_epoch()
    state = {"s": 0}

    def step():
        e.step(state["s"] % e.steps_per_epoch)
        state["s"] += 1
    return step


def reference_step(data, encoder: str):
    from idslab.encoders import SimCLRModel, build_encoder
    model = SimCLRModel(build_encoder(encoder, 1)).train()
    model.encoder.features = relu_first(model.encoder.features)             # as the tutorial writes the blocks
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    loader = torch.utils.data.DataLoader(TwoViews(data.pretrain.x), batch_size=256, shuffle=True, drop_last=True)
    it = iter(loader)

    def step():
        nonlocal it
        try:
            v1, v2 = next(it)
        except StopIteration:
            it = iter(loader)
            v1, v2 = next(it)
        loss = nt_xent(model(v1), model(v2), 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", default="cnn16")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=4, help="steps per round and pipeline")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = synthetic(2048, 1, int(args.encoder[3:]))
    runs = {"reference (tutorial)": reference_step(data, args.encoder),
            "idslab before (relu->pool, NCHW)": engine_step(data, args.encoder, True),
            "idslab now (pool->relu, channels_last)": engine_step(data, args.encoder, False)}
    for f in runs.values():
        f()                                                                   # warm-up
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for k, f in runs.items():
            t, c = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                f()
            wall[k].append((time.perf_counter() - t) / args.steps)
            cpu[k].append((time.process_time() - c) / args.steps)
    ref_w, ref_c = min(wall["reference (tutorial)"]), min(cpu["reference (tutorial)"])
    print(f"{args.encoder}, batch 256, {args.threads} torch thread(s), {args.rounds} rounds x {args.steps} steps, "
          f"load average {min(loads):.1f}-{max(loads):.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| pipeline | wall s/step (best) | x reference | CPU s/step (best) | x reference (CPU) |\n|---|---:|---:|---:|---:|")
    for k in runs:
        print(f"| {k} | {min(wall[k]):.3f} | {ref_w / min(wall[k]):.2f} | {min(cpu[k]):.3f} | "
              f"{ref_c / min(cpu[k]):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
