"""The physics probes' ceiling: the probe encoder trained WITH the per-tile targets (idslab.baselines.
supervised_regression), so a frozen representation's ridge R² (metrics.physics) can be read against what the
architecture can extract from a tile at all.

    OMP_NUM_THREADS=1 python scripts/physics_ceiling.py [--tile 16] [--seeds 0,1,2] [--epochs 60] [--out f.json]

Prints one line per target and seed (R², 95% bootstrap interval, positives in probe-train / probe-test, seconds).
"""
from __future__ import annotations

import argparse

from idslab.atomic import write_json
from idslab.baselines import supervised_regression
from idslab.datasets import load
from idslab.encoders import ENCODERS
from idslab.train import TrainConfig

TARGETS = ("velocity_kms", "slope", "peak_snr_db", "altitude_km")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", type=int, default=16)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    encoder = f"cnn{args.tile}"
    if encoder not in ENCODERS:
        ap.error(f"--tile {args.tile}: no encoder {encoder}; use 8, 16, 32, 64, 128 or 256")
    data = load("meteor", args.tile, data_dir=args.data_dir)
    out = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for target in TARGETS:
            r = supervised_regression(TrainConfig(encoder=encoder, seed=seed, device="cpu"), data, target,
                                      epochs=args.epochs)
            out[f"{target}/{seed}"] = r
            print(f"{target:13s} seed {seed}: R² {r['r2']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]  "
                  f"n {r['n_train']}/{r['n_test']}  {r['wall_s']:.1f} s", flush=True)
    if args.out:
        write_json(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
