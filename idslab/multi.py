"""Train several small CNN encoders at once: K runs (seeds, conditions, s_l values) stacked along a leading model
axis with torch.func (stack_module_state + vmap(functional_call)), one optimiser step for all K per batch.

Why: a CNN-8/16 step on a GPU is a few tiny kernels, so one run leaves the device idle on launch overhead; vmap turns
K convolutions into one grouped convolution and K small matmuls into one batched matmul.

The same training as the sequential path, per run: each run keeps its own RNG stream (the CPU/CUDA generator state that
idslab.train.pretrain would have after `seed_everything(seed)` and model init), restored before its permutation,
its data views and its λ draws (in the order pretrain makes them: view 1, view 2, λ of fc1, λ of fc2), so every run
sees exactly the batches, views and weight noise it sees alone. Adam is elementwise, so one Adam over stacked
parameters is K independent Adams. What differs is float rounding (grouped vs single convolutions, bmm vs linear),
so losses agree to ~1e-5 (tests/test_multi.py). Measured on the quick Figure 3 cells (meteor, CNN-16, 5 epochs,
6 runs, 2026-11-26): final losses equal to 5 significant digits, k-NN accuracy identical in 6 of 6 runs, MLP-probe
accuracy different by up to 1.8 points (11 of 600 test samples): the probe's 300 Adam steps amplify 1e-5 changes in
h, a measure of the MLP probe's own noise rather than of the stacking.

    from idslab.multi import run_many
    records = run_many([TrainConfig(seed=s) for s in range(5)], data)
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from .perturb import perturbed_layers
from .train import Pretrained, TrainConfig, build_model, resolve_device, seed_everything
from .views import parse_views

# Fields that must agree for runs to share one stacked step (everything else, e.g. seed, views, s_l, may differ).
SHARED = ("dataset", "encoder", "tile", "epochs", "batch_size", "lr", "weight_decay", "temperature", "n_pretrain",
          "n_probe_train", "n_probe_test", "data_seed", "amp", "device", "data_dir", "cifar_dir")
MAX_STACK = 32   # runs per stack
MAX_TILE = 64    # CNN-128/256 steps already fill a GPU, and 9 of them stacked would need tens of GB of activations


def can_stack(cfg: TrainConfig) -> bool:
    """Small CNN encoders (tile <= MAX_TILE) whose only perturbation sites are fc1/fc2, with the paper's noise (one
    absolute λ per view). ResNets (BatchNorm, and big enough alone), CNN-128/256 and the other variants of
    idslab.perturb run one at a time."""
    return (cfg.encoder.startswith("cnn") and cfg.tile <= MAX_TILE and set(cfg.sites) <= {"fc1", "fc2"}
            and cfg.noise == "view" and cfg.scale_mode == "absolute")


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


def _batched_nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent of K runs at once. z (K, 2B, D), rows [:B] view 1 and [B:] view 2 -> (K,) mean loss per run."""
    k, n, _ = z.shape
    b = n // 2
    a = F.normalize(z.float(), dim=-1)
    logits = (a @ a.transpose(1, 2)) / temperature                           # (K, 2B, 2B)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(b, n), torch.arange(b)]).to(z.device).repeat(k)
    return F.cross_entropy(logits.reshape(k * n, n), target, reduction="none").view(k, n).mean(1)


