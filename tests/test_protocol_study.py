"""scripts/protocol_study.py (issue 25): the validation split keeps each positive with its own background, and
twin_contrast tells an encoder that sees the echo from one that sees only the background."""
import pytest
import torch
from torch import nn

from idslab.datasets import Split, SSLData
from tests.conftest import load_script

_script = lambda: load_script("protocol_study")


def _twinned(n_pairs=12, n_other=12, n=8, seed=0):
    """Negatives of noise; the first n_pairs positives are a negative plus an echo in the top row (its twin), the
    rest are positives of their own noise. x (n, 1, n, n)."""
    g = torch.Generator().manual_seed(seed)
    neg = torch.randn(n_pairs + n_other, 1, n, n, generator=g)
    pos = torch.cat([neg[:n_pairs].clone(), torch.randn(n_other, 1, n, n, generator=g)])
    pos[:, :, 0, :] += 5.0                                   # the echo: one bright row
    x = torch.cat([pos, neg])
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long()
    return x, y


class Rows(nn.Module):
    """h = the mean of some rows of the tile (the encoder "sees" only them)."""
    def __init__(self, rows):
        super().__init__()
        self.rows, self.w = rows, nn.Linear(1, 1)           # a parameter, for probes.embed's device

    def forward(self, x):
        return x[:, 0, self.rows, :].flatten(1)


def test_twins_finds_each_positives_own_background():
    s = _script()
    x, y = _twinned()
    tw = s.twins(x, y)
    n_pos = int(y.sum())
    assert tw == {i: n_pos + i for i in range(12)}           # the 12 twins, and no unrelated positive


def test_validation_halves_keep_twins_together():
    s = _script()
    x, y = _twinned(n_pairs=20, n_other=20)
    split = Split(x, y, {})
    data = SSLData("meteor", 8, ("noise", "echo"), split, split, split)
    val = s.validation_data(data)
    fit, held = val.probe_train, val.probe_test
    assert len(fit.y) + len(held.y) == len(y)
    for part in (fit, held):
        assert int(part.y.sum()) * 2 == len(part.y)                           # balanced
        for i, j in s.twins(x, y).items():                                    # a pair is never cut
            pi = (part.x.flatten(1) == x[i].flatten()).all(1).any()
            pj = (part.x.flatten(1) == x[j].flatten()).all(1).any()
            assert bool(pi) == bool(pj)


def test_twin_contrast_separates_echo_from_background_encoders():
    s = _script()
    x, y = _twinned()
    split = Split(x, y, {})
    sees_echo = s.twin_contrast(Rows([0, 1, 2]), split)
    sees_background = s.twin_contrast(Rows([4, 5, 6]), split)
    assert sees_echo["twins"] == sees_background["twins"] == 12
    assert sees_background["ratio"] < 1e-6                  # twins share these rows exactly
    assert sees_echo["ratio"] > 0.3


def test_set_parses_sites_fields_and_the_device():
    extra, tag = _script().parse_set("sites=all:0.1,scale_mode=relative,device=cuda,proj_bn=1")
    assert extra == {"sites": {"all": 0.1}, "scale_mode": "relative", "device": "cuda", "proj_bn": True}
    assert tag == "_sites-all:0.1_scale_mode-relative_device-cuda_proj_bn-1"
    assert _script().parse_set("sl=0.1")[0] == {"sites": {"fc1": 0.1}}
    assert _script().parse_set("") == ({}, "")
    with pytest.raises(ValueError, match="'nosuch' is not a TrainConfig field"):
        _script().parse_set("nosuch=1")
