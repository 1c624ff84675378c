"""CIFAR-10 vehicle/animal: folder layouts, held-out split, balance, resize, cache, errors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from idslab.datasets import Sizes, load, summary
from idslab.datasets.cifar import ANIMALS, CIFAR10_CLASSES, VEHICLES, binary_labels

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cifar10-train-jpg"


def _write_folder(root: Path, per_class: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for k, c in enumerate(CIFAR10_CLASSES):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            img[..., 0] = 20 * k                       # the class is recoverable from the red channel
            Image.fromarray(img).save(root / c / f"{i:04d}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("cifar") / "imgs", 6)


def test_mapping():
    assert set(VEHICLES) | set(ANIMALS) == set(CIFAR10_CLASSES) and not set(VEHICLES) & set(ANIMALS)
    y = binary_labels(torch.arange(10))
    assert y.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]


def test_flat_folder_held_out(flat, tmp_path):
    d = load("cifar", 16, sizes=Sizes(8, 8, 4), data_dir=tmp_path, cifar_dir=flat)
    assert d.classes == ("vehicle", "animal") and d.channels == 3
    assert d.pretrain.x.shape == (8, 3, 16, 16) and d.probe_test.x.shape == (4, 3, 16, 16)
    for s in (d.pretrain, d.probe_train, d.probe_test):
        assert torch.bincount(s.y).tolist() == [len(s.y) // 2] * 2
        assert 0.0 <= float(s.x.min()) and float(s.x.max()) <= 1.0
    assert d.meta["held_out_test"]
    # image-level disjointness: no image in two splits (images are random, so bytes identify them)
    at32 = load("cifar", 32, sizes=Sizes(8, 8, 4), data_dir=tmp_path, cifar_dir=flat)
    keys = [{x.numpy().tobytes() for x in s.x} for s in (at32.pretrain, at32.probe_train, at32.probe_test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    # labels agree with the class folder (red channel = 20 * class index, JPEG-rounded)
    cls = (at32.pretrain.x[:, 0].mean((1, 2)) * 255 / 20).round().long()
    assert torch.equal(binary_labels(cls), at32.pretrain.y)
    # the 10-class labels ride along for the 10-class linear probe
    for sp in (at32.pretrain, at32.probe_train, at32.probe_test):
        assert torch.equal(binary_labels(sp.targets["class10"]), sp.y)
    assert (at32.pretrain.targets["class10"] - cls).abs().max() <= 1     # red channel, JPEG-rounded
    s = summary(d)
    assert s["splits"]["probe_train"]["class_counts"] == {"vehicle": 4, "animal": 4}


def test_determinism_and_cache(flat, tmp_path):
    a = load("cifar", 8, sizes=Sizes(8, 8, 4), seed=1, data_dir=tmp_path, cifar_dir=flat)
    assert len(list(tmp_path.glob("cifar_*.pt"))) == 1                      # decoded once
    b = load("cifar", 8, sizes=Sizes(8, 8, 4), seed=1, data_dir=tmp_path, cifar_dir=flat)
    c = load("cifar", 8, sizes=Sizes(8, 8, 4), seed=2, data_dir=tmp_path, cifar_dir=flat)
    assert torch.equal(a.pretrain.x, b.pretrain.x) and not torch.equal(a.pretrain.x, c.pretrain.x)
    f = next(tmp_path.glob("cifar_*.pt"))
    f.write_bytes(f.read_bytes()[:-50])                                       # truncated cache: re-decoded
    with pytest.warns(UserWarning, match="decoding again"):
        d = load("cifar", 8, sizes=Sizes(8, 8, 4), seed=1, data_dir=tmp_path, cifar_dir=flat)
    assert torch.equal(a.pretrain.x, d.pretrain.x)


def test_train_test_layout(tmp_path):
    root = tmp_path / "c"
    _write_folder(root / "train", 4, seed=0)
    _write_folder(root / "test", 2, seed=1)
    d = load("cifar", 32, sizes=Sizes(8, 8, 8), data_dir=tmp_path, cifar_dir=root)
    assert not d.meta["held_out_test"] and d.meta["n_test_images"] == 20
    assert torch.bincount(d.probe_test.y).tolist() == [4, 4]


def test_resize_sizes(flat, tmp_path):
    for tile in (8, 64, 256):
        d = load("cifar", tile, sizes=Sizes(2, 2, 2), data_dir=tmp_path, cifar_dir=flat)
        assert d.probe_test.x.shape == (2, 3, tile, tile)


def test_errors(flat, tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-dir"):
        load("cifar", 32, data_dir=tmp_path, cifar_dir=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="--download"):
        load("cifar", 32, data_dir=tmp_path / "empty")
    partial = tmp_path / "partial"
    (partial / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="airplane"):
        load("cifar", 32, data_dir=tmp_path, cifar_dir=partial)
    with pytest.raises(ValueError, match="vehicle"):
        load("cifar", 32, sizes=Sizes(50, 2, 2), data_dir=tmp_path, cifar_dir=flat)   # 24 vehicles exist
    bad = _write_folder(tmp_path / "bad", 1)
    (bad / "cat" / "0000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="0000.jpg"):
        load("cifar", 32, sizes=Sizes(2, 2, 2), data_dir=tmp_path, cifar_dir=bad)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared CIFAR-10 JPEG folder not present")
def test_shared_folder():
    # the default data folder ($IDSLAB_DATA or ./data): the 50k JPEGs are decoded once (~15 s), then cached
    d = load("cifar", 32, sizes=Sizes(20, 10, 10), cifar_dir=SHARED)
    assert d.meta["n_train_images"] == 50_000
    assert torch.bincount(d.probe_test.y).tolist() == [5, 5]
