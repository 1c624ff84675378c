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


# --------------------------------------------------------------- issue 24: one vocabulary, streaming and resume
@pytest.fixture(scope="module")
def signal_model(tmp_path_factory):
    """A 1-D model (cnn1d64, one channel) and the signals it was trained on."""
    d = tmp_path_factory.mktemp("emb1d")
    rng = np.random.default_rng(0)
    np.savez(d / "s.npz", x=rng.standard_normal((24, 200)).astype(np.float32), y=np.arange(24) % 2)
    cfg = TrainConfig(data_path=str(d / "s.npz"), encoder="cnn1d64", tile=64, epochs=1, batch_size=16,
                      n_pretrain=32, n_probe_train=16, n_probe_test=16, knn_k=3, device="cpu")
    run(cfg, checkpoint=str(d / "m1.pt"))
    return d


def test_a_model_given_the_other_kind_of_data_says_which_kind_each_is(trained, signal_model, tmp_path, capsys):
    d, d1 = trained[0], signal_model
    # a 1-D model given images (24, 48, 48): read as signals they have 48 "channels"; say what the file holds
    with pytest.raises(ValueError) as e:
        embed(str(d1 / "m1.pt"), d / "scenes.h5", label_key="mask", device="cpu")
    msg = str(e.value)
    assert "this model (cnn1d64) takes signals (1-D)" in msg and "holds images (2-D): 24 images of 48x48" in msg
    assert "--encoder cnn32 --tile 32" in msg and "channel(s) but" not in msg
    # the reverse: a 2-D model given signals (24, 200)
    with pytest.raises(ValueError) as e:
        embed(str(d / "m.pt"), d1 / "s.npz", device="cpu")
    msg = str(e.value)
    assert "this model (cnn16) takes images (2-D)" in msg and "holds signals (1-D): 24 signals of 200 samples" in msg


def _embed_failures(d, d1, tmp):
    """argv of `idslab embed` that must fail before any work (the models: d/m.pt cnn16, d1/m1.pt cnn1d64)."""
    rng = np.random.default_rng(0)
    np.save(tmp / "short.npy", rng.standard_normal((4, 40)).astype(np.float32))
    np.save(tmp / "small.npy", rng.standard_normal((4, 8, 8)).astype(np.float32))
    np.save(tmp / "rgb.npy", rng.standard_normal((4, 3, 16, 16)).astype(np.float32))
    np.save(tmp / "sig3d.npy", rng.standard_normal((4, 2, 200)).astype(np.float32))
    m, m1, out = str(d / "m.pt"), str(d1 / "m1.pt"), ["--out", str(tmp / "h.npy"), "--device", "cpu"]
    return {
        "1-D model, images": ["--model", m1, "--data", str(d / "scenes.h5"), *out],
        "2-D model, signals": ["--model", m, "--data", str(d1 / "s.npz"), *out],
        "signals shorter than the window": ["--model", m1, "--data", str(tmp / "short.npy"), *out],
        "images smaller than the tile": ["--model", m, "--data", str(tmp / "small.npy"), *out],
        "(n, C, L) signals to a 2-D model": ["--model", m, "--data", str(tmp / "sig3d.npy"), *out],
        "3 channels for 1": ["--model", m, "--data", str(tmp / "rgb.npy"), *out],
        "another tile": ["--model", m, "--data", str(d / "scenes.h5"), "--tile", "8", *out],
        "a .npy with a label key": ["--model", m, "--data", str(tmp / "small.npy"), "--label-key", "y", *out],
        "an unknown key": ["--model", m, "--data", str(d / "scenes.h5"), "--data-key", "nope", *out],
        "no such model": ["--model", str(tmp / "none.pt"), "--data", str(d / "scenes.h5"), *out],
        "no such file": ["--model", m, "--data", str(tmp / "none.h5"), *out],
    }


def test_every_embed_error_names_only_flags_that_exist(trained, signal_model, tmp_path, capsys):
    """What embed advises is what embed (or the quoted `idslab train ...`) accepts: the message of a 1-D model on
    signals shorter than its window advised an --encoder that embed does not have."""
    from tests.test_cli import unknown_flags
    for case, argv in _embed_failures(trained[0], signal_model, tmp_path).items():
        assert main(["embed", *argv]) == 2, case
        err = capsys.readouterr().err
        assert err.startswith("idslab: error: ") and "Traceback" not in err, case
        assert unknown_flags("embed", err) == [], (case, err)
        assert not (tmp_path / "h.npy").exists() and not (tmp_path / "h.npy.partial").exists(), case


