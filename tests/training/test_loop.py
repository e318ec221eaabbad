"""Training: a real network learns digits; schedule, drop path and auxiliary loss are applied; the
trainer config (conf/trainer/*.yaml, the one place its defaults live) rejects negative values."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from configured import CPU, dataset, space, trainer

from nascli.errors import ConfigError
from nascli.spaces.darts.genotype import PUBLISHED
from nascli.training.loop import TrainConfig, accuracy, train

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_a_small_nb201_network_learns_digits_well_above_chance() -> None:
    data = dataset("digits")
    nb201 = space("nb201", channels=8, cells_per_stage=1)
    torch.manual_seed(0)
    model = nb201.build_network(nb201.from_str(NB201_ARCH), num_classes=10, in_channels=1, input_size=8)
    history = train(model, data, trainer("proxy", epochs=4, lr=0.1), CPU, seed=0)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 80.0
    lrs = [h["lr"] for h in history]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] == 0.1  # cosine decay from the base rate
    test_acc, test_loss = accuracy(model, data.test, data, 512, CPU)
    assert test_acc > 80.0 and 0.0 < test_loss < history[0]["val_loss"]


def test_drop_path_ramps_and_auxiliary_loss_is_used_for_darts_networks() -> None:
    data = dataset("digits", max_train_samples=64)
    darts = space("darts", channels=4, layers=3, auxiliary=True)

    def first_epochs(epochs: int, auxiliary_weight: float, seen: list[float]) -> list[dict[str, float]]:
        torch.manual_seed(0)
        model = darts.build_network(PUBLISHED["DARTS_V2"], 10, 1, 8)
        config = trainer("proxy", epochs=epochs, drop_path=0.2, auxiliary_weight=auxiliary_weight, batch_size=32)
        return train(model, data, config, CPU, seed=0, on_epoch=lambda r: seen.append(model.drop_path_prob))

    seen: list[float] = []
    with_auxiliary = first_epochs(2, 0.4, seen)
    assert seen == [0.0, 0.1]
    without = first_epochs(1, 0.0, [])  # same start, same batches: only the auxiliary term differs
    assert with_auxiliary[0]["train_loss"] > without[0]["train_loss"] + 0.4  # + 0.4 * CE of the head (~2.3)


def test_trainer_options_come_from_the_yaml() -> None:
    proxy = trainer("proxy", epochs=4, lr=0.1)
    assert isinstance(proxy, TrainConfig) and (proxy.epochs, proxy.lr, proxy.batch_size) == (4, 0.1, 64)
    paper = trainer("darts_paper")
    assert (paper.epochs, paper.cutout, paper.drop_path, paper.auxiliary_weight) == (600, 16, 0.2, 0.4)
    with pytest.raises(TypeError):
        TrainConfig(epochs=4, lr=0.1)  # no defaults in code: the YAML holds them


@pytest.mark.parametrize("key,value", [("epochs", -1), ("lr", -0.1), ("weight_decay", -1e-4), ("cutout", -2),
                                       ("drop_path", -0.2), ("batch_size", 0), ("eval_batch_size", 0)])
def test_negative_or_empty_trainer_values_are_config_errors(key, value) -> None:
    with pytest.raises(ConfigError, match=f"trainer.{key}"):
        trainer("proxy", **{key: value})
    with pytest.raises(ConfigError, match=f"trainer.{key}"):
        dataclasses.replace(trainer("proxy"), **{key: value})  # checked however it is built
