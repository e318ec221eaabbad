"""Training: a real network learns digits; schedule, drop path and auxiliary loss are applied."""

from __future__ import annotations

import torch

from nascli.data.datasets import digits_splits
from nascli.spaces.darts import PUBLISHED, DartsSpace
from nascli.spaces.nb201 import NB201Space
from nascli.training.loop import TrainConfig, accuracy, train


def test_a_small_nb201_network_learns_digits_well_above_chance() -> None:
    data = digits_splits()
    space = NB201Space(channels=8, cells_per_stage=1)
    torch.manual_seed(0)
    model = space.build_network(space.from_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"), 10, 1, 8)
    history = train(model, data, TrainConfig(epochs=4, lr=0.1), torch.device("cpu"), seed=0)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 80.0
    lrs = [h["lr"] for h in history]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] == 0.1  # cosine decay from the base rate
    test_acc, _ = accuracy(model, data.test, data, 512, torch.device("cpu"))
    assert test_acc > 80.0


def test_drop_path_ramps_and_auxiliary_loss_is_used_for_darts_networks() -> None:
    data = digits_splits(max_train_samples=64)
    space = DartsSpace(channels=4, layers=3, auxiliary=True)
    model = space.build_network(PUBLISHED["DARTS_V2"], 10, 1, 8)
    seen = []
    train(model, data, TrainConfig(epochs=2, drop_path=0.2, auxiliary_weight=0.4, batch_size=32), torch.device("cpu"),
          seed=0, on_epoch=lambda r: seen.append(model.drop_path_prob))
    assert seen == [0.0, 0.1]
