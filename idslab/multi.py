"""Train several small CNN encoders at once: K runs (seeds, conditions, s_l values) stacked along a leading model
axis with torch.func (stack_module_state + vmap(functional_call)), one optimiser step for all K per batch.

It is idslab.train's engine (setup, loop, step, record) with three hooks changed: views are drawn per run, the forward
is SimCLRModel.forward itself under vmap (functional_call over the stacked parameters), and the loss is the same
NT-Xent under vmap. Nothing of the encoder or the loss is re-written here, so a change to either reaches both paths.

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
from .perturb import draw_shape, perturbed_layers, set_sites, set_views
from .train import (Engine, Pretrained, Progress, TrainConfig, check_finite_input, check_tiles, contrastive_loss,
                    make_record, resolve_device, setup, two_views)
from .views import parse_views

# Fields that must agree for runs to share one stacked step (everything else, e.g. seed, views, s_l, may differ).
SHARED = ("dataset", "encoder", "tile", "epochs", "batch_size", "lr", "weight_decay", "temperature", "n_pretrain",
          "n_probe_train", "n_probe_test", "data_seed", "amp", "device", "data_dir", "cifar_dir", "noise",
          "scale_mode", "proj_dim", "proj_bn")
MAX_STACK = 32   # runs per stack
MAX_TILE = 64    # CNN-128/256 steps already fill a GPU, and 9 of them stacked would need tens of GB of activations


def can_stack(cfg: TrainConfig) -> bool:
    """Small CNN encoders (tile <= MAX_TILE, or any 1-D CNN: a CNN1D-1024 step is about a CNN-32 one), any
    sites and noise variant (the stacked forward is the encoder's own). ResNets (BatchNorm running statistics cannot
    be updated under vmap, and they are big enough alone) and CNN-128/256 run one at a time, and so do runs with a
    batch-normalised projection head (proj_bn)."""
    small = cfg.tile <= MAX_TILE or encoder_dims(cfg.encoder) == 1
    return cfg.encoder.startswith("cnn") and small and not cfg.proj_bn


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
    """K compatible runs as one: parameters stacked along a leading axis, the same SimCLRModel.forward and the same
    NT-Xent (idslab.train.contrastive_loss) run under torch.func.vmap over that axis, one Adam for all.

    Each run's random draws (permutation, data views, λ) happen on its own RNG stream in the order the single path
    makes them: the standard-normal draw of every perturbed layer (shape idslab.perturb.draw_shape, in forward
    order) times that run's s_l enters the shared forward through the layers' `eps` buffer, and the shared layers
    run at s_l = 1 (zeros for a run without that site). vmap runs with randomness="error": a random op added to the encoder's forward
    (dropout, say) stops the stacked path with an error instead of silently giving every run different noise than
    it would get alone.
    """

    def __init__(self, cfgs: list[TrainConfig], x: torch.Tensor, device: torch.device):
        self.cfgs = cfgs
        super().__init__(cfgs[0], x, device)

    def build(self) -> None:
        self.streams = _Streams(self.device.type == "cuda")
        self.models, self.specs = [], []
        for cfg in self.cfgs:                                               # exactly the single path's set-up
            self.models.append(setup(cfg, self.x, self.device))
            self.specs.append(parse_views(cfg.views))
            self.streams.save_new()
        # s_l per run and site (qualified names, e.g. "encoder.fc1"); a run without a site has 0 there
        self.scales = [{n: la.scale for n, la in perturbed_layers(m).items()} for m in self.models]
        self.params, self.buffers = stack_module_state(self.models)         # (K, ...) leaves
        base = copy.deepcopy(self.models[0]).to("meta")
        used = {n for sc in self.scales for n, v in sc.items() if v > 0}
        set_sites(base, {n: 1.0 for n in used}, self.cfg.noise, self.cfg.scale_mode)   # s_l comes in with eps
        set_views(base, 2)
        self.sites = {n: la for n, la in perturbed_layers(base).items() if n in used}  # forward order

        def one_run(p, b, v):                                               # (2B, C, N, N) -> (2B, D_p)
            return functional_call(base, {**p, **b}, (v,))

        self._forward = vmap(one_run, randomness="error")
        self._loss = vmap(lambda z: contrastive_loss(z, self.cfg.temperature), randomness="error")
        self.opt = torch.optim.Adam(list(self.params.values()), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.perms = [None] * len(self.cfgs)

    def new_epoch(self) -> None:
        for k in range(len(self.cfgs)):
            with self.streams.use(k):
                self.perms[k] = torch.randperm(self.n, device=self.device)

    def views(self, step: int) -> torch.Tensor:                             # -> (K, 2B, C, N, N)
        views, self._eps = [], {s: [] for s in self.sites}
        for k in range(len(self.cfgs)):                                     # draws in the single path's order
            with self.streams.use(k):
                views.append(two_views(self.specs[k], self.x[self.perms[k][step * self.b:(step + 1) * self.b]]))
                for s, layer in self.sites.items():                         # the layers' forward order
                    scale, shape = self.scales[k].get(s, 0.0), draw_shape(layer, 2 * self.b)
                    self._eps[s].append(torch.randn(shape, device=self.device) * scale if scale > 0
                                        else torch.zeros(shape, device=self.device))
        return torch.stack(views)

    def forward(self, views: torch.Tensor) -> torch.Tensor:                 # -> z (K, 2B, D_p)
        eps = {f"{s}.eps": torch.stack(v) for s, v in self._eps.items()}   # (K, *draw_shape)
        return self._forward(self.params, {**self.buffers, **eps}, views)

    def loss(self, z: torch.Tensor) -> torch.Tensor:                        # -> (K,)
        return self._loss(z)

    def finish(self, history: list, wall: float) -> list[Pretrained]:
        out = []
        for k, m in enumerate(self.models):
            with torch.no_grad():
                for name, p in m.named_parameters():
                    p.copy_(self.params[name][k])
            m.eval()
            out.append(Pretrained(m, [h[k] for h in history], wall / len(self.models), str(self.device)))
        return out


def pretrain_many(cfgs: list[TrainConfig], data, progress: Progress | None = None) -> list[Pretrained]:
    """idslab.train.pretrain for K compatible configs at once (see module doc). Returns one Pretrained per config;
    each one's wall_s is the K-th part of the stack's wall time."""
    if not cfgs:
        return []
    c0 = cfgs[0]
    bad = [f for f in SHARED for c in cfgs if getattr(c, f) != getattr(c0, f)]
    if bad or not all(can_stack(c) for c in cfgs):
        raise ValueError(f"configs cannot be stacked (differ in {sorted(set(bad))} or use a non-CNN encoder/site): "
                         "use idslab.multi.group_compatible first")
    check_tiles(c0, data)
    device = resolve_device(c0.device)
    x = data.pretrain.x.to(device, torch.float32)                             # (n, C, N, N), shared by all runs
    check_finite_input(x)
    return StackedEngine(cfgs, x, device).fit(progress)


def run_many(cfgs: list[TrainConfig], data) -> list[dict]:
    """idslab.train.run for K compatible configs: stacked pre-training, then each run's probes. Records as run()'s,
    plus "stacked": K and "stacked_pretrain_s" (the wall time of the whole stack; pretrain_s is its K-th part)."""
    t0 = time.perf_counter()
    results = pretrain_many(cfgs, data)
    recs = [make_record(cfg, res, data, t0, stacked=len(cfgs), stacked_pretrain_s=res.wall_s * len(cfgs))
            for cfg, res in zip(cfgs, results)]
    wall = time.perf_counter() - t0
    for r in recs:
        r["wall_s"] = wall / len(recs)                   # each run's share of the whole (probes included)
    return recs
