"""Weight-space perturbation: the heart of Implicit Data Synthesis (paper Sec. 3, Eq. 1).

    h^(l) = σ((W^(l) + λ^(l)) h^(l-1)),   λ^(l)_ij ~ N(0, σ_l²) i.i.d., drawn afresh on every forward pass.

s_l sets the *standard deviation* of the entries of λ (the paper writes N(0, s_l)). W is an ordinary parameter,
changed only by the optimiser; λ is never stored. Two forward passes of the same input through the same layer
give two different functions f_{W+λ1}, f_{W+λ2}: that pair of passes is the positive pair of SimCLR.

Variants beyond the paper (issue 10), each a per-layer attribute set by `set_sites`:

- noise = "view" (the paper, default): one λ per view, shared by every sample of that view, as if each view were
  one forward pass. "sample": a fresh λ per sample. For a linear layer, x(W + λ)ᵀ with λ_ij ~ N(0, σ²) has exactly
  the distribution xWᵀ + σ‖x‖ε, ε ~ N(0, I_out), independent across samples (the local reparameterisation trick,
  Kingma et al. 2015), so it costs one (N, out) draw instead of N (out, in) draws. For a convolution the outputs at
  different positions share one λ, so there is no such shortcut: each sample is convolved with its own W + λ_n
  (one grouped convolution); per view, each view is convolved with its own W + λ_v.
- scale_mode = "absolute" (the paper, default): σ = s_l. "relative": σ = s_l · RMS(W), recomputed from the current
  (detached) W on every pass, so the noise keeps its size relative to the weights as training grows or shrinks W.
  At PyTorch's default init a fixed s_l perturbs a layer's pre-activation by about s_l·√(3·fan_in) of its size
  (docs/OPEN_PROBLEMS.md §1); relative σ makes that ratio ≈ s_l for every layer (for a random W, ‖λx‖/‖Wx‖ ≈ σ/RMS(W)).
- sites: any nn.Linear, nn.Conv2d or nn.Conv1d of the model by qualified name ("fc1", "features.0"), or "all" (every conv and
  linear weight, the same s_l each, as SimGRACE does), or "all_depth" (every weight, s_l/√L each for L sites: the
  noises of L layers add in quadrature, so the total relative perturbation of h stays ≈ s_l however many layers are
  perturbed; with scale_mode="relative" that is exact to first order). For one encoder "all_depth" is only "all" at
  s_l/√L (every CNN here has L = 4 sites); it matters when one s_l is compared across encoders of different depth
  (a ResNet-18 has 22). A name given explicitly overrides "all".

The functional forms `perturbed_linear`, `perturbed_conv2d` and `perturbed_conv1d` (1-D encoders, issue 20: the
same grouped convolution one dimension down) are what the modules' forward calls, for code that
holds the weights itself. Their `eps` argument (and the layers' `eps` buffer) takes a given standard-normal draw of
the shape `draw_shape` names instead of drawing one: idslab.multi draws each stacked run's eps on that run's RNG
stream, in the order the layers would, and runs this same forward under torch.func.vmap.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NOISE_MODES = ("view", "sample")
SCALE_MODES = ("absolute", "relative")
ALL_SITES = ("all", "all_depth")  # site names that expand to every conv and linear weight of the model


def check_modes(noise: str, scale_mode: str) -> None:
    """ValueError naming the valid choices if `noise` or `scale_mode` is not one of them."""
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {', '.join(NOISE_MODES)} (one λ per view or per sample), got {noise!r}")
    if scale_mode not in SCALE_MODES:
        raise ValueError(f"scale_mode must be one of {', '.join(SCALE_MODES)} (σ = s_l, or σ = s_l · RMS(W)), "
                         f"got {scale_mode!r}")


def noise_std(weight: torch.Tensor, scale: float, scale_mode: str = "absolute") -> float | torch.Tensor:
    """σ, the standard deviation of each entry of λ: s_l ("absolute") or s_l · RMS(W) ("relative", a 0-d tensor
    from the detached weight, so no gradient flows through the noise level)."""
    if scale_mode == "absolute":
        return scale
    if scale_mode == "relative":
        return scale * weight.detach().float().pow(2).mean().sqrt().to(weight.dtype)
    check_modes("view", scale_mode)
    raise AssertionError  # unreachable


def _split_views(n: int, n_views: int) -> None:
    if n % n_views:
        raise ValueError(f"batch of {n} rows does not split into n_views={n_views} equal views")


def perturbed_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, scale: float,
                     n_views: int = 1, noise: str = "view", scale_mode: str = "absolute",
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 1 for a linear layer, one training forward pass. x (V·B, in), weight (out, in), bias (out,) -> (V·B, out).

    noise="view": rows are V stacked views of B rows each; view v is multiplied by W + λ_v, λ_v ~ N(0, σ²) (out, in).
    noise="sample": every row gets its own λ, sampled exactly as xWᵀ + σ‖x‖ε (local reparameterisation).
    The bias is never perturbed. scale == 0 is exactly F.linear. eps: the standard-normal draw to use (shape
    `draw_shape`), None to draw it here.
    """
    if scale == 0.0:
        return F.linear(x, weight, bias)
    sigma = noise_std(weight, scale, scale_mode)
    if noise == "sample":
        out = F.linear(x, weight, bias)
        if eps is None:
            eps = torch.randn(out.shape, device=out.device, dtype=out.dtype)      # (N, out), one per sample and unit
        return out + eps * (sigma * x.norm(dim=-1, keepdim=True).to(out.dtype))
    check_modes(noise, scale_mode)
    _split_views(x.shape[0], n_views)
    # One λ per view: (V, out, in). W + λ broadcasts, so the gradient w.r.t. W is the sum over views.
    if eps is None:
        eps = torch.randn((n_views, *weight.shape), device=x.device, dtype=weight.dtype)
    lam = eps * sigma
    out = torch.bmm(x.reshape(n_views, -1, x.shape[-1]), (weight + lam).transpose(1, 2)).reshape(x.shape[0], -1)
    return out if bias is None else out + bias


