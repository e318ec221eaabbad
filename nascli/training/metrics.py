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


def flat(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, classes) logits and (N,) targets: a language model's (B, T, V) and (B, T) flattened to
    one row per token, a classifier's as they are."""
    if logits.dim() > 2:
        return logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    return logits, y


@torch.no_grad()
def score(forward: Callable[[torch.Tensor], Any], batches: Iterable[Batch]) -> tuple[float, float]:
    """(accuracy in percent, mean cross-entropy) of `forward` over `batches`; NaNs when empty.

    Sums stay on the device until the end: no host synchronisation per batch.
    """
    correct, loss_sum, seen = None, None, 0
    for x, y in batches:
        logits, y = flat(logits_of(forward(x)).float(), y)  # per token for a language model
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


# --- bootstrap confidence intervals ---------------------------------------------------------------
BOOTSTRAP_CELLS = 2**24  # resampled labels held in memory at once (a chunk of resamples x examples)


def macro_f1_of(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Macro-averaged F1 of each row of (resamples, n) label tensors, as scikit-learn computes it for
    labels 0..num_classes-1 with zero_division=0 (a class neither present nor predicted scores 0)."""
    rows = preds.shape[0]
    offset = torch.arange(rows, device=preds.device)[:, None] * num_classes
    size = rows * num_classes
    predicted = torch.bincount((preds + offset).flatten(), minlength=size).view(rows, num_classes)
    actual = torch.bincount((targets + offset).flatten(), minlength=size).view(rows, num_classes)
    hits = torch.bincount((targets + offset).flatten(), weights=(preds == targets).flatten().double(),
                          minlength=size).view(rows, num_classes)
    denominator = (predicted + actual).double()
    f1 = torch.where(denominator > 0, 2 * hits / denominator.clamp(min=1), torch.zeros_like(hits))
    return f1.mean(1)


def bootstrap_interval(preds: torch.Tensor, targets: torch.Tensor, num_classes: int, samples: int,
                       confidence: float, seed: int) -> dict[str, float]:
    """Percentile-bootstrap interval of test accuracy (percent) and macro-F1 over test examples.

    Each of `samples` resamples draws len(targets) examples with replacement (seeded by `seed`);
    the interval holds the central `confidence` share of the resampled statistics. Resamples are
    drawn and scored as tensors, in chunks that bound memory (Efron & Tibshirani, 1993, ch. 13)."""
    n = len(targets)
    if n == 0:
        nan = float("nan")
        return {"accuracy_low": nan, "accuracy_high": nan, "macro_f1_low": nan, "macro_f1_high": nan}
    preds, targets = preds.cpu().long(), targets.cpu().long()
    gen = torch.Generator().manual_seed(seed)
    chunk = max(1, min(samples, BOOTSTRAP_CELLS // n))
    accuracy, f1 = [], []
    for start in range(0, samples, chunk):
        index = torch.randint(0, n, (min(chunk, samples - start), n), generator=gen)
        p, t = preds[index], targets[index]
        accuracy.append(100.0 * (p == t).double().mean(1))
        f1.append(macro_f1_of(p, t, num_classes))
    tail = (1.0 - confidence) / 2
    q = torch.tensor([tail, 1.0 - tail], dtype=torch.float64)
    acc_q, f1_q = torch.quantile(torch.cat(accuracy), q), torch.quantile(torch.cat(f1), q)
    return {"accuracy_low": float(acc_q[0]), "accuracy_high": float(acc_q[1]),
            "macro_f1_low": float(f1_q[0]), "macro_f1_high": float(f1_q[1])}
