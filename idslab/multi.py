"""Train several small CNN encoders at once: K runs (seeds, conditions, s_l values) stacked along a leading model
axis with torch.func (stack_module_state + vmap(functional_call)), one optimiser step for all K per batch.

It is idslab.train's engine (setup, loop, step, monitor, record) with its hooks changed: views are drawn per run, the
forward is the objective's branches (the same idslab.objectives object as the single path's: SimCLRModel.forward,
and BYOL's target) under vmap (functional_call over the stacked parameters), the loss is that object's loss under
vmap, and its after-step (BYOL's EMA) runs on the stacked tensors. Nothing of the encoder, the objective or the loss
is re-written here, so a change to any of them reaches both paths (tests/test_objectives.py patches one and sees
every path call it).

Why: a CNN-8/16 step on a GPU is a few tiny kernels, so one run leaves the device idle on launch overhead; vmap turns
K convolutions into one grouped convolution and K small matmuls into one batched matmul.

The same training as the sequential path, per run: each run keeps its own RNG stream (the CPU/CUDA generator state that
idslab.train.pretrain would have after `seed_everything(seed)` and model init), restored before its permutation,
its data views and its λ draws (in the order pretrain makes them: view 1, view 2, then each perturbed layer's draw
in forward order), so every run sees exactly the batches, views and weight noise it sees alone. Adam is elementwise,
so one Adam over stacked parameters is K independent Adams. λ's standard-normal draw is made outside the vmapped
forward, per run, with the shape idslab.perturb.draw_shape gives, and handed to the layers' own forward through
their `eps` buffer (zeros for a run without that site); σ (absolute or relative) is applied inside, as alone. What
differs is float rounding (grouped vs single convolutions, bmm vs linear), so losses agree to ~1e-5
(tests/test_multi.py). Measured on the quick Figure 3 cells (meteor, CNN-16, 5 epochs,
6 runs, 2026-11-26): final losses equal to 5 significant digits, k-NN accuracy identical in 6 of 6 runs, MLP-probe
accuracy different by up to 1.8 points (11 of 600 test samples): the probe's 300 Adam steps amplify 1e-5 changes in
h, a measure of the MLP probe's own noise rather than of the stacking.

    from idslab.multi import run_many
    records = run_many([TrainConfig(seed=s) for s in range(5)], data)
"""
from __future__ import annotations

import copy
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from .encoders import encoder_dims
from .objectives import get as objective_of
from .perturb import draw_shape, perturbed_layers, set_sites, set_views
from .train import Engine, OnEpoch, Pretrained, Progress, TrainConfig, finish, fit_engine, prepare, setup, two_views
from .views import parse_views

# Fields that must agree for runs to share one stacked step (everything else, e.g. seed, views, s_l, may differ).
# knn_k and knn_metric: the monitor measures every stacked run with one k-NN (Engine._monitor reads self.cfg, the
# first run's), so runs that differ in them are not stacked together.
SHARED = ("dataset", "encoder", "tile", "epochs", "batch_size", "lr", "weight_decay", "temperature", "n_pretrain",
          "n_probe_train", "n_probe_test", "data_seed", "amp", "device", "data_dir", "cifar_dir", "noise",
          "scale_mode", "proj_dim", "proj_bn", "objective", "target_noise", "ema", "knn_k", "knn_metric")
MAX_STACK = 32   # runs per stack
MAX_TILE = 64    # CNN-128/256 steps already fill a GPU, and 9 of them stacked would need tens of GB of activations


def can_stack(cfg: TrainConfig) -> bool:
    """Small CNN encoders (tile <= MAX_TILE, or any 1-D CNN: a CNN1D-1024 step is about a CNN-32 one), any
    sites and noise variant (the stacked forward is the encoder's own). ResNets (BatchNorm running statistics cannot
    be updated under vmap, and they are big enough alone) and CNN-128/256 run one at a time, and so do runs with a
    batch-normalised projection head (proj_bn)."""
    small = cfg.tile <= MAX_TILE or encoder_dims(cfg.encoder) == 1
    return cfg.encoder.startswith("cnn") and small and not cfg.proj_bn and objective_of(cfg.objective).stackable


def group_compatible(cfgs: list[TrainConfig], ids: list | None = None, max_stack: int = MAX_STACK) -> list[list]:
    """Split configs into groups that can train stacked: [[(id, cfg), ...], ...], order kept within a group."""
    ids = list(range(len(cfgs))) if ids is None else list(ids)
    groups: dict = {}
    for i, cfg in zip(ids, cfgs):
        key = tuple(getattr(cfg, f) for f in SHARED) if can_stack(cfg) else ("single", i)
        groups.setdefault(key, []).append((i, cfg))
    out = []
    for g in groups.values():
        out += [g[j:j + max_stack] for j in range(0, len(g), max_stack)]
    return out