def _perturbed_conv(conv, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, scale: float,
                    n_views: int, noise: str, scale_mode: str, stride, padding, dilation, groups: int,
                    eps: torch.Tensor | None) -> torch.Tensor:
    """Eq. 1 for a convolution of any dimension: conv is F.conv1d or F.conv2d, x (V·B, C, *spatial)."""
    if scale == 0.0:
        return conv(x, weight, bias, stride, padding, dilation, groups)
    check_modes(noise, scale_mode)
    sigma = noise_std(weight, scale, scale_mode)
    n = x.shape[0]
    k = n if noise == "sample" else n_views                  # number of distinct kernels W + λ
    _split_views(n, k)
    if eps is None:
        eps = torch.randn((k, *weight.shape), device=x.device, dtype=weight.dtype)
    w = weight + eps * sigma                                 # (k, out, C/groups, *kernel)
    if noise == "view":
        # one ordinary convolution per view (V = 2: a loop over views, not samples): each view's rows are a
        # contiguous slice in any memory format, so the input is not copied and channels_last survives, where the
        # grouped form reorders the whole activation twice (docs/BENCHMARKS.md, "IDS on every layer")
        out = torch.cat([conv(xv, wv, None, stride, padding, dilation, groups) for xv, wv in zip(x.chunk(k), w)])
    else:
        out = grouped_conv(conv, x, w, stride, padding, dilation, groups)
    return out if bias is None else out + bias.view((1, -1) + (1,) * (out.dim() - 2))


def grouped_conv(conv, x: torch.Tensor, w: torch.Tensor, stride, padding, dilation, groups: int) -> torch.Tensor:
    """Rows of x convolved with their own kernel, in order, as one grouped convolution: x (k·per, C, *spatial), w (k,
    out, C/groups, *kernel) -> (k·per, out, *spatial'); rows j·per ... (j+1)·per - 1 see kernel j. The batch of
    distinct kernels becomes the group axis: (k·per, C, ...) -> (per, k·C, ...) with groups = k·groups."""
    k, n = w.shape[0], x.shape[0]
    per = n // k
    xg = x.reshape(k, per, *x.shape[1:]).transpose(0, 1).reshape(per, k * x.shape[1], *x.shape[2:])
    out = conv(xg, w.flatten(0, 1), None, stride, padding, dilation, groups * k)
    return out.reshape(per, k, w.shape[1], *out.shape[2:]).transpose(0, 1).reshape(n, w.shape[1], *out.shape[2:])


