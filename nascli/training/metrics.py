"""Scoring a network on batches: accuracy and loss, or its predictions. The one evaluation loop
that retraining, one-shot strategies, weight-sharing evaluators and meta-learning all use."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


def logits_of(output: Any) -> torch.Tensor:
    """The main logits of a network's output (a network with an auxiliary head returns a pair)."""
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def score(forward: Callable[[torch.Tensor], Any], batches: Iterable[Batch]) -> tuple[float, float]:
    """(accuracy in percent, mean cross-entropy) of `forward` over `batches`; NaNs when empty.

    Sums stay on the device until the end: no host synchronisation per batch.
    """
    correct, loss_sum, seen = None, None, 0
    for x, y in batches:
        logits = logits_of(forward(x)).float()
        hits = (logits.argmax(1) == y).sum()
        loss = nn.functional.cross_entropy(logits, y, reduction="sum").double()
        correct = hits if correct is None else correct + hits
        loss_sum = loss if loss_sum is None else loss_sum + loss
        seen += len(y)
    if not seen:
        return float("nan"), float("nan")
    return 100.0 * int(correct) / seen, float(loss_sum) / seen


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable[Batch]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(predicted labels, true labels, mean cross-entropy) of `model` in eval mode, on the CPU."""
    model.eval()
    preds, targets, loss_sum = [], [], 0.0
    for x, y in batches:
        logits = logits_of(model(x))
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
        targets.append(y.cpu())
    if not preds:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), float("nan")
    return torch.cat(preds), torch.cat(targets), loss_sum / sum(len(t) for t in targets)
