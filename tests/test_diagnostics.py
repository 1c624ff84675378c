"""idslab.diagnostics: perturbed-representation clouds, positive/negative pair similarities, alignment,
uniformity and effective rank."""
import pytest
import torch
import torch.nn as nn

from idslab.diagnostics import (alignment, cloud_stats, effective_rank, pair_similarities, perturbation_active,
                                perturbed_cloud, representation_diagnostics, similarity_stats, uniformity)
from idslab.encoders import SimCLRModel, build_encoder
from idslab.perturb import PerturbedLinear


class OneLayer(nn.Module):
    """h = fc1(flatten(x)): the cloud of Eq. 1 is then h + λ x exactly, so its spread is known in closed form."""

    def __init__(self, d_in=16, d_out=32):
        super().__init__()
        self.fc1 = PerturbedLinear(d_in, d_out)

    def forward(self, x):
        return self.fc1(x.flatten(1))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return SimCLRModel(build_encoder("cnn16"))


def test_cloud_shapes_and_zero_scale(model):
    x = torch.randn(5, 1, 16, 16)
    clean, cloud = perturbed_cloud(model.encoder, x, 0.0, n_draws=7)
    assert clean.shape == (5, 32) and cloud.shape == (5, 7, 32)
    assert torch.allclose(cloud, clean[:, None].expand_as(cloud), atol=1e-6)
    clean2, _ = perturbed_cloud(model, x, 0.05, n_draws=3)  # a SimCLRModel is accepted: its encoder is used
    assert torch.allclose(clean, clean2)


def test_cloud_matches_eq1_spread():
    torch.manual_seed(1)
    enc = OneLayer()
    x = torch.randn(3, 1, 4, 4)
    sl = 0.05
    clean, cloud = perturbed_cloud(enc, x, sl, n_draws=2000, chunk=512)
    # h~ - h = λ x with λ_ij ~ N(0, sl²): each entry ~ N(0, sl² |x|²)
    expected = sl * x.flatten(1).norm(dim=1)                                     # (3,)
    measured = (cloud - clean[:, None]).std(dim=(1, 2))
    assert torch.allclose(measured, expected, rtol=0.05)
    # one λ per draw, shared by all inputs: a draw is one perturbed encoder
    lam_x = cloud[0, 0] - clean[0]
    assert not torch.allclose(cloud[0, 0] - clean[0], cloud[0, 1] - clean[0])
    assert lam_x.abs().sum() > 0


def test_cloud_spread_grows_with_sl_and_is_seeded(model):
    x = torch.randn(4, 1, 16, 16)
    spreads = [cloud_stats(*perturbed_cloud(model.encoder, x, s, 32))["spread"] for s in (0.0, 0.01, 0.05, 0.2)]
    assert spreads[0] == 0 and spreads == sorted(spreads) and spreads[-1] > 5 * spreads[1]
    state = torch.get_rng_state()
    a = perturbed_cloud(model.encoder, x, 0.05, 8, seed=3)[1]
    assert torch.equal(state, torch.get_rng_state())  # a private RNG stream
    assert torch.equal(a, perturbed_cloud(model.encoder, x, 0.05, 8, seed=3)[1])
    assert not torch.equal(a, perturbed_cloud(model.encoder, x, 0.05, 8, seed=4)[1])


def test_model_state_is_restored(model):
    model.train()
    model.encoder.fc1.scale, model.encoder.fc1.n_views = 0.02, 2
    with perturbation_active(model, 0.3, ("fc1", "fc2"), n_views=5):
        assert model.encoder.fc1.scale == 0.3 and model.encoder.fc2.scale == 0.3
        assert not model.encoder.features.training and model.encoder.fc1.training
    assert model.training and all(m.training for m in model.modules())
    assert (model.encoder.fc1.scale, model.encoder.fc1.n_views, model.encoder.fc2.scale) == (0.02, 2, 0.0)
    perturbed_cloud(model, torch.randn(2, 1, 16, 16), 0.1, 4)
    pair_similarities(model, torch.randn(4, 1, 16, 16), "ids+flip", 0.1)
    assert model.training and model.encoder.fc1.scale == 0.02 and model.encoder.fc1.n_views == 2


def test_pair_similarities_shapes_and_limits(model):
    x = torch.randn(6, 1, 16, 16)
    s = pair_similarities(model, x, "none")
    assert s["pos"].shape == (6,) and s["neg"].shape == (12 * 10,)
    assert torch.allclose(s["pos"], torch.ones(6), atol=1e-5)                   # identical views
    assert torch.allclose(pair_similarities(model, x, "ids", 0.0)["pos"], torch.ones(6), atol=1e-5)
    ids = pair_similarities(model, x, "ids", 0.2)
    assert ids["pos"].max() < 1 - 1e-4 and ids["neg"].abs().max() <= 1 + 1e-5
    low, high = (similarity_stats(pair_similarities(model, x, "ids", s))["pos_mean"] for s in (0.01, 0.3))
    assert high < low                                                            # larger s_l, further apart
    for views in ("flip", "fft", "ids+flip"):
        assert pair_similarities(model, x, views, 0.02)["pos"].shape == (6,)
    h = pair_similarities(model.encoder, x, "ids", 0.05, space="h")
    assert h["neg"].shape == (120,)


