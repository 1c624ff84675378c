"""Objectives: what the one engine (idslab.train) minimises on a step's two views, as a hook of that engine.

An objective is its loss (idslab.loss), the modules it adds to the encoder + projection head, and its after-step
update; the engine owns the loop, the views and the optimiser, the same for the single, stacked and distributed
paths (solo-learn's split of a method from its base).

| name      | paper                         | adds                                    | loss on the 2B views          |
|-----------|-------------------------------|-----------------------------------------|-------------------------------|
| "ntxent"  | SimCLR (Chen et al. 2020)     | -                                       | NT-Xent, 2B - 2 negatives     |
| "byol"    | BYOL (Grill et al. 2020)      | predictor q; EMA target (encoder + g)   | -cos(q(z_1), z'_2), symmetric |
| "simsiam" | SimSiam (Chen & He 2021)      | predictor q; stop-gradient              | -cos(q(z_1), sg z_2), symm.   |
| "vicreg"  | VICReg (Bardes et al. 2022)   | -                                       | 25 inv. + 25 var. + 1 cov.    |
| "barlow"  | Barlow Twins (Zbontar 2021)   | -                                       | Σ(1 - C_ii)² + 5e-3 Σ C_ij²   |
| "masked"  | MAE (He et al. 2022), 1-D     | decoder h -> signal (encoders)          | MSE on masked bins (MAE's)    |

"masked" (issue 26, 1-D signals): each of the 2B views has half of its 16-bin patches hidden (MAE's random masking:
a random subset per sample, argsort of uniform noise), the hidden bins filled with the local continuum
(idslab.views.fill_continuum, so the CNN sees a plausible spectrum, not a hole); the encoder's h of the masked view
is decoded to the whole signal and scored on the hidden bins against the view's own flux normalised per patch (MAE's
norm_pix_loss: the target is each patch's line shape, not its brightness). To predict a hidden [O III] 4960 from a
visible 5008 (41.8 bins to the red, 1/2.98 of its flux) the encoder has to model the doublet. The projection head is
unused. MAE masks 75% of image patches; a spectrum's information is sparser (a few lines), and 50% keeps one line
of the doublet visible in about three quarters of the views. The mask is drawn inside the forward pass, so the
objective does not run stacked (idslab.multi: vmap(randomness="error"); NOT_STACKABLE says why).

Heads, sized for the 32-d representation h (idslab.encoders): every objective uses the same projection head g
(32 -> 32 -> D_p = 16, the IDS paper's; or with batch norm, `proj_bn`), so a comparison of objectives changes the
loss and nothing else. The papers' heads are wider than their representations (BYOL 2048 -> 4096 -> 256, VICReg and
Barlow Twins 2048 -> 8192 x 3): 16-d outputs on a 32-d h keep the IDS paper's ratio instead, and `proj_dim` changes
it. The predictor q of BYOL and SimSiam has the projector's architecture (BYOL Sec. 3.3: "the same architecture as
g"): D_p -> 32 -> D_p, with batch norm in its hidden layer exactly when the projector has it, so the paper's head
stays free of batch norm end to end (and stackable, idslab.multi).

Symmetric losses are the mean of the two directions (lightly's and SimSiam's D/2 + D/2); BYOL's 2 - 2cos summed over
both directions has the same gradient times 4, which Adam's scale invariance makes the same training.

BYOL's target: an exponential moving average of the online encoder + projector, never trained by gradients, updated
after each optimiser step with τ_k = 1 - (1 - τ_base)(cos(π k / K) + 1) / 2, τ_base = 0.996 (BYOL Sec. 3.2; k the
step, K the run's steps). Its perturbation sites are the online network's (copied with it); `target_noise` says
whether they draw their own λ on the target's passes (True) or the target runs clean at s_l = 0 (False): see
docs/RESULTS.md for the measurement that set the default.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from .loss import barlow_twins, masked_reconstruction, negative_cosine, nt_xent, patch_normalise, vicreg
from .perturb import perturbed_layers
from .views import fill_continuum

OBJECTIVES = {
    "ntxent": "SimCLR's NT-Xent: the other view is the positive, the other 2B - 2 views are negatives",
    "byol": "BYOL: a predictor matches an EMA target network's projection of the other view (no negatives)",
    "simsiam": "SimSiam: a predictor matches the other view's stop-gradient projection (no negatives, no EMA)",
    "vicreg": "VICReg: invariance + variance + covariance regularisation (no negatives)",
    "barlow": "Barlow Twins: cross-correlation of the two views' projections pushed to the identity (no negatives)",
}
# objectives that reconstruct their input instead of comparing two views' projections (1-D signals only); kept apart
# from OBJECTIVES, which the joint-embedding studies (scripts/objectives.py, notebook 04) iterate over
RECONSTRUCTION = {
    "masked": "MAE-style masked reconstruction for 1-D signals: predict the hidden bins of each view from the rest",
    "masked25": "the masked objective with 25% of the patches hidden",
    "masked75": "the masked objective with 75% of the patches hidden (MAE's ratio for images)",
}
MASK_RATIO = 0.5                   # fraction of patches hidden ("masked")
MASK_PATCH = 16                    # bins per patch: 1.1e3 km/s, a line's full width at the largest dispersions
MASKING = {"masked": MASK_RATIO, "masked25": 0.25, "masked75": 0.75}   # objective -> its mask ratio
DECODER = tuple(MASKING)           # objectives with a decoder h -> signal
NOT_STACKABLE = {name: "its mask is drawn inside the forward pass, which torch.func.vmap(randomness='error') "
                       "forbids; it runs one run at a time" for name in MASKING}
PREDICTOR = ("byol", "simsiam")   # objectives with a predictor q on the online branch
TARGET = ("byol",)                 # objectives with an EMA target network
EMA_BASE = 0.996                   # BYOL's τ_base


def check_objective(name: str) -> None:
    if name not in OBJECTIVES and name not in RECONSTRUCTION:
        raise ValueError(f"unknown objective {name!r}: choose one of {', '.join([*OBJECTIVES, *RECONSTRUCTION])} "
                         "(--objective)")


def uses_predictor(name: str) -> bool:
    return name in PREDICTOR


def uses_target(name: str) -> bool:
    return name in TARGET


def uses_decoder(name: str) -> bool:
    return name in DECODER


def patch_mask(b: int, length: int, ratio: float = MASK_RATIO, patch: int = MASK_PATCH, device=None) -> torch.Tensor:
    """MAE's random masking (He et al. 2022, Sec. 3: a uniform random subset of patches, by argsort of noise): (B, L)
    bool, True on the round(ratio P) hidden patches of each sample's P = L / patch."""
    if length % patch:
        raise ValueError(f"the masked objective's patch ({patch} bins) must divide the length {length}")
    n = length // patch
    keep = max(1, n - round(ratio * n))
    rank = torch.rand(b, n, device=device).argsort(-1).argsort(-1)           # each patch's rank in a random order
    return (rank >= keep).repeat_interleave(patch, -1)


