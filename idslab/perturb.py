"""Weight-space perturbation: the heart of Implicit Data Synthesis (paper Sec. 3, Eq. 1).

    h^(l) = σ((W^(l) + λ^(l)) h^(l-1)),   λ^(l)_ij ~ N(0, s_l²) i.i.d., drawn afresh on every forward pass.

s_l is the *standard deviation* of the entries of λ (the paper writes N(0, s_l)). W is an ordinary parameter,
changed only by the optimiser; λ is never stored. Two forward passes of the same input through the same layer
give two different functions f_{W+λ1}, f_{W+λ2}: that pair of passes is the positive pair of SimCLR.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PerturbedLinear(nn.Linear):
    """Drop-in nn.Linear whose weight gets fresh Gaussian noise on every training forward pass (Eq. 1).

    Args:
        in_features, out_features, bias: as nn.Linear (same `weight` (out, in) and `bias` (out,) parameters).
        scale: s_l, the standard deviation of each entry of λ. 0 means a plain linear layer.

    Attributes:
        scale: s_l; change it freely (a notebook slider does).
        n_views: the input batch is V stacked views of equal size (V·B, in); each view gets its own λ, exactly as
            if the V views had gone through V separate forward passes. The trainer sets it to 2.
        noise: None (draw λ afresh), or a given λ (V, out, in) to use instead, whatever the scale. A non-persistent
            buffer, so torch.func.functional_call can substitute one λ per run when idslab.multi trains K stacked
            runs through this same forward (each run's λ drawn by `draw_lambda` on that run's RNG stream).

    In eval mode, or with scale == 0, forward is exactly F.linear(x, W, b). The bias is never perturbed.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, scale: float = 0.0,
                 device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.scale = scale
        self.n_views = 1
        self.register_buffer("noise", None, persistent=False)

    @property
    def scale(self) -> float:
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        value = float(value)
        if not value >= 0.0:  # also catches NaN
            raise ValueError(f"perturbation scale s_l must be >= 0 (it is a standard deviation), got {value}")
        self._scale = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (V·B, in) -> (V·B, out)
        if self.noise is not None:
            return perturbed_linear(x, self.weight, self.bias, self.noise)
        if not self.training or self._scale == 0.0:
            return F.linear(x, self.weight, self.bias)
        return perturbed_linear(x, self.weight, self.bias, draw_lambda(self.weight, self._scale, self.n_views))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", scale={self._scale:g}"


def draw_lambda(weight: torch.Tensor, scale: float, n_views: int) -> torch.Tensor:
    """λ for one forward pass: (V, out, in), i.i.d. N(0, scale²), one independent draw per view (Eq. 1). Drawn from
    torch's global RNG, so the trainer's seed fixes it; the one place λ is drawn (PerturbedLinear and idslab.multi)."""
    return torch.randn((n_views, *weight.shape), device=weight.device, dtype=weight.dtype) * scale


def perturbed_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     lam: torch.Tensor) -> torch.Tensor:
    """Eq. 1 before σ, functional: x (V·B, in) -> (V·B, out), view v of the batch through W + λ[v].

    W + λ broadcasts over the V views, so the gradient w.r.t. W is the sum over views. Works under torch.func.vmap.
    """
    v = lam.shape[0]
    if x.shape[0] % v:
        raise ValueError(f"batch of {x.shape[0]} rows does not split into n_views={v} equal views")
    out = torch.bmm(x.reshape(v, -1, x.shape[-1]), (weight + lam).transpose(1, 2)).reshape(x.shape[0], -1)
    return out if bias is None else out + bias


def perturbed_layers(model: nn.Module) -> dict[str, PerturbedLinear]:
    """All PerturbedLinear modules of `model`, by qualified name (e.g. 'fc1')."""
    return {n: m for n, m in model.named_modules() if isinstance(m, PerturbedLinear)}


def set_sites(model: nn.Module, sites: dict[str, float]) -> nn.Module:
    """Put s_l on the named layers and 0 on every other PerturbedLinear of `model`.

    A named plain nn.Linear is swapped for a PerturbedLinear that shares its parameters, so any linear layer can be
    a site (e.g. 'projector.0' or a ResNet's own layers). Raises ValueError for an unknown name, a module that is
    not linear, or a negative s_l, listing the valid names.
    """
    linear = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for name, s in sites.items():
        if name not in linear:
            raise ValueError(f"unknown perturbation site {name!r}: the fully-connected layers of this model are "
                             f"{sorted(linear)}")
        if not float(s) >= 0.0:
            raise ValueError(f"s_l for site {name!r} must be >= 0 (a standard deviation), got {s}")
    for name in sites:
        if not isinstance(linear[name], PerturbedLinear):
            _swap_in(model, name, linear[name])
    for name, layer in perturbed_layers(model).items():
        layer.scale = float(sites.get(name, 0.0))
    return model


def set_views(model: nn.Module, n_views: int) -> None:
    """Tell every PerturbedLinear that batches hold `n_views` stacked views (one independent λ per view)."""
    for layer in perturbed_layers(model).values():
        layer.n_views = n_views


def _swap_in(model: nn.Module, name: str, old: nn.Linear) -> None:
    new = PerturbedLinear(old.in_features, old.out_features, bias=old.bias is not None)
    new.weight, new.bias = old.weight, old.bias  # share, do not copy: the optimiser keeps seeing the same tensors
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)
