"""Cost of the weight-noise variants of idslab.perturb, side by side in one run (issue 10).

    python benchmarks/bench_noise.py [--rows 512] [--repeats 50] [--device auto]

Forward + backward of one perturbed layer with the CNN-16 shapes (2B = 512 rows; fc1 288 -> 64; conv2 16 -> 32
channels, 3x3, on 8x8 maps), per variant, as a ratio to the plain layer:
  view            one λ per view (the paper; one (out, in) draw per view, bmm)
  sample (LRT)    one λ per sample by the local reparameterisation xWᵀ + σ‖x‖ε (what idslab uses)
  sample (naive)  one λ per sample drawn explicitly: N (out, in) draws and a batched matmul (the definition)
  conv view       PerturbedConv2d, one λ per view: one convolution per view (what idslab uses)
  conv view (grouped)  the same arithmetic as one grouped convolution over the views (idslab before 2026-12-08)
  conv sample     one λ per sample: grouped convolution with one kernel per sample
and, with --step ENCODER, one training step of ENCODER (engine: views -> forward -> NT-Xent -> Adam, channels_last)
with IDS on every conv and linear weight (sites all:0.1, relative), per-view convolutions against the grouped form,
and with IDS at fc1 only, rounds alternating so load changes hit all alike:

    python benchmarks/bench_noise.py --step resnet18 --tile 32 --batch 64 --rounds 5
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ab_cpu_step import stepper  # noqa: E402
from idslab import perturb  # noqa: E402
from idslab.perturb import grouped_conv, perturbed_conv2d, perturbed_linear  # noqa: E402
from idslab.train import Engine, TrainConfig, resolve_device  # noqa: E402


def naive_sample(x, w, b, s):
    lam = torch.randn((x.shape[0], *w.shape), device=x.device) * s
    return torch.bmm((w + lam), x.unsqueeze(-1)).squeeze(-1) + b


def grouped_views(conv, x, weight, bias, scale, n_views, noise, scale_mode, stride, padding, dilation, groups, eps):
    """perturb._perturbed_conv as it was: every noise mode through grouped_conv (k = n_views kernels per view)."""
    if scale == 0.0:
        return conv(x, weight, bias, stride, padding, dilation, groups)
    k = x.shape[0] if noise == "sample" else n_views
    if eps is None:
        eps = torch.randn((k, *weight.shape), device=x.device, dtype=weight.dtype)
    w = weight + eps * perturb.noise_std(weight, scale, scale_mode)
    out = grouped_conv(conv, x, w, stride, padding, dilation, groups)
    return out if bias is None else out + bias.view((1, -1) + (1,) * (out.dim() - 2))


def engine_step(encoder: str, tile: int, batch: int, sites: dict, device):
    """One Engine step of IDS with `sites` (relative s_l) on random tiles: a callable."""
    x = torch.randn(4 * batch, 1, tile, tile, generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(encoder=encoder, views="ids", sites=sites, scale_mode="relative", batch_size=batch,
                      n_pretrain=len(x), device=str(device))
    return stepper(Engine(cfg, x.to(device), device))


def step_rounds(a, dev) -> None:
    """--step: the three steps, best of a.rounds alternating rounds (ms per step)."""
    fast = perturb._perturbed_conv
    variants = {"IDS at fc1 (0.1)": ({"fc1": 0.1}, fast), "IDS every layer (all:0.1), per-view convs": (
        {"all": 0.1}, fast), "IDS every layer (all:0.1), grouped form": ({"all": 0.1}, grouped_views)}
    steps = {k: engine_step(a.step, a.tile, a.batch, sites, dev) for k, (sites, _) in variants.items()}
    best = dict.fromkeys(variants, float("inf"))
    try:
        for _ in range(a.rounds):
            for k, (_, impl) in variants.items():
                perturb._perturbed_conv = impl
                best[k] = min(best[k], timed(steps[k], a.repeats, dev))
    finally:
        perturb._perturbed_conv = fast
    print(f"{a.step}, tile {a.tile}, batch {a.batch} (2 x {a.batch} views), best of {a.rounds} rounds of "
          f"{a.repeats} steps\n")
    print("| step | ms | × fc1 |\n|---|---:|---:|")
    for k, t in best.items():
        print(f"| {k} | {1e3 * t:.1f} | {t / best['IDS at fc1 (0.1)']:.2f} |")


def timed(fn, repeats: int, device) -> float:
    for _ in range(3):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--device", default="auto")
    p.add_argument("--step", default="", help="an encoder: time whole training steps instead of layers")
    p.add_argument("--tile", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    dev = resolve_device(a.device)
    torch.manual_seed(0)
    print(f"device {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else platform.machine()}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    if a.step:
        step_rounds(a, dev)
        return 0
    x = torch.randn(a.rows, 288, device=dev)
    w = torch.randn(64, 288, device=dev, requires_grad=True)
    b = torch.zeros(64, device=dev, requires_grad=True)
    xc = torch.randn(a.rows, 16, 8, 8, device=dev)
    wc = torch.randn(32, 16, 3, 3, device=dev, requires_grad=True)

    def step(f):
        return lambda: f().sum().backward()
    cases = {
        "linear plain": step(lambda: F.linear(x, w, b)),
        "linear view": step(lambda: perturbed_linear(x, w, b, 0.02, 2, "view")),
        "linear sample (LRT)": step(lambda: perturbed_linear(x, w, b, 0.02, 2, "sample")),
        "linear sample (naive)": step(lambda: naive_sample(x, w, b, 0.02)),
        "conv plain": step(lambda: F.conv2d(xc, wc, None, 1, 1)),
        "conv view": step(lambda: perturbed_conv2d(xc, wc, None, 0.02, 2, "view", padding=1)),
        "conv view (grouped)": step(lambda: grouped_views(F.conv2d, xc, wc, None, 0.02, 2, "view", "absolute", 1, 1,
                                                          1, 1, None)),
        "conv sample": step(lambda: perturbed_conv2d(xc, wc, None, 0.02, 2, "sample", padding=1)),
    }
    times = {k: timed(f, a.repeats, dev) for k, f in cases.items()}
    print(f"rows {a.rows}\n")
    print("| variant | ms per forward+backward | × plain |\n|---|---:|---:|")
    for k, t in times.items():
        base = times["linear plain" if k.startswith("linear") else "conv plain"]
        print(f"| {k} | {1e3 * t:.3f} | {t / base:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