class _Streams:
    """One saved RNG state per run (CPU and, when used, CUDA), swapped in around that run's random draws."""

    def __init__(self, cuda: bool):
        self.cuda, self.states = cuda, []

    def save_new(self) -> None:
        self.states.append(self._get())

    def _get(self):
        return (torch.get_rng_state(), torch.cuda.get_rng_state() if self.cuda else None)

    def use(self, k: int):
        streams = self

        class _Ctx:
            def __enter__(self):
                cpu, gpu = streams.states[k]
                torch.set_rng_state(cpu)
                if gpu is not None:
                    torch.cuda.set_rng_state(gpu)

            def __exit__(self, *exc):
                streams.states[k] = streams._get()
        return _Ctx()


class StackedEngine(Engine):
    """K compatible runs as one: parameters stacked along a leading axis, the objective's branches (SimCLRModel.forward,
    BYOL's target) and its loss run under torch.func.vmap over that axis, one Adam for all, BYOL's EMA (the
    objective's after_step, following the stacked tensors) for all K at once.

    Each run's random draws (permutation, data views, λ) happen on its own RNG stream in the order the single path
    makes them: the standard-normal draw of every perturbed layer (shape idslab.perturb.draw_shape, in forward
    order: the online network's, then the target's) times that run's s_l enters the shared forward through the
    layers' `eps` buffer, and the shared layers run at s_l = 1 (zeros for a run without that site). vmap runs with
    randomness="error": a random op added to the encoder's forward (dropout, say) stops the stacked path with an
    error instead of silently giving every run different noise than it would get alone.
    """

    def __init__(self, cfgs: list[TrainConfig], x: torch.Tensor, device: torch.device, monitor=None, ivar=None):
        self.cfgs, self.n_runs = cfgs, len(cfgs)
        super().__init__(cfgs[0], x, device, monitor, ivar)

    def build(self) -> None:
        self.streams = _Streams(self.device.type == "cuda")
        self.models, self.specs = [], []
        for cfg in self.cfgs:                                               # exactly the single path's set-up
            self.models.append(setup(cfg, self.x, self.device))
            self.specs.append(parse_views(cfg.views))
            self.streams.save_new()
        self.params, self.buffers = stack_module_state(self.models)         # (K, ...) leaves
        self.base, self.sites = self._functional_base(self.models)
        self.tparams, self.tbuffers, self.tbase, self.tsites = {}, {}, None, {}
        targets = [self.objective.build(m) for m in self.models]           # BYOL: each run's target, once
        if targets[0] is not None:                                          # stacked the same way as the runs
            self.tparams, self.tbuffers = stack_module_state(targets)
            self.tparams = {k: v.detach().requires_grad_(False) for k, v in self.tparams.items()}
            self.tbase, self.tsites = self._functional_base(targets)
            self.objective.follow(self.tparams, self.params)                # K EMAs at once: it is elementwise

        def one_run(p, b, tp, tb, v):                                       # (2B, C, N, N) -> the branches
            online = lambda x, predict: functional_call(self.base, {**p, **b}, (x,), {"predict": predict})
            target = (lambda x: functional_call(self.tbase, {**tp, **tb}, (x,))) if self.tbase is not None else None
            return self.objective.branches(online, target, v)

        self._forward = vmap(one_run, randomness="error")
        self._loss = vmap(lambda out: self.objective.loss(out), randomness="error")
        self.opt = torch.optim.Adam(list(self.params.values()), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.perms = [None] * len(self.cfgs)

    def _functional_base(self, models: list) -> tuple[torch.nn.Module, dict]:
        """A weightless copy of models[0] to functional_call with each run's tensors, its perturbed layers armed at
        s_l = 1 wherever some run perturbs (s_l comes in with eps), and {site: (layer, [s_l per run])} in forward
        order."""
        scales = [{n: la.scale for n, la in perturbed_layers(m).items()} for m in models]
        base = copy.deepcopy(models[0]).to("meta")
        used = {n for sc in scales for n, v in sc.items() if v > 0}
        set_sites(base, {n: 1.0 for n in used}, self.cfg.noise, self.cfg.scale_mode)
        set_views(base, 2)
        return base, {n: (la, [sc.get(n, 0.0) for sc in scales]) for n, la in perturbed_layers(base).items()
                      if n in used}

    def new_epoch(self) -> None:
        for k in range(len(self.cfgs)):
            with self.streams.use(k):
                self.perms[k] = torch.randperm(self.n, device=self.device)

    def views(self, step: int) -> torch.Tensor:                             # -> (K, 2B, C, N, N)
        views = []
        self._eps = {s: [] for s in self.sites}
        self._teps = {s: [] for s in self.tsites}
        for k in range(len(self.cfgs)):                                     # draws in the single path's order
            with self.streams.use(k):
                idx = self.perms[k][step * self.b:(step + 1) * self.b]
                views.append(two_views(self.specs[k], self.x[idx], None if self.ivar is None else self.ivar[idx]))
                for sites, eps in ((self.sites, self._eps), (self.tsites, self._teps)):   # online, then target
                    for s, (layer, scale) in sites.items():                # the layers' forward order
                        shape = draw_shape(layer, 2 * self.b)
                        eps[s].append(torch.randn(shape, device=self.device) * scale[k] if scale[k] > 0
                                      else torch.zeros(shape, device=self.device))
        return torch.stack(views)

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, ...]:     # -> the branches, each (K, 2B, D_p)
        eps = {f"{s}.eps": torch.stack(v) for s, v in self._eps.items()}    # (K, *draw_shape)
        teps = {f"{s}.eps": torch.stack(v) for s, v in self._teps.items()}
        return self._forward(self.params, {**self.buffers, **eps}, self.tparams, {**self.tbuffers, **teps}, views)

    def loss(self, out: tuple[torch.Tensor, ...]) -> torch.Tensor:         # -> (K,)
        return self._loss(out)

    def monitored(self) -> list[torch.nn.Module]:
        self._sync()
        return self.models

    def _sync(self) -> None:
        """Copy each run's slice of the stacked tensors into its own module."""
        with torch.no_grad():
            for k, m in enumerate(self.models):
                for name, t in [*m.named_parameters(), *m.named_buffers()]:
                    if name in self.params or name in self.buffers:
                        t.copy_((self.params.get(name) if name in self.params else self.buffers[name])[k])

    def finish(self, history: list, wall: float, monitor: list) -> list[Pretrained]:
        self._sync()
        out = []
        for k, m in enumerate(self.models):
            m.eval()
            out.append(Pretrained(m, [h[k] for h in history], wall / len(self.models), str(self.device), monitor[k]))
        return out