def pretrain_many(cfgs: list[TrainConfig], data) -> list[Pretrained]:
    """idslab.train.pretrain for K compatible configs at once (see module doc). Returns one Pretrained per config."""
    if not cfgs:
        return []
    c0 = cfgs[0]
    bad = [f for f in SHARED for c in cfgs if getattr(c, f) != getattr(c0, f)]
    if bad or not all(can_stack(c) for c in cfgs):
        raise ValueError(f"configs cannot be stacked (differ in {sorted(set(bad))} or use a non-CNN encoder/site): "
                         "use idslab.multi.group_compatible first")
    if data.pretrain.x.shape[-1] != c0.tile:
        raise ValueError(f"data tiles are {data.pretrain.x.shape[-1]} but the configs say tile={c0.tile}")
    device = resolve_device(c0.device)
    x = data.pretrain.x.to(device, torch.float32)                             # (n, C, N, N), shared by all runs
    n, b, kk = x.shape[0], c0.batch_size, len(cfgs)
    if n < b:
        raise ValueError(f"batch_size {b} exceeds the {n} pre-training samples: lower --batch-size")
    streams = _Streams(device.type == "cuda")
    models, specs = [], []
    for cfg in cfgs:                                                            # exactly pretrain's set-up, per run
        seed_everything(cfg.seed)
        m = build_model(cfg, x.shape[1])
        m.encoder.in_mean.copy_(x.mean(dim=(0, 2, 3)))
        m.encoder.in_std.copy_(x.std(dim=(0, 2, 3)).clamp_min(1e-6))
        models.append(m.to(device).train())
        specs.append(parse_views(cfg.views))
        streams.save_new()
    scales = [{name: layer.scale for name, layer in perturbed_layers(m.encoder).items()} for m in models]
    sites = sorted({s for sc in scales for s, v in sc.items() if v > 0})
    params, buffers = stack_module_state(models)                                # (K, ...) leaves
    base = copy.deepcopy(models[0]).to("meta")
    for layer in perturbed_layers(base).values():
        layer.scale = 0.0                                                       # noise is added explicitly below
    enc_feat = {k[len("encoder.features."):] for k in params if k.startswith("encoder.features.")}
    proj = {k[len("projector."):] for k in params if k.startswith("projector.")}

    def forward(p, bu, xv, lam):                                                # one run: (2B, C, N, N) -> (2B, D_p)
        h = (xv - bu["encoder.in_mean"].view(1, -1, 1, 1)) / bu["encoder.in_std"].view(1, -1, 1, 1)
        h = functional_call(base.encoder.features, {k: p["encoder.features." + k] for k in enc_feat}, (h,))
        h = torch.flatten(h, 1)
        for name in ("fc1", "fc2"):
            w, bias = p[f"encoder.{name}.weight"], p[f"encoder.{name}.bias"]
            if name in lam:                                                     # Eq. 1, one λ per view
                h = torch.bmm(h.view(2, -1, h.shape[-1]), (w + lam[name]).transpose(1, 2)).flatten(0, 1) + bias
            else:
                h = F.linear(h, w, bias)
            if name == "fc1":
                h = F.relu(h)
        return functional_call(base.projector, {k: p["projector." + k] for k in proj}, (h,))

    batched = vmap(forward)
    opt = torch.optim.Adam(list(params.values()), lr=c0.lr, weight_decay=c0.weight_decay)
    amp = c0.amp and device.type == "cuda"
    steps = n // b
    history = []
    perms = [None] * kk
    t0 = time.perf_counter()
    for epoch in range(c0.epochs):
        for k in range(kk):
            with streams.use(k):
                perms[k] = torch.randperm(n, device=device)
        epoch_loss = torch.zeros(kk, device=device)
        for step in range(steps):
            views, lams = [], {s: [] for s in sites}
            for k in range(kk):                                                 # draws in pretrain's order
                with streams.use(k):
                    xb = x[perms[k][step * b:(step + 1) * b]]
                    views.append(torch.cat([specs[k](xb), specs[k](xb)]))
                    for s in ("fc1", "fc2"):
                        w = params[f"encoder.{s}.weight"]
                        if scales[k].get(s, 0.0) > 0:
                            lam = torch.randn((2, *w.shape[1:]), device=device, dtype=w.dtype) * scales[k][s]
                        elif s in sites:
                            lam = torch.zeros((2, *w.shape[1:]), device=device, dtype=w.dtype)
                        else:
                            continue
                        lams[s].append(lam)
            xv = torch.stack(views)                                             # (K, 2B, C, N, N)
            lam = {s: torch.stack(v) for s, v in lams.items()}                  # (K, 2, out, in)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                z = batched(params, buffers, xv, lam)                           # (K, 2B, D_p)
            losses = _batched_nt_xent(z, c0.temperature)                        # (K,)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()                                             # run k's grads = d loss_k
            opt.step()
            epoch_loss += losses.detach()
        mean = (epoch_loss / steps).tolist()
        if not np.all(np.isfinite(mean)):
            raise FloatingPointError(f"NT-Xent became non-finite in epoch {epoch + 1} for runs "
                                     f"{[i for i, v in enumerate(mean) if not np.isfinite(v)]}: lower lr or s_l")
        history.append(mean)
    wall = time.perf_counter() - t0
    out = []
    for k, m in enumerate(models):
        with torch.no_grad():
            for name, p in m.named_parameters():
                p.copy_(params[name][k])
        m.eval()
        out.append(Pretrained(m, [h[k] for h in history], wall / kk, str(device)))
    return out


def run_many(cfgs: list[TrainConfig], data) -> list[dict]:
    """idslab.train.run for K compatible configs: stacked pre-training, then each run's probes. Records as run()'s,
    plus "stacked": K and "stacked_pretrain_s" (the wall time of the whole stack; pretrain_s is its K-th part)."""
    from .train import make_record
    t0 = time.perf_counter()
    results = pretrain_many(cfgs, data)
    recs = []
    for cfg, res in zip(cfgs, results):     # the same record as run() (probes, diagnostics), plus the stacking
        rec = make_record(cfg, res, data, t0)
        rec.update(stacked=len(cfgs), stacked_pretrain_s=res.wall_s * len(cfgs))
        recs.append(rec)
    wall = time.perf_counter() - t0
    for r in recs:
        r["wall_s"] = wall / len(recs)
    return recs
