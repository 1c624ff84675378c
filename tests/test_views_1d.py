"""The 1-D views that keep a spectrum's physics (issue 26): re-observation, masking, flux-calibration tilt, LSF
broadening, their compositions, and the inverse variance that re-observation reads (Split.ivar, --ivar-key)."""
import math

import numpy as np
import pytest
import torch

from idslab import views as V
from idslab.datasets import spectra as S


def _lines(n: int = 512, centres=(200.0, 241.78), fluxes=(1.0 / S.OIII_RATIO, 1.0), sigma: float = 1.5):
    """(1, 1, n): a flat continuum of 10 with two Gaussian lines of the given integrated fluxes (bins)."""
    k = torch.arange(n, dtype=torch.float64)
    x = torch.full((n,), 10.0, dtype=torch.float64)
    for c, f in zip(centres, fluxes):
        x = x + f * torch.exp(-0.5 * ((k - c) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return x.view(1, 1, n)


# ------------------------------------------------------------------------------------------------ re-observation
def test_reobserve_has_the_stated_variance_and_keeps_the_spectrum_in_expectation():
    torch.manual_seed(0)
    n, reps = 64, 20000
    clean = torch.linspace(1.0, 5.0, n).view(1, 1, n)                  # a noiseless spectrum
    var = torch.linspace(0.5, 4.0, n).view(1, 1, n)                    # its per-bin variance, varying along the axis
    x, ivar = clean.expand(reps, 1, n).contiguous(), (1.0 / var).expand(reps, 1, n).contiguous()
    out = V.reobserve(x, ivar)
    se = var.sqrt() / math.sqrt(reps)
    assert ((out.mean(0, keepdim=True) - clean).abs() < 4.5 * se).all()          # E[view] = x, bin by bin
    ratio = out.var(0, keepdim=True) / var
    assert ((ratio - 1).abs() < 0.05).all(), ratio                               # Var = 1 / ivar, bin by bin
    half = V.reobserve(x, ivar, scale=0.5)
    assert ((half.var(0, keepdim=True) / (0.25 * var) - 1).abs() < 0.05).all()


def test_reobserve_leaves_bins_without_data_alone_and_needs_ivar():
    x = torch.randn(4, 1, 32)
    ivar = torch.ones_like(x)
    ivar[:, :, :5] = 0.0                                                          # no data there
    out = V.reobserve(x, ivar)
    assert torch.equal(out[:, :, :5], x[:, :, :5]) and not torch.equal(out, x)
    with pytest.raises(ValueError, match="--ivar-key"):
        V.reobserve(x, None)
    with pytest.raises(ValueError, match="shape"):
        V.reobserve(x, ivar[:, :, :16])
    with pytest.raises(ValueError, match="scale"):
        V.reobserve(x, ivar, scale=0.0)
    with pytest.raises(ValueError, match="ivar"):
        V.parse_views("reobserve")(x)                                             # the views string path too


def test_spectra_inverse_variance_is_the_simulators_noise_model():
    """Split.ivar of the spectra: 1 / sigma^2 of render()'s noise model (photons + sky + read noise) at the flux."""
    sv = S.simulate_spectrum(velocity_kms=300.0, snr=12.0, line_snr=25.0, noise=False)    # flux = clean
    iv = S.inverse_variance(sv.flux, S.SpectraParams())
    np.testing.assert_allclose(iv, 1.0 / sv.sigma.astype(np.float64) ** 2, rtol=1e-4)
    t = S.inverse_variance(torch.from_numpy(sv.flux), S.SpectraParams())
    np.testing.assert_allclose(t.numpy(), iv, rtol=1e-6)
    # and a re-observation of the noisy flux varies as much as the simulator's own noise does
    noisy = np.stack([S.simulate_spectrum(velocity_kms=300.0, snr=12.0, line_snr=25.0, seed=s).flux
                      for s in range(400)])
    np.testing.assert_allclose(noisy.var(0).mean(), (sv.sigma ** 2).mean(), rtol=0.1)


def test_the_spectra_splits_carry_ivar(tmp_path):
    from idslab.datasets import Sizes, load
    data = load("spectra", 512, sizes=Sizes(40, 20, 20), data_dir=tmp_path)
    for s in (data.pretrain, data.probe_train, data.probe_test):
        assert s.ivar is not None and s.ivar.shape == s.x.shape and (s.ivar > 0).all()
        torch.testing.assert_close(s.ivar, S.inverse_variance(s.x, S.SpectraParams()))


def test_ivar_key_reads_a_files_inverse_variance(tmp_path):
    from idslab.datasets.arrays import load_file
    from idslab.datasets import Sizes
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 128)).astype(np.float32)
    ivar = (1.0 + np.arange(128, dtype=np.float32))[None, :].repeat(60, 0) * (1 + np.arange(60))[:, None]
    y = np.arange(60) % 2
    path = tmp_path / "spec.npz"
    np.savez(path, x=x, ivar=ivar.astype(np.float32), y=y)
    data = load_file(path, 128, ivar_key="ivar", sizes=Sizes(20, 10, 10), dims=1)
    s = data.probe_test
    assert s.ivar.shape == s.x.shape
    # each sample's ivar is its own row: find the row by its x, compare
    rows = [int(np.nonzero((x == s.x[i, 0].numpy()).all(1))[0][0]) for i in range(len(s))]
    np.testing.assert_array_equal(s.ivar[:, 0].numpy(), ivar[rows])
    assert load_file(path, 128, sizes=Sizes(20, 10, 10), dims=1).pretrain.ivar is None
    np.savez(tmp_path / "bad.npz", x=x, ivar=ivar[:, :64], y=y)
    with pytest.raises(ValueError, match="--ivar-key 'ivar' has shape"):
        load_file(tmp_path / "bad.npz", 128, ivar_key="ivar", dims=1)
    np.savez(tmp_path / "neg.npz", x=x, ivar=-ivar, y=y)
    with pytest.raises(ValueError, match="inverse variance is >= 0"):
        load_file(tmp_path / "neg.npz", 128, ivar_key="ivar", sizes=Sizes(20, 10, 10), dims=1)
    with pytest.raises(ValueError, match="--ivar-key"):
        load_file(path, 128, ivar_key="nope", dims=1)


