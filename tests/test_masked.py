"""The masked objective (issue 26): MAE's loss for 1-D signals (He et al. 2022), its random patch mask, its decoder,
and its place as an objective of the one engine: one class, Masked, behind the names masked / masked25 / masked75
(its mask ratio), its own rules (a 1-D encoder, one sample per step is enough, no NT-Xent or BYOL field), not
stackable and saying why."""
import dataclasses
import math

import pytest
import torch

from idslab import objectives as O
from idslab.loss import masked_reconstruction, patch_normalise
from idslab.objectives import MASK_PATCH, MASK_RATIO, patch_mask


def mae_forward_loss(target_bins, pred_bins, mask_patches, p, norm_pix_loss=True):
    """A transcription of MAE's forward_loss (facebookresearch/mae, models_mae.py) for signals (N, C, L): patchify
    into (N, P, p C), per-patch normalisation, per-patch mean squared error, mean over the masked patches."""
    n, c, length = target_bins.shape
    patchify = lambda x: x.reshape(n, c, length // p, p).permute(0, 2, 3, 1).reshape(n, length // p, p * c)
    target, pred = patchify(target_bins), patchify(pred_bins)
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.e-6) ** .5
    loss = (pred - target) ** 2
    loss = loss.mean(dim=-1)
    return (loss * mask_patches).sum() / mask_patches.sum()


def test_zero_for_a_perfect_prediction_and_blind_to_visible_bins():
    torch.manual_seed(0)
    target = torch.randn(8, 1, 64)
    mask = patch_mask(8, 64, 0.5, 8)
    pred = torch.where(mask[:, None, :], target, torch.randn_like(target) * 100)   # wrong only where visible
    assert masked_reconstruction(pred, target, mask) == 0
    wrong = target + mask[:, None, :] * 0.5
    torch.testing.assert_close(masked_reconstruction(wrong, target, mask), torch.tensor(0.25))


def test_against_maes_forward_loss():
    torch.manual_seed(1)
    for c in (1, 3):
        x = torch.randn(6, c, 128) * 3 + 7
        pred = torch.randn(6, c, 128)
        mask = patch_mask(6, 128, 0.75, 16)
        ours = masked_reconstruction(pred, patch_normalise(x, 16), mask)
        ref = mae_forward_loss(x, pred, mask[:, ::16].float(), 16)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_patch_mask_hides_whole_patches_at_the_ratio_and_is_seeded():
    torch.manual_seed(2)
    m = patch_mask(100, 512)
    per = m.view(100, -1, MASK_PATCH)
    assert (per.all(-1) | ~per.any(-1)).all()                                     # whole patches
    assert (per[..., 0].sum(1) == round(MASK_RATIO * 512 / MASK_PATCH)).all()     # the ratio, every sample
    assert not (m[0] == m[1]).all()                                                # per sample
    torch.manual_seed(2)
    assert torch.equal(m, patch_mask(100, 512))
    with pytest.raises(ValueError, match="divide"):
        patch_mask(2, 100, 0.5, 16)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="masked_reconstruction"):
        masked_reconstruction(torch.zeros(2, 1, 8), torch.zeros(2, 1, 8), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="patch_normalise"):
        patch_normalise(torch.zeros(2, 1, 10), 4)


def _model(objective="masked"):
    from idslab.train import TrainConfig, build_model
    cfg = TrainConfig(dataset="spectra", encoder="cnn1d512", device="cpu", views="none", objective=objective)
    return cfg, build_model(cfg, 1)


def test_the_objective_trains_encoder_and_decoder_and_not_the_projector():
    cfg, model = _model()
    torch.manual_seed(3)
    views = torch.randn(16, 1, 512) + 10
    masked = O.get(cfg)
    out = masked.branches(model, None, views)
    pred, target, mask = out
    assert pred.shape == target.shape == views.shape and mask.shape == (16, 512)
    loss = masked.loss(out)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.encoder.fc1.weight.grad.abs().sum() > 0 and model.decoder[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.projector.parameters())
    torch.testing.assert_close(target, patch_normalise(views, MASK_PATCH))         # target: the view's own flux


def test_masked_needs_a_1d_encoder_and_does_not_stack():
    from idslab.multi import can_stack, pretrain_many
    from idslab.train import TrainConfig
    with pytest.raises(ValueError, match="1-D encoder"):
        TrainConfig(dataset="meteor", encoder="cnn16", tile=16, objective="masked")
    cfg = TrainConfig(dataset="spectra", encoder="cnn1d512", device="cpu", objective="masked")
    assert not can_stack(cfg) and can_stack(dataclasses.replace(cfg, objective="ntxent"))
    with pytest.raises(ValueError, match="randomness"):
        pretrain_many([cfg, dataclasses.replace(cfg, seed=1)], data=None)
    assert not O.get("masked").stackable and "randomness" in O.get("masked").unstackable


def test_a_short_masked_run_lowers_its_loss_and_repeats(tmp_path):
    from idslab.datasets import Sizes, load
    from idslab.train import TrainConfig, pretrain
    data = load("spectra", 512, sizes=Sizes(256, 32, 32), data_dir=tmp_path)
    cfg = TrainConfig(dataset="spectra", encoder="cnn1d512", device="cpu", views="none", objective="masked",
                      epochs=4, batch_size=64, n_pretrain=256, n_probe_train=32, n_probe_test=32)
    a, b = pretrain(cfg, data), pretrain(cfg, data)
    assert a.loss_history == b.loss_history                                        # same seed, same run
    assert a.loss_history[-1] < a.loss_history[0]


@pytest.mark.parametrize("name,ratio", [("masked", 0.5), ("masked25", 0.25), ("masked75", 0.75)])
def test_each_masked_name_is_the_one_class_hiding_its_share(name, ratio):
    cfg, model = _model(name)
    masked = O.get(cfg)
    assert type(masked) is O.Masked and masked.name == name and masked.ratio == ratio and masked.decoder
    assert name in O.RECONSTRUCTION and name not in O.OBJECTIVES             # the joint-embedding studies skip it
    torch.manual_seed(4)
    _, _, mask = masked.branches(model, None, torch.randn(8, 1, 512) + 10)
    assert (mask.float().mean(1) == round(ratio * 32) / 32).all()


def test_masked_trains_on_one_sample_per_step_and_refuses_fields_it_ignores():
    """Its loss is a mean over one sample's hidden bins: B = 1 is a real run (the old rule refused it with NT-Xent's
    reason); --temperature (NT-Xent's) and --ema (BYOL's) it ignores, so setting them is an error, not a no-op."""
    from idslab.train import TrainConfig, pretrain
    from tests.conftest import signal_data
    kw = dict(dataset="spectra", encoder="cnn1d64", device="cpu", views="none", objective="masked75", epochs=1,
              batch_size=1, n_pretrain=8, n_probe_train=4, n_probe_test=4, knn_k=1)
    res = pretrain(TrainConfig(**kw), signal_data(n=(8, 4, 4)))
    assert len(res.loss_history) == 1 and math.isfinite(res.loss_history[0])
    for over, flag in ((dict(temperature=0.2), "--temperature 0.2"), (dict(ema=0.9), "--ema 0.9")):
        with pytest.raises(ValueError, match=f"\\({flag}\\): .* masked75 ignores it: drop the flag"):
            TrainConfig(**{**kw, **over})
    cfg = TrainConfig(**{**kw, "views": "ids"})
    advice = O.get(cfg).divergence_advice(cfg)
    assert "--lr" in advice and "--sl" in advice and "--temperature" not in advice
