"""Supervised training with SGD + momentum, cosine learning rate, weight decay, gradient clipping,
optional cutout, drop path and auxiliary loss (the DARTS evaluation recipe, sized by config)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader


@dataclass
class TrainConfig:
    """The trainer group, typed."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    label_smoothing: float = 0.0
    cutout: int = 0
    auxiliary_weight: float = 0.0
    drop_path: float = 0.0
    eval_batch_size: int = 512

    @classmethod
    def from_config(cls, node: Any) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in dict(node).items() if k in known})


def _logits(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def predict(model: nn.Module, loader: BatchLoader) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(predicted labels, true labels, mean cross-entropy) over a loader, in eval mode."""
    model.eval()
    preds, targets, loss_sum = [], [], 0.0
    for x, y in loader:
        logits = _logits(model(x))
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
        targets.append(y.cpu())
    if not preds:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), float("nan")
    n = sum(len(t) for t in targets)
    return torch.cat(preds), torch.cat(targets), loss_sum / n


def accuracy(model: nn.Module, split: Split, data: DataSplits, batch_size: int, device: torch.device) -> tuple[float, float]:
    """(accuracy in percent, mean loss) of `model` on a split."""
    if len(split) == 0:
        return float("nan"), float("nan")
    preds, targets, loss = predict(model, BatchLoader(split, data, batch_size, device=device))
    return 100.0 * (preds == targets).float().mean().item(), loss


def train(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainConfig,
    device: torch.device,
    seed: int,
    train_split: Split | None = None,
    val_split: Split | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train `model` and return one record per epoch (train loss/accuracy, val accuracy, lr, time)."""
    train_split = data.train if train_split is None else train_split
    val_split = data.val if val_split is None else val_split
    model.to(device)
    loader = BatchLoader(train_split, data, cfg.batch_size, train=True, cutout_length=cfg.cutout, seed=seed, device=device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        nesterov=cfg.nesterov and cfg.momentum > 0,
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1), eta_min=cfg.lr_min)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[dict[str, float]] = []
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = cfg.drop_path * epoch / max(cfg.epochs, 1)
        lr = optimizer.param_groups[0]["lr"]
        loss, acc = _train_epoch(model, loader, optimizer, criterion, cfg)
        schedule.step()
        val_acc, val_loss = accuracy(model, val_split, data, cfg.eval_batch_size, device)
        record = {
            "epoch": epoch + 1, "lr": lr, "train_loss": loss, "train_accuracy": acc,
            "val_loss": val_loss, "val_accuracy": val_acc, "epoch_s": time.perf_counter() - start,
        }
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return history


def _train_epoch(model: nn.Module, loader: BatchLoader, optimizer: torch.optim.Optimizer, criterion: nn.Module, cfg: TrainConfig) -> tuple[float, float]:
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for x, y in loader:
        output = model(x)
        logits = _logits(output)
        loss = criterion(logits, y)
        if isinstance(output, tuple) and cfg.auxiliary_weight > 0:
            loss = loss + cfg.auxiliary_weight * criterion(output[1], y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        # accumulate on the device: no host sync per step
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
    if seen == 0:
        return math.nan, math.nan
    return loss_sum.item() / seen, 100.0 * correct.item() / seen
