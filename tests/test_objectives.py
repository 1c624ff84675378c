"""The objectives as small classes of the one engine: BYOL's target never gets gradients and follows the EMA, SimSiam's
stop-gradient holds, every objective trains, each one's own rules (the batch it needs, the fields it reads, the advice
after a divergence), the record hash blind to the fields it ignores, and the single, stacked and DDP paths calling
the same object (DDP building Adam and the target once)."""
import dataclasses
import math

import pytest
import torch
import torch.distributed as dist

from idslab import objectives as O
from idslab.train import Engine, TrainConfig, build_model, pretrain
from tests.conftest import streak_data

BASE = dict(encoder="cnn16", epochs=1, batch_size=64, n_pretrain=256, n_probe_train=128, n_probe_test=128,
            device="cpu", knn_k=5)


def test_ema_schedule_is_byols():
    assert O.ema_momentum(0, 100) == pytest.approx(0.996)
    assert O.ema_momentum(100, 100) == pytest.approx(1.0)
    assert O.ema_momentum(50, 100) == pytest.approx(1 - 0.004 * 0.5)
    assert O.ema_momentum(25, 100, base=0.9) == pytest.approx(1 - 0.1 * (math.cos(math.pi / 4) + 1) / 2)


def test_byol_target_gets_no_gradient_and_follows_the_ema():
    data = streak_data()
    cfg = TrainConfig(**BASE, objective="byol", ema=0.9)
    eng = Engine(cfg, data.pretrain.x, torch.device("cpu"))
    assert eng.target.predictor is None and eng.model.predictor is not None
    assert all(not p.requires_grad for p in eng.target.parameters())
    assert not any(p is q for p in eng.target.parameters() for q in eng.model.parameters())
    names = [n for n, _ in eng.target.named_parameters()]
    assert names and all(not n.startswith("predictor") for n in names)
    online = dict(eng.model.named_parameters())
    eng.new_epoch()
    for done in (1, 2, 3):
        before = {n: p.detach().clone() for n, p in eng.target.named_parameters()}
        eng.step(done - 1, done, 4)
        tau = O.ema_momentum(done - 1, 4, 0.9)
        for n, p in eng.target.named_parameters():
            assert p.grad is None
            torch.testing.assert_close(p, tau * before[n] + (1 - tau) * online[n].detach(), msg=n)
        assert any(not torch.equal(p, before[n]) for n, p in eng.target.named_parameters())


def test_byol_target_noise_draws_its_own_lambda_or_none():
    model = build_model(TrainConfig(objective="byol", sites={"fc1": 0.05}), 1)
    assert O.make_target(model, noise=True).encoder.fc1.scale == 0.05
    assert O.make_target(model, noise=False).encoder.fc1.scale == 0.0
    assert model.encoder.fc1.scale == 0.05                       # the online network keeps its s_l


def test_simsiam_stop_gradient_holds():
    """SimSiam's loss reaches the encoder only through the predictor branch: the same gradients as an explicit
    sg(z) formula, and different ones without the stop-gradient (so the check can fail)."""
    torch.manual_seed(0)
    model = build_model(TrainConfig(objective="simsiam", views="none"), 1)
    x = torch.randn(16, 1, 16, 16)
    views = torch.cat([x, x.flip(-1)])

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]
    simsiam = O.get("simsiam")
    out = simsiam.branches(model, None, views)
    assert not out[1].requires_grad                                       # the target branch is detached
    ours = grads(simsiam.loss(out))
    neg = lambda a, b: -torch.nn.functional.cosine_similarity(a, b, dim=1).mean()
    z, p = model(views, True)                                              # no λ: the same forward each time
    explicit = grads(0.5 * (neg(p[:16], z[16:].detach()) + neg(p[16:], z[:16].detach())))
    z, p = model(views, True)
    no_stop = grads(0.5 * (neg(p[:16], z[16:]) + neg(p[16:], z[:16])))
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(ours, explicit))
    assert not all(torch.allclose(a, b, atol=1e-7) for a, b in zip(ours, no_stop))


@pytest.mark.parametrize("objective", list(O.OBJECTIVES))
def test_every_objective_trains_with_a_monitor(objective):
    data = streak_data()
    seen = []
    res = pretrain(TrainConfig(**{**BASE, "epochs": 2}, objective=objective), data, on_epoch=seen.append)
    assert len(res.loss_history) == 2 and all(math.isfinite(v) for v in res.loss_history)
    assert [e["epoch"] for e in res.monitor] == [1, 2] and seen == res.monitor
    for e in res.monitor:
        assert set(e) == {"epoch", "loss", "knn_acc", "effective_rank", "z_std", "wall_s"}
        assert 0 <= e["knn_acc"] <= 1 and 1 <= e["effective_rank"] <= 32 and 0 <= e["z_std"] <= 1.5
    assert (res.model.predictor is not None) == O.get(objective).predictor == (objective in ("byol", "simsiam"))


