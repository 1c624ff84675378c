"""Embeddings out (idslab.embeddings, `idslab embed`, `idslab.embed`): h of every tile with the model's own input
standardisation, from a checkpoint that records what it was trained on."""
import json

import numpy as np
import pytest
import torch

import idslab
from idslab.cli import main
from idslab.datasets import arrays as A
from idslab.embeddings import embed, save_embeddings
from idslab.probes import embed as probe_embed
from idslab.train import TrainConfig, load_checkpoint, run


def radar_file(path, n=24, size=48, seed=0):
    """Scenes in dB around 30 (far from 0 mean / unit std, so a missing standardisation would show) with a mask."""
    rng = np.random.default_rng(seed)
    x = (30 + 3 * rng.standard_normal((n, size, size))).astype(np.float32)
    mask = np.zeros((n, size, size), bool)
    for i, r, c in zip(np.repeat(np.arange(n), 3), *rng.integers(0, size - 8, (2, 3 * n))):
        mask[i, r:r + 6, c + 2] = True
        x[i, r:r + 6, c + 2] += 15
    A.write_hdf5(path, x, mask, label_key="mask")
    return x, mask


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("emb")
    x, mask = radar_file(d / "scenes.h5")
    cfg = TrainConfig(data_path=str(d / "scenes.h5"), label_key="mask", encoder="cnn16", tile=16, epochs=1,
                      batch_size=16, n_pretrain=64, n_probe_train=32, n_probe_test=32, device="cpu")
    rec = run(cfg, checkpoint=str(d / "m.pt"))
    return d, x, mask, rec


def test_checkpoint_records_data_and_standardisation(trained):
    d, x, _, rec = trained
    assert rec["metrics"]["n_test"] > 0
    ckpt = torch.load(d / "m.pt", weights_only=True)
    info = ckpt["data_info"]
    assert info["name"] == "file:scenes.h5" and info["tile"] == 16 and info["label_kind"] == "mask"
    assert info["source"]["sha256"] == A.fingerprint(d / "scenes.h5")["sha256"] and info["label_key"] == "mask"
    assert ckpt["config"]["data_path"].endswith("scenes.h5")
    mean = float(ckpt["state_dict"]["encoder.in_mean"][0])
    assert 29 < mean < 32                                      # the pre-training split's mean, in dB


def test_embed_equals_frozen_encoder_on_every_tile(trained, tmp_path):
    d, x, mask, _ = trained
    emb = idslab.embed(str(d / "m.pt"), d / "scenes.h5", label_key="mask", batch_size=7, device="cpu")
    assert emb.h.shape == (24 * 9, 32) and emb.h.dtype == np.float32
    assert emb.index[:3].tolist() == [[0, 0, 0], [0, 0, 16], [0, 0, 32]]
    model, cfg, _ = load_checkpoint(d / "m.pt")
    tiles = torch.from_numpy(np.stack([x[s, r:r + 16, c:c + 16] for s, r, c in emb.index]))[:, None]
    ref = probe_embed(model.encoder, tiles).numpy()
    np.testing.assert_allclose(emb.h, ref, rtol=1e-5, atol=1e-5)
    # labels: the meteor tile rule on the mask, -1 for ambiguous tiles
    lab = A.mask_labels(mask, np.array([0, 16, 32]), np.array([0, 16, 32]), 16).reshape(-1)
    assert emb.y.tolist() == lab.tolist()
    # new data, shifted by +10 dB: the model's own (stored) standardisation is used, not one refitted on it
    emb2 = embed(model, x + 10.0, device="cpu")
    tiles2 = tiles + 10.0
    np.testing.assert_allclose(emb2.h, probe_embed(model.encoder, tiles2).numpy(), rtol=1e-5, atol=1e-5)
    assert emb2.meta["in_mean"] == pytest.approx(model.encoder.in_mean.tolist())
    assert (emb2.y == -1).all()


def test_eval_mode_is_deterministic(trained):
    d, *_ = trained
    a = embed(str(d / "m.pt"), d / "scenes.h5", label_key="mask", device="cpu")
    b = embed(str(d / "m.pt"), d / "scenes.h5", label_key="mask", device="cpu")
    c = embed(str(d / "m.pt"), d / "scenes.h5", label_key="mask", device="cpu", batch_size=5)
    np.testing.assert_array_equal(a.h, b.h)                    # s_l = 0: no weight noise
    np.testing.assert_allclose(a.h, c.h, atol=1e-6)            # batching changes only float rounding


def test_save_npy_and_npz(trained, tmp_path):
    d, *_ = trained
    emb = embed(str(d / "m.pt"), d / "scenes.h5", label_key="mask", device="cpu", out=tmp_path / "h.npz")
    z = np.load(tmp_path / "h.npz")
    np.testing.assert_array_equal(z["h"], emb.h)
    np.testing.assert_array_equal(z["index"], emb.index)
    assert z["classes"].tolist() == ["negative", "positive"]
    meta = json.loads(str(z["meta"]))
    assert meta["tile"] == 16 and meta["model"].endswith("m.pt") and meta["data"]["sha256"]
    save_embeddings(tmp_path / "h.npy", emb)
    np.testing.assert_array_equal(np.load(tmp_path / "h.npy"), emb.h)
    with pytest.raises(ValueError, match=r"h\.parquet: write \.npy"):
        save_embeddings(tmp_path / "h.parquet", emb)


