"""Pieces shared by the single-path weight-sharing strategies (SPOS, ENAS): the supernet, training
one sampled path per batch, and scoring a path with inherited weights after BN recalibration.

Supernets come from `space.build_supernet(..., mode="single_path")`; `net(x, arch=arch)` runs
exactly the ops of `arch`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError
from nascli.spaces.base import Arch, SearchSpace

Batch = tuple[torch.Tensor, torch.Tensor]


def build_single_path(space: SearchSpace, data: DataSplits, device: Any, seed: int, channels: int,
                      layers: int) -> nn.Module:
    """The single-path supernet, its weights initialised from `seed` alone (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = space.build_supernet(data.num_classes, data.in_channels, data.input_size, mode="single_path",
                                   channels=channels, layers=layers)
    return net.to(device)


def weight_optimizer(net: nn.Module, lr: float, momentum: float, weight_decay: float, epochs: int,
                     lr_min: float) -> tuple[torch.optim.Optimizer, Any]:
    """SGD on the shared weights (not the unused architecture parameters), cosine-annealed."""
    optimizer = torch.optim.SGD(net.weight_parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=lr_min)


def fixed_batches(split: Split, data: DataSplits, batch_size: int, count: int | None, seed: int,
                  device: Any) -> list[Batch]:
    """`count` batches (all if None) of a random order of `split` fixed by `seed`, not augmented."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    batches = list(BatchLoader(split.subset(order), data, batch_size, device=device))
    return batches if count is None else batches[:count]


def train_paths(net: nn.Module, batches: Any, optimizer: torch.optim.Optimizer, next_arch: Callable[[], Arch],
                grad_clip: float) -> dict[str, float]:
    """One pass over `batches`, each training the path `next_arch()`; train loss and accuracy (%)."""
    net.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in batches:
        logits = net(x, arch=next_arch())
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), grad_clip)
        optimizer.step()
        loss_sum += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    seen = max(seen, 1)
    return {"train_loss": loss_sum / seen, "train_accuracy": 100.0 * correct / seen}


@torch.no_grad()
def recalibrate_bn(net: nn.Module, arch: Arch, batches: Sequence[Batch]) -> None:
    """Re-estimate BN statistics for `arch`'s path (SPOS): reset, then average over `batches`.

    Shared weights were trained on many paths, so running statistics do not match any one of them.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the recalibration batches
    net.train()
    for x, _ in batches:
        net(x, arch=arch)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.no_grad()
def path_accuracy(net: nn.Module, arch: Arch, batches: Sequence[Batch]) -> float:
    """Accuracy (percent) of `arch`'s path with the current weights and statistics, in eval mode."""
    net.eval()
    correct = sum(int((net(x, arch=arch).argmax(1) == y).sum()) for x, y in batches)
    return 100.0 * correct / max(sum(len(y) for _, y in batches), 1)


def check_sizes(name: str, **sizes: int) -> None:
    """A ConfigError naming the first non-positive size."""
    for key, value in sizes.items():
        if value < 1:
            raise ConfigError(f"strategy.{key} must be positive for {name}, got {value}.")
