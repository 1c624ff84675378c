"""Data-space views for SimCLR (paper Sec. 4.3), as batched tensor ops on whatever device x lives on.

Every function maps x (B, C, N, N) to a view of the same shape, with an independent random draw per sample, using
torch's global RNG (seeded by the trainer), so the same seed gives the same views on the CPU.

A views string names what makes the two views of a positive pair: '+'-joined names from VIEWS, e.g. "flip",
"fft", "simclr", "ids", "ids+flip". "ids" adds no data transform: its variation comes from the perturbed encoder
(idslab.perturb), so IDS composes with any data view.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

VIEWS = {
    "none": "identity: both views are the input itself",
    "flip": "random horizontal and vertical flips and a rotation by an arbitrary angle (the paper's baseline)",
    "flip90": "random horizontal and vertical flips and a rotation by a multiple of 90 degrees (lossless)",
    "fft": "column-wise FFT, a random contiguous 15% band of the spectrum zeroed, inverse FFT (in-domain)",
    "simclr": "SimCLR suite: random resized crop, horizontal flip, colour jitter, grayscale (natural images)",
    "ids": "implicit data synthesis: identity data views, weights of the perturbation sites perturbed",
}


def flip_rotate(x: torch.Tensor, angles: str = "any") -> torch.Tensor:
    """Random horizontal flip, vertical flip (each p = 1/2) and rotation, per sample.

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
    contiguous band of `frac` of its spectrum at a random position per sample, inverse FFT.

    The real FFT's N//2 + 1 bins are the spectrum (the negative frequencies mirror them), so the output is real.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"fft band fraction must be in (0, 1), got {frac}")
    n = x.shape[-2]
    spec = torch.fft.rfft(x.float(), dim=-2)                                # (B, C, n//2+1, N) complex
    bins = spec.shape[-2]
    width = max(1, round(frac * bins))
    start = torch.randint(0, bins - width + 1, (x.shape[0], 1, 1, 1), device=x.device)
    k = torch.arange(bins, device=x.device).view(1, 1, -1, 1)
    spec = spec.masked_fill((k >= start) & (k < start + width), 0)
    return torch.fft.irfft(spec, n=n, dim=-2).to(x.dtype)


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


_DATA_VIEWS = {"flip": flip_rotate, "flip90": lambda x: flip_rotate(x, "right"), "fft": fft_band_mask,
               "simclr": simclr_augment}


@dataclass(frozen=True)
class ViewSpec:
    """A parsed views string: the data transforms (applied in order) and whether IDS perturbs the encoder."""
    data: tuple[str, ...]
    ids: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.data:
            x = _DATA_VIEWS[name](x)
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
    """Two independently drawn data views of x (B, C, N, N). For pure "ids" both are x itself."""
    spec = parse_views(views)
    return spec(x), spec(x)
