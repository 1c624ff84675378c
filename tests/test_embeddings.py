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
                 "--out", str(tmp_path / "r.json")]) == 0
    assert "no labels, probes skipped" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["metrics"] is None
    assert main(["embed", "--model", str(tmp_path / "u.pt"), "--data", str(tmp_path / "u.npy"), "--out",
                 str(tmp_path / "u.npz")]) == 0
    assert (np.load(tmp_path / "u.npz")["y"] == -1).all()
    assert main(["embed", "--model", str(tmp_path / "u.pt"), "--data", str(tmp_path / "nope.h5"), "--out",
                 str(tmp_path / "u.npz")]) == 2
    assert "nope.h5 does not exist" in capsys.readouterr().err
