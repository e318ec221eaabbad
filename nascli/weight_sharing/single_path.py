"""Single-path weight sharing (SPOS, ENAS, the supernet evaluator): the supernet, training one
sampled path per batch (a step body for nascli.training.steps), and scoring a path with inherited
weights after BN recalibration.

Supernets are built with the SinglePath mixing (nascli.weight_sharing.supernet); `net(x, arch=arch)`
runs exactly the ops of `arch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits
from nascli.spaces.base import Arch, SearchSpace
from nascli.training.metrics import flat, score
from nascli.training.text import carrying, penalty_of, recurrent
from nascli.training.steps import Limits, MicroBatch, StepRunner, resolve
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


# Each step trains another sampled path: a graph or a compiled forward would be another one every step.
PATH_LIMITS = Limits(cuda_graphs="each step trains another sampled path, which one captured graph cannot replay",
                     compile="each step trains another sampled path: torch.compile would recompile for every path")


def path_training(space: SearchSpace, data: DataSplits, device: Any, seed: int,
                  trainer: Any) -> tuple[Supernet, StepRunner, torch.optim.Optimizer, Any]:
    """What SPOS and ENAS train with: the single-path supernet (weights from `seed`), the step
    runner for the search's trainer (PATH_LIMITS refused with their reasons), SGD on the shared
    weights and its cosine schedule."""
    net = build_single_path(space, data, device, seed)
    runner = StepRunner(resolve(trainer, torch.device(device), limits=PATH_LIMITS), device, trainer.accumulate)
    runner.prepare(net)
    optimizer = runner.optimizer(net.weight_parameters(), trainer)
    return net, runner, optimizer, runner.schedule(optimizer, trainer)


class PathStep:
    """The single-path step body: each micro-batch trains the path `next_arch()` gives (forward
    under autocast, cross-entropy, backward), then the shared weights take one clipped SGD step.
    Returns each micro-batch's (loss, correct count) as device tensors."""

    def __init__(self, runner: StepRunner, net: nn.Module, optimizer: torch.optim.Optimizer,
                 next_arch: Callable[[], Arch], grad_clip: float) -> None:
        self.runner, self.net, self.optimizer, self.next_arch, self.grad_clip = runner, net, optimizer, next_arch, grad_clip
        self.weights = net.weight_parameters()
        self.recurrent = recurrent(net) is not None

    def __call__(self, batches: list[tuple[torch.Tensor, ...]], weights: tuple[float, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        self.optimizer.zero_grad(set_to_none=True)
        out = []
        for (x, y), weight in zip(batches, weights):
            with self.runner.autocast():
                logits, y = flat(self.net(x, arch=self.next_arch()), y)  # per token for a language model
                loss = nn.functional.cross_entropy(logits, y)
                penalty = penalty_of(self.net) if self.recurrent else None  # AR/TAR of a recurrent cell
                loss = loss if penalty is None else loss + penalty
            self.runner.backward(loss if weight == 1.0 else loss * weight)
            out.append((loss.detach(), (logits.detach().argmax(1) == y).sum()))
        self.runner.update(self.optimizer, self.weights, self.grad_clip)
        return out


def train_paths(runner: StepRunner, step: PathStep, batches: Iterable[Batch], carry: bool = False) -> dict[str, float]:
    """One pass over `batches` by the step runner, each batch training a sampled path; train loss and
    accuracy (%). With `carry` (a language model's stream), each batch starts from the hidden state
    the one before left, whatever path it trained, as ENAS' reference trains its shared weights."""
    step.net.train()
    loss_sum, correct, seen = 0.0, 0, 0
    micro = (MicroBatch((runner.inputs(x), y), 1.0, len(y)) for x, y in batches)
    with carrying(step.net, carry):
        for group in runner.groups(micro):
            for (loss, hits), batch in zip(runner.run(step, group), group):
                n = batch.tensors[1].numel()  # targets: images, or a language model's tokens
                loss_sum += float(loss) * n
                correct += int(hits)
                seen += n
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

    def scores(self, arch: Arch) -> tuple[float, float]:
        """(accuracy in percent, mean loss) of the path, as __call__ measures it (a language model's
        loss gives its perplexity)."""
        recalibrate_bn(self.net, arch, self.calibration)
        self.net.eval()
        return score(lambda x: self.net(x, arch=arch), self.validation)