# ------------------------------------------------------------------------------------------------------ masking
def test_keep_doublet_never_hides_both_lines_at_any_velocity():
    torch.manual_seed(1)
    m = torch.rand(500, 512) < 0.5                                                # dense random masks
    kept = V.keep_doublet(m)
    for s in (41, 42):
        assert not (kept[:, :-s] & kept[:, s:]).any()
        assert (m[:, :-s] & m[:, s:]).any()                                       # the raw masks do hide both
    assert not (kept & ~m).any()                                                  # it only unmasks


def test_mask_view_keeps_a_line_of_every_simulated_doublet():
    """On the simulator's own positives: the masked spectrum always shows one of the two [O III] line centres."""
    p = S.SpectraParams()
    lam0 = np.log10(p.lam_min_a)
    torch.manual_seed(2)
    for v in np.linspace(-2000, 2000, 9):
        x = torch.from_numpy(S.simulate_spectrum(velocity_kms=float(v), line_snr=40.0).flux).view(1, 1, -1)
        x = x.expand(300, 1, -1).contiguous()
        _, m = V.mask_bins(x, frac=0.3)                                          # runs longer than the separation
        c = [round((math.log10(l * (1 + v / S.C_KMS)) - lam0) / p.dloglam) for l in S.OIII]
        assert not (m[:, c[0]] & m[:, c[1]]).any()
        assert (m[:, c[0]] | m[:, c[1]]).any()                                   # and the mask does reach them
    _, m = V.mask_bins(x, frac=0.3, doublet=False)
    assert (m[:, c[0]] & m[:, c[1]]).any()                                       # without the option it can


def test_mask_fills_with_the_continuum_and_masks_the_sky_lines():
    torch.manual_seed(3)
    k = torch.arange(512, dtype=torch.float32)
    x = (5.0 + 0.01 * k).view(1, 1, 512).expand(8, 1, 512).contiguous()          # a straight continuum
    out, m = V.mask_bins(x, frac=0.1)
    interior = m & (k > 3) & (k < 508)
    torch.testing.assert_close(out[:, 0][interior], x[:, 0][interior])             # interpolated exactly
    _, msky = V.mask_bins(x, frac=0.1, doublet=False)
    for s in V.SKY_BINS:
        assert msky[:, round(s)].all()                     # (with doublet=True the doublet rule goes first)
    z, mz = V.mask_bins(x, fill="zero")
    assert (z[:, 0][mz] == 0).all() and torch.equal(z[:, 0][~mz], x[:, 0][~mz])
    x2 = x.clone()
    x2[:, :, 100:110] += 50.0                                                      # a line under a mask disappears
    mm = torch.zeros(8, 512, dtype=torch.bool)
    mm[:, 95:115] = True
    filled = V.fill_continuum(x2, mm)
    assert filled[:, 0, 95:115].max() < 7.0


def test_mask_bad_params():
    x = torch.randn(2, 1, 512)
    with pytest.raises(ValueError, match="fraction"):
        V.mask_bins(x, frac=1.5)
    with pytest.raises(ValueError, match="fill"):
        V.mask_bins(x, fill="nan")
    with pytest.raises(ValueError, match="sky_halfwidth"):
        V.mask_bins(x, sky_halfwidth=-1)


