"""Data-space views for SimCLR (paper Sec. 4.3), as batched tensor ops on whatever device x lives on.

Every function maps x (B, C, N, N) -- or, for one-dimensional data (spectra, time series), x (B, C, L) -- to a
view of the same shape, with an independent random draw per sample, using torch's global RNG (seeded by the
trainer), so the same seed gives the same views on the CPU.

A views string names what makes the two views of a positive pair: '+'-joined names from VIEWS, e.g. "flip",
"fft", "simclr", "ids", "ids+flip". "ids" adds no data transform: its variation comes from the perturbed encoder
(idslab.perturb), so IDS composes with any data view.

One dimension further down (issue 20), the names keep their meaning where it carries over: "flip" is the paper's
baseline analogue, a random reversal of the axis plus a random shift along it (on a log-wavelength grid a shift is a
Doppler shift: it changes the velocity, as a rotation changes a meteor's speed; a reversal swaps a doublet's line
ratio to the wrong side); "fft" masks a band of the spectrum along the axis; "simclr" is the generic suite of the
modality, for signals random scaling and jitter (Um et al. 2017). "reverse" and "shift" are the two parts of "flip"
alone, 1-D only; "flip90" is 2-D only.

Views that keep the physics of a spectrum (issue 26), each documented with why the label and the physics targets
survive it: "reobserve" (a new noise draw from the per-bin inverse variance: the same galaxy observed again),
"mask" (a random run of bins and the sky-line bins replaced by the local continuum, never both doublet lines),
"tilt" (a smooth flux-calibration error of a few per cent), "lsf" (a slightly wider line-spread function, flux
conserved). They compose with each other and with IDS like every view ("reobserve+tilt", "ids+reobserve").
"reobserve" is one name for both modalities (issue 26's meteor question): on 2-D radar images in calibrated SNR dB it
draws the receiver's complex noise anew on the Rician-debiased amplitude, the same radar scene observed again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .datasets.meteor import MeteorParams

VIEWS = {
    "none": "identity: both views are the input itself",
    "flip": "random horizontal and vertical flips and a rotation by an arbitrary angle (the paper's baseline); "
            "1-D: a random reversal and a random shift along the axis",
    "flip90": "random horizontal and vertical flips and a rotation by a multiple of 90 degrees (lossless; 2-D only)",
    "fft": "column-wise FFT, a random contiguous 15% band of the spectrum zeroed, inverse FFT (in-domain); 1-D: "
           "along the axis",
    "simclr": "SimCLR suite: random resized crop, horizontal flip, colour jitter, grayscale (natural images); 1-D: "
              "random scaling and jitter",
    "reverse": "1-D only: the axis reversed, per sample with probability 1/2",
    "shift": "1-D only: a random shift along the axis, up to L/16 bins either way (spectra: a Doppler shift)",
    "reobserve": "the same object observed again, a new draw of the instrument's noise: 1-D from the per-bin "
                 "variance (the split's inverse variance, Split.ivar); 2-D radar images in calibrated SNR dB: a new "
                 "complex receiver-noise draw on the Rician-debiased amplitude",
    "mask": "1-D only: a random contiguous run of bins and the known sky-line bins replaced by the local continuum "
            "(never both lines of the [O III] doublet)",
    "tilt": "1-D only: a smooth multiplicative flux-calibration error (a few per cent across the axis)",
    "lsf": "1-D only: the line-spread function broadened a little (a flux-conserving Gaussian convolution)",
    "ids": "implicit data synthesis: identity data views, weights of the perturbation sites perturbed",
}


def flip_rotate(x: torch.Tensor, angles: str = "any") -> torch.Tensor:
    """Random horizontal flip, vertical flip (each p = 1/2) and rotation, per sample. x (B, C, N, N).

    angles: "any" rotates by θ ~ U(0°, 360°) with bilinear resampling and zero fill (what breaks radar physics
    most plainly: a meteor's slope is its speed), "right" by a multiple of 90° (no resampling), "none" skips it.
    """
    b = x.shape[0]
    flip = lambda t, dim: torch.where(torch.rand(b, 1, 1, 1, device=x.device) < 0.5, t.flip(dim), t)
    x = flip(flip(x, -1), -2)
    if angles == "right":
        k = torch.randint(0, 4, (b,), device=x.device)
        out = x.clone()
        for q in (1, 2, 3):  # four fixed rotations, each applied to its own subset of the batch
            out[k == q] = torch.rot90(x[k == q], q, dims=(-2, -1))
        return out
    if angles == "any":
        # A random angle turns clockwise or counter-clockwise alike, so the sign convention is immaterial here.
        return _turn(x, -torch.rand(b, device=x.device) * (2 * math.pi))
    if angles != "none":
        raise ValueError(f"angles must be 'any', 'right' or 'none', got {angles!r}")
    return x


def _turn(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotate each image counter-clockwise as displayed with row 0 at the bottom (radar: altitude up, time right)
    by theta (B,) radians: bilinear resampling, zero fill. Output pixel p samples the input at R(-theta) p."""
    cos, sin, zero = theta.cos(), theta.sin(), torch.zeros_like(theta)
    affine = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(affine.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """x (B, C, N, N) turned counter-clockwise by a fixed angle in degrees, as displayed with altitude up and time
    to the right (the resampling flip_rotate uses for its random angles; notebook 00's rotation slider)."""
    theta = torch.full((x.shape[0],), math.radians(float(degrees)), device=x.device)
    return _turn(x, theta)


def fft_band_mask(x: torch.Tensor, frac: float = 0.15) -> torch.Tensor:
    """In-domain view (paper Sec. 4.3): FFT each image column (one radar pulse, along altitude = dim -2), zero a
    contiguous band of `frac` of its spectrum at a random position per sample, inverse FFT. x (B, C, L): the same
    along the signal's one axis (dim -1).

    The real FFT's N//2 + 1 bins are the spectrum (the negative frequencies mirror them), so the output is real.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"fft band fraction must be in (0, 1), got {frac}")
    dim = -2 if x.dim() == 4 else -1
    n = x.shape[dim]
    spec = torch.fft.rfft(x.float(), dim=dim)                               # (B, C, n//2+1, N) or (B, C, n//2+1)
    bins = spec.shape[dim]
    width = max(1, round(frac * bins))
    start = torch.randint(0, bins - width + 1, (x.shape[0],) + (1,) * (x.dim() - 1), device=x.device)
    k = torch.arange(bins, device=x.device).view((1, 1, -1) + (1,) * (x.dim() - 3))
    spec = spec.masked_fill((k >= start) & (k < start + width), 0)
    return torch.fft.irfft(spec, n=n, dim=dim).to(x.dtype)


def simclr_augment(x: torch.Tensor) -> torch.Tensor:
    """The SimCLR suite (Chen et al. 2020) for natural images, via kornia (per-sample parameters on the device).

    kornia's colour ops expect values in [0, 1]: each sample is min-max scaled to [0, 1] jointly over its channels,
    augmented, and mapped back, so it works on standardised data. Saturation, hue and grayscale need 3 channels and
    are dropped for 1-channel data (radar: these ops mean nothing there, which is the paper's point).
    """
    import kornia.augmentation as K  # imported here: only this view needs it

    n, c = x.shape[-1], x.shape[1]
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    span = (x.amax(dim=(1, 2, 3), keepdim=True) - lo).clamp_min(1e-6)
    u = (x - lo) / span
    if c == 3:
        ops = [K.RandomResizedCrop((n, n), scale=(0.08, 1.0)), K.RandomHorizontalFlip(),
               K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2)]
    else:
        ops = [K.RandomResizedCrop((n, n), scale=(0.08, 1.0)), K.RandomHorizontalFlip(),
               K.ColorJitter(0.4, 0.4, p=0.8)]
    for op in ops:
        u = op(u)
    return u * span + lo


# ------------------------------------------------------------------------------------ one-dimensional data (B, C, L)
def reverse(x: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """The flip analogue: each sample's axis reversed with probability p. x (B, C, L). On a spectrum it is
    unphysical: [O III] 5008 lands left of 4960, the strong line of the doublet on the wrong side."""
    keep = torch.rand(x.shape[0], 1, 1, device=x.device) >= p
    return torch.where(keep, x, x.flip(-1))


def shift(x: torch.Tensor, bins) -> torch.Tensor:
    """x (B, C, L) moved by `bins` (a number, or (B,) per sample; fractional: linear interpolation) towards higher
    index, the first / last value repeated where the window runs out of data. On a log-wavelength grid a shift of
    k bins is a Doppler shift by c (10^(k dloglam) - 1) (spectra: ~69 km/s per bin)."""
    b, c, n = x.shape
    bins = torch.as_tensor(bins, dtype=torch.float32, device=x.device).expand(b)
    src = (torch.arange(n, device=x.device, dtype=torch.float32)[None, :] - bins[:, None]).clamp(0, n - 1)  # (B, L)
    lo = src.floor().long().clamp(max=n - 2)
    frac = (src - lo).to(x.dtype)[:, None, :]
    take = lambda i: x.gather(-1, i[:, None, :].expand(b, c, n))
    return take(lo) * (1 - frac) + take(lo + 1) * frac


def random_shift(x: torch.Tensor, max_bins: float | None = None) -> torch.Tensor:
    """The rotation analogue: a shift by U(-max_bins, max_bins) bins per sample (default L/16: +-32 bins, +-2200
    km/s for the spectra, about their whole velocity range). x (B, C, L)."""
    m = x.shape[-1] / 16 if max_bins is None else float(max_bins)
    return shift(x, (torch.rand(x.shape[0], device=x.device) * 2 - 1) * m)


def reverse_shift(x: torch.Tensor) -> torch.Tensor:
    """'flip' for 1-D data, the paper's baseline one dimension down: a random reversal, then a random shift."""
    return random_shift(reverse(x))


def scale_jitter(x: torch.Tensor, scale_sd: float = 0.2, jitter: float = 0.05) -> torch.Tensor:
    """'simclr' for 1-D data, the usual augmentation of signals (Um et al. 2017): each sample multiplied by a
    log-normal factor exp(N(0, scale_sd^2)) and given Gaussian noise of `jitter` times its own standard deviation.
    x (B, C, L). On calibrated flux both change the physics: the brightness and the measured SNR."""
    b = x.shape[0]
    factor = torch.exp(torch.randn(b, 1, 1, device=x.device) * scale_sd)
    sd = x.float().std(dim=(1, 2), keepdim=True).to(x.dtype)
    return x * factor + torch.randn_like(x) * (jitter * sd)



# ------------------------------------------------------------- one-dimensional data: views that keep the physics
# (issue 26). The physical order of an observation is optics (lsf) -> detector (reobserve) -> calibration (tilt) ->
# pipeline (mask); a views string applies its names in the order written, so "lsf+reobserve+tilt+mask" is that order.
def _spectra_grid():
    """The spectra simulator's default grid (idslab.datasets.spectra.SpectraParams): the bins of its sky lines and
    the [O III] doublet's separation in bins (41.8 on the 1e-4 log10 grid, whatever the velocity)."""
    import numpy as np
    from .datasets.spectra import OIII, SpectraParams
    p = SpectraParams()
    sky = np.log10(p.sky_lines() / p.lam_min_a) / p.dloglam                  # fractional bin positions
    sep = math.log10(OIII[1] / OIII[0]) / p.dloglam
    return p.n_bins, tuple(float(b) for b in sky if 0 <= b < p.n_bins), sep, p.kms_per_bin, p.sigma_inst_kms


SPECTRA_L, SKY_BINS, DOUBLET_SEP_BINS, KMS_PER_BIN, SIGMA_INST_KMS = _spectra_grid()
METEOR_DB_FLOOR = MeteorParams.db_floor         # -30 dB: the meteor images' clamp (log of a ~0 noise sample)


def reobserve(x: torch.Tensor, ivar: torch.Tensor | None = None, scale: float = 1.0,
              floor_db: float = METEOR_DB_FLOOR) -> torch.Tensor:
    """Re-observation: the same object observed again, a new draw of the instrument's noise. One name for both
    modalities; the noise model is the data's own, chosen by the shape:

    - x (B, C, L), spectra and other flux signals: x + scale sigma N(0, 1) per bin, sigma = 1 / sqrt(ivar) from the
      per-bin inverse variance ivar (B, C, L) (Split.ivar; a user's file: --ivar-key), see _reobserve_flux;
    - x (B, C, N, N), radar images in calibrated SNR dB over the receiver noise (idslab.datasets.meteor: noise
      power 1 = 0 dB after the matched filter; a user's 2-D file must be in this convention): a new circular
      complex Gaussian noise draw added to the Rician-debiased amplitude of every pixel, see _reobserve_radar.
      ivar must be None there (the units carry the noise model); floor_db: the images' clamp (meteor's db_floor).

    scale: the new draw's noise sd in units of the data's own (1: the same instrument)."""
    if not 0.0 < scale <= 4.0:
        raise ValueError(f"reobserve scale (noise sd in units of the data's own) must be in (0, 4], got {scale}")
    if x.dim() == 4:
        if ivar is not None:
            raise ValueError("view 'reobserve' on 2-D images reads the noise model from the units (calibrated SNR "
                             "dB, receiver noise power 1 = 0 dB, as idslab.datasets.meteor): an inverse-variance "
                             "array (--ivar-key) has no meaning there; drop --ivar-key")
        return _reobserve_radar(x, scale, floor_db)
    return _reobserve_flux(x, ivar, scale)


def _reobserve_flux(x: torch.Tensor, ivar: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Re-observation of a spectrum: x + scale * sigma * N(0, 1) per bin, sigma = 1 / sqrt(ivar). x, ivar (B, C, L);
    ivar in the inverse flux units squared (spectra: (1e-17 erg s^-1 cm^-2 A^-1)^-2), 0 where a bin has no data
    (left as is).

    Physics: a second exposure of the same galaxy has the same expected flux in every bin and an independent photon
    + read-noise draw of the same variance (the noise model of idslab.datasets.spectra: galaxy + sky electrons +
    read noise squared). Two views x + sigma e1 and x + sigma e2 differ by noise of variance 2 sigma^2 per bin, as two
    real exposures do, and nothing else: line positions (velocity), fluxes, ratio and width are the galaxy's, so
    the label and every physics target are kept. E[view] = x; Var[view - x] = scale^2 / ivar per bin.
    """
    if ivar is None:
        raise ValueError("view 'reobserve' needs the per-bin inverse variance of every sample (Split.ivar): the "
                         "spectra simulator provides it; for a file pass --ivar-key NAME (an inverse-variance array "
                         "of the same shape as the data), or drop 'reobserve' from --views")
    if ivar.shape != x.shape:
        raise ValueError(f"view 'reobserve': ivar has shape {tuple(ivar.shape)}, the data {tuple(x.shape)}: the "
                         "inverse-variance array (--ivar-key) must match the data array bin for bin")
    sigma = torch.where(ivar > 0, ivar.clamp_min(1e-30).rsqrt(), torch.zeros_like(ivar))
    return x + torch.randn_like(x) * (scale * sigma)


def _reobserve_radar(x: torch.Tensor, scale: float, floor_db: float) -> torch.Tensor:
    """Re-observation of a radar scene (SPEC "Noise, clutter, processing"): x (B, C, N, N) calibrated SNR in dB,
    v = 10 log10 |y|^2 with y = s + n the matched-filter output over its noise, n circular complex Gaussian of
    power E|n|^2 = 1 (idslab.datasets.meteor.to_db: 0 dB is the noise floor; clamped at floor_db). Per pixel:

        |s|^2 = max(10^(v/10) - 1, 0)         the Rician bias removed: E|y|^2 = |s|^2 + 1
        y'    = |s| + n',  n' ~ CN(0, scale^2)   a new receiver-noise draw (scale 1: the same receiver)
        v'    = 10 log10 max(|y'|^2, 10^(floor_db/10))

    No phase need be drawn for s: n' is circularly symmetric, so |s e^{i phi} + n'| has the law of |s| + n' for
    every phi. Physics: the scene (echo, electrojet, trail, interference power) is kept and only the receiver's
    noise is drawn anew, the same sky seen by a second pulse train. E|y'|^2 = |s|^2 + scale^2: with scale 1 a pixel
    keeps its power in expectation wherever 10^(v/10) > 1 (a bright echo: unchanged in expectation; in dB E v' =
    10 log10 |s|^2 + 4.34 E_1(|s|^2), i.e. v less 0.14 dB at 15 dB, 0.04 dB at 20, against a draw's sd of 1.1 and
    0.6 dB), so calibrated SNR (the meteor's size) is kept, and streak geometry (speed, direction) is not touched. What one look cannot do: tell a noise pixel above the mean from weak signal. A pure-noise pixel has
    |y|^2 ~ Exp(1); with probability 1/e it exceeds 1, by an Exp(1) excess, which is then read as signal, so pure
    noise comes out as the mixture (1 - 1/e) Exp(1) + (1/e) Exp(2) in power: its mean dB rises by 10 log10(2) / e =
    +1.11 dB (-2.51 to -1.40 dB), its sd from 5.57 to 5.75 dB (tests/test_views.py checks both). No re-draw from a
    single look can keep the law of every scene exactly (the Rician family is complete in |s|, so the only kernel
    leaving each member unchanged is the identity); this one is the unbiased choice in power. The noise after the
    51-baud matched filter is correlated along range only through the code's autocorrelation sidelobes (<= 3/51
    in amplitude for the MSB code), so n' is drawn white per pixel.
    """
    p = torch.pow(10.0, x.float() / 10.0)
    s = (p - 1.0).clamp_min(0.0).sqrt()
    re = s + torch.randn_like(s) * (scale * math.sqrt(0.5))
    im = torch.randn_like(s) * (scale * math.sqrt(0.5))
    power = (re * re + im * im).clamp_min(10.0 ** (floor_db / 10.0))
    return (10.0 * torch.log10(power)).to(x.dtype)


def _runs_mask(b: int, n: int, frac: float, device) -> torch.Tensor:
    """(B, L) bool: one contiguous run of round(frac L) bins per sample at a uniform random start."""
    width = max(1, round(frac * n))
    start = torch.randint(0, n - width + 1, (b, 1), device=device)
    k = torch.arange(n, device=device)[None, :]
    return (k >= start) & (k < start + width)


def keep_doublet(mask: torch.Tensor, sep: float = DOUBLET_SEP_BINS) -> torch.Tensor:
    """mask (B, L) bool -> a copy that never hides both lines of the [O III] doublet, at any velocity: the doublet's
    centres fall in bins i and i + floor(sep) or i + ceil(sep) (41 or 42 on the spectra grid), so wherever bin i and
    bin i + s are both masked (s either separation), bin i + s (where 5008 would be) is unmasked."""
    out = mask.clone()
    for s in sorted({math.floor(sep), math.ceil(sep)}):
        both = out[:, :-s] & out[:, s:]                                        # (B, L - s)
        out[:, s:] &= ~both
    return out


def fill_continuum(x: torch.Tensor, mask: torch.Tensor, smooth: int = 5) -> torch.Tensor:
    """x (B, C, L) with its masked bins (mask (B, L) bool) replaced by the straight line between the nearest unmasked
    bins on either side (the local continuum; a pipeline's bad-pixel interpolation), each end taken from x smoothed
    over `smooth` bins so one noisy bin does not set the level. A run touching an edge takes the other side's value;
    a sample masked everywhere is left as is."""
    b, c, n = x.shape
    k = torch.arange(n, device=x.device).expand(b, n)
    good = ~mask
    left = torch.where(good, k, torch.full_like(k, -1)).cummax(-1).values                     # last good at or before
    right = torch.where(good, k, torch.full_like(k, n)).flip(-1).cummin(-1).values.flip(-1)   # first good at/after
    has_l, has_r = left >= 0, right < n
    left = torch.where(has_l, left, right).clamp(0, n - 1)
    right = torch.where(has_r, right, left).clamp(0, n - 1)
    xs = F.avg_pool1d(F.pad(x.float(), (smooth // 2, smooth // 2), mode="replicate"), smooth, 1) if smooth > 1 \
        else x.float()
    vl = xs.gather(-1, left[:, None, :].expand(b, c, n))
    vr = xs.gather(-1, right[:, None, :].expand(b, c, n))
    w = ((k - left) / (right - left).clamp_min(1)).to(xs.dtype)[:, None, :]
    line = vl + (vr - vl) * w
    keep = good | ~(has_l | has_r)                                             # all-masked samples: unchanged
    return torch.where(keep[:, None, :], x, line.to(x.dtype))


def mask_bins(x: torch.Tensor, frac: float = 0.05, sky: bool = True, sky_halfwidth: int = 2, doublet: bool = True,
              fill: str = "continuum") -> tuple[torch.Tensor, torch.Tensor]:
    """Masking as pipelines do with bad pixels: one random contiguous run of frac L bins per sample, plus (sky=True)
    the bins within sky_halfwidth of the known sky lines (SKY_BINS: [N I] 5198/5200 and Hg I 5461 observed, in the
    cluster frame), replaced by the local continuum (fill="continuum", fill_continuum) or by 0 (fill="zero": marked,
    as a zero inverse variance marks them). doublet=True: never both lines of the [O III] doublet (keep_doublet).
    x (B, C, L) -> (view (B, C, L), mask (B, L) bool).

    Physics: masking removes information but adds none, so a masked spectrum is one the survey could have taken
    (sky-line bins are masked in real data; cosmic-ray and bad-column runs too). A doublet keeps its label as long as
    one of its lines is visible with its partner's place merely missing data, which doublet=True guarantees (it goes
    before the sky mask: a sky bin 41-42 bins to the red of a masked run stays visible); hiding
    one line can still make a positive look like a single-line decoy, so the run is short by default (5%: 26 bins,
    less than the 41.8-bin separation, so one run alone can never hide both).
    """
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"mask fraction must be in [0, 1), got {frac}")
    if fill not in ("continuum", "zero"):
        raise ValueError(f"mask fill must be 'continuum' or 'zero', got {fill!r}")
    if isinstance(sky_halfwidth, bool) or not isinstance(sky_halfwidth, int) or sky_halfwidth < 0:
        raise ValueError(f"sky_halfwidth must be a whole number of bins >= 0, got {sky_halfwidth!r}")
    b, c, n = x.shape
    m = _runs_mask(b, n, frac, x.device) if frac > 0 else torch.zeros(b, n, dtype=torch.bool, device=x.device)
    if sky and n == SPECTRA_L:      # the sky lines' bins are those of the spectra grid
        k = torch.arange(n, device=x.device, dtype=torch.float32)
        for s in SKY_BINS:
            m = m | ((k - s).abs() <= sky_halfwidth + 0.5)[None, :]
    if doublet:
        m = keep_doublet(m)
    out = fill_continuum(x, m) if fill == "continuum" else x.masked_fill(m[:, None, :], 0.0)
    return out, m


def random_mask(x: torch.Tensor) -> torch.Tensor:
    """'mask' as a views name: mask_bins at its defaults, the view only."""
    return mask_bins(x)[0]


def tilt(x: torch.Tensor, sd: float = 0.03) -> torch.Tensor:
    """Flux calibration: x times exp(a P1(u) + b P2(u)), u in [-1, 1] along the axis, P1, P2 the Legendre
    polynomials, a, b ~ N(0, sd^2) per sample (sd / 2 for the curvature b). x (B, C, L).

    Physics: spectrophotometric calibration is good to a few per cent and its errors are smooth in wavelength (SDSS
    quotes a few per cent rms from DR6 on, Adelman-McCarthy et al. 2008; default sd = 3%, a stated choice). A multiplicative factor this smooth changes the flux
    ratio of two lines 41.8 bins apart by at most ~2 sd 41.8 / 512 (0.5% at sd = 3%, against 1 / 2.98 for a doublet)
    and moves no line: label, velocity, width and line ratio are kept. It does change the continuum slope a probe
    reads (a slope error is what a calibration error is), so it teaches invariance to calibration, not to physics.
    """
    if not 0.0 <= sd <= 0.5:
        raise ValueError(f"tilt sd (fractional calibration error) must be in [0, 0.5], got {sd}")
    b, _, n = x.shape
    u = torch.linspace(-1.0, 1.0, n, device=x.device)
    p1, p2 = u, 1.5 * u * u - 0.5
    a = torch.randn(b, 1, 1, device=x.device) * sd
    c = torch.randn(b, 1, 1, device=x.device) * (sd / 2)
    return x * torch.exp(a * p1 + c * p2).to(x.dtype)


def broaden(x: torch.Tensor, max_kms: float = 40.0, kms_per_bin: float = KMS_PER_BIN) -> torch.Tensor:
    """Resolution: x convolved with a normalised Gaussian of sigma ~ U(0, max_kms) km/s per sample (in bins: /
    kms_per_bin), edges replicated. x (B, C, L).

    Physics: the instrument's line-spread function varies across the detector and between nights; adding sigma_extra
    in quadrature to sigma_inst = 65 km/s (R ~ 2000) is an LSF up to sqrt(65^2 + 40^2) / 65 = 17% wider at the
    default. The kernel is normalised and the same for every line, so each line keeps its flux and the doublet its
    2.98 ratio and its 41.8-bin separation (velocity kept); a line's width grows by the quadrature sum (the line
    width probe reads sigma_gas, which is broadened by at most 40 km/s against its 20-200 km/s range). The noise is
    smoothed too (its per-bin variance drops a little), as resampled survey spectra are.
    """
    if not 0.0 < max_kms <= 500.0:
        raise ValueError(f"lsf max broadening must be in (0, 500] km/s, got {max_kms}")
    b, c, n = x.shape
    sig = torch.rand(b, device=x.device) * (max_kms / kms_per_bin)              # (B,) bins
    half = max(1, math.ceil(4 * max_kms / kms_per_bin))
    t = torch.arange(-half, half + 1, device=x.device, dtype=torch.float32)
    ker = torch.exp(-0.5 * (t[None, :] / sig.clamp_min(1e-3)[:, None]) ** 2)     # (B, K); sig -> 0: a delta
    ker = ker / ker.sum(-1, keepdim=True)
    xp = F.pad(x.float().reshape(1, b * c, n), (half, half), mode="replicate")   # (1, B C, L + 2 half)
    out = F.conv1d(xp, ker.repeat_interleave(c, 0)[:, None, :], groups=b * c)   # one kernel per sample (grouped)
    return out.reshape(b, c, n).to(x.dtype)

# name -> {dims: view}: 2 for images (B, C, N, N), 1 for signals (B, C, L); a missing dims has no meaning there
_DATA_VIEWS = {"flip": {2: flip_rotate, 1: reverse_shift}, "flip90": {2: lambda x: flip_rotate(x, "right")},
               "fft": {2: fft_band_mask, 1: fft_band_mask}, "simclr": {2: simclr_augment, 1: scale_jitter},
               "reverse": {1: reverse}, "shift": {1: random_shift}, "reobserve": {1: reobserve, 2: reobserve},
               "mask": {1: random_mask}, "tilt": {1: tilt}, "lsf": {1: broaden}}
NEEDS_IVAR = ("reobserve",)   # views called as view(x, ivar): 1-D reads the per-bin inverse variance (2-D: None)


def check_views_dims(views: str, dims: int) -> None:
    """ValueError naming the fix if a view of `views` has no meaning for data of `dims` (1: signals, 2: images)."""
    bad = [v for v in parse_views(views).data if dims not in _DATA_VIEWS[v]]
    if bad:
        alt = "reverse, shift, flip (both), fft, simclr, reobserve, mask, tilt, lsf" if dims == 1 else "flip, flip90, fft, simclr, reobserve"
        raise ValueError(f"views {bad} have no meaning for {'1-D signals' if dims == 1 else '2-D images'}: use "
                         f"{alt}, ids or none")


@dataclass(frozen=True)
class ViewSpec:
    """A parsed views string: the data transforms (applied in order) and whether IDS perturbs the encoder."""
    data: tuple[str, ...]
    ids: bool

    @property
    def needs_ivar(self) -> bool:
        """Whether a view reads the per-bin inverse variance (Split.ivar), e.g. 'reobserve'."""
        return any(v in NEEDS_IVAR for v in self.data)

    def __call__(self, x: torch.Tensor, ivar: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, N, N) or (B, C, L) -> one view; ivar (same shape as x): the per-bin inverse variance, read by
        'reobserve' (the variance of the observed spectrum, whatever views came before it)."""
        dims = x.dim() - 2                                  # 1: (B, C, L), 2: (B, C, N, N)
        for name in self.data:
            if dims not in _DATA_VIEWS[name]:
                check_views_dims(name, dims)
            x = _DATA_VIEWS[name][dims](x, ivar) if name in NEEDS_IVAR else _DATA_VIEWS[name][dims](x)
        return x


def parse_views(views: str) -> ViewSpec:
    """'ids+flip' -> ViewSpec(data=('flip',), ids=True). Raises ValueError naming the valid views."""
    if not isinstance(views, str):
        raise ValueError(f"views must be a string such as 'ids' or 'ids+flip', got {views!r}")
    names = [v.strip() for v in views.split("+")]
    bad = [v for v in names if v not in VIEWS]
    if bad:  # an empty part ('ids+', '+flip', '') is an error, not silently dropped: 'ids+' may be a typo of more
        what = f"empty part in views {views!r}" if "" in bad else f"unknown views {bad}"
        raise ValueError(f"{what}: use '+'-joined names from {', '.join(VIEWS)} (e.g. 'ids', 'flip', 'ids+flip')")
    return ViewSpec(tuple(v for v in names if v in _DATA_VIEWS), "ids" in names)


def make_views(x: torch.Tensor, views: str, ivar: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independently drawn data views of x (B, C, N, N) or (B, C, L). For pure "ids" both are x itself. ivar:
    the per-bin inverse variance of x (views 'reobserve')."""
    spec = parse_views(views)
    return spec(x, ivar), spec(x, ivar)
