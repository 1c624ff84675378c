"""Controls that every probe accuracy is read against (paper Sec. 4.1 reports probes; these bound them):

- trivial_baseline: a standardised logistic regression on a handful of global statistics of each tile (brightest
  pixel, mean, spread, quantiles, bright-pixel counts). If it scores as well as a learned representation, the task
  is about brightness, not about what the tile shows.
- supervised_ceiling: the SAME encoder architecture plus a linear head, trained with labels (cross-entropy) on every
  labelled training tile (pre-train + probe-train; train_on="probe_train" for the label-matched reference), scored
  on probe-test: roughly the best any method of that architecture can reach with these data.
- supervised_regression: the same for the physics probes: the encoder trained to regress one per-tile target
  (slope, velocity, SNR) on positive tiles, R² on probe-test.

The random-init floor is train.run with epochs=0 (idslab.train). Accuracies are fractions with 95% Wilson intervals.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import build_encoder, eval_rows
from .probes import wilson_ci
from .train import TrainConfig, resolve_device, seed_everything

QUANTILES = (0.5, 0.9, 0.99)            # per-tile pixel quantiles
METEOR_THRESHOLDS_DB = (10.0, 15.0, 20.0)  # bright-pixel counts for calibrated SNR (noise floor at 0 dB)
RELATIVE_QUANTILES = (0.9, 0.99, 0.999)   # other data: thresholds at these quantiles of the training pixels


def tile_statistics(x: torch.Tensor, thresholds=None) -> torch.Tensor:
    """Global statistics of each tile (or 1-D sample), per channel: (n, C, N, N) or (n, C, L) -> (n, C * (3 +
    len(QUANTILES) + T)) float32.

    Per channel: max, mean, std, the QUANTILES of the tile's pixels, and the number of pixels above each of the
    T thresholds (values in x's units; meteor: dB SNR). thresholds None: the RELATIVE_QUANTILES of x's own pixels
    (pass the training split's thresholds to score a test split with the same ones, see data_thresholds).
    """
    if x.dim() not in (3, 4):
        raise ValueError(f"tile_statistics: x must be (n, C, N, N) or (n, C, L), got shape {tuple(x.shape)}")
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


def _fit_supervised(cfg: TrainConfig, x: torch.Tensor, target: torch.Tensor, n_out: int, loss_fn, epochs: int,
                    progress, cosine: bool = False, encoder: nn.Module | None = None) -> tuple[nn.Module, float]:
    """The config's encoder (or `encoder`, an idslab.encoders.Encoder, for architecture studies) + a linear head
    (n_out outputs) trained on (x, target) with loss_fn (Adam, cfg.lr, cfg.batch_size, no augmentation, no weight
    perturbation; cosine: the learning rate decays from cfg.lr to 0 over the steps), data resident on the device.
    Input standardisation buffers come from x, as in train.pretrain. Deterministic for a seed on the CPU. Returns
    (model in eval mode, seconds of training)."""
    if epochs < 1:
        raise ValueError(f"supervised training: epochs must be >= 1, got {epochs}")
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    x, target = x.to(device, torch.float32), target.to(device)       # (n, C, N, N), (n,)
    encoder = build_encoder(cfg.encoder, x.shape[1]) if encoder is None else encoder
    over = (0, *range(2, x.dim()))                                    # every axis but the channel
    encoder.in_mean.copy_(x.mean(dim=over).cpu())
    encoder.in_std.copy_(x.std(dim=over).clamp_min(1e-6).cpu())
    model = nn.Sequential(encoder, nn.Linear(encoder.fc2.out_features, n_out)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    n, bs = x.shape[0], min(cfg.batch_size, x.shape[0])
    steps = -(-n // bs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps) if cosine else None
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for s in range(steps):
            idx = perm[s * bs:(s + 1) * bs]
            loss = loss_fn(model(x[idx]), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if progress is not None:
                progress(epoch * steps + s + 1, epochs * steps, loss.item())
    return model.eval(), time.perf_counter() - t0


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model(xb.to(device, torch.float32)) for xb in x.split(eval_rows(x))])


TRAIN_ON = ("all", "probe_train")


def supervised_ceiling(cfg: TrainConfig, data, epochs: int = 30,
                       progress: Callable[[int, int, float], None] | None = None, predictions: bool = False,
                       train_on: str = "all", cosine: bool = False, encoder: nn.Module | None = None) -> dict:
    """The config's encoder architecture + a linear head, trained with cross-entropy and scored on data.probe_test
    (see _fit_supervised).

    train_on: "all" (default) -- every labelled training tile, data.pretrain + data.probe_train (the simulator
    labels every tile; a self-supervised method sees the pre-train tiles too, so a ceiling that bounds any method on
    these data must be allowed their labels); "probe_train" -- only the probe's labels (the label-matched
    reference: what the same labels buy a supervised encoder; experiments.compare's "supervised" control).
    cosine: decay the learning rate to 0 (see _fit_supervised); encoder: train this Encoder instead of
    cfg.encoder's. progress(step, total, loss) after every step.
    Returns {"acc", "ci", "n_test", "train_acc" (on the training tiles, eval mode: near 1 means the labels were
    fitted, so test errors are not under-fitting), "n_train", "train_on", "wall_s", "epochs"} (and "predictions",
    the (n_test,) predicted labels as a CPU tensor, with predictions=True: for error analyses).
    """
    if train_on not in TRAIN_ON:
        raise ValueError(f"supervised_ceiling: train_on must be one of {TRAIN_ON}, got {train_on!r}")
    if train_on == "all":
        if getattr(data, "pretrain", None) is None or getattr(data.pretrain, "y", None) is None:
            raise ValueError("supervised_ceiling: train_on='all' needs labelled data.pretrain; pass "
                             "train_on='probe_train' for data without pre-train labels")
        x = torch.cat([data.pretrain.x, data.probe_train.x])
        y = torch.cat([data.pretrain.y, data.probe_train.y])
    else:
        x, y = data.probe_train.x, data.probe_train.y
    n_classes = int(max(y.max(), data.probe_test.y.max())) + 1
    model, wall = _fit_supervised(cfg, x, y, n_classes, F.cross_entropy, epochs, progress, cosine, encoder)
    train_acc = _score(_predict(model, x).argmax(1), y)["acc"]
    pred = _predict(model, data.probe_test.x).argmax(1)
    out = _score(pred, data.probe_test.y)
    out.update(train_acc=round(train_acc, 4), n_train=int(y.numel()), train_on=train_on, wall_s=round(wall, 3),
               epochs=epochs)
    if predictions:
        out["predictions"] = pred.cpu()
    return out


def supervised_regression(cfg: TrainConfig, data, target: str, epochs: int = 60, n_boot: int = 1000,
                          progress: Callable[[int, int, float], None] | None = None) -> dict:
    """The physics probes' ceiling: the same encoder + a linear head trained with labels to regress one per-tile
    target (e.g. "slope", data.probe_train.targets) on the positive tiles of probe-train (MSE on the standardised
    target), R² on the positives of probe-test with a 95% bootstrap interval. If a representation's ridge R²
    (idslab.probes.physics_probes) sits far below this, the tile shows the quantity and the representation lost
    it; if this is near 0 too, the tile does not show it (e.g. absolute altitude: a tile carries no position).
    Returns {"r2", "ci", "n_train", "n_test", "wall_s", "epochs"}."""
    from .probes import bootstrap_r2, r2_score
    tr_t, te_t = getattr(data.probe_train, "targets", {}) or {}, getattr(data.probe_test, "targets", {}) or {}
    if target not in tr_t or target not in te_t:
        raise ValueError(f"supervised_regression: the data carry no per-tile target {target!r} (have "
                         f"{sorted(tr_t)}): use meteor data (idslab.datasets.load('meteor', ...))")
    keep_tr = (data.probe_train.y == 1) & torch.isfinite(torch.as_tensor(tr_t[target]))
    keep_te = (data.probe_test.y == 1) & torch.isfinite(torch.as_tensor(te_t[target]))
    t_tr = torch.as_tensor(tr_t[target])[keep_tr].float()
    t_te = torch.as_tensor(te_t[target])[keep_te].double().numpy()
    mu, sd = t_tr.mean(), t_tr.std().clamp_min(1e-12)
    mse = lambda out, t: F.mse_loss(out.squeeze(1), t)
    model, wall = _fit_supervised(cfg, data.probe_train.x[keep_tr], (t_tr - mu) / sd, 1, mse, epochs, progress)
    pred = (_predict(model, data.probe_test.x[keep_te]).squeeze(1).cpu() * sd + mu).double().numpy()
    return {"r2": r2_score(t_te, pred), "ci": list(bootstrap_r2(t_te, pred, n_boot, cfg.seed)),
            "n_train": int(keep_tr.sum()), "n_test": int(keep_te.sum()), "wall_s": round(wall, 3), "epochs": epochs}


__all__ = ["tile_statistics", "data_thresholds", "trivial_baseline", "supervised_ceiling", "supervised_regression",
           "QUANTILES", "TRAIN_ON", "METEOR_THRESHOLDS_DB"]
