"""End to end on the simulated radar: IDS pre-training must teach the encoder something a probe can read."""
import dataclasses

import pytest

from idslab.datasets import Sizes, load
from idslab.train import TrainConfig, run


@pytest.mark.slow
def test_ids_learns_meteor_representations(tmp_path):
    data = load("meteor", 16, sizes=Sizes(1024, 600, 400), data_dir=tmp_path)
    cfg = TrainConfig(encoder="cnn16", views="ids", sites={"fc1": 0.02}, epochs=6, batch_size=128, device="cpu")
    rec = run(cfg, data)
    before = run(dataclasses.replace(cfg, epochs=0), data)["metrics"]   # the same initial encoder, never trained

    after = rec["metrics"]
    assert rec["loss_history"][-1] < rec["loss_history"][0]
    assert after["mlp_acc"] > 0.70 and after["knn_acc"] > 0.70          # chance is 0.5 (balanced test set)
    assert after["knn_acc"] > before["knn_acc"] + 0.05                  # pre-training, not the random init
