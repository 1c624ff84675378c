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
        tile_statistics(torch.rand(3, 8))
    # signals (n, C, L): the same statistics over the samples, and exactly what the simulators match negatives on
    from idslab.datasets.matching import global_stats
    img = torch.randn(5, 1, 8, 8) * 10
    assert torch.equal(tile_statistics(img.flatten(2), [1.0, 5.0]), tile_statistics(img, [1.0, 5.0]))
    sig = torch.randn(5, 1, 64) * 10
    assert torch.allclose(tile_statistics(sig, [1.0, 5.0]),
                          torch.from_numpy(global_stats(sig[:, 0].numpy(), [1.0, 5.0])), atol=1e-5)


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
    a = supervised_ceiling(cfg, d, epochs=8, progress=lambda i, n, loss: calls.append((i, n)), train_on="probe_train")
    assert a["acc"] > 0.9 and a["n_test"] == 256 and a["wall_s"] >= 0 and a["train_acc"] > 0.9
    assert a["n_train"] == 256 and a["train_on"] == "probe_train" and calls[-1] == (8 * 4, 8 * 4)
    b = supervised_ceiling(cfg, d, epochs=8, train_on="probe_train")
    assert a["acc"] == b["acc"] and a["train_acc"] == b["train_acc"]
    c = supervised_ceiling(cfg, d, epochs=8, cosine=True, train_on="probe_train")
    assert c["acc"] > 0.9


def test_supervised_ceiling_trains_on_all_labelled_tiles_by_default():
    d = streak_data(tile=16, n=(512, 16, 256))       # many labelled pre-train tiles, a handful of probe labels
    d.probe_train.y = 1 - d.probe_train.y            # ... and those inverted: which tiles were trained on shows
    cfg = TrainConfig(encoder="cnn16", batch_size=64, lr=3e-3, seed=0)
    few = supervised_ceiling(cfg, d, epochs=6, train_on="probe_train")
    assert few["n_train"] == 16 and few["acc"] < 0.5
    calls = []
    all_ = supervised_ceiling(cfg, d, epochs=6, progress=lambda i, n, loss: calls.append((i, n)))
    assert all_["train_on"] == "all" and all_["n_train"] == 528 and calls[-1] == (6 * 9, 6 * 9)
    assert all_["acc"] > 0.9
    with pytest.raises(ValueError, match="train_on must be one of"):
        supervised_ceiling(cfg, d, train_on="pretrain")
    d.pretrain = SimpleNamespace(x=d.pretrain.x, y=None)                 # unlabelled pre-train data
    with pytest.raises(ValueError, match="train_on='probe_train'"):
        supervised_ceiling(cfg, d)


def test_supervised_ceiling_chance_on_noise_labels_and_multiclass():
    g = torch.Generator().manual_seed(0)

    def split(n, s):
        return SimpleNamespace(x=torch.randn(n, 1, 16, 16, generator=g), y=torch.randint(0, 3, (n,), generator=g))
    cfg = TrainConfig(encoder="cnn16", batch_size=64, lr=3e-3)
    r = supervised_ceiling(cfg, _data(split), epochs=40, train_on="probe_train")
    # three classes, labels are noise: memorised (train accuracy far above chance), chance on the test tiles
    assert abs(r["acc"] - 1 / 3) < 0.1 and r["train_acc"] > 0.6
    with pytest.raises(ValueError, match="epochs"):
        supervised_ceiling(TrainConfig(encoder="cnn16"), _data(split), epochs=0, train_on="probe_train")


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


def test_ceiling_study_variants_end_in_a_3x3_map():
    from benchmarks.bench_meteor import CNN64_VARIANTS, variant_encoder
    for name, blocks in CNN64_VARIANTS.items():
        if blocks is not None:                 # Encoder's fc1 expects channels x 3 x 3 features: a wrong map fails
            assert variant_encoder(blocks)(torch.randn(2, 1, 64, 64)).shape == (2, 32), name
