"""Controls: tile statistics, the trivial logistic baseline and the supervised ceiling."""
from types import SimpleNamespace

import pytest
import torch

from idslab.baselines import QUANTILES, supervised_ceiling, supervised_regression, tile_statistics, trivial_baseline
from idslab.train import TrainConfig
from tests.conftest import streak_data


def _data(split_fn, name="toy"):
    return SimpleNamespace(name=name, tile=16, probe_train=split_fn(400, 0), probe_test=split_fn(300, 1))


def test_tile_statistics_values():
    x = torch.zeros(2, 1, 4, 4)
    x[0, 0, 0, :3] = torch.tensor([5.0, 12.0, 30.0])
    f = tile_statistics(x, thresholds=[10.0, 20.0])
    assert f.shape == (2, 3 + len(QUANTILES) + 2)
    assert f[0, 0] == 30.0 and f[0, 1] == pytest.approx(47.0 / 16)   # max, mean
    assert f[0, -2:].tolist() == [2.0, 1.0]                           # pixels above 10 and above 20
    assert f[1].abs().sum() == 0
    assert tile_statistics(torch.rand(3, 3, 8, 8)).shape == (3, 3 * (3 + len(QUANTILES) + 3))   # per channel
    with pytest.raises(ValueError, match="tile_statistics"):
        tile_statistics(torch.rand(3, 8, 8))


def test_trivial_baseline_finds_brightness_but_not_noise_labels():
    def bright(n, s):
        g = torch.Generator().manual_seed(s)
        y = torch.arange(n) % 3                                          # three classes: brightness levels
        return SimpleNamespace(x=torch.randn(n, 1, 8, 8, generator=g) + 2.0 * y.view(-1, 1, 1, 1).float(), y=y)

    r = trivial_baseline(_data(bright))
    assert r["acc"] > 0.9 and r["n_test"] == 300 and r["ci"][0] < r["acc"] <= r["ci"][1]

    def noise(n, s):
        g = torch.Generator().manual_seed(s)
        return SimpleNamespace(x=torch.randn(n, 1, 8, 8, generator=g), y=torch.randint(0, 2, (n,), generator=g))

    r = trivial_baseline(_data(noise))
    assert r["ci"][0] < 0.5 < r["ci"][1] or abs(r["acc"] - 0.5) < 0.08   # chance


def test_trivial_baseline_meteor_thresholds_in_db():
    def split(n, s):
        g = torch.Generator().manual_seed(s)
        y = torch.arange(n) % 2
        x = torch.randn(n, 1, 8, 8, generator=g)
        x[:, 0, 0, 0] += 18.0 * y                                      # one pixel above 15 dB in class 1
        return SimpleNamespace(x=x, y=y)
    assert trivial_baseline(_data(split, name="meteor"))["acc"] > 0.95


def test_supervised_ceiling_learns_shape_and_is_deterministic():
    d = streak_data(tile=16, n=(8, 256, 256))
    cfg = TrainConfig(encoder="cnn16", batch_size=64, lr=3e-3, seed=1)
    calls = []
    a = supervised_ceiling(cfg, d, epochs=8, progress=lambda i, n, loss: calls.append((i, n)))
    assert a["acc"] > 0.9 and a["n_test"] == 256 and a["wall_s"] >= 0
    assert calls[-1] == (8 * 4, 8 * 4)
    b = supervised_ceiling(cfg, d, epochs=8)
    assert a["acc"] == b["acc"]


def test_supervised_ceiling_chance_on_noise_labels_and_multiclass():
    g = torch.Generator().manual_seed(0)

    def split(n, s):
        return SimpleNamespace(x=torch.randn(n, 1, 16, 16, generator=g), y=torch.randint(0, 3, (n,), generator=g))
    r = supervised_ceiling(TrainConfig(encoder="cnn16", batch_size=64), _data(split), epochs=3)
    assert abs(r["acc"] - 1 / 3) < 0.1                                  # three classes, labels are noise
    with pytest.raises(ValueError, match="epochs"):
        supervised_ceiling(TrainConfig(encoder="cnn16"), _data(split), epochs=0)


def _amplitude_split(n, s):
    """Positive tiles hold a diagonal streak whose brightness is the target; the other target is pure noise."""
    g = torch.Generator().manual_seed(s)
    y = (torch.arange(n) % 2 == 0).long()
    amp = 5 + 15 * torch.rand(n, generator=g)
    x = torch.randn(n, 1, 16, 16, generator=g)
    d = torch.arange(4, 12)
    x[:, 0, d, d] += (amp * y).view(-1, 1)
    nan = torch.full((n,), float("nan"))
    return SimpleNamespace(x=x, y=y, targets={"peak_snr_db": torch.where(y == 1, amp, nan),
                                              "noise": torch.where(y == 1, torch.randn(n, generator=g), nan)})


def test_supervised_regression_recovers_a_planted_target_and_not_noise():
    data = _data(_amplitude_split)
    cfg = TrainConfig(encoder="cnn16", batch_size=64, seed=0, device="cpu")
    r = supervised_regression(cfg, data, "peak_snr_db", epochs=15, n_boot=100)
    assert r["r2"] > 0.8 and r["ci"][0] <= r["r2"] <= r["ci"][1] and r["n_train"] == 200 and r["n_test"] == 150
    assert supervised_regression(cfg, data, "noise", epochs=15, n_boot=100)["r2"] < 0.2
    with pytest.raises(ValueError, match="no per-tile target 'slope'"):
        supervised_regression(cfg, data, "slope")
