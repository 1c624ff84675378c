"""Why do the ResNets sit at the trivial baseline? The CPU-sized part of issue 25's protocol study
(docs/PROTOCOL.md, "Protocol study"): per encoder and tile size, the random-init floor, the supervised ceiling
(label-matched: probe-train's labels), the trivial baseline, and IDS / flip / no augmentation, all through
experiments.compare (one engine, records stored and resumed), at reduced sizes so a 2-core CPU can run ResNet-18.

    OMP_NUM_THREADS=1 python scripts/protocol_study.py --tile 64 --encoders cnn64,resnet18 [--stem small]

--stem mid: the ResNet's ImageNet stem (7x7 stride-2 conv + 3x3 stride-2 max-pool, /4) replaced by a 3x3 stride-1
conv keeping the max-pool (/2), the usual remedy for small images; opt-in (idslab.encoders.build_encoder(stem=)),
records in their own folder (the config does not carry the stem, so the store must not mix them).
"""
import argparse
import functools
import json
import time

import torch

from idslab import baselines, encoders, train
from idslab.experiments import compare
from idslab.train import TrainConfig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--encoders", default="cnn64,resnet18")
    p.add_argument("--conditions", default="ids,flip")
    p.add_argument("--controls", default="floor,trivial,supervised,none")
    p.add_argument("--sizes", default="1024,1024,600", help="pre-train, probe-train, probe-test")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--sup-epochs", type=int, default=15)
    p.add_argument("--seeds", default="0")
    p.add_argument("--stem", default="imagenet", choices=encoders.STEMS)
    p.add_argument("--results", default="results/protocol_study")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.stem != "imagenet":   # the engine and the supervised control build the encoder by name: bind the stem
        for mod in (train, baselines):
            mod.build_encoder = functools.partial(encoders.build_encoder, stem=args.stem)
    n_pre, n_tr, n_te = (int(v) for v in args.sizes.split(","))
    for enc in args.encoders.split(","):
        base = TrainConfig(encoder=enc, tile=args.tile, epochs=args.epochs, n_pretrain=n_pre, n_probe_train=n_tr,
                           n_probe_test=n_te, device="cpu")
        folder = f"{args.results}/{enc}_t{args.tile}_{args.stem}"
        seeds = [int(s) for s in args.seeds.split(",")]
        t0 = time.perf_counter()
        # the controls that answer "is it learnable / what is free" first, then the conditions
        comp = compare(base, [c for c in args.conditions.split(",") if c], seeds=seeds,
                       controls=tuple(args.controls.split(",")), results_dir=folder,
                       supervised_epochs=args.sup_epochs, keep_models=False,
                       progress=lambda d, t, r: print(f"  {enc}: {d}/{t}", flush=True) if r else None)
        print(f"## {enc}, tile {args.tile}, stem {args.stem}, {args.epochs} epochs, sizes {args.sizes}, "
              f"torch {torch.__version__}, {time.perf_counter() - t0:.0f} s", flush=True)
        print(comp.markdown(), flush=True)
        for r in comp.records:
            if "control" not in r:
                print(json.dumps({"label": r["label"], "final_loss": r.get("final_loss"),
                                  "pretrain_s": round(r["pretrain_s"], 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
