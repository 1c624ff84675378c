"""CPU-side cost of one run's probes (train.make_record: k-NN, MLP probe, physics probes, diagnostics) at the full
protocol's sizes, apart from pre-training and from a process's start-up: the number idslab.study's cost model
takes off the H200's whole-run seconds (study.PROBE_CNN8_S).

    OMP_NUM_THREADS=1 python benchmarks/bench_probes.py --encoder cnn8 --repeat 3

One pre-training epoch (the probes' cost does not depend on how trained the encoder is), then make_record `repeat`
times on the same model; the first call includes one-off warm-up, the later ones are the per-run cost. Prints the
CPU seconds of this process (time.process_time, steady on a shared machine) and the wall seconds of each call.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idslab.train import TrainConfig, load_data, make_record, pretrain  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", default="cnn8")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(encoder=args.encoder, epochs=1, device=args.device)    # full sizes: 4000 / 2000 / 600
    data = load_data(cfg)
    res = pretrain(cfg, data)
    print(f"\nmake_record, {args.encoder}, probe-train {len(data.probe_train.y)} / probe-test "
          f"{len(data.probe_test.y)}, device {args.device}, {torch.get_num_threads()} torch threads, torch "
          f"{torch.__version__}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| call | load avg (1 min) | CPU s | wall s |\n|---:|---:|---:|---:|")
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        c0, w0 = time.process_time(), time.perf_counter()
        make_record(cfg, res, data, w0)
        print(f"| {i + 1} | {load:.1f} | {time.process_time() - c0:.2f} | {time.perf_counter() - w0:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