# ----------------------------------------------------------------------------------------- calibration, resolution
def test_tilt_is_smooth_small_and_keeps_the_line_ratio():
    torch.manual_seed(4)
    x = _lines().float().expand(2000, 1, 512).contiguous()
    out = V.tilt(x)
    g = out / x                                                                   # the calibration factor
    assert (g - 1).abs().max() < 0.25 and (g.log().std(0) < 0.06).all()
    assert (g[..., 1:] / g[..., :-1] - 1).abs().max() < 2e-3                     # smooth: < 0.2% per bin
    # the doublet's flux ratio moves by far less than the 2.98 : 1 that defines it
    r = (g[..., 242] / g[..., 200]).flatten()
    assert (r - 1).abs().max() < 0.05
    with pytest.raises(ValueError, match="tilt sd"):
        V.tilt(x, sd=-0.1)


def test_lsf_conserves_flux_and_keeps_ratio_and_position():
    torch.manual_seed(5)
    base = _lines(centres=(200.0, 241.78))
    line = lambda t, lo, hi: (t[..., lo:hi] - 10.0).sum(-1)                     # continuum-subtracted flux
    x = base.float().expand(200, 1, 512).contiguous()
    out = V.broaden(x, max_kms=60.0).double()
    f1, f2 = line(out, 185, 221), line(out, 222, 262)
    torch.testing.assert_close(f2 / f1, torch.full_like(f1, S.OIII_RATIO), rtol=2e-3, atol=0)
    total = line(base, 185, 221) + line(base, 222, 262)
    torch.testing.assert_close(f1 + f2, total.expand_as(f1), rtol=2e-3, atol=0)
    k = torch.arange(222, 262, dtype=torch.float64)
    centroid = ((out[..., 222:262] - 10) * k).sum(-1) / f2
    assert (centroid - 241.78).abs().max() < 0.05                                  # velocity kept
    peak = (out[..., 230:250] - 10).amax(-1)
    assert (peak < (base[..., 230:250] - 10).amax(-1) + 1e-6).all() and peak.min() < 0.9 * peak.max()  # wider
    with pytest.raises(ValueError, match="lsf"):
        V.broaden(x, max_kms=0.0)


# ------------------------------------------------------------------------------------------ names, seeds, compose
PHYSICS_VIEWS = ["reobserve", "mask", "tilt", "lsf", "reobserve+tilt+lsf+mask", "ids+reobserve", "lsf+mask"]


@pytest.mark.parametrize("views", PHYSICS_VIEWS)
def test_each_view_is_deterministic_under_a_seed(views):
    x = torch.randn(16, 1, 512) + 10.0
    ivar = torch.full_like(x, 4.0)
    spec = V.parse_views(views)
    torch.manual_seed(7)
    a = spec(x, ivar)
    torch.manual_seed(7)
    b = spec(x, ivar)
    torch.manual_seed(8)
    c = spec(x, ivar)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape and torch.isfinite(a).all()


def test_names_and_dims():
    with pytest.raises(ValueError, match="unknown views"):
        V.parse_views("reobserv")
    with pytest.raises(ValueError, match="empty part"):
        V.parse_views("mask+")
    for name in ("mask", "tilt", "lsf"):
        with pytest.raises(ValueError, match="no meaning for 2-D images"):
            V.check_views_dims(name, 2)
        V.check_views_dims(name, 1)
    V.check_views_dims("reobserve", 1), V.check_views_dims("reobserve", 2)   # one name, each modality's noise model
    assert V.parse_views("ids+reobserve").needs_ivar and not V.parse_views("tilt+mask").needs_ivar


def test_training_reads_ivar_and_says_when_it_is_missing(tmp_path):
    """The engine hands each batch's ivar to the views (Engine.views); a split without one stops with the fix."""
    import dataclasses
    from idslab.datasets import Sizes, load
    from idslab.train import TrainConfig, pretrain
    cfg = TrainConfig(dataset="spectra", encoder="cnn1d512", device="cpu", views="reobserve", epochs=1,
                      batch_size=32, n_pretrain=64, n_probe_train=32, n_probe_test=32, data_dir=str(tmp_path))
    data = load("spectra", 512, sizes=Sizes(64, 32, 32), data_dir=tmp_path)
    a = pretrain(cfg, data)
    b = pretrain(cfg, data)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)                                                  # same seed, same run
    bare = dataclasses.replace(data, pretrain=dataclasses.replace(data.pretrain, ivar=None))
    with pytest.raises(ValueError, match="--ivar-key"):
        pretrain(cfg, bare)
