import copy

import pytest
import torch

from idslab import PerturbedLinear, build_encoder
from idslab.encoders import ENCODERS, SimCLRModel, encoder_dims, encoder_tile


@pytest.mark.parametrize("name", [n for n in ENCODERS if n.startswith("cnn") and encoder_dims(n) == 2])
@pytest.mark.parametrize("channels", [1, 3])
def test_cnn_shapes_and_3x3_feature_map(name, channels):
    n = encoder_tile(name)
    assert n == int(name[3:])
    enc = build_encoder(name, channels)
    x = torch.randn(2, channels, n, n)
    assert enc.features(x).shape[-2:] == (3, 3)
    assert enc(x).shape == (2, 32)
    assert isinstance(enc.fc1, PerturbedLinear) and isinstance(enc.fc2, PerturbedLinear)
    assert SimCLRModel(enc)(x).shape == (2, 16)


def test_projection_head_size_and_batch_norm():
    enc = build_encoder("cnn8")
    x = torch.randn(4, 1, 8, 8)
    model = SimCLRModel(enc, proj_dim=64, proj_bn=True)
    assert model(x).shape == (4, 64)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.projector.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in SimCLRModel(enc).projector.modules())


def test_cnn_depth_follows_the_paper():
    convs = lambda n: sum(isinstance(m, torch.nn.Conv2d) for m in build_encoder(n).modules())
    assert [convs(n) for n in ("cnn8", "cnn16", "cnn32", "cnn64", "cnn128", "cnn256")] == [2, 2, 2, 2, 3, 3]


@pytest.mark.parametrize("name,width", [("resnet18", 512), ("resnet50", 2048)])
def test_resnets_feed_the_same_mlp_head(name, width):
    enc = build_encoder(name, in_channels=1)
    assert enc.fc1.in_features == width and enc.tile == 256
    assert enc.eval()(torch.randn(2, 1, 64, 64)).shape == (2, 32)


def test_fc1_perturbation_changes_h_and_eval_does_not():
    torch.manual_seed(0)
    enc = build_encoder("cnn16")
    enc.fc1.scale = 0.05
    x = torch.randn(4, 1, 16, 16)
    assert not torch.allclose(enc.train()(x), enc(x))
    assert torch.equal(enc.eval()(x), enc(x))


def test_unknown_encoder():
    with pytest.raises(ValueError, match="unknown encoder 'vgg'.*cnn16"):
        build_encoder("vgg")


@pytest.mark.parametrize("name", ["cnn1d64", "cnn1d128", "cnn1d256", "cnn1d512", "cnn1d1024"])
def test_1d_cnns_follow_the_template(name):
    from idslab.encoders import ENCODERS_1D, encoder_dims, encoder_tile
    assert name in ENCODERS_1D and encoder_dims(name) == 1 and encoder_dims("cnn16") == 2
    length = encoder_tile(name)
    enc = build_encoder(name, 2)
    x = torch.randn(3, 2, length)
    assert enc(x).shape == (3, 32) and enc.dims == 1 and enc.tile == length
    trunk = enc.features(x)
    assert trunk.shape[-1] in (4, 8)                                    # pooled down to a few positions
    assert isinstance(enc.fc1, PerturbedLinear) and enc.fc1.in_features == trunk.shape[1] * trunk.shape[2]
    raw = copy.deepcopy(enc)
    enc.in_mean.copy_(torch.tensor([5.0, -1.0]))
    enc.in_std.copy_(torch.tensor([2.0, 3.0]))                          # per-channel standardisation inside
    shifted = x * torch.tensor([2.0, 3.0]).view(1, 2, 1) + torch.tensor([5.0, -1.0]).view(1, 2, 1)
    assert torch.allclose(enc(shifted), raw(x), atol=1e-5)


def test_eval_rows_bound_the_values_of_one_forward_pass():
    """1,024 rows up to N = 64 (the probes' old constant), then fewer as N^2 grows: at N = 256, 1,024 rows would be
    8.6 GB of CNN-256 activations."""
    from idslab.encoders import EVAL_VALUES, eval_rows
    assert [eval_rows(torch.zeros(0, 1, n, n)) for n in (8, 64, 128, 256)] == [1024, 1024, 256, 64]
    assert eval_rows(torch.zeros(0, 1, 2048)) == 1024 and eval_rows(torch.zeros(0, 3, 4096, 4096)) == 1
    assert eval_rows(torch.zeros(0, 1, 128, 128)) * 128 * 128 <= EVAL_VALUES


def test_embed_runs_large_tiles_in_bounded_passes_with_the_same_h():
    from idslab.probes import embed
    torch.manual_seed(0)
    enc = build_encoder("cnn128")
    x = torch.randn(300, 1, 128, 128)
    sizes = []
    hook = enc.register_forward_pre_hook(lambda m, a: sizes.append(len(a[0])))
    h = embed(enc, x)
    hook.remove()
    assert sizes == [256, 44]
    torch.testing.assert_close(h, embed(enc, x, batch_size=300), rtol=1e-4, atol=1e-5)
