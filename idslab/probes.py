"""Evaluation of frozen representations (paper Sec. 4.1): encoder frozen, s_l = 0 everywhere (eval mode),
projection head dropped; a shallow MLP probe and a k-NN classifier on h (n, 32), scored on a held-out split.

Both probes run in torch on the training device (a few hundred full-batch steps, one matrix product for k-NN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ProbeConfig:
    mlp_hidden: int = 64      # width of the probe's one hidden layer
    mlp_steps: int = 300      # full-batch Adam steps
    mlp_lr: float = 1e-2
    mlp_weight_decay: float = 1e-4
    knn_k: int = 20           # neighbours that vote
    knn_metric: str = "cosine"  # "cosine" | "euclidean"
    seed: int = 0


@torch.no_grad()
def embed(encoder: nn.Module, x: torch.Tensor, device: torch.device | str | None = None,
          batch_size: int = 1024) -> torch.Tensor:
    """h = f(x) with the deterministic encoder (eval mode: s_l = 0). x (n, C, N, N) raw values -> (n, 32) float32
    on `device` (default: the encoder's)."""
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    for xb in x.split(batch_size):
        xb = xb.to(device, non_blocking=True).float()
        out.append(encoder(xb).float())
    encoder.train(was_training)
    return torch.cat(out)


def wilson_ci(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for an accuracy of correct/n (better than the normal one near 0 or 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mlp_probe(h_train, y_train, h_test, cfg: ProbeConfig = ProbeConfig()) -> torch.Tensor:
    """Train Linear-ReLU-Linear on (h_train, y_train), predict labels (n_test,) for h_test. Inputs are standardised
    with the train statistics so one learning rate fits every encoder."""
    mu, sd = h_train.mean(0), h_train.std(0).clamp_min(1e-6)
    a, b = (h_train - mu) / sd, (h_test - mu) / sd
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = nn.Sequential(nn.Linear(a.shape[1], cfg.mlp_hidden), nn.ReLU(), nn.Linear(cfg.mlp_hidden, 2))
    with torch.no_grad():  # seeded init independent of the global RNG state
        for p in probe.parameters():
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / math.sqrt(p.shape[-1]))
    probe = probe.to(a.device)
    opt = torch.optim.Adam(probe.parameters(), lr=cfg.mlp_lr, weight_decay=cfg.mlp_weight_decay)
    with torch.enable_grad():
        for _ in range(cfg.mlp_steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(probe(a), y_train).backward()
            opt.step()
    with torch.no_grad():
        return probe(b).argmax(1)


def knn_predict(h_train, y_train, h_test, k: int = 20, metric: str = "cosine") -> torch.Tensor:
    """Majority vote of the k nearest training points (ties go to class 1 only if it has strictly more votes)."""
    if metric == "cosine":
        score = F.normalize(h_test, dim=1) @ F.normalize(h_train, dim=1).T   # (n_test, n_train), higher = nearer
    elif metric == "euclidean":
        score = -torch.cdist(h_test, h_train)
    else:
        raise ValueError(f"unknown k-NN metric {metric!r}: use 'cosine' or 'euclidean'")
    if not 1 <= k <= h_train.shape[0]:  # never clamp silently: the record would claim a k that was not used
        raise ValueError(f"k-NN k={k} but there are {h_train.shape[0]} probe-train samples: lower --knn-k or raise "
                         "--n-probe-train")
    idx = score.topk(k, dim=1).indices
    votes = y_train[idx].float().mean(1)
    return (votes > 0.5).long()


def evaluate(encoder: nn.Module, data, cfg: ProbeConfig = ProbeConfig(), device=None) -> dict:
    """Probe accuracies of a frozen encoder on data.probe_train -> data.probe_test (an idslab.datasets.SSLData).

    Returns {"mlp_acc", "mlp_ci", "knn_acc", "knn_ci", "n_test"}; accuracies are fractions, CIs are 95% Wilson.
    """
    h_tr = embed(encoder, data.probe_train.x, device)
    h_te = embed(encoder, data.probe_test.x, device)
    for name, h in (("probe-train", h_tr), ("probe-test", h_te)):
        if not torch.isfinite(h).all():  # a diverged encoder: probes would score a meaningless 50%, not an error
            bad = int((~torch.isfinite(h)).any(1).sum())
            raise FloatingPointError(f"the encoder's embeddings h of {bad} of {len(h)} {name} samples are NaN or "
                                     "infinite (training diverged or the input holds NaN/inf): lower the learning "
                                     "rate (--lr) or s_l (--sl), or check the data")
    y_tr, y_te = data.probe_train.y.to(h_tr.device), data.probe_test.y.to(h_tr.device)
    out = {"n_test": int(y_te.numel())}
    preds = {"mlp": mlp_probe(h_tr, y_tr, h_te, cfg),
             "knn": knn_predict(h_tr, y_tr, h_te, cfg.knn_k, cfg.knn_metric)}
    for name, pred in preds.items():
        correct = int((pred == y_te).sum())
        out[f"{name}_acc"] = correct / max(1, y_te.numel())
        out[f"{name}_ci"] = list(wilson_ci(correct, y_te.numel()))
    return out
