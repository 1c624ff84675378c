"""The meteor data set: generator speed against the public generator's approach, and the benchmark's controls.

    python benchmarks/bench_meteor.py speed [--scenes 64] [--segments 200] [--rounds 3]
    OMP_NUM_THREADS=1 python benchmarks/bench_meteor.py controls [--tiles 16 64] [--data-dir /tmp/m5] [--out f.json]
        [--encoder resnet18] [--parts trivial floor probe_train all] [--ceiling-epochs 30]
    OMP_NUM_THREADS=1 python benchmarks/bench_meteor.py ceiling-study [--tile 64] [--variants cnn64 fine] [--epochs 30]
        [--cosine] [--train-on all]

speed     ns per pixel of idslab's public path (simulate_scenes: noise, clutter, echoes, matched filter, calibrated dB
          images and main-lobe masks) side by side with a reference-style generator written the way the public
          generator works (SPEC "Reference figures"): one echo in a 150 x 150 segment, receiver noise, and a Python
          loop over pulses, each pulse's samples built and Doppler-compensated-matched-filtered with np.correlate.
          The two alternate in rounds within one run, so both see the same machine load; the ratio is the result.
controls  on the default sizes (4000 / 2000 / 600): the trivial baseline (logistic regression on global tile
          statistics), the supervised ceiling (same encoder + linear head, cross-entropy on all 6000 labelled tiles,
          pre-train + probe-train) and the label-matched supervised reference (probe-train's 2000 only), each with
          its train accuracy and where its errors are, and the random-init floor (train.run with epochs=0: MLP and
          k-NN probes), per tile size; JSON. --encoder: the same controls for another encoder (e.g. resnet18, which
          takes any tile size of 32 or more) instead of each size's CNN-N; --parts: only these controls (the
          others are left out of the JSON), e.g. --parts floor for a costly encoder's random-init floor alone.
ceiling-study  the supervised ceiling of CNN-64 variants (CNN64_VARIANTS: two within the paper's template, one
          finer-pooled diagnostic) or of CNN-16, on the same data, e.g.
          OMP_NUM_THREADS=1 python benchmarks/bench_meteor.py ceiling-study --tile 64 --epochs 60 --cosine
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idslab.datasets import meteor as M  # noqa: E402

C_KMS = M.C_KMS


def reference_segment(rng: np.random.Generator, p: M.MeteorParams = M.MeteorParams(), size: int = 150) -> np.ndarray:
    """One positive segment the public generator's way: (size gates, size pulses) dB, a Python loop per pulse."""
    v0, a0 = -rng.uniform(*p.v0_kms), rng.uniform(*p.a0_kms2)
    dur = int(rng.integers(p.duration_pulses[0], p.duration_pulses[1] + 1))
    snr = rng.uniform(*p.snr_db)
    phi0 = rng.uniform(0, 2 * np.pi)
    start = (size - dur) // 2
    r0 = 0.85 * size * p.gate_km
    code = M.CODE.astype(np.complex128)
    n_rx = size + code.size
    img = np.empty((size, size))
    for j in range(size):
        rx = (rng.normal(0, 1, n_rx) + 1j * rng.normal(0, 1, n_rx)) * np.sqrt(0.5)
        k = j - start
        v = v0
        if 0 <= k < dur:
            t = k * p.ipp_s
            r, v = M.trajectory(r0, v0, a0, t)
            d = r / p.gate_km
            d0, fr = int(d), d - int(d)
            amp = np.sinc(-1 + 2 * k / (dur - 1)) * 10 ** (snr / 20) * np.sqrt(0.5)
            phase = phi0 - 4 * np.pi * p.f0_hz * (r - r0) / C_KMS
            tau = (np.arange(code.size + 1) - fr) * p.sample_s
            sig = np.zeros(code.size + 1, complex)
            sig[:-1] += (1 - fr) * code
            sig[1:] += fr * code
            sig *= amp * np.exp(1j * (phase + 2 * np.pi * (-2 * v * p.f0_hz / C_KMS) * tau))
            lo = min(d0, n_rx - sig.size)
            rx[lo:lo + sig.size] += sig
        f_b = -2 * np.round(v / p.doppler_step_kms) * p.doppler_step_kms * p.f0_hz / C_KMS
        h = code * np.exp(2j * np.pi * f_b * np.arange(code.size) * p.sample_s)
        out = np.correlate(rx, h, "valid")[:size] / np.sqrt(code.size)
        img[:, j] = 10 * np.log10(np.abs(out) ** 2 + 1e-12)
    return img