def pretrain_many(cfgs: list[TrainConfig], data, progress: Progress | None = None,
                  on_epoch: OnEpoch | None = None) -> list[Pretrained]:
    """idslab.train.pretrain for K compatible configs at once (see module doc). Returns one Pretrained per config;
    each one's wall_s is the K-th part of the stack's wall time. ValueError before any work for configs that
    cannot share a stack, and for data any of them refuses (idslab.train.prepare)."""
    if not cfgs:
        return []
    data, device = _prepare_stack(cfgs, data)
    return fit_engine(StackedEngine, cfgs, data, device, progress, on_epoch)


def _prepare_stack(cfgs: list[TrainConfig], data) -> tuple:
    """The stack's front: the configs agree on every SHARED field and each can stack, then idslab.train.prepare,
    the checks of a run alone (data, device), once: every field it reads (device, encoder, tile, knn_k) is SHARED."""
    c0 = cfgs[0]
    why = sorted({f"objective {c.objective!r}: {objective_of(c.objective).unstackable}" for c in cfgs
                  if not objective_of(c.objective).stackable})
    if why:
        raise ValueError(f"configs cannot be stacked: {'; '.join(why)}")
    bad = [f for f in SHARED for c in cfgs if getattr(c, f) != getattr(c0, f)]
    if bad or not all(can_stack(c) for c in cfgs):
        raise ValueError(f"configs cannot be stacked (differ in {sorted(set(bad))} or use a non-CNN encoder/site): "
                         "use idslab.multi.group_compatible first")
    return prepare(c0, data)


def run_many(cfgs: list[TrainConfig], data, progress: Progress | None = None,
             on_epoch: OnEpoch | None = None) -> list[dict]:
    """idslab.train.run for K compatible configs: the same front (idslab.train.prepare), stacked pre-training,
    then each run's back (idslab.train.finish: non-finite checks, probes, record). Records as run()'s, plus
    "stacked": K and "stacked_pretrain_s" (the wall time of the whole stack; pretrain_s is its K-th part)."""
    if not cfgs:
        return []
    t0 = time.perf_counter()
    data, device = _prepare_stack(cfgs, data)
    results = fit_engine(StackedEngine, cfgs, data, device, progress, on_epoch)
    recs = [finish(cfg, res, data, t0, stacked=len(cfgs), stacked_pretrain_s=res.wall_s * len(cfgs))
            for cfg, res in zip(cfgs, results)]
    wall = time.perf_counter() - t0
    for r in recs:
        r["wall_s"] = wall / len(recs)                   # each run's share of the whole (probes included)
    return recs
