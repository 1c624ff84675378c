"""End to end on the simulated radar: IDS pre-training must teach the encoder something a probe can read."""
import pytest
import torch

from idslab.datasets import Sizes, load
from idslab.probes import evaluate
from idslab.train import TrainConfig, build_model, probe_config, run


@pytest.mark.slow
def test_ids_learns_meteor_representations(tmp_path):
    data = load("meteor", 16, sizes=Sizes(1024, 600, 400), data_dir=tmp_path)
    cfg = TrainConfig(encoder="cnn16", views="ids", sites={"fc1": 0.02}, epochs=6, batch_size=128, device="cpu")
    rec = run(cfg, data)

    torch.manual_seed(cfg.seed)                      # the same initial encoder, never trained
    untrained = build_model(cfg, 1).encoder
    untrained.in_mean.copy_(data.pretrain.x.mean(dim=(0, 2, 3)))
    untrained.in_std.copy_(data.pretrain.x.std(dim=(0, 2, 3)))
    before = evaluate(untrained, data, probe_config(cfg))

    after = rec["metrics"]
    assert rec["loss_history"][-1] < rec["loss_history"][0]
    assert after["mlp_acc"] > 0.70 and after["knn_acc"] > 0.70          # chance is 0.5 (balanced test set)
    assert after["knn_acc"] > before["knn_acc"] + 0.05                  # pre-training, not the random init
