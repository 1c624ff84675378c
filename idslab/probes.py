"""Evaluation of frozen representations (paper Sec. 4.1): encoder frozen, s_l = 0 everywhere (eval mode),
projection head dropped; a shallow MLP probe and a k-NN classifier on h (n, 32), scored on a held-out split.

Both probes run in torch on the training device (a few hundred full-batch steps, one matrix product for k-NN).
Beyond the paper (issue 9): physics probes on meteor tiles that carry per-tile targets (ridge R² of velocity, slope,
peak SNR and altitude; a direction probe: real descending echoes vs the same tiles flipped so they ascend) and on
spectra (issue 20: velocity, line SNR, line width, continuum slope; the direction probe: real vs reversed spectra),
and a 10-class linear probe for CIFAR-10. Those are linear models from scikit-learn on the CPU (32-d features, a few
thousand samples: milliseconds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import eval_rows


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
          batch_size: int | None = None) -> torch.Tensor:
    """h = f(x) with the deterministic encoder (eval mode: s_l = 0). x (n, C, N, N) raw values -> (n, 32) float32
    on `device` (default: the encoder's), batch_size rows a pass (None: encoders.eval_rows(x), memory-bounded)."""
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    for xb in x.split(batch_size or eval_rows(x)):
        xb = xb.to(device, non_blocking=True).float()
        out.append(encoder(xb).float())
    encoder.train(was_training)
    return torch.cat(out)


def wilson_ci(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for an accuracy of correct/n (better than the normal one near 0 or 1), by
    scipy.stats.binomtest(...).proportion_ci(method="wilson"). n = 0: the uninformative (0, 1)."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest  # imported here: scipy.stats takes ~1 s to import and only probes need it
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def n_classes(*ys: torch.Tensor) -> int:
    """Number of classes of integer labels in {0, ..., K-1}: the largest label + 1 (at least 2)."""
    return max(2, *(int(y.max()) + 1 for y in ys if y.numel()))


def mlp_probe(h_train, y_train, h_test, cfg: ProbeConfig = ProbeConfig()) -> torch.Tensor:
    """Train Linear-ReLU-Linear on (h_train, y_train), predict labels (n_test,) for h_test. Inputs are standardised
    with the train statistics so one learning rate fits every encoder. Labels are 0..K-1 (K = 2 for the paper's
    binary tasks; any K works, e.g. the 10 CIFAR classes)."""
    mu, sd = h_train.mean(0), h_train.std(0).clamp_min(1e-6)
    a, b = (h_train - mu) / sd, (h_test - mu) / sd
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = nn.Sequential(nn.Linear(a.shape[1], cfg.mlp_hidden), nn.ReLU(),
                          nn.Linear(cfg.mlp_hidden, n_classes(y_train)))
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
    """Majority vote of the k nearest training points over labels 0..K-1; a tie goes to the lowest label (for two
    classes: class 1 only if it has strictly more votes)."""
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
    votes = F.one_hot(y_train[idx], n_classes(y_train)).sum(1)            # (n_test, K)
    return votes.argmax(1)                                                 # argmax: first maximum on ties


# ------------------------------------------------------------------------------------------------ linear probes
def _np(t) -> np.ndarray:
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float32)


def linear_probe(h_train, y_train, h_test, seed: int = 0) -> np.ndarray:
    """Multinomial logistic regression (scikit-learn, L2, C = 1) on standardised h: predicted labels (n_test,)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(_np(h_train), _np(y_train).astype(np.int64))
    return clf.predict(_np(h_test))


def accuracy(pred, y) -> tuple[float, list[float]]:
    """(accuracy as a fraction, its 95% Wilson interval)."""
    pred, y = _np(pred).astype(np.int64), _np(y).astype(np.int64)
    correct = int((pred == y).sum())
    return correct / max(1, y.size), list(wilson_ci(correct, y.size))


def r2_score(t, pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot on the scored set (1: perfect, 0: the set's mean, < 0:
    worse than the mean)."""
    t, pred = np.asarray(t, np.float64), np.asarray(pred, np.float64)
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return 1.0 - float(((t - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")


def bootstrap_r2(t, pred, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of R² over resampled test points (vectorised: (n_boot, n) index draws)."""
    t, pred = np.asarray(t, np.float64), np.asarray(pred, np.float64)
    idx = np.random.default_rng(seed).integers(0, t.size, size=(n_boot, t.size))
    tb, pb = t[idx], pred[idx]
    ss_tot = ((tb - tb.mean(1, keepdims=True)) ** 2).sum(1)
    r2 = 1.0 - ((tb - pb) ** 2).sum(1) / np.where(ss_tot > 0, ss_tot, np.nan)
    if np.isnan(r2).all():
        return float("nan"), float("nan")
    lo, hi = np.nanpercentile(r2, [2.5, 97.5])
    return float(lo), float(hi)


def ridge_r2(h_train, t_train, h_test, t_test, n_boot: int = 1000, seed: int = 0) -> dict:
    """Linear (ridge) regression of a scalar target on h: scikit-learn RidgeCV on standardised h (α by efficient
    leave-one-out over 1e-3..1e3), fitted on train, scored on test.

    h_* (n, D), t_* (n,). Returns {"r2", "ci" (95% bootstrap over test points), "n_train", "n_test"}.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    a, b = _np(h_train).astype(np.float64), _np(h_test).astype(np.float64)
    ta, tb = _np(t_train).astype(np.float64), _np(t_test).astype(np.float64)
    if len(ta) < 3 or len(tb) < 3:
        raise ValueError(f"ridge_r2 needs at least 3 train and 3 test points, got {len(ta)} and {len(tb)}")
    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    reg.fit(a, ta)
    pred = reg.predict(b)
    return {"r2": r2_score(tb, pred), "ci": list(bootstrap_r2(tb, pred, n_boot, seed)), "n_train": len(ta),
            "n_test": len(tb)}


# ------------------------------------------------------------------------------------------------ physics probes
# metric name -> per-sample target in Split.targets: what a frozen h can be asked about the head echo it saw (meteor
# v5, idslab.datasets.meteor) or the galaxy and its [O III] lines (idslab.datasets.spectra; velocity_kms is both's).
# Regressed on positive samples only (meteor negatives have no echo, spectra negatives no doublet).
PHYSICS_TARGETS = {"velocity_r2": "velocity_kms", "slope_r2": "slope", "snr_r2": "peak_snr_db",
                   "altitude_r2": "altitude_km", "line_snr_r2": "line_snr", "line_width_r2": "line_width_kms",
                   "continuum_slope_r2": "continuum_slope"}
ALTITUDE_AXIS = -2   # x[..., i, j]: i = range gate (altitude), so a flip of dim -2 turns a descent into an ascent
SIGNAL_AXIS = -1     # x[..., i] of 1-D data: reversed, a spectrum's doublet has its strong line on the wrong side


def targets_of(split) -> dict:
    """The split's per-sample targets ({} for data without them, e.g. before meteor v5 or a user folder)."""
    return dict(getattr(split, "targets", None) or {})


def direction_probe(h_real_train, h_flip_train, h_real_test, h_flip_test, seed: int = 0) -> dict:
    """Can a linear classifier on h tell real tiles (label 0) from the same tiles flipped along the altitude axis
    (label 1)? Trained on train pairs, scored on test pairs. A flip-invariant encoder cannot (0.5, by construction);
    an encoder that kept the direction of motion can. Returns {"acc", "ci" (Wilson, over 2 n_test), "n_test"}."""
    h_tr = torch.cat([torch.as_tensor(h_real_train), torch.as_tensor(h_flip_train)])
    y_tr = torch.cat([torch.zeros(len(h_real_train)), torch.ones(len(h_flip_train))]).long()
    h_te = torch.cat([torch.as_tensor(h_real_test), torch.as_tensor(h_flip_test)])
    y_te = torch.cat([torch.zeros(len(h_real_test)), torch.ones(len(h_flip_test))]).long()
    acc, ci = accuracy(linear_probe(h_tr, y_tr, h_te, seed), y_te)
    return {"acc": acc, "ci": ci, "n_test": int(len(y_te))}


def physics_probes(encoder: nn.Module, data, seed: int = 0, device=None, n_boot: int = 1000,
                   min_samples: int = 10) -> dict:
    """Physics probes of a frozen encoder (eval mode, s_l = 0, projection head dropped) on positive tiles.

    For each of PHYSICS_TARGETS present in data.probe_train.targets: ridge R² on probe_test with a bootstrap 95%
    interval ("<name>" and "<name>_ci"). Then the direction probe ("direction_acc", "direction_ci") on the real
    descending positives (velocity_kms < 0; all positives if velocity is absent) against the same tiles flipped
    along the altitude axis; for 1-D data (n, C, L) on every positive against the same spectrum reversed.
    Returns {} if the data has none of the physics targets; a target with fewer than `min_samples` finite
    positive values in either split, or constant on probe_test, gives None (JSON null).
    """
    tr_t, te_t = targets_of(data.probe_train), targets_of(data.probe_test)
    if not any(k in tr_t and k in te_t for k in PHYSICS_TARGETS.values()):
        return {}                                   # no physics targets (e.g. CIFAR's class10 only)
    pos_tr = (torch.as_tensor(data.probe_train.y) == 1)
    pos_te = (torch.as_tensor(data.probe_test.y) == 1)
    x_tr, x_te = data.probe_train.x[pos_tr], data.probe_test.x[pos_te]
    h_tr, h_te = embed(encoder, x_tr, device).cpu(), embed(encoder, x_te, device).cpu()
    out = {"n_pos_train": int(pos_tr.sum()), "n_pos_test": int(pos_te.sum())}
    for name, key in PHYSICS_TARGETS.items():
        if key not in tr_t or key not in te_t:
            continue
        a, b = torch.as_tensor(tr_t[key])[pos_tr].double(), torch.as_tensor(te_t[key])[pos_te].double()
        fa, fb = torch.isfinite(a), torch.isfinite(b)
        if int(fa.sum()) < min_samples or int(fb.sum()) < min_samples or float(b[fb].std()) == 0.0:
            out[name], out[f"{name}_ci"] = None, None              # too few, or constant: R² undefined
            continue
        res = ridge_r2(h_tr[fa], a[fa], h_te[fb], b[fb], n_boot=n_boot, seed=seed)
        out[name], out[f"{name}_ci"] = res["r2"], res["ci"]
    one_d = data.probe_train.x.dim() == 3
    if "velocity_kms" in tr_t and "velocity_kms" in te_t and not one_d:  # real descending echoes: their flip ascends
        d_tr = torch.as_tensor(tr_t["velocity_kms"])[pos_tr] < 0
        d_te = torch.as_tensor(te_t["velocity_kms"])[pos_te] < 0
    else:
        d_tr, d_te = torch.ones(len(x_tr), dtype=torch.bool), torch.ones(len(x_te), dtype=torch.bool)
    if int(d_tr.sum()) >= min_samples and int(d_te.sum()) >= min_samples:
        flip = lambda x: embed(encoder, torch.flip(x, [SIGNAL_AXIS if one_d else ALTITUDE_AXIS]), device).cpu()
        res = direction_probe(h_tr[d_tr], flip(x_tr[d_tr]), h_te[d_te], flip(x_te[d_te]), seed)
        out["direction_acc"], out["direction_ci"], out["direction_n_test"] = res["acc"], res["ci"], res["n_test"]
    else:
        out["direction_acc"], out["direction_ci"] = None, None
    return out


def evaluate(encoder: nn.Module, data, cfg: ProbeConfig = ProbeConfig(), device=None) -> dict:
    """Probe accuracies of a frozen encoder on data.probe_train -> data.probe_test (an idslab.datasets.SSLData).

    Returns {"mlp_acc", "mlp_ci", "knn_acc", "knn_ci", "n_test"}; accuracies are fractions, CIs are 95% Wilson.
    If the splits carry targets (Split.targets): "physics" (physics_probes, meteor) and, with "class10" (CIFAR-10
    class indices), "linear10_acc"/"linear10_ci": a 10-class linear probe (multinomial logistic regression).
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
    tr_t, te_t = targets_of(data.probe_train), targets_of(data.probe_test)
    if "class10" in tr_t and "class10" in te_t:
        pred = linear_probe(h_tr, tr_t["class10"], h_te, cfg.seed)
        out["linear10_acc"], out["linear10_ci"] = accuracy(pred, te_t["class10"])
    physics = physics_probes(encoder, data, seed=cfg.seed, device=device)
    if physics:
        out["physics"] = physics
    return out
