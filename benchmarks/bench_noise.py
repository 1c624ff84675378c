"""Cost of the weight-noise variants of idslab.perturb, side by side in one run (issue 10).

    python benchmarks/bench_noise.py [--rows 512] [--repeats 50] [--device auto]

Forward + backward of one perturbed layer with the CNN-16 shapes (2B = 512 rows; fc1 288 -> 64; conv2 16 -> 32
channels, 3x3, on 8x8 maps), per variant, as a ratio to the plain layer:
  view            one λ per view (the paper; one (out, in) draw per view, bmm)
  sample (LRT)    one λ per sample by the local reparameterisation xWᵀ + σ‖x‖ε (what idslab uses)
  sample (naive)  one λ per sample drawn explicitly: N (out, in) draws and a batched matmul (the definition)
  conv view / conv sample: PerturbedConv2d, grouped convolution with one kernel per view / per sample
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

from idslab.perturb import perturbed_conv2d, perturbed_linear  # noqa: E402
from idslab.train import resolve_device  # noqa: E402


def naive_sample(x, w, b, s):
    lam = torch.randn((x.shape[0], *w.shape), device=x.device) * s
    return torch.bmm((w + lam), x.unsqueeze(-1)).squeeze(-1) + b


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
    a = p.parse_args(argv)
    dev = resolve_device(a.device)
    torch.manual_seed(0)
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
        "conv sample": step(lambda: perturbed_conv2d(xc, wc, None, 0.02, 2, "sample", padding=1)),
    }
    times = {k: timed(f, a.repeats, dev) for k, f in cases.items()}
    print(f"device {dev} ({torch.cuda.get_device_name() if dev.type == 'cuda' else platform.machine()}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, rows {a.rows}\n")
    print("| variant | ms per forward+backward | × plain |\n|---|---:|---:|")
    for k, t in times.items():
        base = times["linear plain" if k.startswith("linear") else "conv plain"]
        print(f"| {k} | {1e3 * t:.3f} | {t / base:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
