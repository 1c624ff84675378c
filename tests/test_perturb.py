import pytest
import torch
import torch.nn as nn

from idslab import PerturbedLinear
from idslab.perturb import perturbed_layers, set_sites, set_views


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
    with pytest.raises(ValueError, match="unknown perturbation site 'conv'"):
        set_sites(Net(), {"conv": 0.1})
    with pytest.raises(ValueError, match=">= 0"):
        set_sites(Net(), {"fc1": -0.02})