def perturbed_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, scale: float,
                     n_views: int = 1, noise: str = "view", scale_mode: str = "absolute", stride=1, padding=0,
                     dilation=1, groups: int = 1, eps: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 1 for a convolution. x (V·B, C, H, W), weight (out, C/groups, kh, kw) -> (V·B, out, H', W').

    noise="view": view v is convolved with W + λ_v (λ_v ~ N(0, σ²), weight-shaped); noise="sample": sample n with
    W + λ_n: one convolution per view, or one grouped convolution over the samples (`grouped_conv`). The bias is
    never perturbed; scale == 0 is exactly F.conv2d. `padding` is numeric (pad first for other padding modes).
    eps: the standard-normal draw to use (shape `draw_shape`), None to draw it here.
    """
    return _perturbed_conv(F.conv2d, x, weight, bias, scale, n_views, noise, scale_mode, stride, padding, dilation,
                           groups, eps)


def perturbed_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, scale: float,
                     n_views: int = 1, noise: str = "view", scale_mode: str = "absolute", stride=1, padding=0,
                     dilation=1, groups: int = 1, eps: torch.Tensor | None = None) -> torch.Tensor:
    """perturbed_conv2d one dimension down: x (V·B, C, L), weight (out, C/groups, k) -> (V·B, out, L'); scale == 0
    is exactly F.conv1d."""
    return _perturbed_conv(F.conv1d, x, weight, bias, scale, n_views, noise, scale_mode, stride, padding, dilation,
                           groups, eps)


class _Perturbed:
    """The contract shared by PerturbedLinear and PerturbedConv2d: `scale` (s_l, validated), `n_views`, `noise`,
    `scale_mode`; perturbation only in training mode with scale > 0."""

    @property
    def scale(self) -> float:
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value < math.inf:  # also catches NaN; inf would turn every output into NaN
            raise ValueError(f"perturbation scale s_l must be a finite number >= 0 (it sets a standard deviation), "
                             f"got {value}: e.g. 0.02")
        self._scale = value

    def _init_perturbation(self, scale: float, noise: str, scale_mode: str) -> None:
        check_modes(noise, scale_mode)
        self.scale, self.n_views, self.noise, self.scale_mode = scale, 1, noise, scale_mode
        # a given draw instead of torch.randn (see module doc); a non-persistent buffer, so functional_call can
        # substitute one per stacked run, and checkpoints never see it
        self.register_buffer("eps", None, persistent=False)

    def _active(self) -> bool:
        return self.training and self._scale > 0.0

    def _perturb_repr(self) -> str:
        return f", scale={self._scale:g}, noise={self.noise}, scale_mode={self.scale_mode}"


class PerturbedLinear(_Perturbed, nn.Linear):
    """Drop-in nn.Linear whose weight gets fresh Gaussian noise on every training forward pass (Eq. 1).

    Args:
        in_features, out_features, bias: as nn.Linear (same `weight` (out, in) and `bias` (out,) parameters).
        scale: s_l. 0 means a plain linear layer. noise, scale_mode: see the module docstring.

    Attributes:
        scale: s_l; change it freely (a notebook slider does).
        n_views: the input batch is V stacked views of equal size (V·B, in); with noise="view" each view gets its own
            λ, exactly as if the V views had gone through V separate forward passes. The trainer sets it to 2.

    In eval mode, or with scale == 0, forward is exactly F.linear(x, W, b). The bias is never perturbed.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, scale: float = 0.0,
                 noise: str = "view", scale_mode: str = "absolute", device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._init_perturbation(scale, noise, scale_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (V·B, in) -> (V·B, out)
        if not self._active():
            return F.linear(x, self.weight, self.bias)
        return perturbed_linear(x, self.weight, self.bias, self._scale, self.n_views, self.noise, self.scale_mode,
                                self.eps)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._perturb_repr()


class _PerturbedConv(_Perturbed):
    """What PerturbedConv2d and PerturbedConv1d share: nn.ConvNd's arguments plus the perturbation's, and a forward
    that is the layer's own convolution when inactive, else its functional form (`_functional`) with explicit
    padding for non-zero padding modes."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", scale: float = 0.0,
                 noise: str = "view", scale_mode: str = "absolute", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)                  # nn.Conv2d / nn.Conv1d
        self._init_perturbation(scale, noise, scale_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._active():
            return self._conv_forward(x, self.weight, self.bias)
        padding = self.padding
        if self.padding_mode != "zeros" or isinstance(padding, str):
            # 'same'/'valid' or a non-zero padding mode: pad explicitly as nn.ConvNd does, then convolve unpadded
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x, padding = F.pad(x, self._reversed_padding_repeated_twice, mode=mode), 0
        return type(self)._functional(x, self.weight, self.bias, self._scale, self.n_views, self.noise,
                                      self.scale_mode, self.stride, padding, self.dilation, self.groups, self.eps)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._perturb_repr()


class PerturbedConv2d(_PerturbedConv, nn.Conv2d):
    """Drop-in nn.Conv2d with the contract of PerturbedLinear: fresh λ ~ N(0, σ²) on the kernel on every training
    forward pass (one per view or per sample), exactly nn.Conv2d in eval mode or at scale 0; bias never perturbed.
    (V·B, C, H, W) -> (V·B, out, H', W')."""
    _functional = staticmethod(perturbed_conv2d)


class PerturbedConv1d(_PerturbedConv, nn.Conv1d):
    """PerturbedConv2d one dimension down (1-D encoders): drop-in nn.Conv1d, (V·B, C, L) -> (V·B, out, L')."""
    _functional = staticmethod(perturbed_conv1d)


PERTURBED = (PerturbedLinear, PerturbedConv2d, PerturbedConv1d)


def draw_shape(layer: PerturbedLinear | PerturbedConv2d | PerturbedConv1d, rows: int) -> tuple[int, ...]:
    """Shape of the standard-normal draw one training forward of `layer` makes for a batch of `rows` samples:
    (n_views, *W.shape) per view; per sample (rows, out) for a linear layer, (rows, *W.shape) for a convolution."""
    if layer.noise == "sample":
        return (rows, layer.out_features) if isinstance(layer, nn.Linear) else (rows, *layer.weight.shape)
    return (layer.n_views, *layer.weight.shape)


def perturbed_layers(model: nn.Module) -> dict[str, PerturbedLinear | PerturbedConv2d | PerturbedConv1d]:
    """All perturbable modules (PerturbedLinear, PerturbedConv2d, PerturbedConv1d) of `model`, by qualified name
    (e.g. 'fc1')."""
    return {n: m for n, m in model.named_modules() if isinstance(m, PERTURBED)}


def candidate_sites(model: nn.Module) -> dict[str, nn.Module]:
    """Every module that can be a perturbation site: the nn.Linear, nn.Conv2d and nn.Conv1d layers, in forward
    order (as registered), by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d))}


def expand_sites(model: nn.Module, sites: dict[str, float]) -> dict[str, float]:
    """Resolve "all" / "all_depth" (see module doc) into per-layer s_l; explicit names override them.

    Raises ValueError for an unknown name or a negative s_l, listing the valid names."""
    cand = candidate_sites(model)
    out: dict[str, float] = {}
    for name, s in sites.items():
        if not 0.0 <= float(s) < math.inf:
            raise ValueError(f"s_l for site {name!r} must be a finite number >= 0 (a standard deviation), got {s}")
        if name not in cand and name not in ALL_SITES:
            raise ValueError(f"unknown perturbation site {name!r}: the linear and conv layers of this model are "
                             f"{sorted(cand)} (or 'all' / 'all_depth' for every one)")
    if "all" in sites and "all_depth" in sites:
        raise ValueError("sites 'all' and 'all_depth' both name every layer: give one of them")
    for key in ALL_SITES:
        if key in sites:
            s = float(sites[key]) / (math.sqrt(len(cand)) if key == "all_depth" else 1.0)
            out.update({n: s for n in cand})
    out.update({n: float(s) for n, s in sites.items() if n not in ALL_SITES})
    return out


def set_sites(model: nn.Module, sites: dict[str, float], noise: str | None = None, scale_mode: str | None = None
              ) -> nn.Module:
    """Put s_l on the named layers and 0 on every other perturbable layer of `model`.

    sites: {name: s_l}; names are qualified module names of nn.Linear / nn.Conv2d / nn.Conv1d layers, or "all" /
        "all_depth". A named plain layer is swapped for its perturbed version (PerturbedLinear, PerturbedConv2d,
        PerturbedConv1d) sharing its parameters, so any such layer can be a site (e.g. 'projector.0', 'features.0',
        a ResNet's convolutions).
    noise, scale_mode: set on every perturbable layer ("view"/"sample", "absolute"/"relative"); None keeps each
        layer's current setting.
    Raises ValueError (before changing anything) for an unknown name or mode, or a negative s_l.
    """
    if noise is not None or scale_mode is not None:
        check_modes(noise or "view", scale_mode or "absolute")
    resolved = expand_sites(model, sites)
    cand = candidate_sites(model)
    for name in resolved:
        if not isinstance(cand[name], PERTURBED):
            _swap_in(model, name, cand[name])
    for name, layer in perturbed_layers(model).items():
        layer.scale = resolved.get(name, 0.0)
        if noise is not None:
            layer.noise = noise
        if scale_mode is not None:
            layer.scale_mode = scale_mode
    return model


def set_views(model: nn.Module, n_views: int) -> None:
    """Tell every perturbable layer that batches hold `n_views` stacked views (one independent λ per view)."""
    for layer in perturbed_layers(model).values():
        layer.n_views = n_views


def _swap_in(model: nn.Module, name: str, old: nn.Linear | nn.Conv2d | nn.Conv1d) -> None:
    if isinstance(old, nn.Linear):
        new = PerturbedLinear(old.in_features, old.out_features, bias=old.bias is not None, device="meta")
    else:
        kind = PerturbedConv1d if isinstance(old, nn.Conv1d) else PerturbedConv2d
        new = kind(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation,
                   old.groups, old.bias is not None, old.padding_mode, device="meta")
    new.weight, new.bias = old.weight, old.bias  # share, do not copy: the optimiser keeps seeing the same tensors
    new.train(old.training)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)
