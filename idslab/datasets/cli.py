"""`idslab data meteor|cifar|spectra|PATH`: generate or load a data set into the cache and summarise it (text or
--json)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `data` subcommand on an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser("data", help="generate/load a data set into the data/ cache, or read your own "
                                              "file, and summarise it",
                              description="Generate (meteor) or decode (cifar) a data set once, cache it under "
                                          "the data folder, and print per-split sizes and class counts.",
                              epilog="examples: idslab data meteor --tile 16 --json;  "
                                     "idslab data cifar --cifar-dir ../shared/datasets/cifar10-train-jpg --tile 32;  "
                                     "idslab data spectra;  "
                                     "idslab data scenes.h5 --label-key mask --tile 16;  "
                                     "idslab data signals.csv --tile 512 --stride 256 (docs/DATA.md 'Your own "
                                     "data')")
    p.add_argument("dataset", metavar="DATASET|PATH",
                   help="meteor (simulated JRO radar), cifar (CIFAR-10 vehicle vs animal), spectra (simulated galaxy "
                        "spectra, 1-D), or the path of your own .npy / .npz / .h5 / .csv file or image folder")
    p.add_argument("--tile", type=int, default=None, help="tile size N (NxN): 8, 16, 32, 64, 128 or 256 (default "
                                                          "16; spectra: the length, 512; for a PATH any N, default "
                                                          "the images' own size or the signals' length)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument("--pretrain", type=int, default=4000, help="pre-training tiles (default 4000)")
    p.add_argument("--probe-train", type=int, default=2000, help="probe-train tiles (default 2000)")
    p.add_argument("--probe-test", type=int, default=600, help="probe-test tiles (default 600)")
    p.add_argument("--data-dir", default=None, help="cache folder (default $IDSLAB_DATA or ./data)")
    p.add_argument("--cifar-dir", default=None, help="folder of CIFAR-10 images in class sub-folders "
                                                     "(train/ and optionally test/)")
    p.add_argument("--download", action="store_true", help="cifar: download CIFAR-10 through torchvision")
    p.add_argument("--negatives", choices=("matched", "natural", "pairs"), default="matched",
                   help="meteor / spectra negatives: matched (global statistics matched to the positives; the "
                        "benchmarks' default), natural (random negative tiles; plain galaxies) or, meteor only, "
                        "pairs (each positive's own background)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (meteor: with echo_stats, the "
                                                      "SPEC's reference measurement of the generated echoes)")
    p.add_argument("--data-key", default=None, help="PATH: array / HDF5 dataset of images (default 'x' or the only)")
    p.add_argument("--label-key", default=None, help="PATH: labels (n,) or mask (n, H, W) (default 'y' if present)")
    p.add_argument("--stride", type=int, default=None, help="PATH: pixels between tile corners (default the tile)")
    p.add_argument("--edge", choices=("drop", "shift"), default="drop", help="PATH: tiles crossing the edge")
    p.add_argument("--dims", type=int, choices=(1, 2), default=None,
                   help="PATH: 1 reads a 3-D array as signals (n, C, L), 2 as images (n, H, W) (default: (n, L) "
                        "arrays and CSVs are signals, 3-D and 4-D arrays images)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Load (generating/caching as needed) and print the summary; returns the exit status."""
    from . import MeteorParams, Sizes, SpectraParams, echo_stats, load, summary
    args.on_interrupt = ("a data cache is written only once complete, so nothing half-written was left: rerun to "
                         "generate it again")
    sizes = Sizes(args.pretrain, args.probe_train, args.probe_test)
    if args.dataset not in ("meteor", "cifar", "spectra"):
        return run_file(args, sizes)
    if args.dims is not None:
        raise ValueError(f"--dims reads your own file (PATH); the {args.dataset} data have their own layout")
    params = {"meteor": lambda: MeteorParams(negatives=args.negatives),
              "spectra": lambda: SpectraParams(negatives=args.negatives), "cifar": lambda: None}[args.dataset]()
    # --tile 0 is refused by load, not read as "the default"
    tile = args.tile if args.tile is not None else (params.n_bins if args.dataset == "spectra" else 16)
    data = load(args.dataset, tile, seed=args.seed, sizes=sizes, data_dir=args.data_dir, cifar_dir=args.cifar_dir,
                download=args.download, params=params)
    s = summary(data)
    if args.dataset == "meteor":
        s["echo_stats"] = echo_stats(params=params, seed=args.seed)
    m = s["meta"]
    cache_failed = "cache_path" in m and not Path(m["cache_path"]).is_file()  # caching is this command's job
    if args.json:
        print(json.dumps(s, indent=1))
        return 1 if cache_failed else 0
    how = "read from cache" if m.get("cached") else "generated"
    if data.name == "cifar":
        how = f"from {m['source']['kind']}" + (", probe-test held out from train" if m["held_out_test"] else "")
    size = f"length {data.tile}" if data.dims == 1 else f"tile {data.tile}x{data.tile}"
    print(f"{data.name}, {size}, {data.channels} channel(s), seed {m['seed']} ({how}; "
          f"load {m['load_seconds']:.2f} s" + (f", generation {m['generation_seconds']:.2f} s" if "generation_seconds"
                                                in m else "") + ")")
    if "cache_path" in m:
        print(f"cache: {m['cache_path']}" + (" (NOT written: see the warning above)" if cache_failed else ""))
    print(f"{'split':<12} {'n':>6}  " + "  ".join(f"{c:>10}" for c in s["classes"]) + "      min      max     mean")
    for name, sp in s["splits"].items():
        counts = "  ".join(f"{sp['class_counts'][c]:>10}" for c in s["classes"])
        print(f"{name:<12} {sp['n']:>6}  {counts}  {sp['x_min']:>7.2f}  {sp['x_max']:>7.2f}  {sp['x_mean']:>7.2f}")
    if "echo_stats" in s:
        e = s["echo_stats"]
        print(f"echoes (p10/p50/p90 of {e['n']}, SPEC reference in brackets): peak SNR "
              f"{'/'.join(f'{v:.1f}' for v in e['peak_snr_db'])} dB [16.3/23.5/31.5], duration "
              f"{'/'.join(f'{v:.0f}' for v in e['duration_pulses'])} pulses [17/35/54], extent "
              f"{'/'.join(f'{v:.2f}' for v in e['extent_per_pulse'])} gates/pulse [0.19/0.42/0.60]")
    return 1 if cache_failed else 0


