from types import SimpleNamespace

import numpy as np
import pytest
import torch

from idslab.probes import (ProbeConfig, accuracy, bootstrap_r2, knn_predict, linear_probe, mlp_probe, physics_probes,
                           r2_score, ridge_r2, wilson_ci)


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


# ----------------------------------------------------------------------------------------- multi-class, linear
def test_mlp_knn_and_linear_probes_handle_ten_classes():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 32, generator=g) * 4
    y = torch.arange(1000) % 10
    h = centres[y] + torch.randn(1000, 32, generator=g)
    h_tr, y_tr, h_te, y_te = h[:700], y[:700], h[700:], y[700:]
    for pred in (mlp_probe(h_tr, y_tr, h_te), knn_predict(h_tr, y_tr, h_te, 20, "euclidean"),
                 torch.as_tensor(linear_probe(h_tr, y_tr, h_te))):
        assert set(pred.tolist()) == set(range(10))
        assert (pred == y_te).float().mean() > 0.9
    acc, ci = accuracy(torch.as_tensor(linear_probe(h_tr, y_tr[torch.randperm(700, generator=g)], h_te)), y_te)
    assert acc < 0.25 and ci[0] < acc < ci[1]                 # shuffled labels: chance (0.1), not leakage


def test_knn_ties_go_to_the_lowest_label():
    h_tr = torch.tensor([[1.0, 0.0], [1.0, 0.01]])
    assert knn_predict(h_tr, torch.tensor([1, 0]), torch.tensor([[1.0, 0.0]]), k=2).tolist() == [0]


# ----------------------------------------------------------------------------------------- regression probes
def test_r2_of_a_target_on_itself_is_one_and_noise_is_zero():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(600, 32, generator=g)
    t = h[:, 3] * 2.5 - 1.0                                     # a planted linear signal
    res = ridge_r2(h[:400], t[:400], h[400:], t[400:])
    assert res["r2"] > 0.999 and res["ci"][0] > 0.99 and res["n_test"] == 200
    noise = torch.randn(600, generator=g)
    res = ridge_r2(h[:400], noise[:400], h[400:], noise[400:])
    assert res["r2"] < 0.1 and res["ci"][0] < 0.0 < res["ci"][1] + 0.05
    assert r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert r2_score([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0


def test_bootstrap_interval_covers_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 1600):
        t = rng.normal(size=n)
        pred = t + rng.normal(scale=0.5, size=n)               # true R² = 1 - 0.25 = 0.75
        lo, hi = bootstrap_r2(t, pred)
        assert lo < 0.75 < hi + 0.03
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def _physics_data(direction_signal: bool, n=(400, 300), seed=0):
    """Splits whose tiles hold a descending streak; positives carry targets. The streak's length is the velocity."""
    g = torch.Generator().manual_seed(seed)

    def split(m):
        y = torch.arange(m) % 2
        x = torch.randn(m, 1, 8, 8, generator=g)
        length = torch.randint(2, 8, (m,), generator=g)
        for k in range(8):
            on = (y == 1) & (k < length)
            x[on, 0, k, k] += 6.0 if direction_signal else 0.0
        vel = torch.where(y == 1, -length.double() * 10, torch.nan)
        t = {"velocity_kms": vel, "slope": -length.double(), "peak_snr_db": torch.where(y == 1, 20.0, torch.nan),
             "altitude_km": torch.where(y == 1, 100 + length.double(), torch.nan)}
        return SimpleNamespace(x=x, y=y, targets=t)
    return SimpleNamespace(probe_train=split(n[0]), probe_test=split(n[1]))


class _Flatten(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)


class _Symmetric(_Flatten):      # blind to the altitude axis' direction: x and flip(x, [-2]) give the same h
    def forward(self, x):
        return (x + torch.flip(x, [-2])).flatten(1)


def test_physics_probes_find_a_planted_signal_and_direction():
    data = _physics_data(True)
    res = physics_probes(_Flatten(), data)
    assert res["velocity_r2"] > 0.8 and res["velocity_r2_ci"][0] > 0.6
    assert res["snr_r2"] is None                               # a constant target: R² undefined
    assert res["direction_acc"] > 0.95 and res["n_pos_test"] == 150
    blind = physics_probes(_Symmetric(), data)
    assert blind["direction_acc"] < 0.6                         # flip-invariant: chance, by construction


def test_physics_probes_fail_without_signal_and_skip_without_targets(streaks):
    res = physics_probes(_Flatten(), _physics_data(False))
    assert res["velocity_r2"] < 0.1 and res["direction_acc"] < 0.65
    assert physics_probes(_Flatten(), streaks) == {}           # no targets: nothing to probe


def test_evaluate_reports_the_ten_class_probe_when_the_data_has_it():
    from idslab.probes import evaluate
    g = torch.Generator().manual_seed(0)

    def split(n):
        c10 = torch.arange(n) % 10
        x = torch.randn(n, 1, 8, 8, generator=g)
        x[torch.arange(n), 0, c10 % 8, c10 // 8] += 5.0                 # class = position of a bright pixel
        return SimpleNamespace(x=x, y=(c10 >= 4).long(), targets={"class10": c10})
    data = SimpleNamespace(probe_train=split(400), probe_test=split(200))
    out = evaluate(_Flatten(), data, ProbeConfig(knn_k=5))
    assert out["linear10_acc"] > 0.9 and len(out["linear10_ci"]) == 2 and "physics" not in out


def test_physics_probes_on_spectra_targets_and_the_reversal_probe():
    """1-D data (n, 1, L): the spectra's targets are probed (line position = velocity here), and the direction probe
    is real vs reversed along the signal's axis, for every positive (not only v < 0)."""
    g = torch.Generator().manual_seed(0)

    def split(m):
        y = torch.arange(m) % 2
        x = torch.randn(m, 1, 40, generator=g) * 0.3
        at = torch.randint(5, 30, (m,), generator=g)
        x[torch.arange(m), 0, at] += 5.0 * y
        x[torch.arange(m), 0, at + 3] += 2.0 * y                             # an asymmetric pair: has a direction
        v = (at.double() - 17) * 69.0
        t = {"velocity_kms": v, "continuum_slope": torch.randn(m, generator=g).double(),
             "line_snr": torch.where(y == 1, 20.0, torch.nan), "line_width_kms": torch.where(y == 1, 80.0, torch.nan)}
        return SimpleNamespace(x=x, y=y, targets=t)
    data = SimpleNamespace(probe_train=split(400), probe_test=split(300))

    class Pos(_Flatten):       # h: where the bright bins are, and which of a pair is the stronger (a direction)
        def forward(self, x):
            s = x[:, 0]
            pair = torch.stack([(s[:, :-3] ** 2 * s[:, 3:]).sum(1), (s[:, :-3] * s[:, 3:] ** 2).sum(1)], 1)
            return torch.cat([torch.nn.functional.one_hot(s.argmax(-1), 40).float() * 10 + s, pair], 1)

    res = physics_probes(Pos(), data)
    assert res["velocity_r2"] > 0.8 and res["continuum_slope_r2"] < 0.2
    assert res["line_snr_r2"] is None and res["line_width_r2"] is None       # constant targets
    assert res["direction_acc"] > 0.9 and res["direction_n_test"] == 2 * 150
    sym = type("Sym", (_Flatten,), {"forward": lambda self, x: (x + torch.flip(x, [-1])).flatten(1)})()
    assert physics_probes(sym, data)["direction_acc"] < 0.6                  # reversal-invariant: chance
