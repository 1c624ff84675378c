import pytest
import torch

from idslab.probes import ProbeConfig, knn_predict, mlp_probe, wilson_ci


def blobs(n, seed, sep=3.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    h = torch.randn(n, 32, generator=g)
    h[:, 0] += sep * y                                        # class signal in one direction only
    return h, y


def test_probes_separate_separable_classes_and_not_noise():
    h_tr, y_tr = blobs(400, 0)
    h_te, y_te = blobs(200, 1)
    for pred in (mlp_probe(h_tr, y_tr, h_te), knn_predict(h_tr, y_tr, h_te, 20, "euclidean")):
        assert (pred == y_te).float().mean() > 0.85
    shuffled = y_tr[torch.randperm(400, generator=torch.Generator().manual_seed(0))]
    acc = (mlp_probe(h_tr, shuffled, h_te) == y_te).float().mean()
    assert 0.3 < acc < 0.7                                     # chance, not leakage


def test_mlp_probe_is_deterministic_per_seed():
    h_tr, y_tr = blobs(100, 0, sep=1.0)
    h_te, _ = blobs(50, 1, sep=1.0)
    cfg = ProbeConfig(seed=3)
    torch.manual_seed(0)
    a = mlp_probe(h_tr, y_tr, h_te, cfg)
    torch.manual_seed(1)                                        # the global RNG does not matter
    assert torch.equal(a, mlp_probe(h_tr, y_tr, h_te, cfg))


def test_knn_votes_and_metric_error():
    h_tr = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0]])
    y_tr = torch.tensor([0, 0, 1])
    assert knn_predict(h_tr, y_tr, torch.tensor([[1.0, 0.05], [0.0, 2.0]]), k=1).tolist() == [0, 1]
    with pytest.raises(ValueError, match="metric"):
        knn_predict(h_tr, y_tr, h_tr, metric="manhattan")


def test_wilson_interval():
    lo, hi = wilson_ci(510, 600)
    assert lo < 0.85 < hi and hi - lo == pytest.approx(0.057, abs=0.003)
    assert wilson_ci(600, 600)[1] == pytest.approx(1.0) and wilson_ci(0, 600)[0] == pytest.approx(0.0)
