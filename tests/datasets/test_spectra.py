"""The simulated spectra (idslab.datasets.spectra): the physics (Doppler shift, noise at the stated SNR, the doublet's
ratio), the labels, the matched negatives against the trivial baseline, determinism and the cache."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from idslab.datasets import Sizes, SpectraParams, load, summary
from idslab.datasets import spectra as S

P = SpectraParams()


def test_constants_are_vacuum_wavelengths_of_the_named_lines():
    """Air -> vacuum (IAU / Morton 2000) reproduces the SDSS vacuum wavelengths of [O III] and Hbeta to 0.02 A."""
    assert S.OIII == pytest.approx((4960.295, 5008.240), abs=0.02)
    assert S.HBETA == pytest.approx(4862.68, abs=0.02)
    lam = P.wavelength()
    assert len(lam) == 512 and lam[0] == 4800.0 and lam[-1] == pytest.approx(5399.35, abs=0.01)
    assert P.kms_per_bin == pytest.approx(69.04, abs=0.01)
    # the doublet is 41.8 bins apart at every velocity: a shift of the axis cannot change it
    assert math.log10(S.OIII[1] / S.OIII[0]) / P.dloglam == pytest.approx(41.78, abs=0.01)


@pytest.mark.parametrize("v", [-1900.0, -700.0, 0.0, 333.0, 1950.0])
def test_a_line_lands_at_lambda0_times_one_plus_v_over_c_to_a_bin(v):
    """The doublet of a noise-free spectrum, less the same galaxy without it: each line peaks in the bin that holds
    lambda0 (1 + v / c)."""
    a = S.simulate_spectrum(velocity_kms=v, line_snr=30.0, noise=False)
    b = S.simulate_spectrum(velocity_kms=v, line_snr=30.0, doublet=False, noise=False)
    diff = a.clean - b.clean
    lam = a.wavelength
    for rest in S.OIII:
        want = rest * (1 + v / S.C_KMS)
        near = np.abs(np.log(lam / want)) < 10 * P.dloglam * math.log(10)   # the line's own neighbourhood
        peak = lam[near][np.argmax(diff[near])]
        assert abs(math.log10(peak / want)) <= P.dloglam, (rest, v, peak, want)
    assert a.lines["[O III] 5008"] == pytest.approx(S.OIII[1] * (1 + v / S.C_KMS))


def test_the_doublet_has_the_fixed_flux_ratio_and_the_absorption_lines_shift_too():
    a = S.simulate_spectrum(velocity_kms=800.0, line_snr=40.0, noise=False)
    b = S.simulate_spectrum(velocity_kms=800.0, line_snr=40.0, doublet=False, noise=False)
    diff = (a.clean - b.clean).astype(np.float64)
    mid = math.sqrt(S.OIII[0] * S.OIII[1]) * (1 + 800 / S.C_KMS)
    f4960, f5008 = diff[a.wavelength < mid].sum(), diff[a.wavelength >= mid].sum()
    assert f5008 / f4960 == pytest.approx(S.OIII_RATIO, rel=1e-3)
    # Mg b moves with the galaxy: the deepest absorption near 5175 A is shifted by v
    c0 = S.simulate_spectrum(velocity_kms=0.0, doublet=False, noise=False, slope=0.0)
    c1 = S.simulate_spectrum(velocity_kms=1500.0, doublet=False, noise=False, slope=0.0)
    win = (c0.wavelength > 5150) & (c0.wavelength < 5240)
    shift = np.argmin(c1.clean[win]) - np.argmin(c0.clean[win])
    assert shift == pytest.approx(1500.0 / P.kms_per_bin, abs=1.0)


def test_the_noise_matches_the_stated_snr():
    """Continuum SNR per bin at 5100 A (line-free): mean / std of many noisy draws of the same galaxy."""
    for snr in (5.0, 20.0):
        v = S.simulate_spectrum(snr=snr, doublet=False, noise=False, slope=0.0, absorption_strength=0.0)
        lam = v.wavelength
        i = int(np.argmin(np.abs(lam - P.lam_ref_a)))
        draws = np.stack([S.simulate_spectrum(snr=snr, doublet=False, slope=0.0, absorption_strength=0.0,
                                              seed=s).flux for s in range(400)])
        win = slice(i - 5, i + 5)                             # flat continuum: bins share the SNR
        measured = v.clean[win].mean() / draws[:, win].std(0).mean()
        assert measured == pytest.approx(snr, rel=0.06), (snr, measured)
        assert v.sigma[i] * P.e_per_flux == pytest.approx(
            math.sqrt(S.continuum_level(snr, P) + P.sky_e + P.read_e ** 2), rel=1e-4)


def test_line_snr_is_the_matched_filter_snr():
    """An [O III] 5008 of stated line SNR: the optimal (matched-filter) estimate of its amplitude over many noise
    draws has mean / std = that SNR (the doublet's 4960 partner is left out of the filter, far away)."""
    clean = S.simulate_spectrum(line_snr=12.0, noise=False)
    base = S.simulate_spectrum(line_snr=12.0, doublet=False, noise=False)
    prof = (clean.clean - base.clean).astype(np.float64)
    lam = clean.wavelength
    prof[lam < math.sqrt(S.OIII[0] * S.OIII[1])] = 0.0              # the 5008 line alone
    var = clean.sigma.astype(np.float64) ** 2
    w = prof / var
    est = np.array([w @ (S.simulate_spectrum(line_snr=12.0, seed=s).flux - base.clean) for s in range(300)])
    assert est.mean() / est.std() == pytest.approx(12.0, rel=0.12)


def test_labels_are_right():
    """Positives carry the doublet's weak 4960 line where their velocity puts it, negatives do not; the line
    targets are defined exactly for the positives; classes are balanced."""
    p = dataclasses.replace(P, p_cosmic=0.0, p_sky=0.0)
    x, y, t, info = S.make_split(400, 512, p, np.random.SeedSequence([1, 512, 0]))
    assert x.shape == (400, 512) and x.dtype == np.float16 and (y == 1).sum() == 200
    assert np.isfinite(t["line_snr"][y == 1]).all() and np.isnan(t["line_snr"][y == 0]).all()
    assert np.isfinite(t["velocity_kms"]).all() and np.isfinite(t["continuum_slope"]).all()
    lam = P.wavelength()
    at = np.abs(np.log(lam[None, :] / (S.OIII[0] * (1 + t["velocity_kms"][:, None] / S.C_KMS)))).argmin(1)
    xf = x.astype(np.float32)
    line = xf[np.arange(400), at] - 0.5 * (xf[np.arange(400), at - 6] + xf[np.arange(400), at + 6])
    noise = np.median(np.abs(np.diff(xf, axis=1)), axis=1)
    score = line / noise
    assert np.median(score[y == 1]) > 2.0 and np.median(score[y == 0]) < 0.5
    assert (score[y == 1] > 1.0).mean() > 0.75


def test_matched_negatives_defeat_the_trivial_baseline():
    """Logistic regression on the 9 global statistics (the trivial baseline) is near chance on matched negatives;
    on plain galaxies ('natural') the same statistics find the lines."""
    from idslab.baselines import trivial_baseline
    from types import SimpleNamespace

    def data(negatives):
        p = dataclasses.replace(P, negatives=negatives)
        tr = S.make_split(800, 512, p, np.random.SeedSequence([0, 512, 1]))
        te = S.make_split(600, 512, p, np.random.SeedSequence([0, 512, 2]))
        split = lambda s: SimpleNamespace(x=torch.from_numpy(s[0].astype(np.float32)).unsqueeze(1),
                                          y=torch.from_numpy(s[1]))
        return SimpleNamespace(name="spectra", probe_train=split(tr), probe_test=split(te)), te[3]
    matched, info = data("matched")
    acc = trivial_baseline(matched)["acc"]
    assert acc <= 0.60 and max(abs(g) for g in info["match_gap"]) < 0.15
    natural, _ = data("natural")
    assert trivial_baseline(natural)["acc"] > acc + 0.1


def test_stat_quantiles_are_the_trivial_baselines():
    from idslab.baselines import RELATIVE_QUANTILES
    assert S.STAT_QUANTILES == RELATIVE_QUANTILES


def test_same_seed_same_bytes_other_seed_other_spectra():
    ss = lambda k: np.random.SeedSequence([k, 512, 0])
    a, b, c = (S.make_split(60, 512, P, ss(k)) for k in (3, 3, 4))
    assert a[0].tobytes() == b[0].tobytes() and (a[1] == b[1]).all()
    assert a[0].tobytes() != c[0].tobytes()


def test_load_caches_and_summarises(tmp_path):
    sizes = Sizes(40, 20, 20)
    d = load("spectra", 512, sizes=sizes, data_dir=tmp_path)
    assert d.name == "spectra" and d.dims == 1 and d.pretrain.x.shape == (40, 1, 512)
    assert d.pretrain.x.dtype == torch.float32 and d.classes == S.CLASSES
    assert set(d.probe_test.targets) == set(S.TARGETS) and not d.meta["cached"]
    again = load("spectra", 512, sizes=sizes, data_dir=tmp_path)
    assert again.meta["cached"] and torch.equal(again.probe_test.x, d.probe_test.x)
    assert torch.equal(again.probe_test.targets["velocity_kms"], d.probe_test.targets["velocity_kms"])
    s = summary(d)
    assert s["splits"]["probe_test"]["class_counts"] == {"no_doublet": 10, "oiii_doublet": 10}


def test_bad_parameters_and_lengths_fail_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="tile=512"):
        load("spectra", 256, data_dir=tmp_path)
    with pytest.raises(ValueError, match="SpectraParams"):
        load("spectra", 512, data_dir=tmp_path, params=__import__("idslab").datasets.MeteorParams())
    with pytest.raises(ValueError, match="low <= high"):
        SpectraParams(snr=(10.0, 5.0))
    with pytest.raises(ValueError, match="doublet"):
        SpectraParams(velocity_kms=(-20000.0, 20000.0))
    with pytest.raises(ValueError, match="decoy_mix"):
        SpectraParams(decoy_mix=(0.5, 0.5, 0.5, 0.0, 0.0))
    with pytest.raises(ValueError, match="negatives"):
        SpectraParams(negatives="pairs")
    with pytest.raises(ValueError, match="velocity"):
        S.simulate_spectrum(velocity_kms=1e5)


def test_cli_data_and_train_on_spectra(tmp_path, capsys):
    from idslab.cli import main
    small = ["--pretrain", "40", "--probe-train", "20", "--probe-test", "20", "--data-dir", str(tmp_path)]
    assert main(["data", "spectra", *small]) == 0
    out = capsys.readouterr().out
    assert "spectra, length 512, 1 channel(s)" in out and "no_doublet" in out
    assert main(["data", "spectra", "--json", *small]) == 0
    s = __import__("json").loads(capsys.readouterr().out)
    assert s["meta"]["cached"] and s["meta"]["units"].startswith("flux density")
    assert main(["data", "spectra", "--negatives", "pairs", *small]) == 2
    assert "negatives" in capsys.readouterr().err
    assert main(["train", "--dataset", "spectra", "--encoder", "cnn1d512", "--views", "flip", "--epochs", "1",
                 "--batch-size", "20", "--n-pretrain", "40", "--n-probe-train", "20", "--n-probe-test", "20",
                 "--knn-k", "5", "--data-dir", str(tmp_path), "--device", "cpu", "--quiet"]) == 0
    assert "spectra tile 512 cnn1d512 views=flip" in capsys.readouterr().out