# Loss histories of these runs on the code before the objectives became classes (commit b7914a9, 2-core x86_64 CPU,
# 2026-12-07): the refactor changes no number (it gave these to the last bit there; rel 1e-3 leaves room for other
# CPUs' float rounding over 16 Adam steps).
OLD_HISTORY = {"ntxent": [4.140598297119141, 4.052810192108154], "byol": [-0.2759251892566681, -0.6439087390899658],
               "simsiam": [-0.2890572249889374, -0.6617405414581299],
               "vicreg": [24.441326141357422, 22.200279235839844], "barlow": [9.843749046325684, 2.803177833557129]}


@pytest.mark.parametrize("objective", list(OLD_HISTORY))
def test_same_seed_same_losses_as_before_the_classes(objective):
    cfg = TrainConfig(**{**BASE, "epochs": 2, "batch_size": 32}, views="ids+flip", objective=objective, seed=1)
    assert pretrain(cfg, streak_data()).loss_history == pytest.approx(OLD_HISTORY[objective], rel=1e-3)


def test_losses_of_a_stacked_pair_agree_with_the_objective():
    """loss() on stacked (2B, D) views reads rows [:B] as view 1, [B:] as view 2."""
    z = torch.randn(8, 4)
    for name in ("ntxent", "vicreg", "barlow"):
        a = O.get(name).loss((z,))
        b = O.get(name).loss((torch.cat([z[4:], z[:4]]),))
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)            # symmetric in the two views
    with pytest.raises(ValueError, match="unknown objective"):
        O.get("simclr")


def test_get_configures_each_objective_from_the_fields_it_reads():
    assert O.get(TrainConfig(temperature=0.2)).temperature == 0.2
    byol = O.get(TrainConfig(objective="byol", ema=0.99, target_noise=False))
    assert type(byol) is O.BYOL and (byol.ema, byol.target_noise) == (0.99, False)
    assert {name: O.get(name).reads for name in O.OBJECTIVES} == {
        "ntxent": ("temperature",), "byol": ("ema", "target_noise"), "simsiam": (), "vicreg": (), "barlow": ()}
    assert O.get("byol") is not O.get("byol")                              # a run's own state (BYOL's EMA pairs)


# ---- each objective's own batch rule, in its own words and the user's flag
@pytest.mark.parametrize("objective,rule", [("ntxent", "NT-Xent needs at least 2 samples per step (each anchor "
                                                       "needs a negative"),
                                            ("vicreg", "VICReg needs at least 2 samples per step (its variance"),
                                            ("barlow", "Barlow Twins needs at least 2 samples per step (its cross-")])
def test_objectives_with_batch_statistics_refuse_batch_size_1(objective, rule):
    with pytest.raises(ValueError, match=r"\(--batch-size 1\): " + rule.replace("(", r"\(")):
        TrainConfig(objective=objective, batch_size=1)
    TrainConfig(objective=objective, batch_size=2)


@pytest.mark.parametrize("objective", ["byol", "simsiam"])
def test_byol_and_simsiam_train_on_one_sample_per_step_unless_batch_norm(objective):
    """Their loss is a per-sample mean: B = 1 is a real run (old code: refused with NT-Xent's reason). With batch norm
    (--proj-bn) the 2 views of 1 sample normalise to ±1 whatever they hold: refused, saying so."""
    cfg = TrainConfig(**{**BASE, "batch_size": 1, "n_pretrain": 8, "knn_k": 3}, objective=objective)
    res = pretrain(cfg, streak_data(n=(8, 4, 4)))
    assert len(res.loss_history) == 1 and math.isfinite(res.loss_history[0])
    title = O.get(objective).title
    with pytest.raises(ValueError, match=f"\\(--batch-size 1\\): {title} needs at least 2 .*batch-normalised "
                                         "head \\(--proj-bn\\)"):
        TrainConfig(objective=objective, batch_size=1, proj_bn=True)


# ---- fields an objective ignores: refused when set, and never in the record's hash
@pytest.mark.parametrize("objective,over,flag", [("byol", dict(temperature=0.2), "--temperature 0.2"),
                                                 ("simsiam", dict(temperature=1.0), "--temperature 1"),
                                                 ("ntxent", dict(ema=0.99), "--ema 0.99"),
                                                 ("vicreg", dict(target_noise=False), "--no-target-noise")])
def test_a_field_the_objective_ignores_does_not_pass_silently(objective, over, flag):
    (field,) = over
    with pytest.raises(ValueError, match=f"{field}=.* \\({flag}\\): read only by .*; {objective} ignores it: "
                                         "drop the flag"):
        TrainConfig(objective=objective, **over)


