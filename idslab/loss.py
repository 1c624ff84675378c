"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, Eq. 1 there).

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
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
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
