"""What the simulated data sets (meteor, spectra) share: balanced splits whose negatives are matched to the positives
in the global statistics a trivial classifier reads, each split seeded on its own.

    f = global_stats(x, thresholds)                  # (m, 6 + T): max, mean, std, 50/90/99% quantiles, counts
    ip, iq = greedy_match(f_pos, f_pool, n, rng)     # n best (positive, pool) pairs, Mahalanobis distance
    x, y, targets = assemble(xn, xp, t_pos, rng)     # negatives then positives, NaN targets, shuffled
    out = generate_splits(make_split, tile, sizes, seed)   # {split: (x (n, 1, ...), y, targets), "info": ...}

Matching (meteor v5, docs/DATA.md "Negatives"): if the two classes differ in brightness, spread or the count of bright
pixels, a logistic regression on those numbers separates them and the benchmark measures brightness, not shape. So the
positives are drawn in excess, every positive takes its nearest unused negative candidate (greedy, in whitened
statistics), and only the best-matched pairs are kept: both classes then come from the common support of the
statistics, and `match_gap` reports what is left of each statistic's class difference.
"""
from __future__ import annotations

import time

import numpy as np
import torch

SPLITS = ("pretrain", "probe_train", "probe_test")
QUANTILES = (0.5, 0.9, 0.99)


def global_stats(x: np.ndarray, thresholds) -> np.ndarray:
    """Global statistics of samples x (m, ...) -> (m, 6 + len(thresholds)) float32: max, mean, std, the 50/90/99%
    quantiles (order statistics at round(q (M - 1)) of the M values), and the number of values above each threshold
    (x's units). The features of idslab.baselines.tile_statistics (the trivial baseline) for one channel."""
    n_f = 3 + len(QUANTILES) + len(thresholds)
    if len(x) == 0:
        return np.zeros((0, n_f), np.float32)
    a = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)
    t = torch.from_numpy(a)
    m = a.shape[1]
    q = [min(m - 1, round(f * (m - 1))) for f in QUANTILES]
    # order statistics by selection, not a full sort: the same values, about half the CPU (and numpy's counts are
    # 4x cheaper than torch's boolean sums); this is most of the matched splits' generation time
    part = torch.from_numpy(np.partition(a, sorted(set(q + [m - 1])), axis=1))
    cnt = [torch.from_numpy(np.count_nonzero(a > v, axis=1)[:, None].astype(np.float32)) for v in thresholds]
    feats = torch.cat([part[:, -1:], t.mean(1, keepdim=True), t.std(1, keepdim=True), part[:, q]] + cnt, 1)
    return feats.numpy()


def whitener(f_ref: np.ndarray):
    """x -> (x - mean) W with W W^T = inverse covariance of f_ref (ridge-regularised): Mahalanobis distances, so
    that correlated statistics (max, q99, counts) do not dominate and every linear combination a classifier could
    use is matched, not just the marginals."""
    mu = f_ref.mean(0)
    sd = np.maximum(f_ref.std(0), 1e-3)
    z = (f_ref - mu) / sd
    cov = np.cov(z, rowvar=False) + 1e-2 * np.eye(z.shape[1]) if len(z) > 1 else np.eye(z.shape[1])
    w = np.linalg.cholesky(np.linalg.inv(cov))
    return lambda f: ((f - mu) / sd) @ w


def greedy_match(f_pos: np.ndarray, f_pool: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Greedy nearest-neighbour matching without replacement in whitened statistics (Mahalanobis distance): the
    positives, in random order, each take the nearest unused pool sample; the n closest pairs are kept (a caliper:
    positives no negative resembles are dropped, not paired with a dissimilar negative).
    Returns (n positive indices, their n pool indices)."""
    from scipy.spatial import cKDTree
    white = whitener(f_pos)
    zp, zq = white(f_pos), white(f_pool)
    who = rng.permutation(len(f_pos))[:len(f_pool)]
    k = min(32, len(f_pool))
    dist, nn = cKDTree(zq).query(zp[who], k=k)
    dist, nn = dist.reshape(len(who), k), nn.reshape(len(who), k)
    used = np.zeros(len(f_pool), bool)
    pick, d_pick = np.empty(len(who), np.int64), np.empty(len(who))
    for i in range(len(who)):                          # a few thousand picks, not the training path
        free = ~used[nn[i]]
        if free.any():
            c = int(np.argmax(free))
            j, dj = nn[i, c], dist[i, c]
        else:                                         # all k neighbours taken: nearest unused by brute force
            d = ((zq - zp[who[i]]) ** 2).sum(1)
            d[used] = np.inf
            j = int(d.argmin())
            dj = float(np.sqrt(d[j]))
        used[j] = True
        pick[i], d_pick[i] = j, dj
    best = np.argsort(d_pick, kind="stable")[:n]
    return who[best], pick[best]


def match_gap(f_pos: np.ndarray, f_neg: np.ndarray) -> list[float]:
    """Each statistic's standardised class difference (mean positive - mean negative) / pooled sd, rounded: what
    matching left of it (|gap| < 0.1 is a negligible effect size)."""
    sd = np.maximum(np.concatenate([f_pos, f_neg]).std(0), 1e-6)
    return [round(float(v), 3) for v in (f_pos.mean(0) - f_neg.mean(0)) / sd]


def assemble(xn: np.ndarray, xp: np.ndarray, t_pos: dict, rng, neg_fill: dict | None = None
             ) -> tuple[np.ndarray, np.ndarray, dict]:
    """A balanced split from its negatives xn (k, ...) and positives xp (n - k, ...): x (n, ...), y (n,) int64
    (0 then 1 before shuffling), targets {name: (n,) float32} with the positives' values t_pos and NaN for the
    negatives (neg_fill: {name: value or (k,) array} for targets the negatives do have), all in one random order."""
    k, n = len(xn), len(xn) + len(xp)
    neg_fill = neg_fill or {}
    x = np.concatenate([xn, xp])
    y = np.concatenate([np.zeros(k, np.int64), np.ones(n - k, np.int64)])
    t = {name: np.concatenate([np.broadcast_to(np.asarray(neg_fill.get(name, np.nan), np.float32), (k,)),
                               np.asarray(v, np.float32)]) for name, v in t_pos.items()}
    order = rng.permutation(n)
    return x[order], y[order], {name: v[order] for name, v in t.items()}


def generate_splits(make_split, tile: int, sizes, seed: int = 0) -> dict:
    """The three splits of a simulated data set, each from its own seed stream (SeedSequence([seed, tile, i]) for
    split i), hence disjoint. make_split(n, tile, seed_seq) -> (x (n, ...) float16, y (n,), targets, info).

    Returns {split: (x (n, 1, ...) in make_split's dtype, y (n,) int64, targets {name: (n,) float32})} and 'info'
    (per split, plus the seconds taken). The generators round x to float16 (far below their noise), so the cache is
    half the size and a cached load returns exactly what a fresh one does."""
    t0 = time.perf_counter()
    out, info = {}, {}
    for i, name in enumerate(SPLITS):
        ss = np.random.SeedSequence([seed, tile, i])
        x, y, t, inf = make_split(getattr(sizes, name), tile, ss)
        out[name] = (torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y),
                     {k: torch.from_numpy(v) for k, v in t.items()})
        info[name] = inf
    info["seconds"] = round(time.perf_counter() - t0, 3)
    out["info"] = info
    return out
