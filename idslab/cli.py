"""Command line: `idslab train`, `idslab compare`, `idslab data`, `idslab reproduce`. See `idslab --help`."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

from .checks import check_folder, check_writable, fallback_path
from .train import TrainConfig

_HELP = {
    "dataset": "meteor (simulated JRO radar), cifar (CIFAR-10 vehicle vs animal) or spectra (simulated galaxy "
               "spectra, 1-D: use --encoder cnn1d512)",
    "encoder": "cnn8 cnn16 cnn32 cnn64 cnn128 cnn256 resnet18 resnet50; 1-D: cnn1d64 cnn1d128 cnn1d256 cnn1d512 "
               "cnn1d1024",
    "tile": "tile size N (NxN), or the window length L for a 1-D encoder; default: the encoder's own",
    "views": "flip, flip90, fft, simclr, ids, none, or '+'-joined, e.g. ids+flip; 1-D also reverse, shift",
    "device": "auto (cuda > mps > cpu), cpu, cuda or mps",
    "noise": "weight noise λ: 'view' (one draw per view, the paper) or 'sample' (one per sample)",
    "scale_mode": "σ of λ: 'absolute' (σ = s_l) or 'relative' (σ = s_l × RMS of the layer's weights)",
    "stride": "your data (--data): pixels between tile corners, or samples between window starts (default: the "
              "tile size N, no overlap)",
    "edge": "your data (--data): 'drop' tiles crossing the image edge, or 'shift' a last one to end on it",
    "proj_dim": "size of the projection z the loss reads (the paper's D_p = 16)",
    "proj_bn": "BatchNorm in the projection head (SimCLR's head; the paper has none)",
    "objective": "ntxent (SimCLR, the paper), byol, simsiam, vicreg or barlow (docs/RESULTS.md 'Objectives')",
    "target_noise": "BYOL: the EMA target's perturbation sites draw their own λ (--no-target-noise: target at s_l = 0)",
    "ema": "BYOL: τ_base of the target's EMA (cosine schedule from τ_base to 1)",
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
            kind = type(default) if default is not None else (int if f.name in ("tile", "stride") else str)
            p.add_argument(flag, type=kind, default=default, help=_HELP.get(f.name, f"default: {default}"))
    p.add_argument("--sl", type=float, default=0.02, help="s_l, std of the weight noise λ at every site (IDS)")
    p.add_argument("--sites", default="fc1",
                   help="perturbation sites: 'fc1', 'fc1,fc2', with their own s_l 'fc1=0.02,fc2=0.05', conv "
                        "layers 'features.0', or every conv and linear weight 'all=0.3' ('all_depth=0.3': s_l/sqrt(L))")


def parse_sites(text: str, sl: float) -> dict[str, float]:
    """'fc1' -> {'fc1': sl}; 'fc1=0.1,fc2' -> {'fc1': 0.1, 'fc2': sl}. ValueError naming --sites for a malformed
    part (empty name, empty or non-numeric value, a site named twice); '' gives {} (TrainConfig then says whether
    the views need a site). Ranges (finite, >= 0, a real layer) are TrainConfig's to check."""
    sites = {}
    parts = [s.strip() for s in text.split(",")]
    if any(parts) and not all(parts):
        raise ValueError(f"--sites {text!r}: empty entry between commas: write e.g. --sites fc1 or fc1=0.02,fc2=0.05")
    for part in filter(None, parts):
        name, eq, value = (s.strip() for s in part.partition("="))
        if not name:
            raise ValueError(f"--sites {text!r}: {part!r} has no layer name: write e.g. fc1=0.02")
        if eq and not value:
            raise ValueError(f"--sites {text!r}: {part!r} has no s_l after '=': write e.g. {name}=0.02, or just "
                             f"{name} to use --sl")
        if name in sites:
            raise ValueError(f"--sites {text!r}: site {name!r} is named twice: give each layer once")
        try:
            sites[name] = float(value) if eq else sl
        except ValueError:
            raise ValueError(f"--sites {text!r}: s_l {value!r} for site {name!r} is not a number: write e.g. "
                             f"{name}=0.02") from None
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
    if m is None:   # a user's unlabelled file: pre-training only, no probes
        loss = f"{rec['loss_history'][-1]:.3f}" if rec["loss_history"] else "n/a"
        return (f"no labels, probes skipped; final loss {loss}  pretrain {rec['pretrain_s']:.1f}s  "
                f"total {rec['wall_s']:.1f}s  ({rec['device']})")
    ci = lambda c: f"[{c[0] * 100:.1f}, {c[1] * 100:.1f}]"
    return (f"mlp {m['mlp_acc'] * 100:5.1f}% {ci(m['mlp_ci'])}  knn {m['knn_acc'] * 100:5.1f}% {ci(m['knn_ci'])}  "
            f"pretrain {rec['pretrain_s']:.1f}s  total {rec['wall_s']:.1f}s  ({rec['device']})")


