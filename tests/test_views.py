import pytest
import torch

from idslab.views import fft_band_mask, flip_rotate, make_views, parse_views, simclr_augment


def test_flips_and_right_angles_are_per_sample_permutations_of_pixels():
    torch.manual_seed(0)
    x = torch.arange(64 * 16 * 16, dtype=torch.float32).view(64, 1, 16, 16)
    y = flip_rotate(x, "right")
    assert torch.equal(y.flatten(1).sort(1).values, x.flatten(1).sort(1).values)  # no pixel lost or invented
    changed = (y != x).flatten(1).any(1)
    assert 0 < changed.sum() < 64                          # each sample has its own draw (1/16 stay identity)


def test_flip_rotate_any_angle_turns_a_descending_streak_into_other_slopes():
    torch.manual_seed(0)
    x = torch.zeros(256, 1, 16, 16)
    x[:, 0, 4, 4:12] = 1.0                                  # a horizontal line
    y = flip_rotate(x, "any")
    assert y.shape == x.shape and torch.isfinite(y).all()
    # the line's principal direction varies across the batch: rotation is per sample
    rows = (y[:, 0] > 0.3).float()
    spread = rows.sum(2).gt(0).sum(1)                       # number of rows the line covers
    assert spread.min() <= 2 and spread.max() >= 6
    with pytest.raises(ValueError, match="angles"):
        flip_rotate(x, "sideways")


def test_fft_band_mask_zeros_15_percent_of_each_columns_spectrum():
    torch.manual_seed(0)
    x = torch.randn(32, 1, 64, 64)
    y = fft_band_mask(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    spec = torch.fft.rfft(y, dim=-2).abs()                  # (B, 1, 33, 64)
    zero_bins = (spec.amax(dim=-1) < 1e-4).sum(-1).squeeze(1)
    assert torch.all(zero_bins == round(0.15 * 33))         # one contiguous band per sample, same for every column
    starts = (spec.amax(dim=-1) < 1e-4).float().squeeze(1).argmax(1)
    assert len(starts.unique()) > 5                         # the band moves from sample to sample
    with pytest.raises(ValueError, match="fraction"):
        fft_band_mask(x, frac=0.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_simclr_suite_runs_per_sample_on_any_channel_count(channels):
    torch.manual_seed(0)
    x = torch.rand(16, channels, 32, 32) * 40 - 5           # e.g. dB values, not [0, 1]
    y = simclr_augment(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert not torch.allclose(y[0], x[0])
    assert y.min() >= x.amin() - 1e-4 and y.max() <= x.amax() + 1e-4


def test_parse_views_and_composition():
    assert parse_views("ids").data == () and parse_views("ids").ids
    spec = parse_views("ids+flip")
    assert spec.data == ("flip",) and spec.ids
    assert parse_views("fft+flip90").data == ("fft", "flip90")
    with pytest.raises(ValueError, match="unknown views.*'rotate'"):
        parse_views("ids+rotate")
    x = torch.randn(4, 1, 8, 8)
    a, b = make_views(x, "ids")
    assert torch.equal(a, x) and torch.equal(b, x)
    torch.manual_seed(0)
    a, b = make_views(x, "fft")
    assert not torch.allclose(a, b)


def test_views_are_deterministic_under_a_seed():
    x = torch.randn(8, 3, 16, 16)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(torch.cat(make_views(x, "simclr+flip+fft")))
    assert torch.equal(*outs)


def test_rotate_turns_counter_clockwise_as_displayed_and_matches_flip_rotate_resampling():
    from idslab.views import rotate
    x = torch.zeros(2, 1, 9, 9)
    x[:, 0, 4, 6] = 1.0                      # right of the centre: a later pulse at the centre's altitude
    y = rotate(x, 90)
    assert y.shape == x.shape
    assert torch.nonzero(y[0, 0] > 0.5).tolist() == [[6, 4]]   # now above the centre (higher altitude)
    assert torch.allclose(rotate(x, 0), x)
    assert torch.allclose(rotate(rotate(x, 90), -90), x, atol=1e-5)
