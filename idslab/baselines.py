"""Controls that every probe accuracy is read against (paper Sec. 4.1 reports probes; these bound them):

- trivial_baseline: a standardised logistic regression on a handful of global statistics of each tile (brightest
  pixel, mean, spread, quantiles, bright-pixel counts). If it scores as well as a learned representation, the task
  is about brightness, not about what the tile shows.
- supervised_ceiling: the SAME encoder architecture plus a linear head, trained with labels (cross-entropy) on
  probe-train, scored on probe-test: roughly the best a frozen representation of that architecture can hope for.

The random-init floor is train.run with epochs=0 (idslab.train). Accuracies are fractions with 95% Wilson intervals.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import build_encoder
from .probes import wilson_ci
from .train import TrainConfig, resolve_device, seed_everything

QUANTILES = (0.5, 0.9, 0.99)            # per-tile pixel quantiles
METEOR_THRESHOLDS_DB = (10.0, 15.0, 20.0)  # bright-pixel counts for calibrated SNR (noise floor at 0 dB)
RELATIVE_QUANTILES = (0.9, 0.99, 0.999)   # other data: thresholds at these quantiles of the training pixels


def tile_statistics(x: torch.Tensor, thresholds=None) -> torch.Tensor:
    """Global statistics of each tile, per channel: (n, C, N, N) -> (n, C * (3 + len(QUANTILES) + T)) float32.

    Per channel: max, mean, std, the QUANTILES of the tile's pixels, and the number of pixels above each of the
    T thresholds (values in x's units; meteor: dB SNR). thresholds None: the RELATIVE_QUANTILES of x's own pixels
    (pass the training split's thresholds to score a test split with the same ones, see data_thresholds).
    """
    if x.dim() != 4:
        raise ValueError(f"tile_statistics: x must be (n, C, N, N), got shape {tuple(x.shape)}")
    x = x.float()
    thr = data_thresholds(x) if thresholds is None else torch.as_tensor(thresholds, dtype=torch.float32)
    flat = x.flatten(2)                                                  # (n, C, N*N)
    m = flat.shape[-1]
    q_idx = torch.tensor([min(m - 1, round(q * (m - 1))) for q in QUANTILES])
    quant = torch.cat([c.sort(-1).values[..., q_idx] for c in flat.split(1024)])   # chunks bound sort memory
    counts = (flat.unsqueeze(-1) > thr.to(x.device)).sum(2).float() if thr.numel() else flat[..., :0]
    feats = [flat.amax(-1, keepdim=True), flat.mean(-1, keepdim=True), flat.std(-1, keepdim=True), quant, counts]
    return torch.cat(feats, -1).flatten(1)


def data_thresholds(x: torch.Tensor, name: str | None = None) -> torch.Tensor:
    """Bright-pixel thresholds for a data set: fixed 10/15/20 dB for meteor (calibrated SNR), else the
    RELATIVE_QUANTILES of a random sample of x's pixels (deterministic)."""
    if name == "meteor":
        return torch.tensor(METEOR_THRESHOLDS_DB)
    flat = x.float().reshape(-1)
    if flat.numel() > 1_000_000:  # torch.quantile has an input size limit; a strided sample is plenty
        flat = flat[:: flat.numel() // 1_000_000 + 1]
    return torch.quantile(flat, torch.tensor(RELATIVE_QUANTILES))


def _score(pred: torch.Tensor, y: torch.Tensor) -> dict:
    correct, n = int((pred.cpu() == y.cpu()).sum()), int(y.numel())
    return {"acc": correct / max(1, n), "ci": list(wilson_ci(correct, n)), "n_test": n}


def trivial_baseline(data, seed: int = 0) -> dict:
    """Logistic regression (standardised inputs, scikit-learn) on tile_statistics: fit on data.probe_train,
    scored on data.probe_test. Returns {"acc", "ci" (95% Wilson), "n_test", "features"}. Multi-class works."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    thr = data_thresholds(data.probe_train.x, getattr(data, "name", None))
    f_tr = tile_statistics(data.probe_train.x, thr).numpy()
    f_te = tile_statistics(data.probe_test.x, thr).numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(f_tr, data.probe_train.y.numpy())
    out = _score(torch.from_numpy(clf.predict(f_te)), data.probe_test.y)
    out["features"] = int(f_tr.shape[1])
    return out


def supervised_ceiling(cfg: TrainConfig, data, epochs: int = 30,
                       progress: Callable[[int, int, float], None] | None = None, predictions: bool = False) -> dict:
    """The config's encoder architecture + a linear head, trained with cross-entropy on data.probe_train (Adam,
    cfg.lr, cfg.batch_size, no augmentation, no weight perturbation), scored on data.probe_test.

    Input standardisation buffers come from the training tiles, as in train.pretrain. Deterministic for a seed on
    the CPU. progress(step, total, loss) after every step. Returns {"acc", "ci", "n_test", "wall_s", "epochs"}
    (and "predictions", the (n_test,) predicted labels as a CPU tensor, with predictions=True: for error analyses).
    """
    if epochs < 1:
        raise ValueError(f"supervised_ceiling: epochs must be >= 1, got {epochs}")
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    x = data.probe_train.x.to(device, torch.float32)                    # (n, C, N, N), resident on the device
    y = data.probe_train.y.to(device)
    n_classes = int(max(data.probe_train.y.max(), data.probe_test.y.max())) + 1
    encoder = build_encoder(cfg.encoder, x.shape[1])
    encoder.in_mean.copy_(x.mean(dim=(0, 2, 3)).cpu())
    encoder.in_std.copy_(x.std(dim=(0, 2, 3)).clamp_min(1e-6).cpu())
    model = nn.Sequential(encoder, nn.Linear(encoder.fc2.out_features, n_classes)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    n, bs = x.shape[0], min(cfg.batch_size, x.shape[0])
    steps = -(-n // bs)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for s in range(steps):
            idx = perm[s * bs:(s + 1) * bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if progress is not None:
                progress(epoch * steps + s + 1, epochs * steps, loss.item())
    wall = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xb.to(device, torch.float32)).argmax(1) for xb in data.probe_test.x.split(1024)])
    out = _score(pred, data.probe_test.y)
    out.update(wall_s=round(wall, 3), epochs=epochs)
    if predictions:
        out["predictions"] = pred.cpu()
    return out


__all__ = ["tile_statistics", "data_thresholds", "trivial_baseline", "supervised_ceiling", "QUANTILES",
           "METEOR_THRESHOLDS_DB"]