def speed(scenes: int, segments: int, rounds: int) -> dict:
    p = M.MeteorParams()
    M.simulate_scenes(p.scenes_per_chunk, p, seed=999)                        # warm-up (FFT plans, buffers)
    reference_segment(np.random.default_rng(999))
    ours, ref, ours_cpu, ref_cpu = [], [], [], []
    px_ours, px_ref = scenes * M.SCENE * M.SCENE, segments * 150 * 150
    for k in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        M.simulate_scenes(scenes, p, seed=k)
        ours.append((time.perf_counter() - t) / px_ours * 1e9)
        ours_cpu.append((time.process_time() - c) / px_ours * 1e9)
        rng = np.random.default_rng(k)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(segments):
            reference_segment(rng)
        ref.append((time.perf_counter() - t) / px_ref * 1e9)
        ref_cpu.append((time.process_time() - c) / px_ref * 1e9)
    o, r = float(np.median(ours)), float(np.median(ref))
    oc, rc = float(np.median(ours_cpu)), float(np.median(ref_cpu))
    # wall is what a user waits; process CPU time (all threads) is less distorted by other jobs on a shared machine
    return dict(idslab_ns_per_pixel=round(o, 1), reference_ns_per_pixel=round(r, 1), speedup=round(r / o, 1),
                idslab_cpu_ns_per_pixel=round(oc, 1), reference_cpu_ns_per_pixel=round(rc, 1),
                speedup_cpu=round(rc / oc, 1),
                reference_ms_per_segment=round(r * 150 * 150 / 1e6, 2), rounds=rounds, scenes=scenes,
                segments=segments, load_average=[round(x, 2) for x in os.getloadavg()],
                threads=int(__import__("torch").get_num_threads()))


def error_breakdown(pred, split) -> dict:
    """Accuracy of predictions by class, and for the positives by their physics targets (peak SNR, main-lobe
    pixels): where the supervised ceiling's errors are."""
    ok = (pred == split.y).numpy()
    y = split.y.numpy()
    out = {"negatives": round(float(ok[y == 0].mean()), 3), "positives": round(float(ok[y == 1].mean()), 3)}
    for name, edges in (("peak_snr_db", (15, 18, 21, 24, 27, 60)), ("mainlobe_px", (12, 20, 30, 45, 10 ** 6))):
        t = split.targets[name].numpy()
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (y == 1) & (t >= lo) & (t < hi)
            if sel.any():
                out[f"{name} {lo}-{hi}"] = [int(sel.sum()), round(float(ok[sel].mean()), 3)]
    return out


# CNN-64 variants for the ceiling study, as idslab.encoders._CNN blocks (out_channels, conv kernel, conv padding,
# pool kernel, pool stride); every one ends in a 3x3 map. The first two fit the paper's template (two blocks, larger
# kernels and pooling strides than CNN-16's); "fine" (four blocks of 2x2 pools) is a diagnostic outside it.
CNN64_VARIANTS = {
    "cnn64": None,                                                                   # idslab's, 64 -> 16 -> 3
    "k7": [(16, 7, 3, 4, 4), (32, 5, 0, 4, 4)],                                      # 64 -> 16 -> 3
    "p3": [(16, 5, 2, 3, 3), (32, 5, 0, 7, 5)],                                      # 64 -> 21 -> 3
    "fine": [(16, 3, 1, 2, 2), (16, 3, 1, 2, 2), (32, 3, 1, 2, 2), (32, 3, 0, 2, 2)],  # 64 -> 32 -> 16 -> 8 -> 3
}


def variant_encoder(blocks, in_channels: int = 1):
    """An idslab Encoder with these conv blocks (encoders.conv_blocks, as build_encoder builds its CNNs), for the
    ceiling study."""
    from idslab.encoders import Encoder, conv_blocks
    features, c = conv_blocks(blocks, in_channels)
    return Encoder(features, c * 3 * 3, 64, "study", 64, in_channels)


def ceiling_study(tile: int, variants, data_dir: str, epochs: int, train_on: str, cosine: bool, seed: int) -> dict:
    """The supervised ceiling of each encoder variant on the same data: test and train accuracy, where the errors
    are (error_breakdown), wall time."""
    import torch

    from idslab.baselines import supervised_ceiling
    from idslab.datasets import load
    from idslab.train import TrainConfig
    data = load("meteor", tile, data_dir=data_dir)
    cfg = TrainConfig(encoder=f"cnn{tile}", data_dir=data_dir, device="cpu", seed=seed)
    out = {}
    for name in variants:
        blocks = CNN64_VARIANTS[name] if tile == 64 else None
        torch.manual_seed(seed)                                            # same init draw order for every variant
        enc = variant_encoder(blocks) if blocks else None
        r = supervised_ceiling(cfg, data, epochs=epochs, predictions=True, train_on=train_on, cosine=cosine,
                               encoder=enc)
        r["errors"] = error_breakdown(r.pop("predictions"), data.probe_test)
        r.update(cosine=cosine, seed=seed, load_average=[round(x, 2) for x in os.getloadavg()])
        out[name] = r
        print(json.dumps({name: r}), flush=True)
    return out


