"""Diagnostics of Implicit Data Synthesis for the notebooks: what the weight perturbation of Eq. 1 does to
representations, measured with the same PerturbedLinear mechanism the trainer uses (idslab.perturb).

- perturbed_cloud: for a few inputs, the clean representation h = f_W(x) and the cloud f_{W+λ_k}(x), k = 1..K, of
  representations from K independent perturbed passes (paper Sec. 3: "perturbations in weight space induce a
  distribution over functions, which induces a distribution over the representations of the samples").
- pair_similarities: cosine similarity of positive pairs (two views of one input) versus negative pairs (views of
  different inputs) under one views string ("ids", "flip", "fft", "simclr", "ids+flip", ...), as NT-Xent sees them.
- cloud_stats, similarity_stats: a few numbers summarising the two, for display next to the plots.

Pure torch; no plotting (idslab.plots.training draws these). Every function leaves the model as it found it
(train/eval flags, s_l and n_views of each PerturbedLinear) and, given `seed`, draws its noise from a private RNG
stream so the global RNG is untouched.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import eval_rows
from .perturb import ALL_SITES, expand_sites, perturbed_layers, set_sites, set_views
from .views import make_views, parse_views

__all__ = ["perturbed_cloud", "pair_similarities", "cloud_stats", "similarity_stats", "perturbation_active",
           "alignment", "uniformity", "effective_rank", "representation_diagnostics"]


# ----------------------------------------------------------------------------------------------------------- helpers
def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _site_owner(model: nn.Module, sites: Iterable[str]) -> nn.Module:
    """The module the site names are relative to: the encoder of a SimCLRModel for encoder sites ('fc1'), else the
    model itself (so 'projector.0' or 'encoder.fc1' also work on a SimCLRModel)."""
    enc = getattr(model, "encoder", None)
    names = list(sites)
    if isinstance(enc, nn.Module):
        enc_names = {n for n, _ in enc.named_modules()} | set(ALL_SITES)   # "all": every encoder weight
        if all(n in enc_names for n in names):
            return enc
    return model


@contextlib.contextmanager
def perturbation_active(model: nn.Module, sl: float | dict, sites: Iterable[str] = ("fc1",), n_views: int = 1
                        ) -> Iterator[nn.Module]:
    """Context: `model` in eval mode except the perturbation sites, which draw W + λ, λ ~ N(0, sl²), on every
    forward pass (one λ per each of `n_views` equal chunks of the batch). Everything is restored on exit.
    sl: one s_l for every site in `sites`, or a dict {site: s_l} (then `sites` is ignored).

    Eval mode elsewhere keeps batch-norm statistics (ResNets) fixed, so the only randomness is λ.
    Raises ValueError for an unknown site or sl < 0 (from idslab.perturb.set_sites).
    """
    values = {k: float(v) for k, v in sl.items()} if isinstance(sl, dict) else {s: float(sl) for s in sites}
    owner = _site_owner(model, tuple(values))
    values = expand_sites(owner, values)               # "all" / "all_depth" -> per-layer s_l
    sites = tuple(values)
    modes = {m: m.training for m in model.modules()}
    before = {n: (m.scale, m.n_views) for n, m in perturbed_layers(owner).items()}
    try:
        set_sites(owner, values)  # may swap a plain Linear for a PerturbedLinear (shared W)
        model.eval()
        set_views(owner, n_views)
        for s in sites:
            owner.get_submodule(s).train()
        yield model
    finally:
        for n, m in perturbed_layers(owner).items():
            m.scale, m.n_views = before.get(n, (0.0, 1))
        for m, training in modes.items():
            m.train(training)


@contextlib.contextmanager
def _armed_active(model: nn.Module, n_views: int = 2) -> Iterator[nn.Module]:
    """Context: `model` in eval mode except its perturbation layers with s_l > 0 (as training armed them), which
    draw one λ per each of `n_views` chunks. Everything is restored on exit."""
    modes = {m: m.training for m in model.modules()}
    layers = {n: m for n, m in perturbed_layers(model).items() if m.scale > 0}
    before = {n: m.n_views for n, m in layers.items()}
    try:
        model.eval()
        for m in layers.values():
            m.n_views = n_views
            m.train()
        yield model
    finally:
        for n, m in layers.items():
            m.n_views = before[n]
        for m, training in modes.items():
            m.train(training)


@contextlib.contextmanager
def _rng(seed: int | None, device: torch.device) -> Iterator[None]:
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _embed(model: nn.Module, x: torch.Tensor, space: str) -> torch.Tensor:
    """h (representation) from an encoder or from model.encoder; z (projection) from model.projector(h)."""
    enc = getattr(model, "encoder", None)
    if space == "h":
        return enc(x) if isinstance(enc, nn.Module) else model(x)
    if space == "z":
        if not isinstance(getattr(model, "projector", None), nn.Module):
            raise ValueError("space='z' needs a model with .encoder and .projector (a SimCLRModel); "
                             "pass space='h' for a bare encoder")
        return model.projector(enc(x))
    raise ValueError(f"space must be 'h' (representation) or 'z' (projection), got {space!r}")


# ----------------------------------------------------------------------------------------------- perturbed clouds
@torch.no_grad()
def perturbed_cloud(encoder: nn.Module, x: torch.Tensor, sl: float, n_draws: int = 64,
                    sites: Iterable[str] = ("fc1",), *, seed: int | None = 0, chunk: int = 4096,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean representation and the cloud of perturbed ones (Eq. 1 with K independent draws of λ).

    Args:
        encoder: an idslab Encoder (or a SimCLRModel: its .encoder is used), (B, C, N, N) -> (B, 32).
        x: (n, C, N, N) inputs, any device (moved to the encoder's).
        sl: s_l, standard deviation of each entry of λ at every site.
        n_draws: K, number of perturbed passes per input.
        sites: names of the perturbed linear layers (default: the paper's fc1).
        seed: seeds a private RNG stream (None: use the global RNG).
        chunk: at most this many rows per forward pass (memory bound).

    Returns:
        clean (n, 32): f_W(x) with s_l = 0, on the CPU.
        cloud (n, K, 32): cloud[i, k] = f_{W+λ_k}(x_i), on the CPU. Draw k uses the same λ_k for every input,
        i.e. each draw is one perturbed encoder applied to all n inputs.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    enc = encoder.encoder if isinstance(getattr(encoder, "encoder", None), nn.Module) else encoder
    dev = _device_of(enc)
    x = x.to(dev)
    n = x.shape[0]
    modes = {m: m.training for m in enc.modules()}
    try:
        enc.eval()
        clean = enc(x).float().cpu()                                      # (n, 32)
    finally:
        for m, training in modes.items():
            m.train(training)
    draws_per_pass = max(1, min(n_draws, chunk // max(n, 1)))
    outs = []
    with _rng(seed, dev):
        done = 0
        while done < n_draws:
            k = min(draws_per_pass, n_draws - done)
            # k stacked copies of the batch, one λ per copy: (k·n, C, N, N) -> (k·n, 32)
            with perturbation_active(enc, sl, sites, n_views=k):
                h = enc(x.repeat(k, *([1] * (x.dim() - 1))))          # (k·n, C, ...): images or signals
            outs.append(h.float().cpu().view(k, n, -1))
            done += k
    cloud = torch.cat(outs).transpose(0, 1).contiguous()                  # (n, K, 32)
    return clean, cloud


def cloud_stats(clean: torch.Tensor, cloud: torch.Tensor) -> dict[str, float]:
    """How far the perturbed representations stray from the clean one, in units that can be compared.

    Returns (floats): spread = mean ||h̃ - h|| over samples and draws; rel_spread = spread / mean ||h||;
    neighbour = mean distance from each clean h to its nearest other clean h (inf for one sample);
    spread_over_neighbour = spread / neighbour (< 1: clouds stay apart, the positives are still "this sample");
    cos = mean cosine similarity between h̃ and h.
    """
    d = (cloud - clean[:, None]).norm(dim=-1)                              # (n, K)
    spread = d.mean().item()
    norm = clean.norm(dim=-1).mean().clamp_min(1e-12).item()
    if clean.shape[0] > 1:
        dist = torch.cdist(clean, clean)
        dist.fill_diagonal_(float("inf"))
        neighbour = dist.min(dim=1).values.mean().item()
    else:
        neighbour = float("inf")
    cos = F.cosine_similarity(cloud, clean[:, None].expand_as(cloud), dim=-1).mean().item()
    return {"spread": spread, "rel_spread": spread / norm, "neighbour": neighbour,
            "spread_over_neighbour": spread / neighbour if neighbour > 0 else float("inf"), "cos": cos}


# ---------------------------------------------------------------------------------------- pair similarities
@torch.no_grad()
def pair_similarities(model: nn.Module, x: torch.Tensor, views: str, sl: float = 0.02,
                      sites: Iterable[str] = ("fc1",), *, space: str = "z", seed: int | None = 0
                      ) -> dict[str, torch.Tensor]:
    """Cosine similarities of positive and negative pairs under one views string, as NT-Xent scores them.

    The two views of x are made exactly as in training: the data transforms of `views` (idslab.views.make_views),
    then, if "ids" is in `views`, one forward pass of the stacked views with an independent λ per view at `sites`
    (scale sl). Without "ids", sl is ignored and the model is deterministic (eval mode).

    Args:
        model: a SimCLRModel (.encoder, .projector) or a bare encoder (then use space="h").
        x: (B, C, N, N), B >= 2.
        views: e.g. "ids", "flip", "fft", "simclr", "ids+flip", "none".
        space: "z" (projection, where the loss is computed) or "h" (representation, what the probes read).
        seed: seeds a private RNG stream for the data views and λ (None: global RNG).

    Returns dict of CPU float tensors:
        pos (B,): cos(v1_i, v2_i).
        neg (2B·(2B-2),): cos(a, b) over all ordered pairs of the 2B views except a view with itself and with
        its positive (the negatives of each NT-Xent anchor).
    """
    b = x.shape[0]
    if b < 2:
        raise ValueError(f"pair_similarities needs at least 2 inputs to form negatives, got {b}")
    spec = parse_views(views)
    dev = _device_of(model)
    x = x.to(dev)
    with _rng(seed, dev):
        x1, x2 = make_views(x, views)
        stacked = torch.cat([x1, x2])                                      # (2B, C, N, N)
        if spec.ids:
            with perturbation_active(model, sl, sites, n_views=2):
                v = _embed(model, stacked, space)
        else:
            modes = {m: m.training for m in model.modules()}
            try:
                model.eval()
                v = _embed(model, stacked, space)
            finally:
                for m, training in modes.items():
                    m.train(training)
    v = F.normalize(v.float(), dim=1).cpu()                                # (2B, D)
    sim = v @ v.T                                                          # (2B, 2B)
    idx = torch.arange(2 * b)
    partner = torch.cat([idx[b:], idx[:b]])
    pos = sim[idx[:b], partner[:b]]                                        # (B,)
    mask = torch.ones_like(sim, dtype=torch.bool)
    mask[idx, idx] = False
    mask[idx, partner] = False
    return {"pos": pos, "neg": sim[mask]}


def similarity_stats(sims: dict[str, torch.Tensor]) -> dict[str, float]:
    """pos_mean, neg_mean, gap = pos_mean - neg_mean, and pos_min of a pair_similarities result."""
    pos, neg = sims["pos"].float(), sims["neg"].float()
    return {"pos_mean": pos.mean().item(), "neg_mean": neg.mean().item(),
            "gap": (pos.mean() - neg.mean()).item(), "pos_min": pos.min().item()}


# ------------------------------------------------------------------------------------ representation diagnostics
# Wang & Isola (2020), "Understanding contrastive representation learning through alignment and uniformity on the
# hypersphere"; Garrido et al. (2023), "RankMe". Plain functions of representation matrices, then one function that
# measures a trained model the way its run trained it.
def alignment(a: torch.Tensor, b: torch.Tensor, alpha: float = 2.0) -> float:
    """E ||f̂(x) - f̂(x⁺)||^alpha over positive pairs (rows of a and b), f̂ = f / ||f||: 0 when the two views map to
    the same direction, at most 2^alpha. a, b (n, D)."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"alignment needs two (n, D) matrices of positive pairs, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    a, b = F.normalize(a.float(), dim=1), F.normalize(b.float(), dim=1)
    return (a - b).norm(dim=1).pow(alpha).mean().item()


