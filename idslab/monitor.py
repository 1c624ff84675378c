"""The per-epoch monitor: how a run's representation is doing after every epoch, cheaply enough to run always.

After each epoch the engine (idslab.train) reads the model the way the probes do (eval mode, s_l = 0, projection
head only for z) on a fixed subset of the probe splits, and records

    epoch           1-based
    loss            the epoch's mean training loss (the objective's)
    knn_acc         k-NN accuracy of h on the monitor's test subset, neighbours from its reference subset
                    (None for unlabelled data)
    effective_rank  RankMe of h on the test subset (idslab.diagnostics.effective_rank): ~D_r healthy, 1 collapsed
    z_std           std over samples of the L2-normalised projections, averaged over dimensions, times √D_p
                    (SimSiam paper Sec. 4.1): about 1 when z spreads over the sphere, 0 when every z is the same
    wall_s          seconds since pre-training started

so a collapse shows as a number as it happens (z_std -> 0, rank -> 1) rather than as a surprise after the probes.
The subsets are fixed (evenly spaced indices, no random draw): the monitor never touches the RNG, so a run trains
exactly the same with or without it. Measured cost: docs/BENCHMARKS.md (bench_objectives.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .diagnostics import effective_rank
from .probes import embed, knn_predict

N_REF = 1024   # reference (probe-train) samples the k-NN votes among
N_EVAL = 512   # evaluated (probe-test) samples: k-NN accuracy, effective rank and z_std


@dataclass(frozen=True)
class MonitorSet:
    """The fixed samples the monitor reads. x_* (n, C, ...) float32 on the training device; y_* (n,) int64, or None
    when the data has no labels (then x_ref is empty and knn_acc is None)."""
    x_ref: torch.Tensor
    y_ref: torch.Tensor | None
    x_eval: torch.Tensor
    y_eval: torch.Tensor | None


def _spaced(n: int, m: int) -> torch.Tensor:
    """min(n, m) evenly spaced indices of 0..n-1 (deterministic; every part of a split that is ordered by class)."""
    return torch.linspace(0, n - 1, min(n, m)).round().long() if n else torch.zeros(0, dtype=torch.long)


def monitor_set(data, device: torch.device, n_ref: int = N_REF, n_eval: int = N_EVAL) -> MonitorSet:
    """The monitor's samples of an SSLData: probe-train (reference) and probe-test (evaluated) subsets; for
    unlabelled data, a subset of the pre-training split is evaluated (rank and z_std only)."""
    if len(data.probe_test.y) and len(data.probe_train.y):
        r, e = _spaced(len(data.probe_train.y), n_ref), _spaced(len(data.probe_test.y), n_eval)
        return MonitorSet(data.probe_train.x[r].to(device, torch.float32), data.probe_train.y[r].to(device),
                          data.probe_test.x[e].to(device, torch.float32), data.probe_test.y[e].to(device))
    e = _spaced(len(data.pretrain.x), n_eval)
    x = data.pretrain.x[e].to(device, torch.float32)
    return MonitorSet(x[:0], None, x, None)


def z_std(z: torch.Tensor) -> float:
    """std over samples of F.normalize(z) per dimension, averaged over the D dimensions, times √D. z (n, D), n >= 2."""
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"z_std needs an (n, D) matrix with n >= 2, got {tuple(z.shape)}")
    zn = F.normalize(z.float(), dim=1)
    return float(zn.std(dim=0).mean() * math.sqrt(z.shape[1]))


@torch.no_grad()
def measure(model: nn.Module, ms: MonitorSet, knn_k: int = 20, knn_metric: str = "cosine",
            advice: str = "lower the learning rate (--lr) or s_l (--sl); no model file was written") -> dict:
    """The monitor's numbers for a SimCLRModel (encoder + projector): knn_acc, effective_rank, z_std (see module
    doc). Eval mode throughout (s_l = 0, batch-norm running statistics); the model's modes are restored. advice:
    what a FloatingPointError (non-finite embeddings) tells the user to change (the engine: the objective's own)."""
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        h = embed(model.encoder, ms.x_eval)                                    # (n_eval, 32)
        if not torch.isfinite(h).all():   # finite but huge weights (--lr 1e30): say so, not an SVD error below
            raise FloatingPointError(f"training diverged: the encoder maps {int((~torch.isfinite(h)).any(1).sum())} "
                                     f"of {len(h)} monitored samples to NaN/inf embeddings: {advice}")
        z = model.projector(h)                                                 # (n_eval, D_p)
        knn = None
        if ms.y_ref is not None and len(ms.y_ref):
            h_ref = embed(model.encoder, ms.x_ref)
            pred = knn_predict(h_ref.float(), ms.y_ref, h.float(), min(knn_k, len(ms.y_ref)), knn_metric)
            knn = float((pred == ms.y_eval).float().mean())
    finally:
        for m, training in modes.items():
            m.train(training)
    return {"knn_acc": knn, "effective_rank": effective_rank(h.float()), "z_std": z_std(z)}
