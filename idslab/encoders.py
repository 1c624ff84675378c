"""Encoders f: (B, C, N, N) or (B, C, L) -> h (B, D_r = 32) and the SimCLR projection head g: h -> z (B, D_p = 16).
Paper Sec. 4.2.

Every encoder is  features (conv stack or ResNet trunk) -> flatten -> fc1 -> ReLU -> fc2 = h.
fc1 is a PerturbedLinear and the default IDS site (Eq. 1 with σ = ReLU); fc2 is a PerturbedLinear at s_l = 0, so
it can be made a second site ("fc1,fc2") without surgery.

CNN-N (N = 8 ... 256): conv-ReLU-maxpool blocks (computed as conv -> maxpool -> ReLU: max commutes with the
monotone ReLU, so the output is the same, and the ReLU and its backward touch 1/4-1/16 of the values) whose kernels and pooling strides are chosen per tile size so the
feature map is exactly 3x3 before flattening (two blocks up to N = 64, three for 128 and 256; channels 16-32 for the
smallest up to 32-64-128 for the largest), as the paper describes; the exact kernels are ours (the paper gives none).

ResNet-18/50 (torchvision, random init): the paper replaces the classifier with an identity "so that the backbone
outputs its native feature dimension (512 / 2048) directly into the projection MLP", yet evaluates probes on a
32-d h and perturbs "fc1". We read that as: trunk (512 or 2048 features) -> the same fc1 -> ReLU -> fc2 MLP head as
the CNNs, so h is 32-d for every encoder and fc1 is always the site. The stem conv takes any channel count.

CNN1D-L (L = 64 ... 1024, issue 20): the same template on one-dimensional signals (spectra, time series) of length
L, (B, C, L): Conv1d-MaxPool1d-ReLU blocks that bring L down to 4 or 8 positions (x4 pooling per block, three blocks
from L = 128: the 41.8-bin [O III] doublet of the spectra data fits in one third-block receptive field), then the
same fc1 (IDS site) -> ReLU -> fc2. The kernels are ours, as for the 2-D CNNs.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from .perturb import PerturbedLinear

D_REP = 32   # D_r, representation size (probes read h)
D_PROJ = 16  # D_p, projection size (the loss reads z)

# name -> (tile N, blocks of (out_channels, conv kernel, conv padding, pool kernel, pool stride)); comments: size after
_CNN = {
    "cnn8":   (8,   [(16, 3, 1, 2, 2), (32, 3, 1, 2, 1)]),                      # 8 -> 4 -> 3
    "cnn16":  (16,  [(16, 3, 1, 2, 2), (32, 3, 0, 2, 2)]),                      # 16 -> 8 -> 3
    "cnn32":  (32,  [(16, 5, 2, 3, 3), (32, 5, 2, 3, 3)]),                      # 32 -> 10 -> 3
    "cnn64":  (64,  [(16, 5, 2, 4, 4), (32, 5, 0, 4, 4)]),                      # 64 -> 16 -> 3
    "cnn128": (128, [(16, 5, 2, 4, 4), (32, 3, 1, 4, 4), (64, 3, 0, 2, 2)]),     # 128 -> 32 -> 8 -> 3
    "cnn256": (256, [(32, 5, 2, 4, 4), (64, 5, 2, 4, 4), (128, 3, 0, 4, 4)]),   # 256 -> 64 -> 16 -> 3
}
# name -> (length L, blocks as above, with 1-D kernels and pools); comments: length after each block
_CNN1D = {
    "cnn1d64":   (64,   [(16, 5, 2, 4, 4), (32, 5, 2, 4, 4)]),                         # 64 -> 16 -> 4
    "cnn1d128":  (128,  [(16, 5, 2, 4, 4), (32, 5, 2, 4, 4), (64, 3, 1, 2, 2)]),       # 128 -> 32 -> 8 -> 4
    "cnn1d256":  (256,  [(16, 7, 3, 4, 4), (32, 5, 2, 4, 4), (64, 5, 2, 4, 4)]),       # 256 -> 64 -> 16 -> 4
    "cnn1d512":  (512,  [(16, 7, 3, 4, 4), (32, 5, 2, 4, 4), (64, 5, 2, 4, 4)]),       # 512 -> 128 -> 32 -> 8
    "cnn1d1024": (1024, [(16, 7, 3, 4, 4), (32, 5, 2, 4, 4), (64, 5, 2, 4, 4), (64, 3, 1, 2, 2)]),  # -> 16 -> 8
}
_RESNET = {"resnet18": (torchvision.models.resnet18, 512), "resnet50": (torchvision.models.resnet50, 2048)}
ENCODERS_2D = tuple(_CNN) + tuple(_RESNET)     # the paper's encoders, for images (its Tables 1 and 2)
ENCODERS_1D = tuple(_CNN1D)                    # for signals (spectra, time series)
ENCODERS = ENCODERS_2D + ENCODERS_1D
RESNET_TILE = 256  # the paper runs ResNets on 256x256 tiles only
# ResNet stems (issue 25): "imagenet" torchvision's 7x7 stride-2 conv + 3x3 stride-2 max-pool (input / 4 before
# layer1; the default, the paper's torchvision backbone); "mid" a 3x3 stride-1 conv, max-pool kept (/ 2); "small" a
# 3x3 stride-1 conv, no max-pool (/ 1, the CIFAR ResNets' stem, He et al. 2016 Sec. 4.2). Opt-in: the config does
# not carry it, so records of another stem must live in their own store (scripts/protocol_study.py).
STEMS = ("imagenet", "mid", "small")


# Input values (per channel) of one eval-mode forward pass (probes, diagnostics, predictions): 1,024 tiles up to
# N = 64, 256 at N = 128, 64 at N = 256. Activation memory grows with N^2: at 1,024 tiles of N = 256 CNN-256's first
# conv output alone is 1024 x 32 x 256^2 floats = 8.6 GB (twice that for the diagnostics' two views), which killed a
# 23 GB machine (docs/results/learnability.md); 64 such tiles are 0.5 GB and still fill a GPU.
EVAL_VALUES = 1024 * 64 * 64


def eval_rows(x: torch.Tensor, most: int = 1024) -> int:
    """Rows of x (n, C, N, N) or (n, C, L) per eval-mode forward pass: at most `most`, and at most EVAL_VALUES
    values per channel, so memory stays bounded as tiles grow. >= 1."""
    per_row = 1
    for d in x.shape[2:]:
        per_row *= int(d)
    return max(1, min(most, EVAL_VALUES // per_row))


def encoder_tile(name: str) -> int:
    """The tile size N (2-D) or length L (1-D) an encoder is built for (ResNets: 256, though they accept any
    N >= 32)."""
    _check_name(name)
    return _CNN[name][0] if name in _CNN else _CNN1D[name][0] if name in _CNN1D else RESNET_TILE


def encoder_dims(name: str) -> int:
    """1 for the encoders of signals (B, C, L), 2 for those of images (B, C, N, N)."""
    _check_name(name)
    return 1 if name in _CNN1D else 2


class Encoder(nn.Module):
    """standardise -> features -> flatten -> fc1 (IDS site) -> ReLU -> fc2. (B, C, N, N) or, with dims = 1,
    (B, C, L) -> h (B, 32).

    The per-channel input mean and std (buffers, set by the trainer from the pre-training split) live in the
    encoder, so data views act on physical values (dB SNR, [0, 1] RGB, calibrated flux) and a saved encoder embeds
    raw data. `tile` is N (2-D) or L (1-D).
    """

    def __init__(self, features: nn.Module, n_features: int, hidden: int, name: str, tile: int, channels: int,
                 dims: int = 2):
        super().__init__()
        self.name, self.tile, self.dims = name, tile, dims
        self.register_buffer("in_mean", torch.zeros(channels))
        self.register_buffer("in_std", torch.ones(channels))
        self.features = features
        self.fc1 = PerturbedLinear(n_features, hidden)
        self.relu = nn.ReLU()
        self.fc2 = PerturbedLinear(hidden, D_REP)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * self.dims                                   # per channel
        x = (x - self.in_mean.view(shape)) / self.in_std.view(shape)
        return self.fc2(self.relu(self.fc1(torch.flatten(self.features(x), 1))))


def conv_blocks(blocks, in_channels: int, dims: int = 2) -> tuple[nn.Sequential, int]:
    """The CNN trunk: one conv -> max-pool -> ReLU per (out_channels, conv kernel, conv padding, pool kernel, pool
    stride) in blocks (as in _CNN, _CNN1D), 2-D or (dims = 1) 1-D. Returns (trunk, its output channels)."""
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if dims == 1 else (nn.Conv2d, nn.MaxPool2d)
    layers, c = [], in_channels
    for out, k, pad, pk, ps in blocks:
        # pool before ReLU: same values (max(relu(x)) = relu(max(x))), a quarter or less of the ReLU work;
        # in place, since neither pool's nor ReLU's backward needs the pooled values before the ReLU
        layers += [conv(c, out, k, padding=pad), pool(pk, ps), nn.ReLU(inplace=True)]
        c = out
    return nn.Sequential(*layers), c


def build_encoder(name: str, in_channels: int = 1, hidden: int | None = None, stem: str = "imagenet") -> Encoder:
    """Build encoder `name` (one of ENCODERS) for `in_channels`-channel input (1 = radar or a spectrum, 3 = RGB).

    hidden: width of fc1's output; defaults to 64 for the CNNs, 128 for the ResNets (kept small, as in the paper).
    stem: the ResNets' first layers (STEMS; ignored by the CNNs).
    """
    _check_name(name)
    if stem not in STEMS:
        raise ValueError(f"unknown ResNet stem {stem!r}: choose one of {', '.join(STEMS)}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if name in _CNN:
        tile, blocks = _CNN[name]
        features, c = conv_blocks(blocks, in_channels)
        return Encoder(features, c * 3 * 3, hidden or 64, name, tile, in_channels)
    if name in _CNN1D:
        length, blocks = _CNN1D[name]
        features, c = conv_blocks(blocks, in_channels, dims=1)
        out = length
        for *_, pk, ps in blocks:                    # the pools set the final length (the convs keep it)
            out = (out - pk) // ps + 1
        return Encoder(features, c * out, hidden or 64, name, length, in_channels, dims=1)
    make, n_features = _RESNET[name]
    trunk = make(weights=None)
    if stem == "imagenet":
        trunk.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        trunk.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        if stem == "small":
            trunk.maxpool = nn.Identity()
    trunk.fc = nn.Identity()  # trunk now ends in global average pooling: (B, n_features)
    return Encoder(trunk, n_features, hidden or 128, name, RESNET_TILE, in_channels)


def build_projector(d_in: int = D_REP, d_out: int = D_PROJ, batch_norm: bool = False) -> nn.Sequential:
    """SimCLR projection head g: Linear -> ReLU -> Linear, (B, 32) -> (B, d_out = 16). Never perturbed.

    batch_norm: Linear -> BatchNorm1d -> ReLU -> Linear, SimCLR's own head (Chen et al. 2020); not in the paper,
    a setting of the seed-collapse study (issue 10), like d_out."""
    norm = [nn.BatchNorm1d(d_in)] if batch_norm else []
    return nn.Sequential(nn.Linear(d_in, d_in), *norm, nn.ReLU(), nn.Linear(d_in, d_out))


def build_predictor(d: int = D_PROJ, hidden: int = D_REP, batch_norm: bool = False) -> nn.Sequential:
    """The predictor q of BYOL and SimSiam (idslab.objectives): the projector's architecture (BYOL Sec. 3.3),
    Linear -> [BatchNorm1d] -> ReLU -> Linear, (B, d) -> (B, d)."""
    norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
    return nn.Sequential(nn.Linear(d, hidden), *norm, nn.ReLU(), nn.Linear(hidden, d))


def build_decoder(d_in: int, channels: int, length: int, hidden: int = 256) -> nn.Sequential:
    """The masked objective's decoder (idslab.objectives "masked"): h (B, d_in) -> Linear -> ReLU -> Linear ->
    (B, C L), the whole signal predicted from the one global h. MAE's decoder is a small Transformer over per-patch
    latents and mask tokens (He et al. 2022, Sec. 3); our encoders end in one 32-d h, so the decoder is an MLP from
    it, light as MAE's (a few per cent of the encoder's compute), and discarded after pre-training as there."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, channels * length))


