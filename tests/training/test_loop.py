"""Training: a real network learns digits; schedule, drop path and auxiliary loss are applied; the
trainer config (conf/trainer/*.yaml, the one place its defaults live) rejects negative values and
unknown switches; the speed switches train the same network; frozen parameters stay frozen; and a
run resumed from an epoch's state ends where an uninterrupted one does."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from configured import CPU, dataset, space, trainer

from nascli.errors import CheckpointError, ConfigError, DivergedError
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


def test_a_last_batch_of_one_image_is_skipped_where_batch_norm_sees_1x1_maps() -> None:
    """512 images in batches of 7 leave one over; a chain network strided to 1x1 could not train on it."""
    chain = space("chain", input_size=8)
    model = chain.build_network(chain.from_str("conv3x24s2-conv3x24s2-conv3x24s2-conv3x24s1 | none"), 10, 1, 8)
    history = train(model, dataset("digits", max_train_samples=512), trainer("proxy", epochs=1, batch_size=7), CPU, 0)
    assert len(history) == 1 and history[0]["train_loss"] > 0


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


def test_an_exponential_schedule_decays_lr_by_lr_decay_every_epoch() -> None:
    data = dataset("digits", max_train_samples=64)
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    model = nb201.build_network(nb201.from_str(NB201_ARCH), num_classes=10, in_channels=1, input_size=8)
    history = train(model, data, trainer("proxy", epochs=3, lr=0.1, lr_schedule="exponential", lr_decay=0.5), CPU, seed=0)
    assert [h["lr"] for h in history] == pytest.approx([0.1, 0.05, 0.025])
    for key, value in (("lr_schedule", "step"), ("lr_decay", 0.0), ("lr_decay", 1.5)):
        with pytest.raises(ConfigError, match=f"trainer.{key}"):
            trainer("proxy", **{key: value})


@pytest.mark.parametrize("key,value", [("epochs", -1), ("lr", -0.1), ("weight_decay", -1e-4), ("cutout", -2),
                                       ("drop_path", -0.2), ("batch_size", 0), ("eval_batch_size", 0)])
def test_negative_or_empty_trainer_values_are_config_errors(key, value) -> None:
    with pytest.raises(ConfigError, match=f"trainer.{key}"):
        trainer("proxy", **{key: value})
    with pytest.raises(ConfigError, match=f"trainer.{key}"):
        dataclasses.replace(trainer("proxy"), **{key: value})  # checked however it is built


# --- speed switches -------------------------------------------------------------------------------
def test_auto_switches_train_plain_fp32_on_cpu_and_explicit_ones_are_checked() -> None:
    from nascli.training.steps import resolve

    auto = resolve(trainer("proxy"), CPU)
    assert (auto.amp, auto.channels_last, auto.compile, auto.optimizer_step, auto.cuda_graphs) == (
        None, False, None, "loop", False)
    chosen = resolve(trainer("proxy", amp="bf16", channels_last=True, optimizer_step="fused"), CPU)
    assert (chosen.amp, chosen.channels_last, chosen.optimizer_step) == (torch.bfloat16, True, "fused")
    with pytest.raises(ConfigError, match="cuda_graphs=true captures the training step as a CUDA graph: it needs a CUDA device"):
        resolve(trainer("proxy", cuda_graphs=True), CPU)
    with pytest.raises(ConfigError, match="trainer.amp must be"):
        trainer("proxy", amp="fp8")
    with pytest.raises(ConfigError, match="trainer.channels_last must be"):
        trainer("proxy", channels_last="yes")
    with pytest.raises(ConfigError, match="trainer.compile must be"):
        dataclasses.replace(trainer("proxy"), compile="fast")


def test_switches_train_the_same_network_on_cpu() -> None:
    """channels_last and the fused step change kernels, not the maths; bf16 autocast rounds more.
    (channels_last's gap is NCHW's: its BatchNorm'd stem gradient is ~3e-3 off a float64 run here,
    NHWC's 2e-7.)"""
    data = dataset("digits", max_train_samples=128)
    nb201 = space("nb201", channels=4, cells_per_stage=1)

    def final_weights(**switches: object) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = nb201.build_network(nb201.from_str(NB201_ARCH), 10, 1, 8)
        history = train(model, data, trainer("proxy", epochs=1, batch_size=32, **switches), CPU, seed=0)
        assert history[0]["train_loss"] == history[0]["train_loss"]  # not NaN
        return {k: v.float() for k, v in model.state_dict().items()}

    plain = final_weights()
    for switches, tolerance in (({"channels_last": True}, 1e-2), ({"optimizer_step": "fused"}, 1e-5),
                                ({"optimizer_step": "foreach"}, 1e-5), ({"amp": "bf16"}, 0.2)):
        other = final_weights(**switches)
        assert max((plain[k] - other[k]).abs().max().item() for k in plain) < tolerance, switches


def test_frozen_parameters_stay_out_of_the_optimiser() -> None:
    data = dataset("digits", max_train_samples=64)
    nb201 = space("nb201", channels=4, cells_per_stage=1)
    model = nb201.build_network(nb201.from_str(NB201_ARCH), 10, 1, 8)
    head = {id(p) for n, p in model.named_parameters() if n.startswith("classifier")}
    for p in model.parameters():
        p.requires_grad_(id(p) in head)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    train(model, data, trainer("proxy", epochs=1, batch_size=32), CPU, seed=0)
    assert frozen and all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        train(model, data, trainer("proxy", epochs=1), CPU, seed=0)


# --- resuming ---------------------------------------------------------------------------------------
def test_training_resumed_from_an_epoch_state_ends_with_the_same_weights() -> None:
    """Optimiser momentum, schedule, batch order and augmentation, and drop path's random stream all
    continue: the weights after 3 epochs equal those of 1 + 2 resumed epochs bit for bit."""
    data = dataset("digits", max_train_samples=96)
    darts = space("darts", channels=4, layers=3, auxiliary=True)
    config = trainer("proxy", epochs=3, batch_size=32, drop_path=0.3, auxiliary_weight=0.4, cutout=2)

    def fresh() -> torch.nn.Module:
        torch.manual_seed(0)
        return darts.build_network(PUBLISHED["DARTS_V2"], 10, 1, 8)

    saved: list[tuple[dict, dict]] = []
    model = fresh()
    whole = train(model, data, config, CPU, seed=0,
                  on_checkpoint=lambda state: saved.append((copy.deepcopy(model.state_dict()), copy.deepcopy(state))))
    assert [state["epoch"] for _, state in saved] == [1, 2, 3]
    weights, state = saved[0]
    torch.manual_seed(123)  # whatever the new process's random state: the saved one is restored
    resumed = fresh()
    resumed.load_state_dict(weights)
    rest = train(resumed, data, config, CPU, seed=0, resume=state)
    assert [h["epoch"] for h in rest] == [1, 2, 3]
    assert [h["val_accuracy"] for h in rest] == [h["val_accuracy"] for h in whole]
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in resumed.state_dict().items())
    with pytest.raises(CheckpointError, match="beyond trainer.epochs"):
        train(fresh(), data, dataclasses.replace(config, epochs=2), CPU, seed=0, resume=saved[2][1])


