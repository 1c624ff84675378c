"""Command line: `idslab train`, `idslab compare`, `idslab data`, `idslab reproduce`. See `idslab --help`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .train import TrainConfig

_HELP = {
    "dataset": "meteor (simulated JRO radar) or cifar (CIFAR-10 vehicle vs animal)",
    "encoder": "cnn8 cnn16 cnn32 cnn64 cnn128 cnn256 resnet18 resnet50",
    "tile": "tile size N (NxN); default: the encoder's own",
    "views": "flip, flip90, fft, simclr, ids, none, or '+'-joined, e.g. ids+flip",
    "device": "auto (cuda > mps > cpu), cpu, cuda or mps",
    "noise": "weight noise λ: 'view' (one draw per view, the paper) or 'sample' (one per sample)",
    "scale_mode": "σ of λ: 'absolute' (σ = s_l) or 'relative' (σ = s_l × RMS of the layer's weights)",
    "cifar_dir": "folder of CIFAR-10 images in class sub-folders (train/ and optionally test/)",
}


def add_config_args(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One --flag per TrainConfig field, typed and defaulted from the dataclass (the single source of truth)."""
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip or f.name == "sites":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=_HELP.get(f.name))
        else:
            kind = type(default) if default is not None else (int if f.name == "tile" else str)
            p.add_argument(flag, type=kind, default=default, help=_HELP.get(f.name, f"default: {default}"))
    p.add_argument("--sl", type=float, default=0.02, help="s_l, std of the weight noise λ at every site (IDS)")
    p.add_argument("--sites", default="fc1",
                   help="perturbation sites: 'fc1', 'fc1,fc2', with their own s_l 'fc1=0.02,fc2=0.05', conv "
                        "layers 'features.0', or every conv and linear weight 'all=0.3' ('all_depth=0.3': s_l/sqrt(L))")


def parse_sites(text: str, sl: float) -> dict[str, float]:
    sites = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        name, _, value = part.partition("=")
        sites[name.strip()] = float(value) if value else sl
    return sites


def config_from_args(args: argparse.Namespace, **override) -> TrainConfig:
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    kw["sites"] = parse_sites(args.sites, args.sl)
    kw.update(override)
    return TrainConfig(**kw)


def _tqdm_progress(desc: str):
    from tqdm import tqdm
    bar = None

    def progress(done: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")
        if done == total:
            bar.close()
    return progress


def _fmt(rec: dict) -> str:
    m = rec["metrics"]
    ci = lambda c: f"[{c[0] * 100:.1f}, {c[1] * 100:.1f}]"
    return (f"mlp {m['mlp_acc'] * 100:5.1f}% {ci(m['mlp_ci'])}  knn {m['knn_acc'] * 100:5.1f}% {ci(m['knn_ci'])}  "
            f"pretrain {rec['pretrain_s']:.1f}s  total {rec['wall_s']:.1f}s  ({rec['device']})")


def cmd_train(args) -> int:
    from .train import run, write_json
    cfg = config_from_args(args)
    rec = run(cfg, progress=None if args.quiet else _tqdm_progress(cfg.views), checkpoint=args.save_model)
    print(f"{cfg.dataset} tile {cfg.tile} {cfg.encoder} views={cfg.views}: {_fmt(rec)}")
    if args.out:
        write_json(args.out, rec)
        print(f"record written to {args.out}")
    return 0


def cmd_compare(args) -> int:
    from .train import load_data, run, write_json
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    cfgs = [config_from_args(args, views=c) for c in conditions]  # validates every condition before any work
    data = load_data(cfgs[0])                                       # one dataset for all: identical protocol
    records = []
    for cfg in cfgs:
        records.append(run(cfg, data, progress=None if args.quiet else _tqdm_progress(cfg.views)))
        print(f"  {cfg.views:>10}: {_fmt(records[-1])}", flush=True)
    c0 = cfgs[0]
    print(f"\n{c0.dataset}, tile {c0.tile}, {c0.encoder}, {c0.epochs} epochs, seed {c0.seed}, "
          f"{len(data.probe_test.y)} test samples (95% Wilson CI)")
    print(f"| views | MLP probe | k-NN (k={c0.knn_k}) | pre-train s |\n|---|---|---|---|")
    for cfg, rec in zip(cfgs, records):
        m = rec["metrics"]
        print(f"| {cfg.views} | {m['mlp_acc'] * 100:.1f}% | {m['knn_acc'] * 100:.1f}% | {rec['pretrain_s']:.1f} |")
    if args.out:
        write_json(args.out, records)
        print(f"records written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idslab", description="Implicit Data Synthesis: SimCLR with weight-space positive pairs.",
        epilog="example: idslab train --dataset meteor --encoder cnn16 --views ids --sl 0.02 --epochs 5 --out r.json")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="pre-train one encoder, probe it, print and save a JSON record")
    add_config_args(p)
    p.add_argument("--out", help="write the JSON record here")
    p.add_argument("--save-model", help="write the pre-trained model here (idslab.train.load_checkpoint reads it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="flip+rotation vs FFT mask vs IDS on the same encoder and data")
    add_config_args(p, skip=("views",))
    p.add_argument("--conditions", default="flip,fft,ids", help="comma-separated views strings to compare")
    p.add_argument("--out", help="write the list of JSON records here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_compare)

    from .datasets.cli import add_parser as add_data_parser
    from .experiments_cli import add_parser as add_reproduce_parser
    add_data_parser(sub)
    add_reproduce_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
