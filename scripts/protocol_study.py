"""Why do the ResNets sit at the trivial baseline? The CPU-sized part of issue 25's protocol study
(docs/PROTOCOL.md, "Protocol study"): per encoder and tile size, the random-init floor, the supervised ceiling
(label-matched: probe-train's labels), the trivial baseline, and IDS / flip / no augmentation, all through
experiments.compare (one engine, records stored and resumed), at reduced sizes so a 2-core CPU can run ResNet-18.

    OMP_NUM_THREADS=1 python scripts/protocol_study.py --tile 64 --encoders cnn64,resnet18 [--stem small]
    OMP_NUM_THREADS=1 python scripts/protocol_study.py --tile 64 --encoders resnet18 --val --batch 64 --lr 3e-3

--val: choose a protocol on training data only. The probe-train split is cut in two class-balanced halves: the
probes (and the supervised control) fit on the first, and are scored on the second (the "validation" split, in the
probe-test slot); the probe-test split is not read. Records go to their own folder (suffix _val).
--stem mid: the ResNet's ImageNet stem (7x7 stride-2 conv + 3x3 stride-2 max-pool, /4) replaced by a 3x3 stride-1
conv keeping the max-pool (/2), the usual remedy for small images; "small" drops the max-pool too (/1). Records of a
stem other than the encoder's default live in their own folder (the config does not carry the stem).
--warmup K: the learning rate rises linearly over the first K optimiser steps of pre-training (Goyal et al. 2017;
SimCLR's schedule without its decay); not a TrainConfig field, so it too gets its own folder.
"""
import argparse
import dataclasses
import functools
import json
import time

import torch

from idslab import baselines, encoders, train
from idslab.datasets import Split
from idslab.experiments import compare
from idslab.train import TrainConfig


def validation_data(data):
    """The same SSLData with probe-train cut in two class-balanced halves: probe_train = the first half of each
    class, probe_test = the rest (a validation split from training data; the real probe-test split is dropped)."""
    y = data.probe_train.y
    fit, val = [], []
    for c in y.unique():
        idx = torch.nonzero(y == c).flatten()                 # in the split's own (seeded) order
        fit.append(idx[: len(idx) // 2])
        val.append(idx[len(idx) // 2:])
    fit, val = torch.cat(fit).sort().values, torch.cat(val).sort().values

    def take(idx):
        s = data.probe_train
        return Split(s.x[idx], s.y[idx], {k: v[idx] for k, v in s.targets.items()},
                     None if s.ivar is None else s.ivar[idx])
    return dataclasses.replace(data, probe_train=take(fit), probe_test=take(val),
                               meta={**data.meta, "validation": "probe_train halves"})


def with_warmup(k: int) -> None:
    """Linear learning-rate warm-up over the first k steps of every pre-training run of this process."""
    step = train.Engine.step

    def warm(self, s, done=1, total=1):
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.lr * min(1.0, done / k)
        return step(self, s, done, total)
    train.Engine.step = warm


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--encoders", default="cnn64,resnet18")
    p.add_argument("--conditions", default="ids,flip")
    p.add_argument("--controls", default="floor,trivial,supervised,none")
    p.add_argument("--sizes", default="1024,1024,600", help="pre-train, probe-train, probe-test")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--sup-epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=0, help="linear lr warm-up steps (0: none)")
    p.add_argument("--seeds", default="0")
    p.add_argument("--stem", default="imagenet", choices=encoders.STEMS)
    p.add_argument("--val", action="store_true", help="score on a validation half of probe-train (see above)")
    p.add_argument("--results", default="results/protocol_study")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.stem != "imagenet":   # the engine and the supervised control build the encoder by name: bind the stem
        for mod in (train, baselines):
            mod.build_encoder = functools.partial(encoders.build_encoder, stem=args.stem)
    if args.warmup:
        with_warmup(args.warmup)
    n_pre, n_tr, n_te = (int(v) for v in args.sizes.split(","))
    for enc in args.encoders.split(","):
        base = TrainConfig(encoder=enc, tile=args.tile, epochs=args.epochs, n_pretrain=n_pre, n_probe_train=n_tr,
                           n_probe_test=n_te, device="cpu", batch_size=args.batch, lr=args.lr)
        data = train.load_data(base)
        if args.val:
            data = validation_data(data)
        folder = (f"{args.results}/{enc}_t{args.tile}_{args.stem}{'_val' if args.val else ''}"
                  f"{f'_w{args.warmup}' if args.warmup else ''}")
        seeds = [int(s) for s in args.seeds.split(",")]
        t0 = time.perf_counter()
        comp = compare(base, [c for c in args.conditions.split(",") if c], seeds=seeds, data=data,
                       controls=tuple(c for c in args.controls.split(",") if c), results_dir=folder,
                       supervised_epochs=args.sup_epochs, keep_models=False,
                       progress=lambda d, t, r: print(f"  {enc}: {d}/{t}", flush=True) if r else None)
        print(f"## {enc}, tile {args.tile}, stem {args.stem}, {args.epochs} epochs, batch {args.batch}, lr "
              f"{args.lr:g}, warm-up {args.warmup}, sizes {args.sizes}{', validation' if args.val else ''}, "
              f"torch {torch.__version__}, {time.perf_counter() - t0:.0f} s", flush=True)
        print(comp.markdown(), flush=True)
        for r in comp.records:
            if "control" not in r:
                print(json.dumps({"label": r["label"], "final_loss": r.get("final_loss"),
                                  "pretrain_s": round(r["pretrain_s"], 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