def check_outputs(**paths: str | None) -> None:
    """Every output path given (flag -> path) is writable and they are distinct: checked before any training, so a
    bad --out never costs a finished run."""
    given = {k: v for k, v in paths.items() if v is not None}
    for flag_, path in given.items():
        check_writable(path, flag_)
    seen = {}
    for flag_, path in given.items():
        key = os.path.abspath(os.path.expanduser(path))
        if key in seen:
            raise ValueError(f"{seen[key]} and {flag_} name the same file {path}: give them different paths")
        seen[key] = flag_


def save_json(path: str, obj, what: str = "record") -> int:
    """Write a finished result; if its path fails now (after training), write it to the temp folder and say where.
    Returns the exit status: 0, or 1 when the fallback was used."""
    from .train import write_json
    try:
        write_json(path, obj)
        print(f"{what} written to {path}")
        return 0
    except (OSError, ValueError) as e:  # ValueError: a NaN/inf slipped into the record (never bare NaN in JSON)
        alt = fallback_path(path)
        write_json(alt, finite_or_null(obj))
        print(f"idslab: error: could not write the {what} to {path} ({e}); saved it to {alt} instead"
              + (" (NaN/inf written as null)" if isinstance(e, ValueError) else ""), file=sys.stderr)
        return 1


def finite_or_null(obj):
    """A copy of a JSON-able object with every NaN/inf float replaced by None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def cmd_train(args) -> int:
    from .train import run
    cfg = config_from_args(args)
    check_outputs(**{"--out": args.out, "--save-model": args.save_model})
    rec = run(cfg, progress=None if args.quiet else _tqdm_progress(cfg.views), checkpoint=args.save_model)
    name = cfg.data_path if cfg.dataset == "file" else cfg.dataset
    print(f"{name} tile {cfg.tile} {cfg.encoder} views={cfg.views}: {_fmt(rec)}")
    if args.save_model and os.path.abspath(rec["checkpoint"]) != os.path.abspath(args.save_model):
        print(f"idslab: warning: the model went to {rec.get('checkpoint')} (could not write {args.save_model})",
              file=sys.stderr)
    return save_json(args.out, rec) if args.out else 0


def cmd_compare(args) -> int:
    from .experiments import CONTROLS, compare, parse_condition
    from .train import write_json
    conditions = [c.strip() for c in args.conditions.split(",")]
    if not all(conditions):
        raise ValueError(f"--conditions {args.conditions!r}: empty condition: give comma-separated views strings, "
                         "e.g. --conditions flip,fft,ids")
    if len(set(conditions)) < len(conditions):
        raise ValueError(f"--conditions {args.conditions!r}: a condition is named twice: give each once")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. --seeds 0,1,2") from None
    controls = tuple(c.strip() for c in args.controls.split(",") if c.strip()) if args.controls else ()
    base = config_from_args(args, views=conditions[0])
    for c in conditions:                                            # validate every condition before any work
        config_from_args(args, **parse_condition(c)[1])
    check_outputs(**{"--out": args.out})
    if args.results is not None:
        check_folder(args.results, "--results")
    if base.dataset == "file":
        check_file_has_labels(base)
    done_records = []

    def progress(done: int, total: int, rec) -> None:
        if rec is None:
            return
        done_records.append(rec)
        if args.out and done < total:
            write_json(args.out, done_records)  # finished runs survive a Ctrl-C or crash in the next one
        if not args.quiet:
            m = rec["metrics"]
            acc = m.get("mlp_acc", m.get("acc"))
            print(f"  [{done}/{total}] {rec['label']:>10} seed {rec['config']['seed']}: "
                  f"{'mlp' if 'mlp_acc' in m else 'acc'} {acc * 100:5.1f}%", file=sys.stderr, flush=True)

    comp = compare(base, conditions, seeds=seeds, controls=controls, progress=progress, results_dir=args.results,
                   supervised_epochs=args.supervised_epochs, keep_models=False)
    print(f"\n{base.dataset}, tile {base.tile}, {base.encoder}, {base.epochs} epochs, seeds "
          f"{','.join(map(str, seeds))}, {base.n_probe_test} test samples; mean ± sd over seeds; 'MLP − none': "
          f"paired-seed difference against no augmentation with its 95% t-interval; gap closed = (acc − floor) / "
          f"(supervised − floor); controls: {', '.join(c for c in CONTROLS if c in comp.controls) or 'none'}")
    print(comp.markdown())
    return save_json(args.out, comp.records, "records") if args.out else 0


# ------------------------------------------------------------------------------------- a user's own data (issue 13)
def add_file_args(p: argparse.ArgumentParser) -> None:
    """`--data PATH`: the short form of --data-path (a .npy/.npz/HDF5 file or image folder; sets dataset 'file')."""
    p.add_argument("--data", dest="data_path", default=argparse.SUPPRESS,
                   help="train on your own .npy / .npz / .h5 file or image folder (docs/DATA.md 'Your own data'); "
                        "with --data-key/--label-key for the arrays, --tile N and a matching --encoder cnnN; signals "
                        "(n, L), (n, C, L) or a .csv with one per row: --encoder cnn1dN, windows of --tile N")


def check_file_has_labels(cfg) -> None:
    """compare ranks conditions by probe accuracy: a user's file without labels cannot be compared (before work)."""
    from .datasets.arrays import open_data
    from .encoders import encoder_dims
    with open_data(cfg.data_path, cfg.data_key, cfg.label_key, encoder_dims(cfg.encoder)) as src:
        if not src.labelled:
            raise ValueError(f"{src.path} has no labels, and compare ranks conditions by probe accuracy: add labels "
                             "(--label-key), or pre-train each condition with `idslab train --data ...`")


