"""Single-path weight sharing (SPOS, ENAS, the supernet evaluator): the supernet, training one
sampled path per batch, and scoring a path with inherited weights after BN recalibration.

Supernets are built with the SinglePath mixing (nascli.weight_sharing.supernet); `net(x, arch=arch)`
runs exactly the ops of `arch`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits
from nascli.spaces.base import Arch, SearchSpace
from nascli.training.metrics import score
from nascli.weight_sharing.batches import Batch
from nascli.weight_sharing.mixing import SinglePath
from nascli.weight_sharing.supernet import Supernet, build_supernet


def build_single_path(space: SearchSpace, data: DataSplits, device: Any, seed: int) -> Supernet:
    """The single-path supernet of `space` (at its size), its weights initialised from `seed` alone
    (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_supernet(space, data.num_classes, data.in_channels, data.input_size, SinglePath())
    return net.to(device)


def weight_optimizer(net: nn.Module, lr: float, momentum: float, weight_decay: float, epochs: int,
                     lr_min: float) -> tuple[torch.optim.Optimizer, Any]:
    """SGD on the shared weights (not the unused architecture parameters), cosine-annealed."""
    optimizer = torch.optim.SGD(net.weight_parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=lr_min)


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


def path_accuracy(net: nn.Module, arch: Arch, batches: Sequence[Batch]) -> float:
    """Accuracy (percent) of `arch`'s path with the current weights and statistics, in eval mode."""
    net.eval()
    return score(lambda x: net(x, arch=arch), batches)[0]


class PathScorer:
    """Inherited-weight accuracy of any path of a single-path supernet: BN statistics re-estimated
    on `calibration` batches, then accuracy on `validation` batches. Scores depend only on the
    path, the weights and the (fixed) batches, never on which paths were scored before."""

    def __init__(self, net: nn.Module, calibration: Sequence[Batch], validation: Sequence[Batch]) -> None:
        self.net, self.calibration, self.validation = net, calibration, validation

    def __call__(self, arch: Arch) -> float:
        recalibrate_bn(self.net, arch, self.calibration)
        return path_accuracy(self.net, arch, self.validation)
