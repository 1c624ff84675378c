"""What the CPU suite cannot check: the training path on a CUDA device (bf16 autocast, the stacked path, probes,
views, checkpoints). Marked `cuda`; skipped without a GPU. scripts/gpu_check.sh runs them (`pytest -m cuda`)."""
import pytest
import torch

from idslab.multi import pretrain_many
from idslab.train import TrainConfig, load_checkpoint, pretrain, run
from tests.conftest import streak_data

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.sh)")]
BASE = dict(encoder="cnn16", epochs=2, batch_size=64, n_pretrain=256, n_probe_train=128, n_probe_test=128,
            device="cuda", knn_k=5)


def test_pretrain_runs_under_bf16_autocast_on_cuda():
    data = streak_data()
    seen = []
    from idslab.encoders import SimCLRModel
    orig = SimCLRModel.forward

    def spy(self, x):
        z = orig(self, x)
        seen.append(z.dtype)
        return z
    SimCLRModel.forward = spy
    try:
        res = pretrain(TrainConfig(**BASE, views="ids+flip"), data)
    finally:
        SimCLRModel.forward = orig
    assert seen and set(seen) == {torch.bfloat16}                       # the projector ran in bf16
    assert next(res.model.parameters()).device.type == "cuda"
    assert all(torch.isfinite(torch.tensor(res.loss_history)))
    seen.clear()
    SimCLRModel.forward = spy
    try:
        pretrain(TrainConfig(**BASE, views="ids", amp=False), data)
    finally:
        SimCLRModel.forward = orig
    assert set(seen) == {torch.float32}                                 # --no-amp: fp32


def test_run_record_names_the_gpu_and_probes_run_on_it(tmp_path):
    data = streak_data()
    rec = run(TrainConfig(**BASE), data, checkpoint=str(tmp_path / "m.pt"))
    assert rec["device"].startswith("cuda") and rec["device_name"] == torch.cuda.get_device_name()
    assert 0.0 <= rec["metrics"]["mlp_acc"] <= 1.0
    model, cfg, _ = load_checkpoint(tmp_path / "m.pt", device="cuda")
    assert next(model.parameters()).device.type == "cuda" and cfg.device == "cuda"


@pytest.mark.parametrize("amp", [False, True])
def test_stacked_path_on_cuda_follows_the_single_path(amp):
    data = streak_data()
    cfgs = [TrainConfig(**BASE, seed=s, views=v, amp=amp) for s, v in ((0, "ids"), (1, "ids+flip"), (2, "flip"))]
    for cfg, got in zip(cfgs, pretrain_many(cfgs, data)):
        ref = pretrain(cfg, data)
        # fp32: float rounding only (grouped vs single convolutions); bf16 autocast: bf16 rounding
        assert got.loss_history == pytest.approx(ref.loss_history, rel=1e-3 if not amp else 3e-2)


def test_views_run_on_the_device():
    from idslab.views import VIEWS, parse_views
    x = streak_data().pretrain.x[:32].cuda()
    for name in VIEWS:
        v = parse_views(name)(x)
        assert v.device.type == "cuda" and v.shape == x.shape and torch.isfinite(v).all(), name


def test_resnet_step_on_cuda():
    data = streak_data(tile=32, n=(64, 32, 32))
    res = pretrain(TrainConfig(**{**BASE, "encoder": "resnet18", "tile": 32, "epochs": 1, "batch_size": 32,
                                  "n_pretrain": 64}), data)
    assert len(res.loss_history) == 1 and torch.isfinite(torch.tensor(res.loss_history)).all()


@pytest.mark.parametrize("condition", ["ids_all", "ids_all_depth"])
def test_every_layer_ids_on_a_resnet_on_cuda(condition):
    """The study's Discussion cells (experiments.EVERY_LAYER): noise on every conv and linear weight of a ResNet, per
    view, under bf16 autocast and channels_last; the loss stays finite and the perturbation reaches the trunk."""
    from idslab.experiments import EVERY_LAYER
    data = streak_data(tile=32, n=(64, 32, 32))
    cfg = TrainConfig(**{**BASE, "encoder": "resnet18", "tile": 32, "epochs": 2, "batch_size": 32,
                         "n_pretrain": 64, "views": "ids"}, **EVERY_LAYER[condition])
    res = pretrain(cfg, data)
    assert len(res.loss_history) == 2 and torch.isfinite(torch.tensor(res.loss_history)).all()
    x = data.probe_test.x[:8].cuda().contiguous(memory_format=torch.channels_last)
    res.model.train()
    with torch.autocast("cuda", torch.bfloat16):
        a, b = res.model.encoder(x), res.model.encoder(x)
    assert not torch.equal(a, b)                                         # λ drawn afresh per forward pass