class SimCLRModel(nn.Module):
    """Encoder + projection head (+ the predictor of BYOL / SimSiam, + the decoder of the masked objective).
    forward gives z for the loss (and q(z) with predict=True; the reconstruction with decode=True); `.encoder`
    alone gives h for the probes. decoder: build the masked objective's decoder (1-D encoders only)."""

    def __init__(self, encoder: Encoder, proj_dim: int = D_PROJ, proj_bn: bool = False, predictor: bool = False,
                 decoder: bool = False):
        super().__init__()
        self.encoder = encoder
        self.projector = build_projector(d_out=proj_dim, batch_norm=proj_bn)
        self.predictor = build_predictor(proj_dim, batch_norm=proj_bn) if predictor else None
        if decoder and encoder.dims != 1:
            raise ValueError("the masked objective reconstructs 1-D signals: use a 1-D encoder (--encoder cnn1d512) "
                             "or another --objective")
        self.decoder = build_decoder(D_REP, encoder.in_mean.numel(), encoder.tile) if decoder else None

    def forward(self, x: torch.Tensor, predict: bool = False, decode: bool = False):
        """(B, C, N, N) or (B, C, L) -> z (B, proj_dim); predict=True: (z, q(z)), both (B, proj_dim); decode=True
        (1-D, with a decoder): the reconstruction (B, C, L) from h."""
        if decode:
            return self.decoder(self.encoder(x)).view(x.shape)
        z = self.projector(self.encoder(x))
        return (z, self.predictor(z)) if predict else z


def _check_name(name: str) -> None:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}")
