"""Single-path training (SPOS, ENAS) of a language model: its stream read on from batch to batch."""

from __future__ import annotations

import random

import pytest
import torch
from configured import CPU, trainer
from torch import nn

from nascli.runtime.config import build_option
from nascli.training.steps import StepRunner, resolve
from nascli.training.text import recurrent
from nascli.weight_sharing.single_path import PATH_LIMITS, PathStep, train_paths
from nascli.weight_sharing.mixing import SinglePath
from nascli.weight_sharing.supernet import build_supernet

TINY = {"nodes": 2, "emsize": 6, "nhid": 6, "dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0, "dropouti": 0.0,
        "tar": 0.0}


@pytest.mark.parametrize("carry", [True, False])
def test_path_training_of_a_language_model_carries_its_hidden_state_when_asked(carry: bool) -> None:
    """Nothing learns (lr 0), so the pass's mean loss is that of reading the stream batch after batch,
    each from the state the one before left (carry), or each from zeros."""
    torch.manual_seed(0)
    space = build_option("search_space", "rnn", TINY)
    net = build_supernet(space, 7, 7, 4, SinglePath())
    arch = space.sample(random.Random(0))
    runner = StepRunner(resolve(trainer("proxy"), CPU, limits=PATH_LIMITS), CPU)
    step = PathStep(runner, net, torch.optim.SGD(net.weight_parameters(), lr=0.0), lambda: arch, grad_clip=0.0)
    gen = torch.Generator().manual_seed(1)
    stream = torch.randint(1, 7, (3, 16), generator=gen)
    batches = [(stream[:, i:i + 5], stream[:, i + 1:i + 6]) for i in (0, 5, 10)]
    mean_loss = train_paths(runner, step, batches, carry=carry)["train_loss"]

    cell = recurrent(net)
    cell.carry = carry
    cell.reset()
    with torch.no_grad():
        expected = sum(nn.functional.cross_entropy(net(x, arch=arch).reshape(-1, 7), y.reshape(-1)) for x, y in batches) / 3
    cell.carry = False
    cell.reset()
    assert mean_loss == pytest.approx(float(expected), rel=1e-5)