def test_pair_similarities_errors(model):
    x = torch.randn(4, 1, 16, 16)
    with pytest.raises(ValueError, match="unknown views"):
        pair_similarities(model, x, "jitter")
    with pytest.raises(ValueError, match="at least 2"):
        pair_similarities(model, x[:1], "ids")
    with pytest.raises(ValueError, match="space='z'"):
        pair_similarities(model.encoder, x, "ids")
    with pytest.raises(ValueError, match="unknown perturbation site"):
        perturbed_cloud(model.encoder, x, 0.1, 2, sites=("fc9",))


# ------------------------------------------------------------------------------------ alignment, uniformity, rank
def test_effective_rank_of_collapsed_and_isotropic_representations():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(32, generator=g)
    collapsed = torch.randn(1000, 1, generator=g) * v           # rank 1: every h on one line
    assert effective_rank(collapsed) == pytest.approx(1.0, abs=0.01)
    iso = torch.randn(5000, 32, generator=g)
    assert effective_rank(iso) > 30                              # about D = 32
    low = torch.randn(5000, 4, generator=g) @ torch.randn(4, 32, generator=g)
    assert 2.5 < effective_rank(low) < 4.5                       # a 4-d subspace
    assert effective_rank(torch.zeros(10, 32)) == 0.0


def test_alignment_and_uniformity_limits():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(500, 32, generator=g)
    assert alignment(h, h) == pytest.approx(0.0, abs=1e-6)
    assert alignment(h, -h) == pytest.approx(4.0, abs=1e-5)     # antipodal: ||2 ĥ||² = 4
    assert alignment(h, h + 0.1 * torch.randn(500, 32, generator=g)) < alignment(h, torch.randn(500, 32,
                                                                                             generator=g))
    same = torch.ones(50, 32)
    assert uniformity(same) == pytest.approx(0.0, abs=1e-6)     # collapse: no uniformity at all
    assert -4.2 < uniformity(h) < -3.5                           # spread over the sphere: about -2t = -4
    with pytest.raises(ValueError, match="positive pairs"):
        alignment(h, h[:10])
    with pytest.raises(ValueError, match="n >= 2"):
        uniformity(h[:1])


def test_representation_diagnostics_follow_views_and_restore_the_model(model):
    x = torch.randn(64, 1, 16, 16)
    none = representation_diagnostics(model, x, "none")
    assert none["alignment"] == pytest.approx(0.0, abs=1e-10) and none["alignment_z"] == pytest.approx(0.0, abs=1e-10)
    small = representation_diagnostics(model, x, "ids", {"fc1": 0.01})
    big = representation_diagnostics(model, x, "ids", {"fc1": 0.5})
    assert 0 < small["alignment"] < big["alignment"]
    assert small["effective_rank"] == pytest.approx(none["effective_rank"])   # clean h: s_l = 0
    assert representation_diagnostics(model, x, "ids", {"fc1": 0.5}) == big  # seeded
    flip = representation_diagnostics(model, x, "flip")
    assert flip["alignment"] > 0 and set(flip) == {"alignment", "uniformity", "effective_rank", "alignment_z",
                                                   "uniformity_z", "n"}
    assert model.training and model.encoder.fc1.scale == 0.0  # state restored
    assert representation_diagnostics(model.encoder, x, "ids", {"fc1": 0.1})["alignment"] > 0  # a bare encoder


def test_representation_diagnostics_use_the_sites_armed_for_training():
    from idslab.train import TrainConfig, build_model
    torch.manual_seed(0)
    x = torch.randn(32, 1, 16, 16)
    armed = build_model(TrainConfig(views="ids", sites={"fc1": 0.3}, device="cpu"), 1)
    assert representation_diagnostics(armed, x, "ids", None)["alignment"] > 1e-4
    for sites in ({"all": 0.05}, {"fc1": 0.05, "fc2": 0.1}):
        assert representation_diagnostics(armed, x, "ids", sites)["alignment"] > 0
    assert armed.encoder.fc1.scale == 0.3 and armed.encoder.fc1.n_views == 2 and armed.training
    plain = build_model(TrainConfig(views="none", device="cpu"), 1)
    assert representation_diagnostics(plain, x, "none", None)["alignment"] == pytest.approx(0.0, abs=1e-10)