def test_record_hash_ignores_the_fields_the_objective_does_not_read():
    from idslab.experiments import config_hash, get_grid
    byol, ntxent = TrainConfig(objective="byol"), TrainConfig()
    # a config edited after construction (validation bypassed) still hashes as its objective reads it
    edited = dataclasses.replace(byol)
    edited.temperature = 0.2
    assert config_hash(edited) == config_hash(byol)
    edited = dataclasses.replace(ntxent)
    edited.ema, edited.target_noise = 0.99, False
    assert config_hash(edited) == config_hash(ntxent)
    # the fields it reads do change it
    assert config_hash(TrainConfig(temperature=0.2)) != config_hash(ntxent)
    assert config_hash(TrainConfig(objective="byol", ema=0.99)) != config_hash(byol)
    assert config_hash(TrainConfig(objective="byol", target_noise=False)) != config_hash(byol)
    # every stored record keeps its name: a config at the defaults of what it ignores hashes exactly as before
    cfgs = [c for name in ("table1", "table2", "fig3") for quick in (False, True)
            for c in get_grid(name, quick).configs()]
    cfgs += [TrainConfig(objective=o) for o in O.OBJECTIVES] + [byol, TrainConfig(objective="byol", ema=0.99,
                                                                                  target_noise=False)]
    assert all(c.identity() == c.to_dict() for c in cfgs)


# ---- after a divergence: only the knobs the run reads
@pytest.mark.parametrize("objective,own,foreign", [("ntxent", "--temperature", "--ema"),
                                                   ("byol", "--ema", "--temperature"),
                                                   ("simsiam", None, "--temperature"),
                                                   ("vicreg", None, "--temperature"),
                                                   ("barlow", None, "--temperature")])
def test_a_diverged_run_is_told_only_its_own_knobs(objective, own, foreign):
    cfg = TrainConfig(**BASE, objective=objective, lr=1e30)        # Adam's first step moves every weight by ~1e30
    with pytest.raises(FloatingPointError, match="training diverged") as e:
        pretrain(cfg, streak_data())
    msg = str(e.value)
    assert "--lr" in msg and "--sl" in msg and foreign not in msg and (own is None or own in msg)
    no_ids = O.get(objective).divergence_advice(dataclasses.replace(cfg, views="flip"))
    assert "--sl" not in no_ids                                      # s_l is not read without 'ids' in the views


# ---- the stacked and DDP paths: the same objects
@pytest.fixture
def one_process_group(tmp_path):
    """A gloo process group of one (this process), for DDPEngine without spawning."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_ddp_engine_builds_adam_and_the_target_once(one_process_group, monkeypatch):
    """Counted as what they are (an Adam constructed; a frozen copy of the model, BYOL's target), not through the
    objective's own method, so the count means the same on code without the classes (there: 2 and 2)."""
    from idslab.distributed import DDPEngine
    from idslab.encoders import SimCLRModel
    built = {"adam": 0, "target": 0}
    adam, freeze = torch.optim.Adam, torch.nn.Module.requires_grad_

    class CountedAdam(adam):
        def __init__(self, *a, **k):
            built["adam"] += 1
            super().__init__(*a, **k)

    def counted_freeze(self, requires_grad=True):
        built["target"] += isinstance(self, SimCLRModel) and not requires_grad
        return freeze(self, requires_grad)
    monkeypatch.setattr(torch.optim, "Adam", CountedAdam)
    monkeypatch.setattr(torch.nn.Module, "requires_grad_", counted_freeze)
    eng = DDPEngine(TrainConfig(**BASE, objective="byol", ema=0.9), streak_data().pretrain.x, torch.device("cpu"))
    assert built == {"adam": 1, "target": 1}
    module = list(eng.module.parameters())
    assert len(eng.opt.param_groups) == 1 and len(eng.opt.param_groups[0]["params"]) == len(module)
    assert all(p is q for p, q in zip(eng.opt.param_groups[0]["params"], module))
    # the EMA follows the module the optimiser trains: one step moves the target towards it
    before = {n: p.clone() for n, p in eng.target.named_parameters()}
    eng.new_epoch()
    eng.step(0, 1, 4)
    online = dict(eng.module.named_parameters())
    tau = O.ema_momentum(0, 4, 0.9)
    for n, p in eng.target.named_parameters():
        torch.testing.assert_close(p, tau * before[n] + (1 - tau) * online[n].detach(), msg=n)


def test_single_stacked_and_ddp_paths_call_the_same_objective(one_process_group, monkeypatch):
    """A change to an objective's class reaches every path: patch VICReg.loss and BYOL.after_step, train a step on
    each engine, and each one called them (the stacked one under vmap, once per step for all K runs)."""
    from idslab.distributed import DDPEngine
    from idslab.multi import StackedEngine
    calls = []
    loss, after = O.VICReg.loss, O.BYOL.after_step
    monkeypatch.setattr(O.VICReg, "loss", lambda self, out, gather=False: calls.append(("loss", gather))
                        or loss(self, out, gather))
    monkeypatch.setattr(O.BYOL, "after_step", lambda self, done, total: calls.append(("after_step", done))
                        or after(self, done, total))
    x = streak_data().pretrain.x
    for objective in ("vicreg", "byol"):
        cfg = TrainConfig(**BASE, objective=objective)
        for eng in (Engine(cfg, x, torch.device("cpu")), DDPEngine(cfg, x, torch.device("cpu")),
                    StackedEngine([cfg, dataclasses.replace(cfg, seed=1)], x, torch.device("cpu"))):
            eng.new_epoch()
            eng.step(0, 1, 4)
    assert calls == [("loss", False), ("loss", True), ("loss", False)] + [("after_step", 1)] * 3