def test_bad_inputs_fail_before_work(trained, tmp_path):
    d, x, *_ = trained
    with pytest.raises(ValueError, match="3 channel\\(s\\) but the model was trained on 1"):
        embed(str(d / "m.pt"), np.zeros((2, 3, 16, 16), np.float32))
    with pytest.raises(ValueError, match="takes 16x16 tiles, asked for tile=8"):
        embed(str(d / "m.pt"), x, tile=8)
    with pytest.raises(ValueError, match=r"--out h\.csv"):
        embed(str(d / "m.pt"), x, out="h.csv")
    with pytest.raises(FileNotFoundError):
        embed(str(tmp_path / "none.pt"), x)


def test_cli_embed_and_unlabelled_training(trained, tmp_path, capsys):
    d, x, *_ = trained
    assert main(["embed", "--model", str(d / "m.pt"), "--data", str(d / "scenes.h5"), "--label-key", "mask",
                 "--out", str(tmp_path / "h.npy"), "--device", "cpu"]) == 0
    assert "216 tiles of 16x16 from 24 images" in capsys.readouterr().out
    assert np.load(tmp_path / "h.npy").shape == (216, 32)
    # unlabelled file: pre-training only, the record says so, and the model still embeds
    np.save(tmp_path / "u.npy", x)
    assert main(["train", "--data", str(tmp_path / "u.npy"), "--tile", "16", "--encoder", "cnn16", "--epochs", "1",
                 "--batch-size", "16", "--device", "cpu", "--quiet", "--save-model", str(tmp_path / "u.pt"),
                 "--stride", "8", "--edge", "shift", "--out", str(tmp_path / "r.json")]) == 0
    assert "no labels, probes skipped" in capsys.readouterr().out
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["metrics"] is None and (rec["config"]["stride"], rec["config"]["edge"]) == (8, "shift")
    assert main(["embed", "--model", str(tmp_path / "u.pt"), "--data", str(tmp_path / "u.npy"), "--out",
                 str(tmp_path / "u.npz")]) == 0
    assert (np.load(tmp_path / "u.npz")["y"] == -1).all()
    assert main(["embed", "--model", str(tmp_path / "u.pt"), "--data", str(tmp_path / "nope.h5"), "--out",
                 str(tmp_path / "u.npz")]) == 2
    assert "nope.h5 does not exist" in capsys.readouterr().err


def test_pretrain_and_embed_then_export(trained, tmp_path):
    from idslab.datasets import Sizes
    from idslab.embeddings import export, pretrain_and_embed
    d, x, *_ = trained
    data = A.load_file(d / "scenes.h5", 16, label_key="mask", sizes=Sizes(64, 32, 32))
    common = dict(encoder="cnn16", epochs=1, batch_size=16, n_pretrain=len(data.pretrain.y), knn_k=5,
                  device="cpu")
    seen, steps, kept = [], [], {}
    cfgs = [TrainConfig(views="ids", **common), TrainConfig(views="fft", **common)]
    out = pretrain_and_embed(cfgs, data, lambda done, total, rec: seen.append((done, total)),
                             on_step=lambda run, d, t, loss: steps.append((run.label, d, t)), keep=kept)
    assert list(out) == ["ids", "fft", "floor", "trivial"] and seen[-1] == (4, 4)     # the controls follow
    assert ("fft", len(data.pretrain.y) // 16, len(data.pretrain.y) // 16) in steps
    for t in out.values():
        assert 0 <= t.metrics["mlp_acc"] <= 1
        assert t.h is None if t.label == "trivial" else t.h.shape == (len(data.probe_test.y), 32)
    assert [t.role for t in out.values()] == ["condition", "condition", "control", "control"]
    assert out["floor"].cfg.epochs == 0 and len(kept) == 4
    steps.clear()
    again = pretrain_and_embed(cfgs, data, keep=kept, on_step=lambda *a: steps.append(a))
    assert not steps and again["ids"] is out["ids"]                     # kept runs are reused, not retrained
    paths = export(out, data, tmp_path / "exp")
    assert set(paths) == {"ids", "fft"}                                 # the controls are not exported
    z = np.load(paths["ids"]["embeddings"])
    assert z["h"].shape == (24 * 9, 32) and z["index"].shape == (24 * 9, 3)
    model, cfg, _ = load_checkpoint(paths["fft"]["model"])
    assert cfg.views == "fft" and torch.load(paths["fft"]["model"], weights_only=True)["data_info"]["tile"] == 16


def test_three_class_file_through_run_and_probes(tmp_path):
    # per-image labels 0..2 whose images differ in level: both probes must separate 3 classes (chance = 1/3);
    # probe-test: 2 of the 12 images per class (scene split 0.6/0.2/0.2 per class), 4 tiles each
    rng = np.random.default_rng(0)
    y = np.arange(36) % 3
    x = (rng.standard_normal((36, 32, 32)) + 4.0 * y[:, None, None]).astype(np.float32)
    np.savez(tmp_path / "three.npz", x=x, y=y)
    cfg = TrainConfig(data_path=str(tmp_path / "three.npz"), encoder="cnn16", epochs=1, batch_size=16,
                      n_pretrain=64, n_probe_train=30, n_probe_test=30, knn_k=5, device="cpu")
    rec = run(cfg)
    m = rec["metrics"]
    assert m["n_test"] == 24 and m["mlp_acc"] > 0.8 and m["knn_acc"] > 0.8


def test_compare_on_an_unlabelled_file_fails_before_work(tmp_path, capsys):
    np.save(tmp_path / "u.npy", np.zeros((4, 16, 16), np.float32))
    assert main(["compare", "--data", str(tmp_path / "u.npy"), "--tile", "16", "--encoder", "cnn16",
                 "--batch-size", "2"]) == 2
    assert "u.npy has no labels" in capsys.readouterr().err


def test_results_store_hash_follows_the_file_content(tmp_path):
    import os
    from idslab import experiments as ex
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 16, 16), np.float32), y=np.array([0, 1, 0, 1]))
    cfg = TrainConfig(data_path=str(tmp_path / "d.npz"), encoder="cnn16", batch_size=2, knn_k=1)
    before = ex.config_hash(cfg)
    assert ex.config_hash(cfg) == before
    assert ex.config_key(cfg)["data_sha256"] == A.fingerprint(cfg.data_path)["sha256"]
    np.savez(tmp_path / "d.npz", x=np.ones((4, 16, 16), np.float32), y=np.array([0, 1, 0, 1]))
    os.utime(tmp_path / "d.npz", ns=(1, 1))     # even an unchanged size needs a changed mtime, which edits bring
    assert ex.config_hash(cfg) != before


