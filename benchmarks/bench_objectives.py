"""What the objectives and the per-epoch monitor cost, side by side in one run (issue 18).

    python benchmarks/bench_objectives.py [--encoder cnn16] [--steps 15] [--rounds 5] [--threads 1] [--device auto]

Per step: Engine.step (views -> forward -> loss -> Adam -> after-step) of each objective on the meteor tiles of the
encoder's size at the protocol's batch (B = 256, so 512 views), IDS at fc1 s_l = 0.02; the objectives take turns
within each round (so drift of a shared machine's load hits all alike) and the table gives the median over rounds
as a ratio to NT-Xent.
Monitor: one epoch of steps (n_pretrain / B of them) against one idslab.monitor.measure call at the notebooks' CPU
sizes (4000 / 2000 / 600 tiles), i.e. what the monitor adds to an epoch.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idslab.datasets import Sizes, load  # noqa: E402
from idslab.monitor import measure, monitor_set  # noqa: E402
from idslab.objectives import OBJECTIVES  # noqa: E402
from idslab.encoders import encoder_tile  # noqa: E402
from idslab.train import Engine, TrainConfig, resolve_device  # noqa: E402


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="cnn16")
    p.add_argument("--steps", type=int, default=15, help="timed steps per objective and round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (1: what the notebooks and the study scripts use on a 2-core CPU)")
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    data = load("meteor", encoder_tile(a.encoder), sizes=Sizes(4000, 2000, 600))
    x = data.pretrain.x.to(dev)
    engines = {o: Engine(TrainConfig(encoder=a.encoder, objective=o, device=str(dev)), x, dev) for o in OBJECTIVES}
    for e in engines.values():                      # warm-up: first-call allocations, oneDNN kernel choice
        e.new_epoch()
        for s in range(3):
            e.step(s, s + 1, 1000)
    times = {o: [] for o in OBJECTIVES}
    for _ in range(a.rounds):
        for o, e in engines.items():
            e.new_epoch()
            sync(dev)
            t = time.perf_counter()
            for s in range(a.steps):
                e.step(s % e.steps_per_epoch, s + 1, 1000)
            sync(dev)
            times[o].append((time.perf_counter() - t) / a.steps)
    load_avg = os.getloadavg()[0]
    print(f"{a.encoder}, batch 256, device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load_avg:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    base = statistics.median(times["ntxent"])
    best = min(times["ntxent"])
    print("| objective | ms per step, median of rounds | × NT-Xent | fastest round | × NT-Xent |\n"
          "|---|---:|---:|---:|---:|")
    for o, ts in times.items():
        m = statistics.median(ts)
        print(f"| {o} | {1e3 * m:.1f} | {m / base:.2f} | {1e3 * min(ts):.1f} | {min(ts) / best:.2f} |")

    ms = monitor_set(data, dev)
    e = engines["ntxent"]
    per_epoch = base * e.steps_per_epoch
    mon = []
    for _ in range(a.rounds):
        sync(dev)
        t = time.perf_counter()
        measure(e.model, ms)
        sync(dev)
        mon.append(time.perf_counter() - t)
    m = statistics.median(mon)
    print(f"\nmonitor: {1e3 * m:.0f} ms per epoch ({len(ms.x_ref)} reference + {len(ms.x_eval)} evaluated tiles) "
          f"against {1e3 * per_epoch:.0f} ms of NT-Xent steps per epoch ({e.steps_per_epoch} steps): "
          f"+{100 * m / per_epoch:.1f}% per epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