def add_embed_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("embed", help="write the frozen 32-d h of every tile of a file (.npy or .npz)",
                       description="Embed every N x N tile of a .npy/.npz/HDF5 file or image folder with a saved "
                                   "model (train --save-model), s_l = 0, in batches on the device, using the "
                                   "model's own input standardisation.",
                       epilog="example: idslab embed --model m.pt --data scenes.h5 --label-key mask --out h.npz")
    p.add_argument("--model", required=True, help="a model saved by `idslab train --save-model`")
    p.add_argument("--data", required=True, help=".npy, .npz, .h5 file or folder of images (a 1-D model: signals "
                                                 "(n, L) or (n, C, L) in those files or a .csv, one per row)")
    p.add_argument("--out", required=True, help="h.npy (h only) or h.npz (h, y, index = scene/row/col, meta)")
    p.add_argument("--data-key", default=None, help="array / HDF5 dataset of images (default 'x' or the only one)")
    p.add_argument("--label-key", default=None, help="labels (n,) or mask (n, H, W) (default 'y' if present)")
    p.add_argument("--tile", type=int, default=None, help="tile size N (default: the model's)")
    p.add_argument("--stride", type=int, default=None, help="pixels between tile corners (default N)")
    p.add_argument("--edge", choices=("drop", "shift"), default="drop",
                   help="drop tiles crossing the edge, or shift a last one to end on it")
    p.add_argument("--batch-size", type=int, default=1024, help="tiles per forward pass")
    p.add_argument("--device", default="auto", help=_HELP["device"])
    p.set_defaults(func=cmd_embed)
    return p


def cmd_embed(args) -> int:
    from .embeddings import embed
    check_outputs(**{"--out": args.out})  # before the model and the file are read
    emb = embed(args.model, args.data, tile=args.tile, data_key=args.data_key, label_key=args.label_key,
                stride=args.stride, edge=args.edge, batch_size=args.batch_size, device=args.device, out=args.out)
    n_lab = int((emb.y >= 0).sum())
    t, n = emb.meta["tile"], emb.meta["file_shape"][0]
    what = f"windows of {t} samples from {n} signals" if emb.meta["dims"] == 1 else f"tiles of {t}x{t} from {n} images"
    print(f"{len(emb)} {what} -> h {tuple(emb.h.shape)} in {emb.meta['seconds']:.1f} s ({emb.meta['device']}); "
          f"{n_lab} labelled; written to {args.out}")
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
    add_file_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="flip+rotation vs FFT mask vs IDS on the same encoder and data, with controls")
    add_config_args(p, skip=("views",))
    p.add_argument("--conditions", default="flip,fft,ids", help="comma-separated views strings to compare")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds, paired across conditions "
                                                "(e.g. 0,1,2: gives paired 95%% intervals)")
    p.add_argument("--controls", default="floor,none,trivial,supervised",
                   help="controls to run beside the conditions ('' for none): floor (random init), none (no "
                        "augmentation), trivial (logistic regression on tile statistics), supervised (ceiling)")
    p.add_argument("--supervised-epochs", type=int, default=30, help="epochs of the supervised ceiling")
    p.add_argument("--results", default=None, help="store records here and reuse them on rerun (resumable)")
    p.add_argument("--out", help="write the list of JSON records here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_file_args(p)
    p.set_defaults(func=cmd_compare)

    from .datasets.cli import add_parser as add_data_parser
    from .experiments_cli import add_parser as add_reproduce_parser
    add_data_parser(sub)
    add_reproduce_parser(sub)
    add_embed_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Bad input (ValueError, FileNotFoundError) and a diverged run (FloatingPointError): the
    message on stderr without a traceback, exit 2. Another OS error (disk full, permission): the same, exit 1.
    Ctrl-C: one line, exit 130; every finished record is already on disk (written atomically as each run ends)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nidslab: interrupted (Ctrl-C); every finished record is kept, rerun the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
