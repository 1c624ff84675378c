import math

import pytest
import torch
import torch.nn.functional as F

from idslab import nt_xent


def reference_nt_xent(z1, z2, t):
    """SimCLR's formula, one anchor at a time."""
    z = F.normalize(torch.cat([z1, z2]), dim=1).double()
    n, b = z.shape[0], z1.shape[0]
    total = 0.0
    for i in range(n):
        j = (i + b) % n
        sim = lambda k: float(z[i] @ z[k]) / t
        total += -math.log(math.exp(sim(j)) / sum(math.exp(sim(k)) for k in range(n) if k != i))
    return total / n


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_matches_explicit_formula(t):
    torch.manual_seed(0)
    z1, z2 = torch.randn(7, 5), torch.randn(7, 5)
    assert float(nt_xent(z1, z2, t)) == pytest.approx(reference_nt_xent(z1, z2, t), rel=1e-5)


def test_aligned_views_beat_random_and_scale_invariance():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    assert nt_xent(z, z + 0.01 * torch.randn_like(z)) < nt_xent(z, torch.randn(16, 8))
    assert torch.allclose(nt_xent(z, 2 * z), nt_xent(3 * z, z))   # cosine similarity: norms do not matter


def test_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(2, 3), torch.randn(2, 3), 0.0)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        nt_xent(torch.randn(2, 3), torch.randn(3, 3))


# ---- the objectives' losses against lightly 1.6 (a test-only dependency: the reference implementation)
lightly_loss = pytest.importorskip("lightly.loss", reason="lightly is the reference; pip install -e '.[test]'")


@pytest.mark.parametrize("b,d", [(8, 16), (33, 4), (256, 32)])
@pytest.mark.parametrize("seed", [0, 1])
def test_objective_losses_equal_lightly(b, d, seed):
    from idslab.loss import barlow_twins, negative_cosine, vicreg
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(b, d, generator=g) * 2 + 0.5, torch.randn(b, d, generator=g)
    z2 = z2 + z1 * 0.7                                                    # correlated pairs, as after training
    pairs = [(vicreg(z1, z2), lightly_loss.VICRegLoss()(z1, z2)),
             (barlow_twins(z1, z2), lightly_loss.BarlowTwinsLoss()(z1, z2)),
             (negative_cosine(z1, z2), lightly_loss.NegativeCosineSimilarity()(z1, z2)),
             (nt_xent(z1, z2, 0.5), lightly_loss.NTXentLoss(temperature=0.5)(z1, z2))]
    for ours, ref in pairs:
        torch.testing.assert_close(ours, ref.float(), rtol=1e-5, atol=1e-5)


def test_a_wrong_reference_is_caught():
    """The comparison above can fail: VICReg with another variance weight differs from lightly's default."""
    from idslab.loss import vicreg
    z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
    assert not torch.allclose(vicreg(z1, z2, var_weight=24.0), lightly_loss.VICRegLoss()(z1, z2), rtol=1e-5)


def test_objective_losses_reward_agreement_and_refuse_bad_input():
    from idslab.loss import barlow_twins, negative_cosine, vicreg
    torch.manual_seed(0)
    z = torch.randn(64, 16)
    noisy, unrelated = z + 0.05 * torch.randn_like(z), torch.randn(64, 16)
    for f in (vicreg, barlow_twins, negative_cosine):
        assert f(z, noisy) < f(z, unrelated), f.__name__
    assert float(negative_cosine(z, 3 * z)) == pytest.approx(-1.0)
    for f in (vicreg, barlow_twins):
        with pytest.raises(ValueError, match="at least 2 pairs"):
            f(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        negative_cosine(torch.randn(4, 3), torch.randn(4, 2))
