"""Why do the ResNets sit at the trivial baseline? The CPU-sized part of issue 25's protocol study
(docs/PROTOCOL.md, "Protocol study"): per encoder and tile size, the random-init floor, the supervised ceiling
(label-matched: probe-train's labels), the trivial baseline, and IDS / flip / no augmentation, all through
experiments.compare (one engine, records stored and resumed), at reduced sizes so a 2-core CPU can run ResNet-18.

    OMP_NUM_THREADS=1 python scripts/protocol_study.py --tile 64 --encoders cnn64,resnet18 [--stem small]
    OMP_NUM_THREADS=1 python scripts/protocol_study.py --tile 64 --encoders resnet18 --val --batch 64 --lr 3e-3

--val: choose a protocol on training data only. The probe-train split is cut in two class-balanced halves, each
positive with its own background (validation_data): the probes (and the supervised control) fit on the first, and
are scored on the second (the "validation" split, in the probe-test slot); the probe-test split is not read.
Records go to their own folder (suffix _val2; _val held a first split that cut twins apart).
--stem mid: the ResNet's ImageNet stem (7x7 stride-2 conv + 3x3 stride-2 max-pool, /4) replaced by a 3x3 stride-1
conv keeping the max-pool (/2), the usual remedy for small images; "small" drops the max-pool too (/1). Records of a
stem other than the encoder's default live in their own folder (the config does not carry the stem).
--set key=value[,key=value]: other TrainConfig fields held fixed across the conditions (e.g. proj_bn=1,
temperature=0.2, scale_mode=relative; sl=0.1 sets IDS's s_l at fc1, sites=all:0.1 every layer's; device=cuda on a GPU,
the CPU otherwise); they name their own folder (suffix _key-value), as the stem does.
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


def twins(x: torch.Tensor, y: torch.Tensor) -> dict:
    """{positive index: negative index} for the negatives that are a positive's own background (the meteor
    generator's matched negatives include "each positive's own background: the same tile without the echo",
    docs/DATA.md): the negative sharing more than 2% of the positive's pixels exactly (twins share 5-90% at
    N = 64, the echo's sidelobes and striations changing the rest; unrelated tiles of these float renders share
    < 0.2%, and no test tile shares 2% with a probe-train tile). x (n, C, N, N), y (n,)."""
    flat = x.flatten(1)
    pos, neg = torch.nonzero(y == 1).flatten(), torch.nonzero(y == 0).flatten()
    out = {}
    for i in pos.tolist():
        same = (flat[neg] == flat[i]).float().mean(1)          # (n_neg,) fraction of identical pixels
        j = int(same.argmax())
        if same[j] > 0.02:
            out[i] = int(neg[j])
    return out


def twin_contrast(encoder, split) -> dict:
    """How much of h is the meteor rather than its background: over the positives of `split` whose own background
    is in it too (twins()), the mean cosine distance 1 - cos(h(positive), h(its background)), divided by the mean
    cosine distance between a positive and an unrelated negative (the same negatives, shifted by one). 0: h sees
    only what a tile shares with its twin (noise and clutter); 1: the echo moves h as far as a new tile does.
    encoder: eval mode, s_l = 0 (probes.embed)."""
    from idslab.probes import embed
    tw = twins(split.x, split.y)
    if len(tw) < 10:
        return {"twins": len(tw)}
    pos, neg = torch.tensor(list(tw)), torch.tensor(list(tw.values()))
    h = torch.nn.functional.normalize(embed(encoder, split.x, "cpu"), dim=1)
    d_twin = 1 - (h[pos] * h[neg]).sum(1)
    d_other = 1 - (h[pos] * h[neg.roll(1)]).sum(1)
    return {"twins": len(tw), "d_twin": float(d_twin.mean()), "d_other": float(d_other.mean()),
            "ratio": float(d_twin.mean() / d_other.mean())}


def validation_data(data):
    """The same SSLData with probe-train cut in two class-balanced halves: probe_train = the first half of the
    positives with their own backgrounds (twins()) and negatives to balance, probe_test = the rest (a validation
    split from training data; the real probe-test split is dropped). Twins stay on one side: a probe that fits a
    positive and is scored on its background (same noise and clutter, opposite label) would be pushed below chance
    (at N = 64, 173 of the 512 probe-train positives have their background in the split; at N = 32, 71)."""
    y = data.probe_train.y
    tw = twins(data.probe_train.x, y)
    pos, neg = torch.nonzero(y == 1).flatten().tolist(), torch.nonzero(y == 0).flatten().tolist()
    fit_pos, val_pos = pos[: len(pos) // 2], pos[len(pos) // 2:]
    fit_neg = list(dict.fromkeys(tw[i] for i in fit_pos if i in tw))
    val_neg = list(dict.fromkeys(tw[i] for i in val_pos if i in tw and tw[i] not in fit_neg))
    rest = [j for j in neg if j not in set(fit_neg) | set(val_neg)]
    k = max(0, len(fit_pos) - len(fit_neg))
    fit_neg, val_neg = fit_neg + rest[:k], val_neg + rest[k:]
    fit = torch.tensor(sorted(fit_pos + fit_neg))
    val = torch.tensor(sorted(val_pos + val_neg))

    def take(idx):
        s = data.probe_train
        return Split(s.x[idx], s.y[idx], {k: v[idx] for k, v in s.targets.items()},
                     None if s.ivar is None else s.ivar[idx])
    return dataclasses.replace(data, probe_train=take(fit), probe_test=take(val),
                               meta={**data.meta, "validation": "probe_train halves, twins together"})


def with_warmup(k: int) -> None:
    """Linear learning-rate warm-up over the first k steps of every pre-training run of this process."""
    step = train.Engine.step

    def warm(self, s, done=1, total=1):
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.lr * min(1.0, done / k)
        return step(self, s, done, total)
    train.Engine.step = warm


def summary(results: str) -> str:
    """One Markdown table of every validation store under results (folders *_val2): per folder (encoder, tile, stem,
    warm-up) and protocol (batch, lr, epochs), the MLP accuracy of each condition and control at seed 0, in %."""
    from pathlib import Path
    rows: dict = {}
    for folder in sorted(Path(results).glob("*_val2*")):
        for f in sorted(folder.glob("*.json")):
            r = json.loads(f.read_text())
            c = r["config"]
            if "control" in r:
                what, acc, epochs = r["control"], r["metrics"]["acc"], None
            else:
                what = "floor" if c["epochs"] == 0 else c["views"]
                acc, epochs = r["metrics"]["mlp_acc"], c["epochs"] or None
            if c["seed"] != 0:
                continue                               # seed 0 only; the 3-seed runs are reported by compare
            key = (folder.name, c["batch_size"], c["lr"])
            rows.setdefault(key, {}).setdefault(epochs, {})[what] = 100 * acc
    cols = ("floor", "trivial", "supervised", "none", "ids", "flip", "fft")
    out = ["| store | batch | lr | SSL epochs | " + " | ".join(cols) + " |", "|---|---:|---:|---:|" + "---:|" * len(cols)]
    for (name, b, lr), by_ep in rows.items():
        shared = {k: v for e in by_ep.values() for k, v in e.items() if k in ("floor", "trivial", "supervised")}
        for ep, got in sorted(by_ep.items(), key=lambda kv: kv[0] or 0):
            if ep is None and len(by_ep) > 1:
                continue                       # the controls alone: shown on the trained rows of this protocol
            vals = {**shared, **got}
            out.append(f"| {name} | {b} | {lr:g} | {ep or '-'} | " +
                       " | ".join(f"{vals[k]:.1f}" if k in vals else "" for k in cols) + " |")
    return "\n".join(out)


def parse_set(text: str) -> tuple[dict, str]:
    """--set "k=v,k=v" -> (TrainConfig fields, the results folder's tag). sl=S: s_l at fc1; sites=all:S (or
    name:S;name:S): TrainConfig.sites; any other field is cast to its default's type (bools from 0/1). An unknown
    field is a ValueError naming it and the fields there are."""
    extra, tag = {}, ""
    for kv in filter(None, text.split(",")):
        k, _, v = kv.partition("=")
        tag += f"_{kv.replace('=', '-')}"
        if k in ("sl", "sites"):
            extra["sites"] = ({"fc1": float(v)} if k == "sl" else
                              {n: float(x) for n, x in (part.split(":") for part in v.split(";"))})
            continue
        if k not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise ValueError(f"--set {kv!r}: {k!r} is not a TrainConfig field; use sl, sites or one of "
                             f"{', '.join(f.name for f in dataclasses.fields(TrainConfig))}")
        kind = type(getattr(TrainConfig(), k))
        extra[k] = bool(int(v)) if kind is bool else kind(v)
    return extra, tag


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
    p.add_argument("--set", default="", help="more TrainConfig fields, e.g. proj_bn=1,temperature=0.2")
    p.add_argument("--stem", default="imagenet", choices=encoders.STEMS)
    p.add_argument("--twins", action="store_true", help="print each condition's twin_contrast (keeps the models)")
    p.add_argument("--val", action="store_true", help="score on a validation half of probe-train (see above)")
    p.add_argument("--results", default="results/protocol_study")
    p.add_argument("--summary", action="store_true", help="print the validation stores' table and exit")
    args = p.parse_args(argv)
    if args.summary:
        print(summary(args.results))
        return 0
    torch.set_num_threads(1)
    if args.stem != "imagenet":   # the engine and the supervised control build the encoder by name: bind the stem
        for mod in (train, baselines):
            mod.build_encoder = functools.partial(encoders.build_encoder, stem=args.stem)
    if args.warmup:
        with_warmup(args.warmup)
    n_pre, n_tr, n_te = (int(v) for v in args.sizes.split(","))
    extra, tag = parse_set(args.set)
    for enc in args.encoders.split(","):
        base = TrainConfig(encoder=enc, tile=args.tile, epochs=args.epochs, n_pretrain=n_pre, n_probe_train=n_tr,
                           n_probe_test=n_te, batch_size=args.batch, lr=args.lr, **({"device": "cpu"} | extra))
        data = train.load_data(base)
        if args.val:
            data = validation_data(data)
        folder = (f"{args.results}/{enc}_t{args.tile}_{args.stem}{'_val2' if args.val else ''}"
                  f"{f'_w{args.warmup}' if args.warmup else ''}{tag}")
        seeds = [int(s) for s in args.seeds.split(",")]
        t0 = time.perf_counter()
        comp = compare(base, [c for c in args.conditions.split(",") if c], seeds=seeds, data=data,
                       controls=tuple(c for c in args.controls.split(",") if c), results_dir=folder,
                       supervised_epochs=args.sup_epochs, keep_models=args.twins,
                       progress=lambda d, t, r: print(f"  {enc}: {d}/{t}", flush=True) if r else None)
        print(f"## {enc}, tile {args.tile}, stem {args.stem}, {args.epochs} epochs, batch {args.batch}, lr "
              f"{args.lr:g}, warm-up {args.warmup}, sizes {args.sizes}{', validation' if args.val else ''}, "
              f"torch {torch.__version__}, {time.perf_counter() - t0:.0f} s", flush=True)
        print(comp.markdown(), flush=True)
        encs = {label: m.encoder for label, m in (comp.models or {}).items()}
        if args.twins and "supervised" in args.controls:   # the control's model is not kept: fit it once more
            cfg = dataclasses.replace(base, seed=seeds[0])
            x, y = data.probe_train.x, data.probe_train.y
            encs["supervised"] = baselines._fit_supervised(cfg, x, y, 2, torch.nn.functional.cross_entropy,
                                                           args.sup_epochs, None)[0][0]
        for label, enc_ in encs.items():
            print(json.dumps({"label": label, "twin_contrast": twin_contrast(enc_, data.probe_test)}), flush=True)
        for r in comp.records:
            if "control" not in r:
                print(json.dumps({"label": r["label"], "final_loss": r.get("final_loss"),
                                  "pretrain_s": round(r["pretrain_s"], 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