def make_target(model: nn.Module, noise: bool) -> nn.Module:
    """BYOL's target: a copy of the online encoder + projection head (no predictor), frozen to gradients. noise:
    its perturbation sites keep the online s_l and draw their own λ (True), or run at s_l = 0 (False)."""
    target = copy.deepcopy(model)
    target.predictor = None
    if not noise:
        for layer in perturbed_layers(target).values():
            layer.scale = 0.0
    return target.requires_grad_(False)


def ema_pairs(target: nn.Module, online: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The (target, online) parameter pairs the EMA updates, matched by name (the target has no predictor)."""
    own = dict(online.named_parameters())
    names = [n for n, _ in target.named_parameters()]
    return [t for _, t in target.named_parameters()], [own[n] for n in names]


def ema_momentum(step: int, total: int, base: float = EMA_BASE) -> float:
    """BYOL's schedule: τ rises from base at step 0 to 1 at the last step (cosine)."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / max(total, 1)) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """target <- τ target + (1 - τ) online, in place, for every pair (stacked tensors too: it is elementwise)."""
    torch._foreach_lerp_(target, [o.detach() for o in online], 1.0 - tau)


def branches(objective: str, online, target, views: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors a step's loss reads, from the 2B stacked views (view 1 rows, then view 2 rows).

    online(views, predict) -> z (2B, D_p), or (z, q(z)) when predict; target(views) -> z' (2B, D_p). Every perturbed
    layer draws its λ inside these calls, online first, then target (the order idslab.multi replays).
    -> (z,) for ntxent, vicreg, barlow; (p, t) with t detached for byol and simsiam; (reconstruction, target,
    mask) for masked, each (2B, C, L) and mask (2B, L)."""
    if uses_decoder(objective):
        mask = patch_mask(views.shape[0], views.shape[-1], MASKING[objective], device=views.device)
        pred = online(fill_continuum(views, mask), False, True)
        return pred, patch_normalise(views, MASK_PATCH).detach(), mask
    if not uses_predictor(objective):
        return (online(views, False),)
    z, p = online(views, True)
    if not uses_target(objective):
        return p, z.detach()
    with torch.no_grad():   # the target gets no gradients: no graph to build for its pass (~10% of a BYOL step)
        t = target(views)
    return p, t


def objective_loss(objective: str, out: tuple[torch.Tensor, ...], temperature: float = 0.5,
                   gather: bool = False) -> torch.Tensor:
    """The objective's loss of branches()'s output. Rows [:B] are view 1, [B:] view 2. -> scalar (fp32)."""
    if uses_decoder(objective):
        return masked_reconstruction(*out)
    if uses_predictor(objective):
        p, t = out
        b = p.shape[0] // 2
        # each view's prediction matches the *other* view's target: the two directions of BYOL / SimSiam
        return 0.5 * (negative_cosine(p[:b], t[b:]) + negative_cosine(p[b:], t[:b]))
    (z,) = out
    b = z.shape[0] // 2
    if objective == "ntxent":
        return nt_xent(z[:b], z[b:], temperature, gather=gather)
    if objective == "vicreg":
        return vicreg(z[:b], z[b:], gather=gather)
    if objective == "barlow":
        return barlow_twins(z[:b], z[b:], gather=gather)
    check_objective(objective)
    raise AssertionError(objective)  # unreachable
