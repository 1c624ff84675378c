import pytest
import torch
import torch.nn as nn

import torch.nn.functional as F

from idslab import PerturbedLinear
from idslab.perturb import (PerturbedConv1d, PerturbedConv2d, draw_shape, expand_sites, grouped_conv,
                            perturbed_conv1d, perturbed_conv2d, perturbed_layers, perturbed_linear, set_sites,
                            set_views)


def test_is_a_drop_in_linear():
    layer = PerturbedLinear(5, 3, scale=0.1)
    assert isinstance(layer, nn.Linear)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert PerturbedLinear(5, 3, bias=False).bias is None


def test_eval_mode_and_zero_scale_are_exactly_linear():
    torch.manual_seed(0)
    layer, x = PerturbedLinear(6, 4, scale=0.5), torch.randn(8, 6)
    plain = nn.functional.linear(x, layer.weight, layer.bias)
    assert torch.equal(layer.eval()(x), plain)
    layer.train().scale = 0.0
    assert torch.equal(layer(x), plain)


def test_fresh_draw_every_pass_and_weights_untouched():
    torch.manual_seed(0)
    layer, x = PerturbedLinear(6, 4, scale=0.1), torch.randn(8, 6)
    w = layer.weight.detach().clone()
    a, b = layer(x), layer(x)
    assert not torch.allclose(a, b)
    assert torch.equal(layer.weight, w)


def test_noise_is_on_weights_with_std_scale_and_bias_unperturbed():
    # With x = e_j, output column i is W_ij + λ_ij + b_i: the spread over passes is the std of λ.
    torch.manual_seed(0)
    layer = PerturbedLinear(3, 2, scale=0.05)
    x = torch.eye(3)
    outs = torch.stack([layer(x) for _ in range(4000)])              # (draws, 3, 2)
    expected = (layer.weight.T + layer.bias).detach()
    assert torch.allclose(outs.mean(0), expected, atol=0.005)
    assert torch.allclose(outs.std(0), torch.full((3, 2), 0.05), rtol=0.06)
    # zero input: only the bias remains, never perturbed
    assert torch.equal(layer(torch.zeros(4, 3)), layer.bias.expand(4, 2))


def test_stacked_views_get_independent_draws_matching_separate_passes():
    layer = PerturbedLinear(4, 3, scale=0.2)
    x = torch.randn(5, 4)
    layer.n_views = 2
    torch.manual_seed(1)
    y = layer(torch.cat([x, x]))
    assert not torch.allclose(y[:5], y[5:])                 # each view its own λ
    # same λ within a view: row differences equal the clean layer's row differences
    d = y[:5] - y[:5][[0]]
    torch.manual_seed(1)
    lam = torch.randn(2, 3, 4) * 0.2                        # the draws the layer made, in its order
    ref = torch.cat([x @ (layer.weight + lam[v]).T + layer.bias for v in range(2)])
    assert torch.allclose(y, ref, atol=1e-6)
    assert torch.allclose(d, (x - x[[0]]) @ (layer.weight + lam[0]).T, atol=1e-6)
    with pytest.raises(ValueError, match="n_views"):
        layer(torch.randn(5, 4))


