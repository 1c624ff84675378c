"""The objectives' losses on two batches of projections z1, z2 (B, D), row i of each a positive pair.

- nt_xent: SimCLR's normalised temperature-scaled cross-entropy (Chen et al. 2020, Eq. 1 there); negatives.
- negative_cosine: BYOL (Grill et al. 2020, Eq. 2 up to the affine 2 - 2 cos) and SimSiam (Chen & He 2021, Eq. 1):
  -mean cos(p, t) of a prediction p and a target t the caller has detached (stop-gradient); no negatives.
- vicreg: VICReg (Bardes et al. 2022, Eq. 6): invariance (MSE), variance (hinge on each dimension's std) and
  covariance (off-diagonal squares) terms, weights 25 / 25 / 1; no negatives.
- barlow_twins: Barlow Twins (Zbontar et al. 2021, Eq. 1): the cross-correlation of the batch-standardised
  projections pushed to the identity, off-diagonal weight λ = 5e-3; no negatives.
- masked_reconstruction and patch_normalise: the masked autoencoder's loss (MAE, He et al. 2022, Sec. 3
  "Reconstruction target"): the mean squared error on the masked positions only, against targets normalised per
  patch (its norm_pix_loss); here for 1-D signals, the objective "masked" (idslab.objectives).

Each agrees with lightly 1.6's implementation at its defaults (NTXentLoss aside, which lightly computes the same way:
tests/test_loss.py checks all four to 1e-5). `gather=True` under torch.distributed computes the loss of the *global*
batch on every process (every process's projections gathered, gradients flowing back through the gather), so DDP's
gradient average reproduces the single-process gradient of that batch. For nt_xent that means global negatives; for
vicreg and barlow_twins global batch statistics (lightly's gather_distributed averages per-process correlation matrices
instead, which differs from one process by the per-process standardisation). negative_cosine is a per-sample mean,
which DDP's gradient average already makes global, so it needs no gather.

NT-Xent in detail:

For 2B projections z (views 1 and 2 of B samples), anchor i's positive is its other view; its negatives are the
other 2B - 2 projections:

    l_i = -log( exp(sim(z_i, z_i+)/τ) / Σ_{k ≠ i} exp(sim(z_i, z_k)/τ) ),   sim = cosine,   loss = mean over 2B anchors.

With gather=True under torch.distributed, every process's projections serve as negatives (the global batch), and
gradients flow back through the gather, so DDP's gradient averaging reproduces the single-process gradient.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, gather: bool = False) -> torch.Tensor:
    """Mean NT-Xent loss over the 2B anchors. z1, z2: (B, D) projections of the two views, row i a positive pair."""
    _pair(z1, z2, "nt_xent")
    if not 1e-4 < temperature < float("inf"):
        raise ValueError(f"temperature must be a finite number > 1e-4, got {temperature}")
    b = z1.shape[0]
    rank, world = (dist.get_rank(), dist.get_world_size()) if gather and dist.is_initialized() else (0, 1)
    if b < 1 or b * world < 2:  # B = 1 leaves an anchor no negative (loss 0.0), B = 0 a mean over nothing (NaN)
        raise ValueError(f"NT-Xent needs a batch of at least 2 pairs (each anchor needs a negative), got B = {b}"
                         + (f" on each of {world} processes" if world > 1 else ""))
    anchors = F.normalize(torch.cat([z1, z2]).float(), dim=1)         # (2B, D), this process's anchors
    if world > 1:
        keys = torch.cat([_GatherWithGrad.apply(anchors[:b]), _GatherWithGrad.apply(anchors[b:])])  # (2GB, D)
    else:
        keys = anchors
    gb = b * world
    i = torch.arange(b, device=z1.device) + rank * b                  # global index of local sample i in view 1
    self_idx = torch.cat([i, i + gb])                                  # where each anchor sits among the keys
    pos_idx = torch.cat([i + gb, i])                                   # its other view
    logits = anchors @ keys.T / temperature                            # (2B, 2GB)
    logits[torch.arange(2 * b, device=z1.device), self_idx] = float("-inf")
    return F.cross_entropy(logits, pos_idx)


def _pair(z1: torch.Tensor, z2: torch.Tensor, what: str) -> None:
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"{what}: z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")


def _gather(z: torch.Tensor, gather: bool) -> torch.Tensor:
    """(B, D) -> (W·B, D): every process's rows in rank order, gradients flowing back (identity without a group)."""
    if gather and dist.is_initialized() and dist.get_world_size() > 1:
        return _GatherWithGrad.apply(z)
    return z


