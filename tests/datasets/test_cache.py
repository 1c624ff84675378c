"""Verified atomic cache: round trip, corruption and truncation detection, regeneration, keying."""
import warnings

import pytest
import torch

from idslab.datasets import MeteorParams, Sizes, cache
from idslab.datasets import load as _load

TINY = Sizes(pretrain=8, probe_train=4, probe_test=4)
FAST = MeteorParams(scenes_per_chunk=4)   # fewer scenes per chunk: tiny sizes need only a few scenes


def load(*a, params=FAST, **kw):
    return _load(*a, params=params, **kw)


def test_round_trip(tmp_path):
    obj = dict(x=torch.arange(10, dtype=torch.float16), y=torch.ones(3, dtype=torch.int64), info={"a": [1, 2]})
    p = cache.save(tmp_path / "sub" / "f.pt", obj)
    back = cache.load(p)
    assert torch.equal(back["x"], obj["x"]) and back["info"] == {"a": [1, 2]}
    assert list(p.parent.iterdir()) == [p]          # no temporary file left behind


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty", "header"])
def test_corruption_detected(tmp_path, damage):
    p = cache.save(tmp_path / "f.pt", dict(x=torch.randn(100)))
    raw = bytearray(p.read_bytes())
    if damage == "flip":
        raw[-10] ^= 0xFF
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "garbage":
        raw = bytearray(b"not a cache at all" * 20)
    elif damage == "empty":
        raw = bytearray()
    else:
        raw = raw.replace(b"IDSLAB-CACHE v1", b"IDSLAB-CACHE v9", 1)
    p.write_bytes(bytes(raw))
    with pytest.raises(cache.CacheError):
        cache.load(p)


def test_missing_file(tmp_path):
    with pytest.raises(cache.CacheError):
        cache.load(tmp_path / "nope.pt")


def test_key_is_canonical():
    assert cache.cache_key({"a": 1, "b": [1, 2]}) == cache.cache_key({"b": [1, 2], "a": 1})
    assert cache.cache_key({"a": 1}) != cache.cache_key({"a": 2})


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("IDSLAB_DATA", str(tmp_path))
    assert cache.data_dir() == tmp_path
    assert str(cache.data_dir("x")) == "x"


def test_meteor_cache_hit_and_regenerate(tmp_path):
    a = load("meteor", 32, sizes=TINY, data_dir=tmp_path)
    assert not a.meta["cached"]
    files = list(tmp_path.glob("meteor_*.pt"))
    assert len(files) == 1
    b = load("meteor", 32, sizes=TINY, data_dir=tmp_path)
    assert b.meta["cached"] and torch.equal(a.pretrain.x, b.pretrain.x)
    # corrupt the file: the loader warns, regenerates the same bytes and rewrites a good cache
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0x55
    files[0].write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="regenerating"):
        c = load("meteor", 32, sizes=TINY, data_dir=tmp_path)
    assert not c.meta["cached"] and torch.equal(a.pretrain.x, c.pretrain.x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load("meteor", 32, sizes=TINY, data_dir=tmp_path).meta["cached"]
    # truncated file
    files[0].write_bytes(files[0].read_bytes()[:100])
    with pytest.warns(UserWarning):
        load("meteor", 32, sizes=TINY, data_dir=tmp_path)


def test_meteor_key_changes_with_params(tmp_path):
    load("meteor", 32, sizes=TINY, data_dir=tmp_path)
    load("meteor", 32, sizes=TINY, data_dir=tmp_path, params=MeteorParams(p_eej=0.0, scenes_per_chunk=4))
    load("meteor", 32, sizes=TINY, data_dir=tmp_path, seed=1)
    assert len(list(tmp_path.glob("meteor_*.pt"))) == 3


def test_simulator_version_in_key(tmp_path, monkeypatch):
    import idslab.datasets as D
    load("meteor", 32, sizes=TINY, data_dir=tmp_path)
    monkeypatch.setattr(D, "SIMULATOR_VERSION", "meteor-test")
    d = load("meteor", 32, sizes=TINY, data_dir=tmp_path)
    assert not d.meta["cached"] and len(list(tmp_path.glob("meteor_*.pt"))) == 2


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    from idslab.atomic import atomic_write

    target = atomic_write(tmp_path / "r.json", b"old")
    with pytest.raises(TypeError):
        atomic_write(target, b"new", object())            # fails half-way through writing
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