def uniformity(h: torch.Tensor, t: float = 2.0) -> float:
    """log E_{i≠j} exp(-t ||f̂(x_i) - f̂(x_j)||²) over all pairs of distinct rows, f̂ = f / ||f||: 0 when every point
    is the same (collapse), about -2t (-4) for points spread evenly over a high-dimensional sphere; lower = more
    uniform. h (n, D), n >= 2."""
    if h.dim() != 2 or h.shape[0] < 2:
        raise ValueError(f"uniformity needs an (n, D) matrix with n >= 2, got {tuple(h.shape)}")
    h = F.normalize(h.float(), dim=1)
    sq = torch.pdist(h).pow(2)                                              # n(n-1)/2 distinct pairs
    return (torch.logsumexp(-t * sq, 0) - math.log(sq.numel())).item()


def effective_rank(h: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe: exp(entropy of p), p_k = σ_k / Σσ + eps, σ the singular values of the (uncentred, as in RankMe)
    representation matrix h (n, D). 1 for a rank-1 (collapsed) h, about D for an isotropic Gaussian with n >> D."""
    if h.dim() != 2 or min(h.shape) < 1:
        raise ValueError(f"effective_rank needs an (n, D) matrix, got {tuple(h.shape)}")
    s = torch.linalg.svdvals(h.double())
    if float(s.sum()) == 0.0:
        return 0.0
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def representation_diagnostics(model: nn.Module, x: torch.Tensor, views: str, sites: dict | None = None, *,
                               seed: int | None = 0, chunk: int | None = None,
                               ivar: torch.Tensor | None = None) -> dict[str, float]:
    """Alignment and uniformity of h and z, and the effective rank of h, for a trained SimCLRModel. ivar: x's per-bin
    inverse variance (same shape), for the view 'reobserve'.

    Positive pairs are made by the run's own view generator: the data transforms of `views` and, if "ids" is in
    them, an independent λ per view at each site of `sites` ({"fc1": s_l}; None: the perturbation layers as the
    model was armed for training, with their s_l and noise mode, which is what run records use) — the rest in eval
    mode (batch-norm statistics fixed, so λ is the only weight noise), as in pair_similarities. Alignment is the
    mean over the pairs; uniformity and effective rank use the clean h (eval mode, s_l = 0), what the probes read.
    x (n, C, N, N), n >= 2, e.g. data.probe_test.x; chunk rows of it a pass (None: encoders.eval_rows(x)).
    Returns {"alignment", "uniformity", "effective_rank", "alignment_z", "uniformity_z", "n"}.
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"representation_diagnostics needs at least 2 inputs, got {n}")
    spec = parse_views(views)
    sites = {k: float(v) for k, v in sites.items()} if spec.ids and sites is not None else None if spec.ids else {}
    dev = _device_of(model)
    h1s, h2s, hs = [], [], []
    modes = {m: m.training for m in model.modules()}
    chunk = chunk or eval_rows(x)
    with _rng(seed, dev):
        for i, xb in enumerate(x.split(chunk)):
            xb = xb.to(dev).float()
            ib = None if ivar is None else ivar[i * chunk:(i + 1) * chunk].to(dev).float()
            x1, x2 = make_views(xb, views, ib)
            stacked = torch.cat([x1, x2])
            if sites is None:                     # the sites (and noise variants) armed on the model in training
                with _armed_active(model, n_views=2):
                    h = _embed(model, stacked, "h")
            elif any(s > 0 for s in sites.values()):
                with perturbation_active(model, sites, n_views=2):                 # one λ per view and site
                    h = _embed(model, stacked, "h")
            else:
                try:
                    model.eval()
                    h = _embed(model, stacked, "h")
                finally:
                    for m, training in modes.items():
                        m.train(training)
            h1s.append(h[: len(xb)].float())
            h2s.append(h[len(xb):].float())
            try:
                model.eval()
                hs.append(_embed(model, xb, "h").float())
            finally:
                for m, training in modes.items():
                    m.train(training)
    h1, h2, h = torch.cat(h1s), torch.cat(h2s), torch.cat(hs)
    out = {"alignment": alignment(h1, h2), "uniformity": uniformity(h), "effective_rank": effective_rank(h),
           "n": int(n)}
    proj = getattr(model, "projector", None)
    if isinstance(proj, nn.Module):
        try:
            model.eval()
            out["alignment_z"] = alignment(proj(h1), proj(h2))
            out["uniformity_z"] = uniformity(proj(h))
        finally:
            for m, training in modes.items():
                m.train(training)
    return out
