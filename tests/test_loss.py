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
