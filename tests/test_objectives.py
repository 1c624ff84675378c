"""The objectives as hooks of the one engine: BYOL's target never gets gradients and follows the EMA, SimSiam's
stop-gradient holds, every objective trains on every path (single, stacked), and the schedule is BYOL's."""
import math

import pytest
import torch

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
    out = O.branches("simsiam", model, None, views)
    assert not out[1].requires_grad                                       # the target branch is detached
    ours = grads(O.objective_loss("simsiam", out))
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
    assert (res.model.predictor is not None) == (objective in O.PREDICTOR)


def test_losses_of_a_stacked_pair_agree_with_the_objective():
    """branches + objective_loss on stacked (2B, D) views read rows [:B] as view 1, [B:] as view 2."""
    z = torch.randn(8, 4)
    for name in ("ntxent", "vicreg", "barlow"):
        a = O.objective_loss(name, (z,))
        b = O.objective_loss(name, (torch.cat([z[4:], z[:4]]),))
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)            # symmetric in the two views
    with pytest.raises(ValueError, match="unknown objective"):
        O.objective_loss("simclr", (z,))