class NanAfter(torch.nn.Module):
    """A linear classifier whose training forward returns nan from its `after`-th call on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.linear, self.calls, self.after = torch.nn.Linear(64, 10), 0, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                out = out * float("nan")
        return out


@pytest.mark.parametrize("after, epoch", [(1, 1), (7, 2)])
def test_a_nan_loss_stops_training_and_keeps_the_epochs_before_it(after: int, epoch: int) -> None:
    data = dataset("digits", max_train_samples=128)  # 4 steps of 32 per epoch: step 7 is in epoch 2
    kept, states = [], []
    with pytest.raises(DivergedError, match=f"training loss became nan in epoch {epoch} of 3.*Lower trainer.lr"):
        train(NanAfter(after), data, trainer("proxy", epochs=3, batch_size=32), CPU, seed=0,
              on_epoch=kept.append, on_checkpoint=states.append)
    assert [r["epoch"] for r in kept] == list(range(1, epoch)) and len(states) == epoch - 1


def test_an_inf_loss_diverges_too() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        model[1].bias.fill_(float("inf"))  # logits inf - inf: nan or inf loss from the first step
    with pytest.raises(DivergedError, match="loss became (nan|inf)"):
        train(model, dataset("digits", max_train_samples=64), trainer("proxy", epochs=1), CPU, seed=0)
