"""Method `reptile` (MetaNAS, Elsken et al., 2020): meta-learn supernet weights and architecture
parameters together with Reptile across class-subset tasks, so that a few adaptation steps on a
new task already give a good derived architecture.

Each meta-iteration draws a `ways`-class task, adapts a copy of the supernet for `inner_steps`
first-order bilevel steps (weights by SGD on a training batch, alphas by Adam on a validation
batch), then moves the meta-parameters towards the adapted ones: theta += eps * (theta' - theta),
with eps annealed linearly to 0 as in Reptile (Nichol et al., 2018).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader


@dataclass
class ReptileConfig:
    """Hyper-parameters of the reptile method (conf/method/reptile.yaml)."""

    meta_iterations: int = 300
    meta_lr: float = 1.0
    inner_steps: int = 5
    batch_size: int = 32
    w_lr: float = 0.05
    w_momentum: float = 0.9
    a_lr: float = 3e-3
    grad_clip: float = 5.0
    mode: str = "darts"
    channels: int | None = None
    layers: int | None = None
    eval_every: int = 25
    eval_tasks: int = 3


def batches(split: Split, data: DataSplits, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """An endless stream of training batches of a split (reshuffled each pass, seeded)."""
    epoch = 0
    while True:
        yield from BatchLoader(split, data, batch_size, train=True, seed=seed + epoch)
        epoch += 1


def adapt(net: nn.Module, data: DataSplits, steps: int, cfg: ReptileConfig, seed: int) -> nn.Module:
    """`steps` first-order bilevel steps on one task: weights on its training split, alphas on its
    validation split (DARTS' first-order update, the inner loop of MetaNAS)."""
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.a_lr, betas=(0.5, 0.999))
    train = batches(data.train, data, cfg.batch_size, seed)
    val = batches(data.val if len(data.val) else data.train, data, cfg.batch_size, seed + 7919)
    net.train()
    for _ in range(steps):
        x, y = next(val)
        a_opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        a_opt.step()
        x, y = next(train)
        w_opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), cfg.grad_clip)
        w_opt.step()
    return net


@torch.no_grad()
def accuracy(net: nn.Module, data: DataSplits) -> float:
    """Supernet accuracy (percent) on a task's validation split."""
    net.eval()
    correct = total = 0
    for x, y in BatchLoader(data.val, data, 512):
        correct += int((net(x).argmax(1) == y).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)


@torch.no_grad()
def reptile_update(meta: nn.Module, fast: nn.Module, eps: float) -> None:
    """theta += eps * (theta' - theta) for every parameter and floating buffer (BN statistics)."""
    for p_meta, p_fast in zip(meta.parameters(), fast.parameters()):
        p_meta.add_(p_fast - p_meta, alpha=eps)
    for b_meta, b_fast in zip(meta.buffers(), fast.buffers()):
        if b_meta.is_floating_point():
            b_meta.add_(b_fast - b_meta, alpha=eps)


def meta_train(
    net: nn.Module,
    sample_task: Callable[[random.Random], DataSplits],
    cfg: ReptileConfig,
    seed: int,
    on_iteration: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Reptile over tasks from `sample_task`; returns the evaluation history (accuracy after
    `inner_steps` adaptation steps on fresh tasks, every `eval_every` iterations)."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    history: list[dict[str, Any]] = []
    for it in range(cfg.meta_iterations):
        task = sample_task(rng)
        fast = adapt(copy.deepcopy(net), task, cfg.inner_steps, cfg, seed=rng.randrange(2**31))
        eps = cfg.meta_lr * (1.0 - it / cfg.meta_iterations)
        reptile_update(net, fast, eps)
        record: dict[str, Any] = {"iteration": it + 1, "eps": eps, "classes": getattr(task, "classes", None)}
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.meta_iterations:
            record["adapted_accuracy"] = evaluate(net, sample_task, cfg, random.Random(seed + 10_000 + it))
            history.append(record)
        if on_iteration is not None:
            on_iteration(record)
    return history


def evaluate(net: nn.Module, sample_task: Callable[[random.Random], DataSplits], cfg: ReptileConfig, rng: random.Random) -> float:
    """Mean validation accuracy after adapting copies of `net` to `eval_tasks` fresh tasks."""
    scores = []
    for _ in range(cfg.eval_tasks):
        task = sample_task(rng)
        scores.append(accuracy(adapt(copy.deepcopy(net), task, cfg.inner_steps, cfg, seed=rng.randrange(2**31)), task))
    return sum(scores) / len(scores)