def negative_cosine(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """-mean_i cos(p_i, t_i) over the B rows: BYOL's and SimSiam's loss for one direction (p: the online branch's
    prediction, t: the target, detached by the caller). In [-1, 1]; -1 when every prediction points at its target.
    BYOL writes it as 2 - 2 cos: the same gradient up to a factor 2. p, t (B, D) -> scalar."""
    _pair(p, t, "negative_cosine")
    return -F.cosine_similarity(p.float(), t.float(), dim=1, eps=1e-8).mean()


def vicreg(z1: torch.Tensor, z2: torch.Tensor, sim_weight: float = 25.0, var_weight: float = 25.0,
           cov_weight: float = 1.0, eps: float = 1e-4, gather: bool = False) -> torch.Tensor:
    """VICReg's loss (Bardes et al. 2022, Eq. 6 with λ = μ = 25, ν = 1). z1, z2 (B, D) -> scalar.

    invariance: mean squared difference of the pairs; variance: mean over dimensions of max(0, 1 - sqrt(Var + eps))
    per branch, averaged over the two; covariance: per branch, the squared off-diagonal entries of the covariance
    matrix summed and divided by D, summed over the two branches. Needs B >= 2 (a variance)."""
    _pair(z1, z2, "vicreg")
    z1, z2 = _gather(z1.float(), gather), _gather(z2.float(), gather)
    if z1.shape[0] < 2:
        raise ValueError(f"VICReg needs a batch of at least 2 pairs (a variance over the batch), got B = {z1.shape[0]}")
    invariance = F.mse_loss(z1, z2)
    variance = 0.5 * (_std_hinge(z1, eps) + _std_hinge(z2, eps))
    covariance = _off_diagonal_power(z1) + _off_diagonal_power(z2)
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance


def _std_hinge(z: torch.Tensor, eps: float) -> torch.Tensor:
    return F.relu(1.0 - torch.sqrt(z.var(dim=0) + eps)).mean()


def _off_diagonal_power(z: torch.Tensor) -> torch.Tensor:
    b, d = z.shape
    z = z - z.mean(dim=0)
    cov = z.T @ z / (b - 1)                                             # (D, D)
    return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / d


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, off_diagonal_weight: float = 5e-3,
                 gather: bool = False) -> torch.Tensor:
    """Barlow Twins' loss (Zbontar et al. 2021, Eq. 1, λ = 5e-3). z1, z2 (B, D) -> scalar.

    Each branch is standardised over the batch (mean 0, biased std 1 per dimension, as batch norm without affine
    parameters), C = z1ᵀ z2 / B is their cross-correlation (D, D), and the loss is Σ_i (1 - C_ii)² + λ Σ_{i≠j} C_ij².
    Needs B >= 2."""
    _pair(z1, z2, "barlow_twins")
    z1, z2 = _gather(z1.float(), gather), _gather(z2.float(), gather)
    b = z1.shape[0]
    if b < 2:
        raise ValueError(f"Barlow Twins needs a batch of at least 2 pairs (a standardisation), got B = {b}")
    c = _standardise(z1).T @ _standardise(z2) / b                       # (D, D)
    on = (c.diagonal() - 1).pow(2).sum()
    off = c.pow(2).sum() - c.diagonal().pow(2).sum()
    return on + off_diagonal_weight * off


def _standardise(z: torch.Tensor) -> torch.Tensor:
    """Batch norm without affine parameters (biased variance, eps 1e-5), as Barlow Twins' reference code."""
    return F.batch_norm(z, None, None, training=True)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0 whose backward returns this process's slice of the gradient summed over processes
    (every process's loss depends on every gathered row)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:   # (B, D) -> (G·B, D), rank order
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        b = grad.shape[0] // dist.get_world_size()
        return grad[dist.get_rank() * b:(dist.get_rank() + 1) * b]


def patch_normalise(x: torch.Tensor, patch: int, eps: float = 1e-6) -> torch.Tensor:
    """MAE's normalised-pixel target for 1-D signals: each patch of `patch` consecutive bins (all channels together)
    standardised by its own mean and variance, (x - mean) / sqrt(var + eps) (MAE: var unbiased, eps 1e-6). x (B, C, L),
    L divisible by patch -> (B, C, L). On a spectrum it removes the continuum level and slope of each patch and
    leaves its lines: what the reconstruction has to predict is line shape, not brightness."""
    b, c, n = x.shape
    if patch < 2 or n % patch:
        raise ValueError(f"patch_normalise: the patch ({patch} bins) must be >= 2 and divide the length {n}")
    p = x.float().reshape(b, c, n // patch, patch).transpose(1, 2).reshape(b, n // patch, c * patch)  # (B, P, C p)
    p = (p - p.mean(-1, keepdim=True)) / (p.var(-1, keepdim=True) + eps).sqrt()
    return p.reshape(b, n // patch, c, patch).transpose(1, 2).reshape(b, c, n)


def masked_reconstruction(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MAE's loss (He et al. 2022; its forward_loss): squared error averaged over channels per position, then over
    the masked positions only. pred, target (B, C, L); mask (B, L), 1 / True = hidden from the encoder. -> scalar
    fp32, 0 exactly when pred equals target on every masked bin (what the encoder saw is not scored).

    With a mask constant over patches of p bins this equals MAE's per-patch mean over the masked patches (equal
    patch sizes), which tests/test_loss.py checks against a transcription of MAE's forward_loss."""
    if pred.shape != target.shape or pred.dim() != 3 or mask.shape != (pred.shape[0], pred.shape[2]):
        raise ValueError(f"masked_reconstruction: pred and target (B, C, L) with mask (B, L), got "
                         f"{tuple(pred.shape)}, {tuple(target.shape)}, {tuple(mask.shape)}")
    m = mask.float()
    per_bin = (pred.float() - target.float()).pow(2).mean(1)                  # (B, L)
    return (per_bin * m).sum() / m.sum().clamp_min(1.0)
