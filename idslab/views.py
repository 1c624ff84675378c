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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


# name -> {dims: view}: 2 for images (B, C, N, N), 1 for signals (B, C, L); a missing dims has no meaning there
_DATA_VIEWS = {"flip": {2: flip_rotate, 1: reverse_shift}, "flip90": {2: lambda x: flip_rotate(x, "right")},
               "fft": {2: fft_band_mask, 1: fft_band_mask}, "simclr": {2: simclr_augment, 1: scale_jitter},
               "reverse": {1: reverse}, "shift": {1: random_shift}}


def check_views_dims(views: str, dims: int) -> None:
    """ValueError naming the fix if a view of `views` has no meaning for data of `dims` (1: signals, 2: images)."""
    bad = [v for v in parse_views(views).data if dims not in _DATA_VIEWS[v]]
    if bad:
        alt = "reverse, shift, flip (both), fft, simclr" if dims == 1 else "flip, flip90, fft, simclr"
        raise ValueError(f"views {bad} have no meaning for {'1-D signals' if dims == 1 else '2-D images'}: use "
                         f"{alt}, ids or none")


@dataclass(frozen=True)
class ViewSpec:
    """A parsed views string: the data transforms (applied in order) and whether IDS perturbs the encoder."""
    data: tuple[str, ...]
    ids: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        dims = x.dim() - 2                                  # 1: (B, C, L), 2: (B, C, N, N)
        for name in self.data:
            if dims not in _DATA_VIEWS[name]:
                check_views_dims(name, dims)
            x = _DATA_VIEWS[name][dims](x)
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


def make_views(x: torch.Tensor, views: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independently drawn data views of x (B, C, N, N) or (B, C, L). For pure "ids" both are x itself."""
    spec = parse_views(views)
    return spec(x), spec(x)