@pytest.mark.parametrize("layout", ["n_l_npy", "n_c_l_npz", "n_c_l_h5", "csv"])
def test_a_users_signals_train_and_embed(tmp_path, capsys, layout):
    """Issue 20: (n, L) .npy, (n, C, L) .npz and HDF5, and a CSV of signals go through `idslab train` (a 1-D encoder, windows
    with a stride) and `idslab embed` (the model's own standardisation, window indices)."""
    rng = np.random.default_rng(0)
    n, length = 40, 160
    y = np.arange(n) % 2
    x = (50 + rng.standard_normal((n, 2, length))).astype(np.float32)
    x[y == 1, :, 70:74] += 8.0
    if layout == "n_l_npy":
        x = x[:, 0]
        path, extra = tmp_path / "s.npy", []
        np.save(path, x)
    elif layout == "n_c_l_npz":
        path, extra = tmp_path / "s.npz", []
        np.savez(path, x=x, y=y)
    elif layout == "n_c_l_h5":
        from idslab.datasets.arrays import write_hdf5
        path, extra = tmp_path / "s.h5", []
        write_hdf5(path, x, y)
    else:
        x = x[:, 0]
        path, extra = tmp_path / "s.csv", []
        head = "y," + ",".join(f"f{i}" for i in range(length))
        np.savetxt(path, np.column_stack([y, x]), delimiter=",", header=head, comments="", fmt="%.6g")
    model = tmp_path / "m.pt"
    assert main(["train", "--data", str(path), "--encoder", "cnn1d64", "--tile", "64", "--stride", "32",
                 "--epochs", "1", "--batch-size", "16", "--n-pretrain", "64", "--n-probe-train", "32",
                 "--n-probe-test", "32", "--knn-k", "5", "--device", "cpu", "--quiet", "--views", "ids+shift",
                 "--save-model", str(model), *extra]) == 0
    out = capsys.readouterr().out
    assert "cnn1d64" in out and (("no labels" in out) == (layout == "n_l_npy"))
    assert main(["embed", "--model", str(model), "--data", str(path), "--stride", "32", "--out",
                 str(tmp_path / "h.npz")]) == 0
    assert f"{n * 4} windows of 64 samples from {n} signals" in capsys.readouterr().out
    z = np.load(tmp_path / "h.npz")
    assert z["h"].shape == (n * 4, 32) and z["index"].shape == (n * 4, 2)
    assert z["index"][:4].tolist() == [[0, 0], [0, 32], [0, 64], [0, 96]]
    # the embedding equals the frozen encoder on that window, with the model's own standardisation
    enc = load_checkpoint(model)[0].encoder
    xs = x if x.ndim == 3 else x[:, None]
    h = probe_embed(enc, torch.from_numpy(xs[5:6, :, 64:128].copy())).numpy()
    np.testing.assert_allclose(z["h"][5 * 4 + 2], h[0], rtol=1e-4, atol=1e-5)
    if layout != "n_l_npy":
        assert (z["y"][: 4] == y[0]).all()
    # the same file with a 2-D encoder, or the model on images: a clear error, exit 2
    assert main(["train", "--data", str(path), "--encoder", "cnn16", "--epochs", "1", "--quiet"]) == 2
    assert "1-D encoder" in capsys.readouterr().err
