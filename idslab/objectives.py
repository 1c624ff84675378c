"""Objectives: what the one engine (idslab.train) minimises on a step's two views, one small class per objective
(lightly's one concept per class; solo-learn's split of a method from its base).

An objective owns its loss (idslab.loss), the modules it adds to encoder + projection head (predictor, decoder, BYOL's
EMA target), its after-step update, the TrainConfig fields it reads (`reads`) and its own rules (`check`: the batch it
needs; a field it ignores must stay at its default, so that it neither passes silently nor changes the record's hash).
The engine owns the loop, the views and the optimiser; the single, stacked (idslab.multi, under torch.func.vmap) and
distributed (idslab.distributed) paths all call the same object:

    obj = get(cfg)                          # an instance configured from cfg's fields (get("byol"): the defaults)
    target = obj.build(model)               # BYOL: its EMA target, once per run; None for the others
    out = obj.branches(model, target, views)
    loss = obj.loss(out, gather=False)      # gather=True: the global batch under torch.distributed
    ...                                     # backward, optimiser step
    obj.after_step(done, total)             # BYOL: the target follows the online network

| name      | class   | paper                       | adds                             | loss on the 2B views          |
|-----------|---------|-----------------------------|----------------------------------|-------------------------------|
| "ntxent"  | NTXent  | SimCLR (Chen et al. 2020)   | -                                | NT-Xent, 2B - 2 negatives     |
| "byol"    | BYOL    | BYOL (Grill et al. 2020)    | predictor q; EMA target (enc+g)  | -cos(q(z_1), z'_2), symmetric |
| "simsiam" | SimSiam | SimSiam (Chen & He 2021)    | predictor q; stop-gradient       | -cos(q(z_1), sg z_2), symm.   |
| "vicreg"  | VICReg  | VICReg (Bardes et al. 2022) | -                                | 25 inv. + 25 var. + 1 cov.    |
| "barlow"  | Barlow  | Barlow Twins (Zbontar 2021) | -                                | Σ(1 - C_ii)² + 5e-3 Σ C_ij²   |
| "masked"  | Masked  | MAE (He et al. 2022), 1-D   | decoder h -> signal (encoders)   | MSE on masked bins (MAE's)    |

Fields only some objectives read (OPTIONAL): temperature (NT-Xent's τ), ema and target_noise (BYOL's target); the
rest of the config (head, optimiser, views) every objective reads alike.

"masked" (issue 26, 1-D signals; "masked25" and "masked75": the same class hiding 25% and 75%): each of the 2B views
has half of its 16-bin patches hidden (MAE's random masking: a random subset per sample, argsort of uniform noise),
the hidden bins filled with the local continuum (idslab.views.fill_continuum, so the CNN sees a plausible spectrum,
not a hole); the encoder's h of the masked view is decoded to the whole signal and scored on the hidden bins against
the view's own flux normalised per patch (MAE's norm_pix_loss: the target is each patch's line shape, not its
brightness). To predict a hidden [O III] 4960 from a visible 5008 (41.8 bins to the red, 1/2.98 of its flux) the
encoder has to model the doublet. The projection head is unused. MAE masks 75% of image patches; a spectrum's
information is sparser (a few lines), and 50% keeps one line of the doublet visible in about three quarters of the
views. The mask is drawn inside the forward pass, so the objective does not run stacked (idslab.multi:
vmap(randomness="error"); Masked.unstackable says why).

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
import dataclasses
import math

import torch
import torch.nn as nn

from .encoders import encoder_dims
from .loss import barlow_twins, masked_reconstruction, negative_cosine, nt_xent, patch_normalise, vicreg
from .perturb import perturbed_layers
from .views import fill_continuum, parse_views

OPTIONAL = ("temperature", "ema", "target_noise")   # TrainConfig fields that only some objectives read
MASK_RATIO = 0.5                   # fraction of patches hidden ("masked")
MASK_PATCH = 16                    # bins per patch: 1.1e3 km/s, a line's full width at the largest dispersions
MASKING = {"masked": MASK_RATIO, "masked25": 0.25, "masked75": 0.75}   # the masked objective's names -> mask ratio
EMA_BASE = 0.996                   # BYOL's τ_base


class Objective:
    """An objective of the one engine (idslab.train.Engine); subclasses set the attributes and override the hooks
    they need. The base is the joint-embedding default: one online pass, z for the loss, nothing after the step.

    Attributes:
        name: what --objective takes; title: its name in messages; description: one line for the studies.
        reads: the fields of OPTIONAL it reads (the others must stay at their defaults: check()).
        predictor: the online branch has the predictor q (BYOL, SimSiam); decoder: the masked objective's decoder.
        stackable: trains under idslab.multi's vmap; unstackable: why not (empty when it can).
        min_batch, batch_rule: the samples per step its loss needs, and why.
    """
    name = title = description = ""
    reads: tuple[str, ...] = ()
    predictor = decoder = False
    stackable, unstackable = True, ""
    min_batch, batch_rule = 2, ""

    def check(self, cfg) -> None:
        """ValueError, naming the user's flag and the fix, unless cfg (a validated TrainConfig) meets this
        objective's rules: the batch its loss needs, and no field it ignores set away from its default."""
        low, why = self.batch_need(cfg)
        if cfg.batch_size < low:
            raise ValueError(f"batch_size={cfg.batch_size} (--batch-size {cfg.batch_size}): {self.title} needs at "
                             f"least {low} samples per step ({why}): raise --batch-size")
        for f in self.ignored(cfg):
            readers = [o for o in _CLASSES if f in _CLASSES[o].reads]
            raise ValueError(f"{f}={getattr(cfg, f)!r} ({_given(f, getattr(cfg, f))}): read only by "
                             f"{' and '.join(readers)}; {self.name} ignores it: drop the flag (or use --objective "
                             f"{readers[0]})")

    def batch_need(self, cfg) -> tuple[int, str]:
        """(the smallest batch, why) for cfg: 2 with a batch-normalised head (--proj-bn), whose BatchNorm1d over the
        2 views of 1 sample maps them to ±1 per dimension (before its affine) whatever they hold. (A ResNet's
        BatchNorm2d also pools over the N x N positions, so one sample is a real batch there.)"""
        if self.min_batch < 2 and cfg.proj_bn:
            return 2, ("the batch-normalised head (--proj-bn) maps the two views of one sample to ±1 per dimension "
                       "whatever they hold")
        return self.min_batch, self.batch_rule

    def ignored(self, cfg) -> dict:
        """{field: default} of the OPTIONAL fields this objective does not read whose value in cfg is not the
        default (check() refuses them; TrainConfig.identity() puts them back to the default)."""
        defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
        return {f: defaults[f] for f in OPTIONAL if f not in self.reads and getattr(cfg, f) != defaults[f]}

    def divergence_advice(self, cfg) -> str:
        """What to change after a non-finite loss or model, naming only knobs this run reads."""
        knobs = [f"the learning rate (--lr, now {cfg.lr:g})"]
        if parse_views(cfg.views).ids:
            knobs.append(f"s_l (--sl, now {cfg.sites})")
        return "lower " + " or ".join(knobs)

    def build(self, online: nn.Module) -> nn.Module | None:
        """The modules the objective keeps outside the optimiser (BYOL's EMA target), built once per run from the
        online model; None for most."""
        return None

    def branches(self, online, target, views: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The tensors a step's loss reads, from the 2B stacked views (view 1 rows, then view 2 rows).

        online(views, predict, decode) -> z (2B, D_p), (z, q(z)) when predict, the reconstruction when decode;
        target(views) -> z' (2B, D_p) or None. Every perturbed layer draws its λ inside these calls, online first,
        then target (the order idslab.multi replays). Here: (z,)."""
        return (online(views, False),)

    def loss(self, out: tuple[torch.Tensor, ...], gather: bool = False) -> torch.Tensor:
        """The loss of branches()'s output -> scalar (fp32). gather: the global batch under torch.distributed."""
        raise NotImplementedError

    def after_step(self, done: int, total: int) -> None:
        """After the optimiser step `done` (1-based) of `total`; nothing for most."""


def _given(field: str, value) -> str:
    """The flag that sets a field to value, as the user typed it: '--temperature 0.2', '--no-target-noise'."""
    flag = field.replace("_", "-")
    if isinstance(value, bool):
        return f"--{'' if value else 'no-'}{flag}"
    return f"--{flag} {value:g}" if isinstance(value, float) else f"--{flag} {value}"


def _halves(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(2B, D) -> view 1's rows (B, D), view 2's rows (B, D)."""
    b = z.shape[0] // 2
    return z[:b], z[b:]


class NTXent(Objective):
    """SimCLR's NT-Xent (Chen et al. 2020, Eq. 1; idslab.loss.nt_xent): the other view is the positive, the other
    2B - 2 views are negatives, at temperature τ (--temperature)."""
    name, title = "ntxent", "NT-Xent"
    description = "SimCLR's NT-Xent: the other view is the positive, the other 2B - 2 views are negatives"
    reads = ("temperature",)
    batch_rule = "each anchor needs a negative, and B = 1 leaves none"

    def __init__(self, temperature: float = 0.5):
        self.temperature = temperature

    def divergence_advice(self, cfg) -> str:
        return f"{super().divergence_advice(cfg)}, or raise --temperature (now {self.temperature:g})"

    def loss(self, out, gather=False):
        return nt_xent(*_halves(out[0]), self.temperature, gather=gather)


class VICReg(Objective):
    """VICReg (Bardes et al. 2022, Eq. 6; idslab.loss.vicreg): invariance + variance + covariance terms."""
    name, title = "vicreg", "VICReg"
    description = "VICReg: invariance + variance + covariance regularisation (no negatives)"
    batch_rule = "its variance term is a standard deviation over the batch"

    def loss(self, out, gather=False):
        return vicreg(*_halves(out[0]), gather=gather)


class Barlow(Objective):
    """Barlow Twins (Zbontar et al. 2021, Eq. 1; idslab.loss.barlow_twins): the two views' cross-correlation
    pushed to the identity."""
    name, title = "barlow", "Barlow Twins"
    description = "Barlow Twins: cross-correlation of the two views' projections pushed to the identity (no negatives)"
    batch_rule = "its cross-correlation standardises each dimension over the batch"

    def loss(self, out, gather=False):
        return barlow_twins(*_halves(out[0]), gather=gather)


class SimSiam(Objective):
    """SimSiam (Chen & He 2021, Eq. 1-2): a predictor q matches the other view's stop-gradient projection. The loss
    is a per-sample mean (idslab.loss.negative_cosine), so one sample per step is enough (without batch norm), and
    DDP's gradient average already makes it the global batch's (no gather)."""
    name, title = "simsiam", "SimSiam"
    description = "SimSiam: a predictor matches the other view's stop-gradient projection (no negatives, no EMA)"
    predictor = True
    min_batch = 1

    def branches(self, online, target, views):   # -> (p, t): q(z) and the detached projection, each (2B, D_p)
        z, p = online(views, True)
        return p, z.detach()

    def loss(self, out, gather=False):
        (p1, p2), (t1, t2) = _halves(out[0]), _halves(out[1])
        # each view's prediction matches the *other* view's target: the two directions, averaged
        return 0.5 * (negative_cosine(p1, t2) + negative_cosine(p2, t1))


class BYOL(SimSiam):
    """BYOL (Grill et al. 2020): SimSiam's loss against an EMA target network's projection of the other view.

    The target (make_target) is built once per run by build(); after each optimiser step it moves towards the
    online network with BYOL's schedule (ema_momentum from τ_base = --ema to 1). --target-noise: the target's
    perturbation sites draw their own λ (True) or run at s_l = 0 (False)."""
    name, title = "byol", "BYOL"
    description = "BYOL: a predictor matches an EMA target network's projection of the other view (no negatives)"
    reads = ("ema", "target_noise")

    def __init__(self, ema: float = EMA_BASE, target_noise: bool = True):
        self.ema, self.target_noise = ema, target_noise
        self._pairs: tuple[list, list] | None = None

    def divergence_advice(self, cfg) -> str:
        return f"{super().divergence_advice(cfg)}, or raise --ema (now {self.ema:g}: a slower target)"

    def build(self, online):
        target = make_target(online, self.target_noise)
        self.follow(dict(target.named_parameters()), dict(online.named_parameters()))
        return target

    def follow(self, target: dict, online: dict) -> None:
        """The (target, online) tensors the EMA updates, matched by name (the target has no predictor): a module's
        parameters, or idslab.multi's stacked (K, ...) tensors (the update is elementwise)."""
        self._pairs = [target[n] for n in target], [online[n] for n in target]

    def branches(self, online, target, views):   # -> (p, t): q(z) and the target's z', each (2B, D_p)
        _, p = online(views, True)
        with torch.no_grad():   # the target gets no gradients: no graph to build for its pass (~10% of a BYOL step)
            t = target(views)
        return p, t

    def after_step(self, done, total):
        ema_update(*self._pairs, ema_momentum(done - 1, total, self.ema))


class Masked(Objective):
    """MAE-style masked reconstruction for 1-D signals (He et al. 2022; module doc): a share `ratio` of each view's
    MASK_PATCH-bin patches hidden, filled with the local continuum, and predicted by the decoder from h; the loss
    is idslab.loss.masked_reconstruction on the hidden bins against the view's patch-normalised flux."""
    title, decoder, min_batch = "the masked objective", True, 1
    stackable = False
    unstackable = "its mask is drawn inside the forward pass, which torch.func.vmap(randomness='error') forbids; " \
                  "it runs one run at a time"

    def __init__(self, name: str = "masked", ratio: float = MASK_RATIO):
        self.name, self.ratio = name, ratio
        self.description = (f"MAE-style masked reconstruction for 1-D signals: {ratio:.0%} of each view's patches "
                            "hidden and predicted from the rest")

    def check(self, cfg) -> None:
        if encoder_dims(cfg.encoder) != 1:
            raise ValueError(f"--objective {self.name} reconstructs 1-D signals: use a 1-D encoder (--encoder "
                             "cnn1d512) or another --objective")
        super().check(cfg)

    def branches(self, online, target, views):   # -> (reconstruction, target, mask): (2B, C, L) twice, (2B, L)
        mask = patch_mask(views.shape[0], views.shape[-1], self.ratio, device=views.device)
        pred = online(fill_continuum(views, mask), False, True)
        return pred, patch_normalise(views, MASK_PATCH).detach(), mask

    def loss(self, out, gather=False):
        return masked_reconstruction(*out)


_CLASSES = {c.name: c for c in (NTXent, BYOL, SimSiam, VICReg, Barlow)}
OBJECTIVES = {name: c.description for name, c in _CLASSES.items()}   # the joint-embedding objectives, for studies
# objectives that reconstruct their input instead of comparing two views' projections (1-D signals only); kept apart
# from OBJECTIVES, which the joint-embedding studies (scripts/objectives.py, notebook 04) iterate over
RECONSTRUCTION = {name: Masked(name, ratio).description for name, ratio in MASKING.items()}


def get(objective) -> Objective:
    """The objective of a name ("byol": its defaults) or of a TrainConfig (configured from the fields it reads):
    a new instance, so each run holds its own state (BYOL's EMA pairs)."""
    name = objective if isinstance(objective, str) else objective.objective
    if name in MASKING:
        return Masked(name, MASKING[name])
    if name not in _CLASSES:
        raise ValueError(f"unknown objective {name!r}: choose one of {', '.join([*OBJECTIVES, *RECONSTRUCTION])} "
                         "(--objective)")
    cls = _CLASSES[name]
    return cls() if isinstance(objective, str) else cls(**{f: getattr(objective, f) for f in cls.reads})


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


def ema_momentum(step: int, total: int, base: float = EMA_BASE) -> float:
    """BYOL's schedule: τ rises from base at step 0 to 1 at the last step (cosine)."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / max(total, 1)) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """target <- τ target + (1 - τ) online, in place, for every pair (stacked tensors too: it is elementwise)."""
    torch._foreach_lerp_(target, [o.detach() for o in online], 1.0 - tau)
