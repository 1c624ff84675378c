import math

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


# ------------------------------------------------------------------------------ one-dimensional data (B, C, L), issue 20
def test_1d_reverse_is_a_per_sample_reversal():
    from idslab.views import reverse
    torch.manual_seed(0)
    x = torch.arange(64 * 2 * 32, dtype=torch.float32).view(64, 2, 32)
    y = reverse(x)
    flipped = (y != x).flatten(1).any(1)
    assert 10 < flipped.sum() < 54                                           # per sample, p = 1/2
    assert torch.equal(y[flipped], x[flipped].flip(-1)) and torch.equal(y[~flipped], x[~flipped])


def test_1d_shift_moves_a_line_by_the_given_bins_and_repeats_the_edges():
    from idslab.views import random_shift, shift
    x = torch.zeros(3, 1, 64)
    x[:, 0, 20] = 1.0
    y = shift(x, torch.tensor([5.0, -7.0, 0.5]))
    assert y[0, 0].argmax() == 25 and y[1, 0].argmax() == 13
    assert torch.allclose(y[2, 0, 20:22], torch.tensor([0.5, 0.5]))        # half a bin: linear interpolation
    ramp = torch.arange(10.0).view(1, 1, 10)
    assert torch.equal(shift(ramp, 3.0)[0, 0, :4], torch.tensor([0.0, 0.0, 0.0, 0.0]))   # first value repeated
    torch.manual_seed(0)
    moved = random_shift(x.repeat(100, 1, 1))[:, 0].argmax(1) - 20
    assert moved.abs().max() <= 4 and len(moved.unique()) > 5               # up to L/16 = 4 bins, per sample


def test_1d_fft_mask_zeros_a_band_along_the_axis():
    torch.manual_seed(0)
    x = torch.randn(32, 2, 128)
    y = fft_band_mask(x)
    assert y.shape == x.shape
    spec = torch.fft.rfft(y, dim=-1).abs()                                   # (B, 2, 65)
    zero = spec.amax(1) < 1e-4
    assert torch.all(zero.sum(-1) == round(0.15 * 65))
    assert len(zero.float().argmax(1).unique()) > 5


def test_1d_views_run_per_sample_and_scaling_changes_the_brightness():
    from idslab.views import scale_jitter
    torch.manual_seed(0)
    x = torch.rand(16, 1, 64) + 10.0
    for name in ("flip", "simclr", "reverse", "shift", "fft"):
        a, b = make_views(x, name)
        assert a.shape == x.shape and not torch.allclose(a, b), name
    y = scale_jitter(x)
    ratio = (y.mean(-1) / x.mean(-1)).squeeze(1)
    assert ratio.std() > 0.05                                                # a brightness change per sample


def test_views_names_check_their_dimension():
    from idslab.views import check_views_dims
    check_views_dims("ids+flip+fft+simclr+reverse+shift", 1)
    check_views_dims("flip90+flip", 2)
    with pytest.raises(ValueError, match="flip90.*1-D"):
        check_views_dims("flip90", 1)
    with pytest.raises(ValueError, match="shift.*2-D"):
        make_views(torch.randn(2, 1, 8, 8), "shift")
    torch.manual_seed(1)
    a = torch.cat(make_views(torch.randn(4, 1, 32), "flip+fft"))
    torch.manual_seed(1)
    assert torch.equal(a, torch.cat(make_views(torch.randn(4, 1, 32), "flip+fft")))


# ------------------------------------------------------------------ re-observation of a radar scene (issue 26)
def _pure_noise_db(n_scenes: int = 1, seed: int = 3):
    """The meteor simulator's receiver noise alone, in dB: the echo-free backgrounds (pairs=True) of scenes with
    every kind of clutter switched off. (n, 512, 512) float32."""
    from idslab.datasets.meteor import MeteorParams, simulate_scenes
    quiet = MeteorParams(p_eej=0.0, p_trail=0.0, p_interference=0.0, p_spur=0.0)
    return torch.from_numpy(simulate_scenes(n_scenes, quiet, seed=seed, pairs=True)[3])