def run_file(args, sizes) -> int:
    """`idslab data PATH`: a user's file (datasets.arrays): format, shapes, value ranges, label counts, tiles."""
    from . import summary
    from .arrays import load_file
    if not Path(args.dataset).expanduser().exists():
        raise FileNotFoundError(f"{args.dataset!r} is neither a data set (meteor, cifar, spectra) nor an existing file "
                                "or folder: give the path of a .npy, .npz, .h5 or .csv file or a folder of images")
    data = load_file(args.dataset, args.tile, data_key=args.data_key, label_key=args.label_key, stride=args.stride,
                     edge=args.edge, seed=args.seed, sizes=sizes, dims=args.dims)
    s = summary(data)
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    m = s["meta"]
    signals = m["dims"] == 1
    print(f"{m['source']['path']}: {m['format']}, {m['file_dtype']} {tuple(m['file_shape'])} "
          f"{'(n, C, L) signals' if signals else '(n, C, H, W)'}, "
          f"{'labels: ' + m['label_kind'] if m['labelled'] else 'unlabelled'}")
    if signals:
        print(f"windows of {data.tile} samples, stride {m['stride']}, edge {m['edge']}: {m['tiles_per_scene']} per "
              f"signal, unused samples at the end {m['unused_edge_pixels']['samples']}")
    else:
        print(f"tiles {data.tile}x{data.tile}, stride {m['stride']}, edge {m['edge']}: {m['tiles_per_scene']} per "
              f"image, unused edge pixels {m['unused_edge_pixels']}")
    for name, sp in s["splits"].items():
        counts = ", ".join(f"{k} {v}" for k, v in (sp["class_counts"] or {}).items()) or "no labels"
        rng = f"{sp['x_min']:.3g} .. {sp['x_max']:.3g}, mean {sp['x_mean']:.3g}" if sp["n"] else "-"
        unit, of = ("windows", "signals") if signals else ("tiles", "images")
        print(f"{name:<12} {sp['n']:>6} {unit} from {m['splits'][name]['scenes']} {of}  ({counts})  values {rng}")
    if m["majority_baseline"] is not None:
        print(f"majority-class share of probe-test: {100 * m['majority_baseline']:.1f}% (the trivial baseline)")
    return 0