# the controls' parts, in the order controls runs them, and each one's key in its JSON
CONTROLS = {"trivial": "trivial", "floor": "floor", "probe_train": "supervised_probe_train", "all": "ceiling"}


def controls(tiles, data_dir: str, ceiling_epochs: int, encoder: str | None = None, parts=CONTROLS) -> dict:
    """The controls (CONTROLS, or those in `parts`) per tile size, for each size's CNN-N or for `encoder` at every
    size; keyed "cnnN", or "<encoder>@N" with an encoder given. Each part is printed as a JSON line when done."""
    from idslab.baselines import supervised_ceiling, trivial_baseline
    from idslab.datasets import load
    from idslab.encoders import build_encoder
    from idslab.probes import evaluate
    from idslab.train import TrainConfig, pretrain, probe_config, seed_everything
    unknown = sorted(set(parts) - set(CONTROLS))
    if unknown or not parts:
        raise ValueError(f"controls: parts {unknown or '(none)'} not known: choose from {', '.join(CONTROLS)}")
    # every config first (an unknown encoder or a size it does not take fails here, before any data is simulated)
    cfgs = {tile: TrainConfig(encoder=encoder or f"cnn{tile}", tile=tile, epochs=0, data_dir=data_dir, device="cpu")
            for tile in tiles}
    out = {}
    for tile, cfg in cfgs.items():
        key = f"cnn{tile}" if encoder is None else f"{encoder}@{tile}"
        t0 = time.perf_counter()
        data = load("meteor", tile, data_dir=data_dir)
        res = dict(encoder=cfg.encoder, tile=tile, generation_s=round(time.perf_counter() - t0, 1),
                   scenes=data.meta.get("scenes"))
        for part in (p for p in CONTROLS if p in parts):
            t1 = time.perf_counter()
            if part == "trivial":
                r = trivial_baseline(data)
            elif part == "floor":   # train.run(epochs=0)'s random init and probes, without run's diagnostics
                model = pretrain(cfg, data).model
                floor = evaluate(model.encoder, data, probe_config(cfg))
                r = {k: floor[k] for k in ("mlp_acc", "mlp_ci", "knn_acc", "knn_ci", "n_test")}
            else:
                seed_everything(cfg.seed)                  # the init supervised_ceiling draws itself without one
                enc = build_encoder(cfg.encoder, data.probe_test.x.shape[1])
                r = supervised_ceiling(cfg, data, epochs=ceiling_epochs, predictions=True, train_on=part, encoder=enc)
                r["errors"] = error_breakdown(r.pop("predictions"), data.probe_test)
            r.update(part_s=round(time.perf_counter() - t1, 1), load_average=[round(x, 2) for x in os.getloadavg()])
            res[CONTROLS[part]] = r
            print(json.dumps({key: {CONTROLS[part]: r}}), flush=True)
        out[key] = res
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--scenes", type=int, default=64)
    s.add_argument("--segments", type=int, default=200)
    s.add_argument("--rounds", type=int, default=3)
    c = sub.add_parser("controls")
    c.add_argument("--tiles", type=int, nargs="+", default=[16, 64])
    c.add_argument("--data-dir", default="data")
    c.add_argument("--ceiling-epochs", type=int, default=30)
    c.add_argument("--encoder", default=None, help="this encoder at every tile size (default: each size's CNN-N)")
    c.add_argument("--parts", nargs="+", default=list(CONTROLS), choices=CONTROLS, help="run only these controls")
    st = sub.add_parser("ceiling-study")
    st.add_argument("--tile", type=int, default=64, choices=(16, 64))
    st.add_argument("--variants", nargs="+", default=list(CNN64_VARIANTS), choices=list(CNN64_VARIANTS))
    st.add_argument("--data-dir", default="data")
    st.add_argument("--epochs", type=int, default=30)
    st.add_argument("--train-on", default="all", choices=("all", "probe_train"))
    st.add_argument("--cosine", action="store_true", help="decay the learning rate to 0 (cosine)")
    st.add_argument("--seed", type=int, default=0)
    for p in (s, c, st):
        p.add_argument("--out", default=None, help="also write the JSON result here")
    args = ap.parse_args(argv)
    if args.what == "speed":
        res = speed(args.scenes, args.segments, args.rounds)
    elif args.what == "controls":
        res = controls(args.tiles, args.data_dir, args.ceiling_epochs, args.encoder, args.parts)
    else:
        res = ceiling_study(args.tile, args.variants if args.tile == 64 else ["cnn16"], args.data_dir, args.epochs,
                            args.train_on, args.cosine, args.seed)
    res = dict(result=res, machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