def test_radar_reobserve_keeps_a_bright_scene_in_expectation():
    """A noiseless tile of 15 to 40 dB: the mean power over draws is the tile's (E|s + n'|^2 = |s|^2 + 1 = 10^(v/10)),
    the mean dB that of the debiased power (E ln|s + n|^2 = ln|s|^2 + E_1(|s|^2), E_1 < 1e-13 here), within 0.2 dB
    of the tile; every draw different, on x's device and dtype."""
    from idslab.views import reobserve
    torch.manual_seed(0)
    x = torch.linspace(15.0, 40.0, 16 * 16).view(1, 1, 16, 16)
    draws = reobserve(x.expand(4000, 1, 16, 16).contiguous())              # (4000, 1, 16, 16): one batched call
    assert draws.shape == (4000, 1, 16, 16) and draws.dtype == x.dtype and draws.device == x.device
    power = torch.pow(10.0, draws.double() / 10).mean(0, keepdim=True)
    assert torch.allclose(power, torch.pow(10.0, x.double() / 10), rtol=0.02)
    mean_db = draws.double().mean(0, keepdim=True)
    assert (mean_db - 10 * torch.log10(torch.pow(10.0, x.double() / 10) - 1)).abs().max() < 0.05
    assert (mean_db - x).abs().max() < 0.2
    assert (draws[0] != draws[1]).all()                                     # each sample its own noise draw
    assert draws[:, :, 0, 0].std() > 0.5                                   # at 15 dB: sd ~ 4.34 sqrt(2/31.6) dB


def test_radar_reobserve_of_pure_noise_has_the_stated_law():
    """The simulator's noise-only pixels have |y|^2 ~ Exp(1): mean dB -10 gamma / ln 10 = -2.51, sd 10 pi / (ln 10
    sqrt 6) = 5.57. The view keeps them noise but, one look being unable to tell a high noise pixel from weak signal
    (idslab.views._reobserve_radar), turns the law into (1 - 1/e) Exp(1) + (1/e) Exp(2): mean +10 log10(2) / e =
    +1.11 dB, sd 5.75 dB; and with scale 0.5 (a quieter receiver) the noise floor drops."""
    from idslab.views import reobserve
    noise = _pure_noise_db()
    gamma = 0.5772156649
    assert abs(noise.mean() + 10 * gamma / math.log(10)) < 0.05 and abs(noise.std() - 5.57) < 0.05
    torch.manual_seed(1)
    tiles = noise.view(32, 16, 32, 16).transpose(1, 2).reshape(1024, 1, 16, 16)         # the scene as 16x16 tiles
    out = reobserve(tiles).flatten()
    excess = 10 * math.log10(2) / math.e
    assert abs((out.mean() - noise.mean()) - excess) < 0.05, (out.mean(), noise.mean())
    mix_sd = math.sqrt(5.57 ** 2 + (1 / math.e) * (1 - 1 / math.e) * (10 * math.log10(2)) ** 2)
    assert abs(out.std() - mix_sd) < 0.06
    assert (out >= -30.0).all()
    quiet = reobserve(tiles, scale=0.5).flatten()
    assert quiet.mean() < out.mean() - 2.0


def test_radar_reobserve_is_batched_seeded_and_one_name_with_the_spectra_view():
    from idslab.views import make_views, parse_views, reobserve
    x = torch.rand(8, 1, 16, 16) * 30
    torch.manual_seed(5)
    a = torch.cat(make_views(x, "reobserve"))
    torch.manual_seed(5)
    assert torch.equal(a, torch.cat(make_views(x, "reobserve")))                        # same seed, same views
    torch.manual_seed(6)
    assert not torch.equal(a, torch.cat(make_views(x, "reobserve")))
    assert parse_views("ids+reobserve")(x).shape == x.shape                             # composes with IDS
    with pytest.raises(ValueError, match="--ivar-key"):
        reobserve(x, torch.ones_like(x))                                                # 2-D: the units are the model
    with pytest.raises(ValueError, match="scale"):
        reobserve(x, scale=0.0)
