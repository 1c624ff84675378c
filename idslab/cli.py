"""Command line: `idslab train`, `idslab compare`, `idslab data`, `idslab reproduce`. See `idslab --help`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import warnings

# Light imports only: torch loads inside main(), under its Ctrl-C handler (idslab/__init__.py is lazy for the same
# reason), so an interrupt while it loads is one line and exit 130, not a traceback.
from . import atomic
from .checks import check_folder, check_writable

_HELP = {
    "ivar_key": "your file's inverse-variance array (n, C, L), same shape as the data (the survey convention), for "
                "the re-observation view (--views reobserve); default: none",
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


class Parser(argparse.ArgumentParser):
    """Every idslab command line: long flags match only in full, so `--data` never silently means --data-dir or
    --data-path (argparse's prefix matching made `reproduce --data x` set --data-dir, and `torchrun -m
    idslab.distributed_cli --data f.h5` fail as ambiguous)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def add_config_args(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One --flag per TrainConfig field, typed and defaulted from the dataclass (the single source of truth), plus
    --sl, --sites and --data (the short form of --data-path): the flags of `idslab train`, `idslab compare` and the
    distributed CLI alike."""
    from .train import TrainConfig
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
    if "data_path" not in skip:
        p.add_argument("--data", dest="data_path", default=argparse.SUPPRESS,
                       help="train on your own .npy / .npz / .h5 file or image folder (docs/DATA.md 'Your own data'); "
                            "with --data-key/--label-key for the arrays, --tile N and a matching --encoder cnnN; "
                            "signals (n, L), (n, C, L) or a .csv with one per row: --encoder cnn1dN, windows of "
                            "--tile N")


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


def config_from_args(args: argparse.Namespace, **override):
    """The TrainConfig of parsed flags (with overrides)."""
    from .train import TrainConfig
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


def summary(cfg, rec: dict) -> str:
    """The one line `idslab train` and the distributed CLI print for a finished run (with or without labels)."""
    name = cfg.data_path if cfg.dataset == "file" else cfg.dataset
    return f"{name} tile {cfg.tile} {cfg.encoder} views={cfg.views}: {_fmt(rec)}"


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
    """Write a finished result; if its path fails now (after training), write it to the temp folder and say where
    (idslab.atomic.write_or_fallback); if that fails too, print the JSON on stdout, the last place it can go.
    Returns the exit status: 0, or 1 when the result is not at its own path."""
    from .train import write_json
    try:
        write_json(path, obj)
        print(f"{what} written to {path}")
        return 0
    except ValueError as e:  # a NaN/inf slipped into the record (never bare NaN in JSON): write it with nulls
        obj, note = finite_or_null(obj), f" ({e}; NaN/inf written as null)"
    except OSError as e:
        note = ""
    try:
        _, problem = atomic.write_or_fallback(path, lambda p: write_json(p, obj), what)
        if problem is None:  # the nulled record went to its own path
            print(f"idslab: error: the {what} held NaN/inf{note}: written to {path} with them as null",
                  file=sys.stderr)
        else:
            print(f"idslab: error: {problem}{note}", file=sys.stderr)
    except atomic.SavedElsewhere as lost:
        print(f"idslab: error: {lost}; the {what} follows on stdout as JSON", file=sys.stderr)
        print(json.dumps(finite_or_null(obj), indent=1))
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
    args.on_interrupt = "no model or record was written (train does not resume: rerun to start again)"
    rec = run(cfg, progress=None if args.quiet else _tqdm_progress(cfg.views), checkpoint=args.save_model)
    print(summary(cfg, rec))
    status = 0
    if args.save_model and rec["checkpoint"]:
        args.on_interrupt = f"the model is in {rec['checkpoint']}; the record was not written"
    if rec.get("checkpoint_note"):   # the model went to the temp folder: an error, even though it is kept
        print(f"idslab: error: {rec['checkpoint_note']}", file=sys.stderr)
        status = 1
    return max(status, save_json(args.out, rec)) if args.out else status


def cmd_compare(args) -> int:
    from .experiments import CONTROLS, compare, parse_condition
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
    out = _Incremental(args.out, "records")
    args.on_interrupt = (f"every finished run is stored in {args.results}: rerun the same command to resume"
                         if args.results else "nothing was written yet (rerun with --results DIR to make a "
                         "comparison resumable)")

    def progress(done: int, total: int, rec) -> None:
        if rec is None:
            return
        done_records.append(rec)
        if args.out and done < total:
            out.write(done_records)  # finished runs survive a Ctrl-C or crash in the next one
            if not args.results:
                args.on_interrupt = (f"the {len(done_records)} finished runs are in {out.path} (compare resumes "
                                     "only with --results DIR: rerun to start again)")
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
    return out.finish(comp.records) if args.out else 0


class _Incremental:
    """compare --out: the list of finished records, rewritten after each run. If the path fails, the list goes to
    the temp folder (said once, then kept up to date there) and the command ends with status 1; if that fails too,
    the comparison goes on and the list is printed on stdout at the end (save_json)."""

    def __init__(self, path: str | None, what: str):
        self.target, self.path, self.what, self.problem = path, path, what, None

    def write(self, obj) -> None:
        from .train import write_json
        if self.problem is None:
            try:
                self.path, self.problem = atomic.write_or_fallback(self.target, lambda p: write_json(p, obj),
                                                                   self.what)
            except atomic.SavedElsewhere as nowhere:
                self.path, self.problem = None, nowhere
                print(f"idslab: error: {nowhere} (the comparison goes on; the {self.what} will follow on stdout)",
                      file=sys.stderr, flush=True)
                return
            if self.problem is not None:
                print(f"idslab: error: {self.problem} (it is kept up to date there)", file=sys.stderr, flush=True)
        elif self.path is not None:
            write_json(self.path, obj)

    def finish(self, obj) -> int:
        if self.problem is None or self.path is None:
            return max(save_json(self.target, obj, self.what), 1 if self.problem is not None else 0)
        self.write(obj)
        print(f"idslab: error: the {self.what} are in {self.path}, not {self.target}", file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------------- a user's own data (issue 13)
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
                                   "model's own input standardisation. The file is read chunk by chunk; each "
                                   "finished chunk is kept in OUT.partial/, so a cut run resumes when rerun.",
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
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_embed)
    return p


def cmd_embed(args) -> int:
    from .embeddings import embed
    check_outputs(**{"--out": args.out})  # before the model and the file are read
    partial = f"{args.out}.partial"
    args.on_interrupt = f"finished chunks (if any) are kept in {partial}: rerun the same command to resume"

    def progress(done: int, total: int, tiles: int, seconds: float) -> None:
        if args.quiet:
            return
        if tiles == 0:   # before the first chunk is read
            resumed = f", resuming after the {done} finished in {partial}" if done else ""
            print(f"embed: {args.data} in {total} chunk(s){resumed}", file=sys.stderr, flush=True)
        else:
            print(f"embed: {done}/{total} chunks, {tiles} tiles in {seconds:.1f} s ({tiles / max(seconds, 1e-9):.0f} "
                  "tiles/s)", file=sys.stderr, flush=True)

    with warnings.catch_warnings():   # a failed write is this command's error (below), not a warning as well
        warnings.filterwarnings("ignore", message="could not write the embeddings")
        emb = embed(args.model, args.data, tile=args.tile, data_key=args.data_key, label_key=args.label_key,
                    stride=args.stride, edge=args.edge, batch_size=args.batch_size, device=args.device,
                    out=args.out, progress=progress)
    n_lab = int((emb.y >= 0).sum())
    t, n = emb.meta["tile"], emb.meta["file_shape"][0]
    what = f"windows of {t} samples from {n} signals" if emb.meta["dims"] == 1 else f"tiles of {t}x{t} from {n} images"
    print(f"{len(emb)} {what} -> h {tuple(emb.h.shape)} in {emb.meta['seconds']:.1f} s ({emb.meta['device']}); "
          f"{n_lab} labelled")
    if "write_note" in emb.meta:
        print(f"idslab: error: {emb.meta['write_note']}", file=sys.stderr)
        return 1
    print(f"written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="idslab", description="Implicit Data Synthesis: SimCLR with weight-space positive pairs.",
        epilog="example: idslab train --dataset meteor --encoder cnn16 --views ids --sl 0.02 --epochs 5 --out r.json")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("train", help="pre-train one encoder, probe it, print and save a JSON record")
    add_config_args(p)
    p.add_argument("--out", help="write the JSON record here")
    p.add_argument("--save-model", help="write the pre-trained model here (idslab.train.load_checkpoint reads it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    p.set_defaults(func=cmd_compare)

    from .datasets.cli import add_parser as add_data_parser
    from .experiments_cli import add_parser as add_reproduce_parser
    add_data_parser(sub)
    add_reproduce_parser(sub)
    add_embed_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM / SIGHUP (a scheduler's or a closed terminal's stop): handled like Ctrl-C, so temporary files are
    removed and the message says what is kept; the exit status is 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Terminated(signum)


def _stop_on_signals() -> dict:
    """Raise Terminated on SIGTERM and SIGHUP, unless the caller ignores them (nohup ignores SIGHUP: kept) or
    handles them itself. Returns the handlers replaced, for main() to put back."""
    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        try:
            if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
                old[signum] = signal.signal(signum, _terminate)
        except (ValueError, OSError):   # not the main thread
            pass
    return old


_PATH_ARGS = ("out", "save_model", "results", "report_dir", "data_dir", "cifar_dir", "data_path", "model", "data")


def _expand_user(args: argparse.Namespace) -> None:
    """A quoted '~/run.json' reaches us unexpanded (the shell expands only a bare ~): it means the home folder, not a
    folder named '~' in the current one."""
    for name in _PATH_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Bad input (ValueError, FileNotFoundError) and a diverged run (FloatingPointError): the
    message on stderr without a traceback, exit 2. A result that could not be written where asked (kept in the temp
    folder) or another OS error (disk full, permission): the message naming the path and the fix, exit 1.
    Ctrl-C: one line saying what is kept (and "rerun to resume" only where the command resumes), exit 130; SIGTERM
    and SIGHUP the same with 143 / 129. Records, checkpoints and caches are written atomically as each run ends."""
    args, old_handlers, old_format = None, _stop_on_signals(), warnings.formatwarning
    # a warning (a cache that could not be written, a record set aside) is one line for a person, not a code excerpt
    warnings.formatwarning = lambda message, *a, **k: f"idslab: warning: {message}\n"
    try:
        args = build_parser().parse_args(argv)
        _expand_user(args)
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # `idslab data meteor --json | head`: the reader left; nothing to say to it
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 1
    except atomic.SavedElsewhere as e:
        print(f"idslab: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        msg = atomic.describe_os_error(e) if e.filename and e.errno else str(e)
        print(f"idslab: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        what = "Ctrl-C" if not isinstance(e, Terminated) else signal.Signals(e.signum).name
        kept = getattr(args, "on_interrupt", None) or "nothing was written"
        print(f"\nidslab: interrupted ({what}); {kept}", file=sys.stderr)
        return 130 if not isinstance(e, Terminated) else 128 + e.signum
    finally:
        warnings.formatwarning = old_format
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
