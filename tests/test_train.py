import pytest
import torch

from idslab import train as T
from idslab.objectives import NTXent
from idslab.perturb import perturbed_layers
from idslab.train import TrainConfig, load_checkpoint, pretrain, run, save_checkpoint


def cfg(**kw):
    base = dict(dataset="meteor", encoder="cnn16", views="ids", epochs=2, batch_size=64, device="cpu",
                n_pretrain=256, n_probe_train=128, n_probe_test=128)
    base.update(kw)
    return TrainConfig(**base)


def test_same_seed_same_numbers_on_cpu(streaks):
    a, b = run(cfg(seed=1), streaks), run(cfg(seed=1), streaks)
    assert a["loss_history"] == b["loss_history"] and a["metrics"] == b["metrics"]
    c = run(cfg(seed=2), streaks)
    assert c["loss_history"] != a["loss_history"]


def test_record_fields_and_progress(streaks):
    calls = []
    rec = run(cfg(views="ids+flip"), streaks, progress=lambda d, t, l: calls.append((d, t, l)))
    assert len(calls) == 2 * (256 // 64) and calls[-1][0] == calls[-1][1] == 8
    m = rec["metrics"]
    for key in ("mlp_acc", "knn_acc"):
        assert 0.0 <= m[key] <= 1.0 and m[f"{key[:3]}_ci"][0] <= m[key] <= m[f"{key[:3]}_ci"][1]
    assert rec["config"]["views"] == "ids+flip" and rec["device"] == "cpu" and len(rec["loss_history"]) == 2
    assert rec["wall_s"] >= rec["pretrain_s"] > 0


def test_ids_only_arms_sites_when_asked(streaks):
    model = T.build_model(cfg(views="flip", sites={"fc1": 0.5}), 1)
    assert model.encoder.fc1.scale == 0.0
    model = T.build_model(cfg(views="ids", sites={"fc1": 0.05, "fc2": 0.01}), 1)
    assert (model.encoder.fc1.scale, model.encoder.fc2.scale) == (0.05, 0.01)
    assert model.encoder.fc1.n_views == 2


def test_ids_loss_falls(streaks):
    rec = run(cfg(epochs=6, sites={"fc1": 0.05}), streaks)
    assert rec["loss_history"][-1] < rec["loss_history"][0]


def test_nan_loss_is_a_clear_error(streaks, monkeypatch):
    monkeypatch.setattr(NTXent, "loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        pretrain(cfg(), streaks)


def test_checkpoint_round_trip(streaks, tmp_path):
    c = cfg(epochs=1)
    result = pretrain(c, streaks)
    save_checkpoint(tmp_path / "m.pt", result, c)
    model, c2, hist = load_checkpoint(tmp_path / "m.pt")
    assert c2 == c and hist == result.loss_history
    x = streaks.probe_test.x[:8]
    assert torch.equal(model.encoder(x), result.model.encoder(x))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_projection_settings_train_and_round_trip(streaks, tmp_path):
    # proj_dim / proj_bn (the seed-collapse study's settings) reach the model, train, and survive a checkpoint
    c = cfg(epochs=1, proj_dim=64, proj_bn=True)
    result = pretrain(c, streaks)
    assert result.model(streaks.probe_test.x[:4]).shape == (4, 64)
    save_checkpoint(tmp_path / "m.pt", result, c)
    model, c2, _ = load_checkpoint(tmp_path / "m.pt")
    assert (c2.proj_dim, c2.proj_bn) == (64, True) and model(streaks.probe_test.x[:4]).shape == (4, 64)


@pytest.mark.parametrize("kw,match", [
    (dict(encoder="cnn16", tile=32), "cnn32"),
    (dict(encoder="alexnet"), "unknown encoder"),
    (dict(views="ids+jitter"), "unknown views"),
    (dict(sites={"fc1": -0.1}), ">= 0"),
    (dict(batch_size=1), "batch_size"),
    (dict(dataset="spectra"), "1-D encoder, e.g. --encoder cnn1d512"),
    (dict(encoder="cnn1d512"), "meteor data are images"),
    (dict(dataset="spectra", encoder="cnn1d512", tile=256), "cnn1d256"),
    (dict(dataset="spectra", encoder="cnn1d512", views="flip90"), "1-D"),
    (dict(views="shift"), "2-D"),
])
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        cfg(**kw)


def test_unknown_site_and_device_errors(streaks):
    with pytest.raises(ValueError, match="unknown perturbation site 'fc7'"):
        pretrain(cfg(sites={"fc7": 0.1}), streaks)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pretrain(cfg(device="cuda"), streaks)
    with pytest.raises(ValueError, match="exceeds"):
        pretrain(cfg(batch_size=512), streaks)


def test_zero_epochs_probes_the_random_init(streaks):
    rec = run(cfg(epochs=0), streaks)
    assert rec["loss_history"] == [] and 0 <= rec["metrics"]["knn_acc"] <= 1
    with pytest.raises(ValueError, match="epochs"):
        cfg(epochs=-1)


def test_engine_hooks_compose_the_step(streaks):
    """pretrain is Engine.fit: a subclass changing one hook (here the loss) changes the run, the rest is shared."""
    c = cfg(epochs=1)
    x = streaks.pretrain.x
    ref = T.Engine(c, x, torch.device("cpu")).fit()[0]
    assert ref.loss_history == pretrain(c, streaks).loss_history

    class Doubled(T.Engine):
        def loss(self, z):
            return 2 * super().loss(z)

    got = Doubled(c, x, torch.device("cpu")).fit()[0]
    assert got.loss_history[0] == pytest.approx(2 * ref.loss_history[0], rel=0.05)


def test_setup_seeds_and_standardises(streaks):
    c = cfg(seed=4)
    x = streaks.pretrain.x
    a, b = T.setup(c, x, torch.device("cpu")), T.setup(c, x, torch.device("cpu"))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    torch.testing.assert_close(a.encoder.in_mean, x.mean(dim=(0, 2, 3)))
    assert a.training


def test_variant_fields_validated_and_reach_the_layers(streaks):
    with pytest.raises(ValueError, match="noise must be one of"):
        cfg(noise="batch")
    with pytest.raises(ValueError, match="scale_mode must be one of"):
        cfg(scale_mode="rms")
    with pytest.raises(ValueError, match=r"unknown perturbation site 'features\.9'.*features\.0"):
        cfg(sites={"features.9": 0.1})
    c = cfg(sites={"all": 0.3}, noise="sample", scale_mode="relative", views="ids+flip", epochs=1)
    enc = T.build_model(c, 1).encoder
    assert {n: (m.scale, m.noise, m.scale_mode) for n, m in perturbed_layers(enc).items()} == {
        n: (0.3, "sample", "relative") for n in ("features.0", "features.3", "fc1", "fc2")}
    rec = run(c, streaks)
    assert rec["config"]["noise"] == "sample" and rec["config"]["scale_mode"] == "relative"
    assert rec == rec | {"loss_history": run(c, streaks)["loss_history"]}  # same seed, same numbers


def test_1d_runs_are_deterministic_standardised_and_checked_against_the_data(streaks):
    """A 1-D encoder on signals (n, C, L): the one engine, same seed same numbers, per-channel standardisation over
    samples and positions, and the data's dimension checked against the encoder's before any step."""
    from tests.conftest import signal_data
    data = signal_data()
    c = cfg(dataset="spectra", encoder="cnn1d64", views="ids+flip", sites={"all": 0.05}, epochs=2)
    a, b = run(c, data), run(c, data)
    assert a["loss_history"] == b["loss_history"] and a["metrics"] == b["metrics"]
    assert len(a["loss_history"]) == 2 and 0 <= a["metrics"]["mlp_acc"] <= 1
    model = T.setup(c, data.pretrain.x, torch.device("cpu"))
    torch.testing.assert_close(model.encoder.in_mean, data.pretrain.x.mean(dim=(0, 2)))
    with pytest.raises(ValueError, match="signals"):
        pretrain(c, streaks)
    with pytest.raises(ValueError, match="cnn1d64"):
        pretrain(cfg(), data)


def _one_class(data):
    data.probe_test.y = torch.zeros_like(data.probe_test.y)
    return data


def test_every_entry_validates_the_data_before_any_step(monkeypatch):
    """train.prepare is the front of run and pretrain: a one-class probe split (every probe would score 100%) is
    refused before the engine is built, by pretrain too (its monitor reads the probe splits)."""
    from tests.conftest import streak_data
    monkeypatch.setattr(T.Engine, "__init__", lambda *a, **k: pytest.fail("the engine was built"))
    for entry in (run, pretrain):
        with pytest.raises(ValueError, match="one class"):
            entry(cfg(), _one_class(streak_data()))


def test_the_checkpoint_is_written_only_after_the_record(tmp_path, monkeypatch, streaks):
    """train.finish: record first, then the model file; a record that fails (here a probe) leaves no model."""
    monkeypatch.setattr(T, "evaluate", lambda *a: (_ for _ in ()).throw(RuntimeError("the probe failed")))
    with pytest.raises(RuntimeError, match="the probe failed"):
        run(cfg(epochs=1), streaks, checkpoint=tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []
