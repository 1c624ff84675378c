"""A user's own data (idslab.datasets.arrays): every format, labelled and unlabelled, tiling rules, scene-disjoint
splits, and a clear error for every bad input. All files are made here, small."""
import argparse
import json

import numpy as np
import pytest
import torch

from idslab.datasets import Sizes, load, summary
from idslab.datasets import arrays as A
from idslab.datasets.cli import add_parser

SMALL = Sizes(64, 32, 32)


def scenes(n=12, h=48, w=48, c=None, seed=0):
    """Scene i holds values near 100 * i (so a tile tells which scene it came from) plus a zero-mean pattern."""
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if c is None else (n, c, h, w)
    base = 100.0 * np.arange(n).reshape((n,) + (1,) * (len(shape) - 1))
    return (base + rng.uniform(-1, 1, shape)).astype(np.float32)


def scene_of(x: torch.Tensor) -> np.ndarray:
    return np.round(x.mean(dim=(1, 2, 3)).numpy() / 100).astype(int)


def _run_cli(argv):
    parser = argparse.ArgumentParser(prog="idslab")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


# ------------------------------------------------------------------------------------------------------ formats
def test_npy_unlabelled_pretrain_only_values_unchanged(tmp_path):
    x = scenes(6, 32, 32) - 30.0                                         # e.g. dB, negative values stay
    np.save(tmp_path / "x.npy", x)
    d = A.load_file(tmp_path / "x.npy", 16, sizes=Sizes(1000, 2, 2))
    assert d.meta["labelled"] is False and d.classes == ("unlabelled",)
    assert len(d.pretrain) == 6 * 4 and len(d.probe_train) == 0 and len(d.probe_test) == 0
    assert (d.pretrain.y == -1).all()
    # every tile is an exact slice of the file: no rescaling, no standardisation
    tiles = {tuple(t.ravel()[:4].tolist()) for t in A.cut_tiles(x[:, None], np.array([0, 16]), np.array([0, 16]),
                                                                16).reshape(-1, 256)}
    assert {tuple(t.ravel()[:4].tolist()) for t in d.pretrain.x.numpy()} == tiles
    s = summary(d)
    json.dumps(s)
    assert s["splits"]["pretrain"]["class_counts"] is None


def test_npz_per_image_multiclass_labels_and_scene_disjoint_splits(tmp_path):
    x = scenes(30, 32, 32)
    y = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y, classes=np.array(["a", "b", "c"]))
    d = A.load_file(tmp_path / "d.npz", 16, sizes=Sizes(1000, 1000, 1000))
    assert d.classes == ("a", "b", "c") and d.meta["label_kind"] == "per image"
    seen = {}
    for name in ("pretrain", "probe_train", "probe_test"):
        sp = getattr(d, name)
        sc = scene_of(sp.x)
        assert (sp.y.numpy() == y[sc]).all()                            # every tile inherits its image's label
        seen[name] = set(sc.tolist())
        counts = torch.bincount(sp.y, minlength=3)
        assert (counts == counts[0]).all() and counts[0] > 0            # balanced over the 3 classes
    assert not (seen["pretrain"] & seen["probe_train"]) and not (seen["pretrain"] & seen["probe_test"])
    assert not (seen["probe_train"] & seen["probe_test"])
    assert sum(d.meta["splits"][s]["scenes"] for s in seen) == 30
    assert d.meta["majority_baseline"] == pytest.approx(1 / 3)


def test_same_seed_same_data_other_seed_other_split(tmp_path):
    np.savez(tmp_path / "d.npz", x=scenes(20, 32, 32), y=np.arange(20) % 2)
    a, b = (A.load_file(tmp_path / "d.npz", 16, sizes=SMALL) for _ in range(2))
    assert torch.equal(a.pretrain.x, b.pretrain.x) and torch.equal(a.probe_test.y, b.probe_test.y)
    c = A.load_file(tmp_path / "d.npz", 16, sizes=SMALL, seed=1)
    assert set(scene_of(c.probe_test.x)) != set(scene_of(a.probe_test.x))


def test_hdf5_nested_paths_mask_labels_and_chunked_reads(tmp_path, monkeypatch):
    x = scenes(8, 64, 64)
    mask = np.zeros((8, 64, 64), bool)
    mask[:, 2:10, 3] = True              # tile (0, 0): 8 pixels -> positive
    mask[:, 20:22, 20] = True            # tile (1, 1): 2 pixels -> ambiguous, excluded
    path = tmp_path / "s.h5"
    import h5py
    with h5py.File(path, "w") as f:
        f.create_dataset("obs/snr_db", data=x, chunks=(1, 64, 64))
        f.create_dataset("obs/mask", data=mask, chunks=(1, 64, 64))
    src = A.open_data(path, "obs/snr_db", "obs/mask")
    lab = A.tile_labels(src, A.TileSpec(16))
    assert lab.shape == (8, 16) and (lab[:, 0] == 1).all() and (lab[:, 5] == -1).all()
    assert (np.delete(lab, [0, 5], axis=1) == 0).all()
    d = A.load_file(path, 16, data_key="obs/snr_db", label_key="obs/mask", sizes=SMALL)
    assert d.meta["splits"]["pretrain"]["ambiguous"] > 0
    for sp in (d.pretrain, d.probe_train, d.probe_test):
        assert len(sp) > 0 and (torch.bincount(sp.y) == len(sp) // 2).all()
    # a tiny read budget (one scene per chunk) gives the same tiles: chunking is exact
    monkeypatch.setattr(A, "CHUNK_BYTES", 1)
    d1 = A.load_file(path, 16, data_key="obs/snr_db", label_key="obs/mask", sizes=SMALL)
    assert torch.equal(d.pretrain.x, d1.pretrain.x) and torch.equal(d.probe_test.y, d1.probe_test.y)
    src.close()


def test_hdf5_default_keys_and_write_hdf5(tmp_path):
    x = scenes(6, 32, 32, c=2)
    A.write_hdf5(tmp_path / "w.h5", x, np.array([0, 1, 0, 1, 0, 1]), classes=("quiet", "active"))
    src = A.open_data(tmp_path / "w.h5")
    assert src.shape == (6, 2, 32, 32) and src.classes == ("quiet", "active") and src.kind == "hdf5"
    np.testing.assert_array_equal(src.read([1, 4]), x[[1, 4]])
    src.close()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64, np.float16, bool])
def test_dtypes_become_float32_unchanged(tmp_path, dtype):
    x = (np.arange(4 * 16 * 16) % 7).reshape(4, 16, 16).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    src = A.open_data(tmp_path / "x.npy")
    got = src.read(np.arange(4))
    assert got.dtype == np.float32 and np.array_equal(got[:, 0], x.astype(np.float32))


def _save_images(root, arrays, mode, suffix):
    from PIL import Image
    root.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a, mode=mode).save(root / f"img{i:03d}{suffix}")


def test_image_folder_labelled_png_and_tiff(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (4, 32, 32), dtype=np.uint8)
    b = rng.integers(0, 255, (5, 32, 32), dtype=np.uint8)
    _save_images(tmp_path / "imgs" / "calm", a, "L", ".png")
    _save_images(tmp_path / "imgs" / "storm", b, "L", ".tif")
    src = A.open_data(tmp_path / "imgs")
    assert src.classes == ("calm", "storm") and src.labels.tolist() == [0] * 4 + [1] * 5
    assert src.shape == (9, 1, 32, 32)
    np.testing.assert_array_equal(src.read([0, 5])[:, 0], np.stack([a[0], b[1]]).astype(np.float32))
    d = A.load_file(tmp_path / "imgs", sizes=SMALL)                      # tile: the images' own size
    assert d.tile == 32 and len(d.probe_test) >= 2


def test_image_folder_unlabelled_float_tiff_and_rgb(tmp_path):
    f = (np.random.default_rng(1).normal(size=(3, 24, 24)) * 10 - 20).astype(np.float32)
    _save_images(tmp_path / "f", f, "F", ".tiff")
    src = A.open_data(tmp_path / "f")
    assert not src.labelled and np.array_equal(src.read([2])[0, 0], f[2])    # calibrated floats pass through
    rgb = np.random.default_rng(2).integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    _save_images(tmp_path / "rgb", rgb, "RGB", ".png")
    src = A.open_data(tmp_path / "rgb")
    assert src.shape == (3, 3, 16, 16)
    np.testing.assert_array_equal(src.read([1])[0], rgb[1].transpose(2, 0, 1).astype(np.float32))


# ------------------------------------------------------------------------------------------------------- tiling
def test_tile_grid_stride_and_edges():
    g = lambda **kw: [a.tolist() for a in A.tile_grid(40, 33, A.TileSpec(16, **kw))]
    assert g() == [[0, 16], [0, 16]]                                      # drop: 8 rows, 1 column unused
    assert g(edge="shift") == [[0, 16, 24], [0, 16, 17]]                   # last tile ends on the edge
    assert g(stride=8) == [[0, 8, 16, 24], [0, 8, 16]]


def test_cut_tiles_matches_slicing_and_iter_tiles_indexes():
    x = scenes(3, 40, 40, c=2)
    rows, cols = A.tile_grid(40, 40, A.TileSpec(16, stride=12))
    t = A.cut_tiles(x, rows, cols, 16)
    assert t.shape == (3, 9, 2, 16, 16)
    assert np.array_equal(t[2, 5], x[2, :, 12:28, 24:40])                # row 1, column 2 of the grid
    src = A._make(A.Path("<a>"), "array", x, None, None, None)
    out = list(A.iter_tiles(src, A.TileSpec(16, stride=12)))
    xs, ys, idx = (np.concatenate(v) for v in zip(*out))
    assert xs.shape == (27, 2, 16, 16) and (ys == -1).all()
    for k in (0, 13, 26):
        s, r, c = idx[k]
        assert np.array_equal(xs[k], x[s, :, r:r + 16, c:c + 16])


def test_mask_rule_thresholds():
    m = np.zeros((1, 16, 32), bool)
    m[0, 0, 0:4] = True                   # left tile: 4 pixels -> positive
    m[0, 0, 16:19] = True                 # right tile: 3 pixels -> ambiguous
    assert A.mask_labels(m, np.array([0]), np.array([0, 16]), 16).tolist() == [[1, -1]]
    assert A.mask_labels(m, np.array([0]), np.array([0, 16]), 16, min_pixels=3).tolist() == [[1, 1]]


# --------------------------------------------------------------------------------------------------- bad inputs
def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        A.open_data(tmp_path / "nope.npz")
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(ValueError, match=r"x\.txt.*\.npy, \.npz, \.h5/\.hdf5, \.csv"):
        A.open_data(tmp_path / "x.txt")


@pytest.mark.parametrize("shape,dims,match", [
    ((10, 16), 2, "need \\(n, H, W\\).*1-D encoder"), ((2, 1, 1, 16, 16), None, "need \\(n, H, W\\)"),
    ((10,), None, "signals are \\(n, L\\)"), ((3, 32, 32, 3), None, "channels-last.*transpose"),
    ((0, 16, 16), None, "no images"), ((0, 16), None, "no signals"), ((2, 1, 4, 16), 1, "signals \\(n, L\\)")])
def test_wrong_shape(tmp_path, shape, dims, match):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match=f"x.npy.*{match}"):
        A.open_data(tmp_path / "x.npy", dims=dims)


def test_nan_and_inf_counted_and_located(tmp_path):
    x = scenes(4, 16, 16)
    x[2, 3, 5] = np.nan
    x[2, 4, 4] = np.nan
    x[3, 0, 1] = np.inf
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ValueError, match=r"x\.npy.*2 NaN and 1 inf values in 2 image\(s\) \[2, 3\].*\(2, 0, 3, 5\)"
                                         r".*nan_to_num"):
        A.load_file(tmp_path / "x.npy", 16)


def test_mismatched_lengths(tmp_path):
    np.savez(tmp_path / "d.npz", x=scenes(5, 16, 16), y=np.zeros(4, int))
    with pytest.raises(ValueError, match=r"d\.npz: x has 5 images but labels 'y' have shape \(4,\)"):
        A.open_data(tmp_path / "d.npz")


@pytest.mark.parametrize("y,match", [([1, 2, 1, 2], r"found values \[1, 2\]"), ([0, -1, 0, 1], r"\[-1, 0, 1\]"),
                                     ([0, 2, 0, 2], r"\[0, 2\]"), ([0.0, 0.5, 1.0, 1.0], r"integers 0..K-1"),
                                     (["a", "b", "a", "b"], "dtype")])
def test_labels_not_0_to_k_minus_1(tmp_path, y, match):
    np.savez(tmp_path / "d.npz", x=scenes(4, 16, 16), y=np.array(y))
    with pytest.raises(ValueError, match=f"d.npz labels 'y'.*{match}"):
        A.open_data(tmp_path / "d.npz")


def test_missing_keys_name_the_available_ones(tmp_path):
    np.savez(tmp_path / "d.npz", images=scenes(4, 16, 16), other=np.zeros(3))
    with pytest.raises(ValueError, match=r"d\.npz has no array named 'x'.*images, other.*--data-key"):
        A.open_data(tmp_path / "d.npz")
    with pytest.raises(ValueError, match=r"no array 'labels'.*--label-key"):
        A.open_data(tmp_path / "d.npz", "images", "labels")
    A.write_hdf5(tmp_path / "s.h5", scenes(4, 16, 16))
    with pytest.raises(ValueError, match=r"s\.h5 has no dataset 'obs/x'; its datasets are: x.*--data-key"):
        A.open_data(tmp_path / "s.h5", "obs/x")


def test_empty_and_mixed_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty holds no PNG/JPEG/TIFF images"):
        A.open_data(tmp_path / "empty")
    (tmp_path / "c" / "a").mkdir(parents=True)
    (tmp_path / "c" / "b").mkdir()
    _save_images(tmp_path / "c" / "a", np.zeros((2, 16, 16), np.uint8), "L", ".png")
    with pytest.raises(ValueError, match=r"class folder .*c/b holds no"):
        A.open_data(tmp_path / "c")
    _save_images(tmp_path / "c" / "b", np.zeros((2, 20, 20), np.uint8), "L", ".png")
    with pytest.raises(ValueError, match=r"b/img000\.png is 1 channel\(s\) of 20x20.*share one size"):
        A.open_data(tmp_path / "c").read(np.arange(4))


def test_tile_larger_than_images_and_non_square_without_tile(tmp_path):
    np.save(tmp_path / "x.npy", scenes(4, 12, 20))
    with pytest.raises(ValueError, match=r"tile 16x16 is larger than the images of .*x\.npy \(12x20\).*--tile <= 12"):
        A.load_file(tmp_path / "x.npy", 16)
    with pytest.raises(ValueError, match=r"images are 12x20: pass --tile"):
        A.load_file(tmp_path / "x.npy")


def test_bad_mask_and_too_few_labelled_images(tmp_path):
    m = np.zeros((4, 16, 16), np.int8)
    m[0, 0, 0] = 3
    np.savez(tmp_path / "m.npz", x=scenes(4, 16, 16), y=m)
    with pytest.raises(ValueError, match=r"m\.npz: mask 'y' has values other than 0/1"):
        A.load_file(tmp_path / "m.npz", 16)
    np.savez(tmp_path / "two.npz", x=scenes(2, 16, 16), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"two\.npz has 2 image\(s\): labelled data needs >= 3"):
        A.load_file(tmp_path / "two.npz", 16)


# -------------------------------------------------------------------------------------------- load() and CLI
def test_load_file_dispatch_and_trainconfig(tmp_path):
    from idslab.train import TrainConfig, load_data
    np.savez(tmp_path / "d.npz", img=scenes(12, 32, 32), lab=np.arange(12) % 2)
    d = load("file", 16, path=tmp_path / "d.npz", data_key="img", label_key="lab", sizes=SMALL)
    assert d.meta["source"]["sha256"] and d.meta["data_key"] == "img"
    cfg = TrainConfig(data_path=tmp_path / "d.npz", data_key="img", label_key="lab", n_pretrain=64, batch_size=32,
                      n_probe_train=32, n_probe_test=32, knn_k=5)
    assert cfg.dataset == "file" and cfg.data_path == str(tmp_path / "d.npz")
    assert torch.equal(load_data(cfg).probe_test.x, d.probe_test.x)
    with pytest.raises(ValueError, match="needs data_path"):
        TrainConfig(dataset="file")
    with pytest.raises(ValueError, match="give one of them"):
        TrainConfig(dataset="cifar", data_path="x.npz")
    # the tiling rules reach the loader (32x32 images, N = 16: 4 tiles per image, 9 with stride 8)
    dense = TrainConfig(**{**cfg.to_dict(), "stride": 8})
    assert load_data(dense).meta["tiles_per_scene"] == 9 and load_data(cfg).meta["tiles_per_scene"] == 4
    with pytest.raises(ValueError, match="stride"):
        TrainConfig(dataset="meteor", stride=8)
    with pytest.raises(ValueError, match="fixed tiles"):
        load("meteor", 16, stride=8)                      # before any data is generated
    with pytest.raises(ValueError, match="edge"):
        TrainConfig(data_path=tmp_path / "d.npz", edge="wrap")


def test_cli_data_path_json_and_text(tmp_path, capsys):
    A.write_hdf5(tmp_path / "s.h5", scenes(9, 40, 40), np.arange(9) % 3)
    assert _run_cli(["data", str(tmp_path / "s.h5"), "--tile", "16", "--edge", "shift", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["meta"]["tiles_per_scene"] == 9 and s["meta"]["file_shape"] == [9, 1, 40, 40]
    assert set(s["splits"]["probe_test"]["class_counts"]) == {"class_0", "class_1", "class_2"}
    assert _run_cli(["data", str(tmp_path / "s.h5"), "--tile", "16"]) == 0
    out = capsys.readouterr().out
    assert "unused edge pixels {'rows': 8, 'cols': 8}" in out and "majority-class share" in out
    with pytest.raises(FileNotFoundError, match="neither a data set"):
        _run_cli(["data", str(tmp_path / "missing.h5")])


def test_cli_train_on_a_file_exits_2_on_bad_input(tmp_path, capsys):
    from idslab.cli import main
    np.save(tmp_path / "x.npy", scenes(4, 12, 12))
    assert main(["train", "--data", str(tmp_path / "x.npy"), "--tile", "16", "--encoder", "cnn16", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "tile 16x16 is larger" in err and "Traceback" not in err


def test_jpeg_folder_reads_rgb(tmp_path):
    rgb = np.full((2, 16, 16, 3), (200, 40, 90), np.uint8)             # flat colours survive JPEG within a few levels
    _save_images(tmp_path / "j" / "a", rgb, "RGB", ".jpg")
    _save_images(tmp_path / "j" / "b", rgb, "RGB", ".jpeg")
    src = A.open_data(tmp_path / "j")
    assert src.shape == (4, 3, 16, 16) and src.classes == ("a", "b")
    np.testing.assert_allclose(src.read([3])[0, :, 5, 5], [200, 40, 90], atol=4)


def test_only_the_scenes_used_are_read(tmp_path, monkeypatch):
    # a big file subsampled: pre-training 8 tiles of 16 from 50 scenes touches at most 8 scenes, not all 50
    np.save(tmp_path / "x.npy", scenes(50, 64, 64))
    read = []
    orig = A.DataSource.read
    monkeypatch.setattr(A.DataSource, "read", lambda self, idx: (read.extend(np.asarray(idx).tolist()),
                                                                 orig(self, idx))[1])
    d = A.load_file(tmp_path / "x.npy", 16, sizes=Sizes(8, 2, 2))
    assert len(d.pretrain) == 8 and 1 <= len(set(read)) <= 8


# ------------------------------------------------------------------------------------------- signals (issue 20)
def signals(n=20, length=100, c=None, seed=0):
    """Signal i holds values near 100 * i (a window tells which signal it came from) plus a small pattern."""
    rng = np.random.default_rng(seed)
    shape = (n, length) if c is None else (n, c, length)
    base = 100.0 * np.arange(n).reshape((n,) + (1,) * (len(shape) - 1))
    return (base + rng.uniform(-1, 1, shape)).astype(np.float32)


def test_signals_n_by_l_npy_windows_with_a_stride(tmp_path):
    x = signals(6, 100)
    np.save(tmp_path / "x.npy", x)
    d = A.load_file(tmp_path / "x.npy", 32, stride=16, sizes=Sizes(1000, 2, 2))
    assert d.meta["dims"] == 1 and d.pretrain.x.shape == (6 * 5, 1, 32)         # starts 0, 16, 32, 48, 64
    assert d.meta["unused_edge_pixels"] == {"samples": 100 - 96}
    src = A.open_data(tmp_path / "x.npy")
    assert src.dims == 1 and src.shape == (6, 1, 100)
    got = {tuple(w[0, :3].tolist()) for w in d.pretrain.x.numpy()}
    want = {tuple(x[i, s:s + 3].tolist()) for i in range(6) for s in range(0, 65, 16)}
    assert got == want                                                           # exact slices, values unchanged
    shifted = A.load_file(tmp_path / "x.npy", 32, stride=32, edge="shift", sizes=Sizes(1000, 2, 2))
    assert len(shifted.pretrain) == 6 * 4                                        # 0, 32, 64 and the last at 68
    xs, _, index = next(A.iter_tiles(src, A.TileSpec(32, 32, "shift")))
    assert index.shape == (24, 2) and index[:4, 1].tolist() == [0, 32, 64, 68]
    assert np.array_equal(xs[3, 0], x[0, 68:100])


def test_signals_multichannel_npz_hdf5_labels_and_disjoint_splits(tmp_path):
    x = signals(30, 64, c=3)
    y = np.arange(30) % 2
    np.savez(tmp_path / "d.npz", x=x, y=y)
    A.write_hdf5(tmp_path / "d.h5", x, y)
    for name in ("d.npz", "d.h5"):
        d = A.load_file(tmp_path / name, 64, dims=1, sizes=Sizes(1000, 1000, 1000))
        assert d.pretrain.x.shape[1:] == (3, 64) and d.meta["label_kind"] == "per signal"
        seen = [set(np.round(getattr(d, s).x[:, 0].mean(1).numpy() / 100).astype(int)) for s in
                ("pretrain", "probe_train", "probe_test")]
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])    # signal-disjoint splits
        assert summary(d)["splits"]["probe_test"]["class_counts"]
    with pytest.raises(ValueError, match="one label per signal"):
        np.savez(tmp_path / "m.npz", x=x, y=np.zeros((30, 64), int))
        A.open_data(tmp_path / "m.npz", dims=1)
    img = A.open_data(tmp_path / "d.npz")                                        # by default 3-D = images
    assert img.dims == 2 and img.shape == (30, 1, 3, 64)


def test_signals_csv_with_and_without_header(tmp_path):
    x = signals(12, 40)
    y = np.arange(12) % 2
    np.savetxt(tmp_path / "a.csv", x, delimiter=",")
    src = A.open_data(tmp_path / "a.csv")
    assert src.kind == "csv" and src.shape == (12, 1, 40) and src.labels is None
    np.testing.assert_allclose(src.read(np.arange(12))[:, 0], x, rtol=1e-6)
    head = "label," + ",".join(f"b{i}" for i in range(40))
    np.savetxt(tmp_path / "b.csv", np.column_stack([y, x]), delimiter=",", header=head, comments="")
    src = A.open_data(tmp_path / "b.csv")
    assert src.shape == (12, 1, 40) and src.labels.tolist() == y.tolist() and src.label_key == "label"
    np.testing.assert_allclose(src.read(np.arange(12))[:, 0], x, rtol=1e-6)
    d = A.load_file(tmp_path / "b.csv", 20, sizes=Sizes(100, 100, 100))
    assert d.pretrain.x.shape[1:] == (1, 20) and set(d.pretrain.y.tolist()) == {0, 1}


@pytest.mark.parametrize("text,kw,match", [
    ("1,2,3\n4,5\n", {}, r"line 2 has 2 columns, the first row 3"),
    ("1,2,3\n4,x,6\n", {}, r"line 2 holds 'x', not a number"),
    ("", {}, "is empty"),
    ("a,b,c\n", {}, "a header and no signals"),
    ("1,2,3\n", {"label_key": "y"}, "no header row"),
    ("y,a,b\n0,1,2\n", {"label_key": "z"}, "no column 'z'; its columns are y, a, b"),
    ("y,a\n0.5,1\n1,2\n", {}, "integers 0..K-1"),
    ("1,2,nan\n", {}, "NaN"),
])
def test_bad_csv_names_the_line_and_the_fix(tmp_path, text, kw, match):
    (tmp_path / "s.csv").write_text(text.replace("\\n", "\n"))
    with pytest.raises(ValueError, match=match):
        A.load_file(tmp_path / "s.csv", 1, sizes=Sizes(10, 2, 2), **kw)


def test_signals_errors_name_the_fix(tmp_path):
    np.save(tmp_path / "x.npy", signals(4, 50))
    with pytest.raises(ValueError, match="longer than the signals.*--tile <= 50"):
        A.load_file(tmp_path / "x.npy", 64)
    with pytest.raises(ValueError, match="CSV holds signals.*1-D encoder"):
        np.savetxt(tmp_path / "s.csv", signals(4, 50), delimiter=",")
        A.open_data(tmp_path / "s.csv", dims=2)
    with pytest.raises(ValueError, match="leave out --data-key"):
        A.open_data(tmp_path / "s.csv", data_key="x")
    x = signals(4, 50)
    x[2, 7] = np.inf
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(ValueError, match=r"1 inf values in 1 signal\(s\) \[2\].*"
                                         r"\[signal, channel, sample\] = \(2, 0, 7\)"):
        A.load_file(tmp_path / "bad.npy", 50)


def test_cli_data_on_signals(tmp_path, capsys):
    np.save(tmp_path / "x.npy", signals(8, 3 * 64, c=2))
    assert _run_cli(["data", str(tmp_path / "x.npy"), "--dims", "1", "--tile", "64", "--pretrain", "100"]) == 0
    out = capsys.readouterr().out
    assert "(8, 2, 192) (n, C, L) signals" in out and "windows of 64 samples, stride 64" in out
    assert "3 per signal" in out
    assert _run_cli(["data", str(tmp_path / "x.npy"), "--dims", "1", "--tile", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["meta"]["dims"] == 1