def _counting(monkeypatch, stop_at: int | None = None):
    """Patch the per-chunk read of embed: record each chunk's first scene; raise KeyboardInterrupt (a Ctrl-C) when
    asked for chunk number `stop_at` of this call."""
    import idslab.embeddings as E
    real, calls = A.chunk_tiles, []

    def chunk_tiles(src, spec, block):
        if stop_at is not None and len(calls) == stop_at:
            raise KeyboardInterrupt
        calls.append(int(block[0]))
        return real(src, spec, block)
    monkeypatch.setattr(E, "chunk_tiles", chunk_tiles)
    return calls


def test_embed_streams_with_progress_and_resumes_after_a_cut(trained, tmp_path, monkeypatch, capsys):
    """`idslab embed` cut after 2 of 5 chunks, then the same command again: it embeds chunks 2..4 only, the file
    equals an uninterrupted run exactly, and it is written once, atomically, at the end."""
    import idslab.embeddings as E
    d = trained[0]
    monkeypatch.setattr(A, "CHUNK_BYTES", 5 * 4 * 48 * 48)      # 5 scenes of 48x48 a chunk: 24 scenes, 5 chunks
    ref = embed(str(d / "m.pt"), d / "scenes.h5", label_key="mask", device="cpu")
    out, partial = tmp_path / "h.npz", tmp_path / "h.npz.partial"
    argv = ["embed", "--model", str(d / "m.pt"), "--data", str(d / "scenes.h5"), "--label-key", "mask",
            "--out", str(out), "--device", "cpu"]
    capsys.readouterr()
    calls = _counting(monkeypatch, stop_at=2)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert calls == [0, 5] and "embed: 1/5 chunks" in err and "embed: 2/5 chunks" in err and "tiles/s" in err
    assert f"{partial}: rerun the same command to resume" in err
    assert not out.exists() and len(list(partial.glob("chunk_*.npz"))) == 2        # kept as it went
    written = []
    real_write = E.atomic_write
    monkeypatch.setattr(E, "atomic_write", lambda p, *c: written.append(str(p)) or real_write(p, *c))
    calls = _counting(monkeypatch)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert calls == [10, 15, 20]                                  # resumed at chunk 2: chunks 0 and 1 not read again
    assert "resuming after the 2 finished" in err and "embed: 5/5 chunks" in err
    z = np.load(out)
    for key in ("h", "y", "index"):
        np.testing.assert_array_equal(z[key], getattr(ref, key))
    meta = json.loads(str(z["meta"]))
    assert {k: v for k, v in meta.items() if k != "seconds"} == {k: v for k, v in ref.meta.items() if k != "seconds"}
    assert written[-1] == str(out) and not partial.exists() and not list(tmp_path.glob("*.tmp"))


def test_a_changed_model_or_input_never_resumes_silently(trained, tmp_path, monkeypatch):
    import os
    import shutil
    d = trained[0]
    monkeypatch.setattr(A, "CHUNK_BYTES", 5 * 4 * 48 * 48)
    shutil.copy(d / "scenes.h5", tmp_path / "scenes.h5")
    data, out = tmp_path / "scenes.h5", tmp_path / "h.npy"
    kw = dict(label_key="mask", device="cpu", out=out)
    _counting(monkeypatch, stop_at=2)
    with pytest.raises(KeyboardInterrupt):
        embed(str(d / "m.pt"), data, **kw)
    model = load_checkpoint(d / "m.pt")[0]
    with torch.no_grad():
        model.encoder.fc2.weight.mul_(1.01)                       # another model
    calls = _counting(monkeypatch, stop_at=2)
    with pytest.warns(UserWarning, match="holds the chunks of another embedding"):
        with pytest.raises(KeyboardInterrupt):
            embed(model, data, **kw)
    assert calls == [0, 5]                                        # started again, not resumed
    os.utime(data, ns=(1, 1))                                     # the input changed (its mtime)
    calls = _counting(monkeypatch)
    with pytest.warns(UserWarning, match="holds the chunks of another embedding"):
        emb = embed(model, data, **kw)
    assert calls == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(np.load(out), emb.h)
