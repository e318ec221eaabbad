"""Reptile (MetaNAS): the update rule, and faster adaptation to unseen classes than from scratch."""

from __future__ import annotations

import copy

import pytest
import torch
from configured import dataset, method, space
from torch import nn

from nascli.data.datasets import subset_classes
from nascli.meta.reptile import accuracy, adapt, meta_train, reptile_update
from nascli.meta.sources import SubsetTasks
from nascli.weight_sharing.mixing import Softmax
from nascli.weight_sharing.supernet import build_supernet



def test_reptile_update_moves_parameters_towards_the_adapted_ones() -> None:
    meta, fast = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        meta.weight.fill_(0.0)
        fast.weight.fill_(1.0)
    reptile_update(meta, fast, eps=0.25)
    assert torch.allclose(meta.weight, torch.full_like(meta.weight, 0.25))


@pytest.mark.slow
def test_adapting_the_meta_learned_supernet_to_unseen_classes_is_faster_than_from_scratch() -> None:
    # Meta-train on 3-way tasks of digits 0-6, then adapt to the unseen task {7, 8, 9}, without
    # augmentation. Measured (seeds 0, 1, 2): 80% validation accuracy after 3, 3, 6 steps from the
    # meta-learned start, and after 12, 12, 11 steps from the same initialisation without meta-training.
    full = dataset("digits", augment={"crop_padding": 0, "flip": False})
    held_out = subset_classes(full, [7, 8, 9])
    cfg = method("reptile", meta_iterations=30, inner_steps=5, eval_every=30, eval_tasks=1)
    torch.manual_seed(0)
    net = build_supernet(space("nb201", channels=8, cells_per_stage=1), 3, 1, 8, Softmax())
    scratch = copy.deepcopy(net)
    history = meta_train(net, SubsetTasks(ways=3, classes=list(range(7))).sampler(full), cfg, seed=0)
    assert history[-1]["iteration"] == 30 and history[-1]["adapted_accuracy"] > 50
    assert all(set(h["classes"]) <= set(range(7)) for h in history)  # 7, 8 and 9 stay unseen

    def reaches_80(start: nn.Module, steps: int) -> bool:
        return accuracy(adapt(copy.deepcopy(start), held_out, steps, cfg, seed=0), held_out) >= 80.0

    meta_steps = next((steps for steps in range(1, 25) if reaches_80(net, steps)), None)
    assert meta_steps is not None
    # at least twice as many steps from scratch: none of the first 2 * meta_steps - 1 gets there
    scratch_steps = next((steps for steps in range(1, 2 * meta_steps) if reaches_80(scratch, steps)), None)
    assert scratch_steps is None, (meta_steps, scratch_steps)