def test_gradient_reaches_weight_only_through_loss():
    layer = PerturbedLinear(4, 3, scale=0.3)
    layer.n_views = 2
    layer(torch.randn(6, 4)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (3, 4)


def test_negative_or_nan_scale_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        PerturbedLinear(2, 2, scale=-0.1)
    with pytest.raises(ValueError):
        PerturbedLinear(2, 2).scale = float("nan")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = PerturbedLinear(4, 4), nn.Linear(4, 2)
        self.conv = nn.Conv2d(1, 1, 1)


def test_set_sites_by_name_swaps_plain_linear_sharing_parameters():
    net = Net()
    w = net.fc2.weight
    set_sites(net, {"fc1": 0.02, "fc2": 0.05})
    layers = perturbed_layers(net)
    assert {n: l.scale for n, l in layers.items()} == {"fc1": 0.02, "fc2": 0.05}
    assert net.fc2.weight is w
    set_sites(net, {"fc2": 0.1})                              # sites not named go back to 0
    assert net.fc1.scale == 0.0 and net.fc2.scale == 0.1
    set_views(net, 2)
    assert net.fc1.n_views == net.fc2.n_views == 2


def test_set_sites_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown perturbation site 'fc9'.*fc1"):
        set_sites(Net(), {"fc9": 0.1})
    with pytest.raises(ValueError, match="unknown perturbation site 'relu'"):
        set_sites(Net(), {"relu": 0.1})
    with pytest.raises(ValueError, match=">= 0"):
        set_sites(Net(), {"fc1": -0.02})


# ------------------------------------------------------------------------------------ per-sample noise (issue 10)
def _corr(a, b):
    a, b = a.detach() - a.mean().detach(), b.detach() - b.mean().detach()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_per_sample_noise_has_the_exact_distribution():
    # x(W + λ)ᵀ, λ ~ N(0, s²) per sample  ~  xWᵀ + b + s‖x‖ε: mean xWᵀ + b, variance s²‖x‖², units independent
    torch.manual_seed(0)
    layer = PerturbedLinear(5, 3, scale=0.1, noise="sample")
    x = torch.randn(2, 5) * torch.tensor([[1.0], [3.0]])
    outs = torch.stack([layer(x) for _ in range(6000)])                  # (draws, 2, 3)
    clean = F.linear(x, layer.weight, layer.bias).detach()
    assert torch.allclose(outs.mean(0), clean, atol=4 * 0.1 * float(x.norm(dim=1).max()) / 6000 ** 0.5)
    assert torch.allclose(outs.var(0), (0.1 * x.norm(dim=1, keepdim=True)) ** 2 * torch.ones(2, 3), rtol=0.06)
    assert abs(_corr(outs[:, 0, 0], outs[:, 0, 1])) < 0.05            # output units independent, as λ rows are
    # the same variance as drawing λ explicitly per sample
    lam = torch.randn(6000, 3, 5) * 0.1
    explicit = torch.einsum("i,kui->ku", x[1], layer.weight.detach() + lam)
    assert torch.allclose(explicit.var(0), outs[:, 1].var(0), rtol=0.08)


def test_per_sample_noise_is_independent_across_samples_and_views():
    torch.manual_seed(0)
    x = torch.randn(1, 6).expand(8, 6)                     # 2 views x 4 identical samples
    for noise, same_view, other_view in (("sample", 0.0, 0.0), ("view", 1.0, 0.0)):
        layer = PerturbedLinear(6, 2, scale=0.2, noise=noise)
        layer.n_views = 2
        outs = torch.stack([layer(x)[:, 0] for _ in range(3000)])        # (draws, 8)
        assert abs(_corr(outs[:, 0], outs[:, 1]) - same_view) < 0.06     # two samples of one view
        assert abs(_corr(outs[:, 0], outs[:, 4]) - other_view) < 0.06    # the same sample in the other view


def test_per_sample_noise_gradient_and_eval():
    layer = PerturbedLinear(4, 3, scale=0.3, noise="sample")
    x = torch.randn(6, 4, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad.shape == (3, 4) and x.grad is not None
    assert torch.equal(layer.eval()(x), F.linear(x, layer.weight, layer.bias))


# ------------------------------------------------------------------------------------------- relative σ (issue 10)
def test_relative_scale_tracks_the_weights():
    # x = e_j: output column i spreads with σ = s · RMS(W), recomputed from the current W on every pass
    torch.manual_seed(0)
    layer = PerturbedLinear(3, 2, scale=0.5, scale_mode="relative")
    x = torch.eye(3)
    for factor in (1.0, 10.0, 0.1):
        with torch.no_grad():
            layer.weight.mul_(factor)
        rms = float(layer.weight.detach().pow(2).mean().sqrt())
        outs = torch.stack([layer(x) for _ in range(3000)])
        assert outs.std(0).mean().item() == pytest.approx(0.5 * rms, rel=0.05)
    layer.scale_mode = "absolute"
    outs = torch.stack([layer(x) for _ in range(3000)])
    assert outs.std(0).mean().item() == pytest.approx(0.5, rel=0.05)


def test_relative_scale_sends_no_gradient_through_sigma():
    torch.manual_seed(0)
    w = torch.randn(3, 4, requires_grad=True)
    x = torch.randn(6, 4)
    torch.manual_seed(1)
    perturbed_linear(x, w, None, 0.5, 2, "view", "relative").sum().backward()
    g = w.grad.clone()
    torch.manual_seed(1)
    lam = torch.randn(2, 3, 4) * (0.5 * w.detach().pow(2).mean().sqrt())
    w.grad = None
    torch.bmm(x.view(2, 3, 4), (w + lam).transpose(1, 2)).sum().backward()
    assert torch.allclose(g, w.grad)


def test_bad_modes_rejected():
    with pytest.raises(ValueError, match="noise must be one of view, sample"):
        PerturbedLinear(2, 2, noise="batch")
    with pytest.raises(ValueError, match="scale_mode must be one of absolute, relative"):
        PerturbedConv2d(1, 1, 3, scale_mode="rms")
    with pytest.raises(ValueError, match="noise"):
        set_sites(Net(), {"fc1": 0.1}, noise="layer")


# ------------------------------------------------------------------------------------------- conv sites (issue 10)
def test_conv_is_a_drop_in_and_perturbs_only_in_training():
    torch.manual_seed(0)
    conv = PerturbedConv2d(2, 4, 3, stride=2, padding=1, scale=0.3)
    assert isinstance(conv, nn.Conv2d) and [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    x = torch.randn(4, 2, 9, 9)
    plain = F.conv2d(x, conv.weight, conv.bias, 2, 1)
    assert torch.equal(conv.eval()(x), plain)
    conv.train()
    a, b = conv(x), conv(x)
    assert a.shape == plain.shape and not torch.allclose(a, b) and not torch.allclose(a, plain)
    conv.scale = 0.0
    assert torch.equal(conv(x), plain)


@pytest.mark.parametrize("noise", ["view", "sample"])
@pytest.mark.parametrize("groups,padding,padding_mode", [(1, 1, "zeros"), (2, 0, "zeros"), (1, "same", "zeros"),
                                                         (2, 1, "circular")])
def test_conv_noise_matches_separate_passes(noise, groups, padding, padding_mode):
    # view: view v convolved with W + λ_v; sample: sample n with W + λ_n, λ drawn in that order
    conv = PerturbedConv2d(4, 6, 3, padding=padding, groups=groups, padding_mode=padding_mode, scale=0.2,
                           noise=noise)
    conv.n_views = 2
    x = torch.randn(6, 4, 7, 7)
    torch.manual_seed(3)
    y = conv(x)
    k = 6 if noise == "sample" else 2
    torch.manual_seed(3)
    lam = torch.randn(k, *conv.weight.shape) * 0.2
    ref = torch.cat([F.conv2d(F.pad(xs, conv._reversed_padding_repeated_twice,
                                    mode="constant" if padding_mode == "zeros" else padding_mode),
                              conv.weight + lam[j], conv.bias, 1, 0, 1, groups)
                     for j, xs in enumerate(x.chunk(k))])
    assert torch.allclose(y, ref, atol=1e-5)


def test_conv_view_noise_keeps_channels_last_and_the_grouped_form_agrees():
    # per view the layer runs one plain convolution per view on slices of x, so a channels_last input gives a
    # channels_last output (train.py keeps the model in that format); grouped_conv (per-sample noise) does the same
    # arithmetic as separate convolutions
    torch.manual_seed(0)
    x = torch.randn(8, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    w, eps = torch.randn(5, 4, 3, 3), torch.randn(2, 5, 4, 3, 3)
    y = perturbed_conv2d(x, w, None, 0.1, 2, "view", padding=1, eps=eps)
    assert y.is_contiguous(memory_format=torch.channels_last)
    ref = torch.cat([F.conv2d(xv, w + 0.1 * ev, None, 1, 1) for xv, ev in zip(x.chunk(2), eps)])
    assert torch.allclose(y, ref, atol=1e-5)
    assert torch.allclose(grouped_conv(F.conv2d, x, w + 0.1 * eps, 1, 1, 1, 1), ref, atol=1e-5)


def test_conv_noise_std_and_gradient():
    # a 1x1 conv on a one-hot channel reads W + λ directly: the spread is σ (absolute) or s·RMS(W) (relative)
    torch.manual_seed(0)
    conv = PerturbedConv2d(3, 2, 1, bias=False, scale=0.1)
    x = torch.zeros(1, 3, 1, 1)
    x[0, 1] = 1.0
    outs = torch.stack([conv(x).flatten() for _ in range(3000)])
    assert torch.allclose(outs.mean(0), conv.weight[:, 1, 0, 0].detach(), atol=0.01)
    assert outs.std(0).mean().item() == pytest.approx(0.1, rel=0.06)
    conv.scale_mode = "relative"
    rms = float(conv.weight.detach().pow(2).mean().sqrt())
    outs = torch.stack([conv(x).flatten() for _ in range(3000)])
    assert outs.std(0).mean().item() == pytest.approx(0.1 * rms, rel=0.06)
    conv.n_views = 1
    conv(torch.randn(2, 3, 4, 4)).sum().backward()
    assert conv.weight.grad.shape == conv.weight.shape


def test_conv_functional_form_rejects_ragged_views():
    with pytest.raises(ValueError, match="n_views"):
        perturbed_conv2d(torch.randn(5, 1, 4, 4), torch.randn(2, 1, 3, 3), None, 0.1, n_views=2)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.fc1 = PerturbedLinear(4, 4)
        self.fc2 = nn.Linear(4, 2)


def test_set_sites_conv_all_and_depth_rule():
    net = ConvNet()
    w = net.features[0].weight
    set_sites(net, {"features.0": 0.1})
    assert isinstance(net.features[0], PerturbedConv2d) and net.features[0].weight is w
    assert {n: m.scale for n, m in perturbed_layers(net).items()} == {"features.0": 0.1, "fc1": 0.0}
    set_sites(net, {"all": 0.3, "fc2": 0.05}, noise="sample", scale_mode="relative")
    layers = perturbed_layers(net)
    assert list(layers) == ["features.0", "features.2", "fc1", "fc2"]
    assert [m.scale for m in layers.values()] == [0.3, 0.3, 0.3, 0.05]       # an explicit name overrides "all"
    assert {(m.noise, m.scale_mode) for m in layers.values()} == {("sample", "relative")}
    set_sites(net, {"all_depth": 0.4})                                      # s_l / sqrt(L), L = 4 sites
    assert [m.scale for m in perturbed_layers(net).values()] == [0.2] * 4
    assert {m.noise for m in perturbed_layers(net).values()} == {"sample"}  # None keeps the modes
    set_views(net, 2)
    assert {m.n_views for m in perturbed_layers(net).values()} == {2}
    with pytest.raises(ValueError, match=r"unknown perturbation site 'features\.1'.*features\.0"):
        expand_sites(net, {"features.1": 0.1})
    with pytest.raises(ValueError, match="both"):
        expand_sites(net, {"all": 0.1, "all_depth": 0.1})


def test_all_sites_on_a_real_encoder_train_and_eval_is_clean():
    from idslab.encoders import build_encoder
    torch.manual_seed(0)
    enc = build_encoder("cnn16", 1)
    set_sites(enc, {"all": 0.3}, noise="sample", scale_mode="relative")
    assert sorted(perturbed_layers(enc)) == ["fc1", "fc2", "features.0", "features.3"]
    set_views(enc, 2)
    x = torch.randn(8, 1, 16, 16)
    enc.train()
    assert not torch.allclose(enc(x), enc(x))
    enc.eval()
    assert torch.equal(enc(x), enc(x))


# ------------------------------------------------------------------------------------- 1-D convolutions (issue 20)
@pytest.mark.parametrize("noise", ["view", "sample"])
@pytest.mark.parametrize("groups,padding,padding_mode", [(1, 2, "zeros"), (2, "same", "zeros"), (1, 1, "circular")])
def test_conv1d_noise_matches_separate_passes(noise, groups, padding, padding_mode):
    """PerturbedConv1d: view v (or sample n) convolved with W + λ, exactly as separate F.conv1d passes; a drop-in
    nn.Conv1d in eval mode."""
    conv = PerturbedConv1d(4, 6, 5, padding=padding, groups=groups, padding_mode=padding_mode, scale=0.2,
                           noise=noise)
    assert isinstance(conv, nn.Conv1d)
    conv.n_views = 2
    x = torch.randn(6, 4, 19)
    torch.manual_seed(3)
    y = conv(x)
    k = 6 if noise == "sample" else 2
    torch.manual_seed(3)
    lam = torch.randn(k, *conv.weight.shape) * 0.2
    ref = torch.cat([F.conv1d(F.pad(xs, conv._reversed_padding_repeated_twice,
                                    mode="constant" if padding_mode == "zeros" else padding_mode),
                              conv.weight + lam[j], conv.bias, 1, 0, 1, groups)
                     for j, xs in enumerate(x.chunk(k))])
    assert torch.allclose(y, ref, atol=1e-5)
    conv.eval()
    assert torch.equal(conv(x), nn.Conv1d.forward(conv, x))


def test_conv1d_sites_all_on_a_1d_encoder():
    from idslab.encoders import build_encoder
    torch.manual_seed(0)
    enc = build_encoder("cnn1d128", 1)
    w = enc.features[0].weight
    set_sites(enc, {"all": 0.05})
    layers = perturbed_layers(enc)
    assert list(layers) == ["features.0", "features.3", "features.6", "fc1", "fc2"]
    assert isinstance(layers["features.0"], PerturbedConv1d) and layers["features.0"].weight is w
    assert draw_shape(layers["features.0"], 8) == (1, *w.shape)
    set_views(enc, 2)
    x = torch.randn(8, 1, 128)
    enc.train()
    assert not torch.allclose(enc(x), enc(x))
    enc.eval()
    assert torch.equal(enc(x), enc(x))
    with pytest.raises(ValueError, match="n_views"):
        perturbed_conv1d(torch.randn(5, 1, 9), torch.randn(2, 1, 3), None, 0.1, n_views=2)
