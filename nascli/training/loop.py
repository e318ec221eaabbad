"""Supervised training with SGD + momentum, cosine learning rate, weight decay, gradient clipping,
optional cutout, drop path and auxiliary loss (the DARTS evaluation recipe, sized by config)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader
from nascli.errors import ConfigError
from nascli.training.metrics import logits_of, score


@dataclass
class TrainConfig:
    """The trainer group (conf/trainer/*.yaml holds every default)."""

    epochs: int
    batch_size: int
    lr: float
    lr_min: float
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float           # max gradient norm; 0 turns clipping off
    label_smoothing: float
    cutout: int                # side of the cutout square in pixels; 0 is off
    auxiliary_weight: float    # loss weight of an auxiliary head, when the network has one
    drop_path: float           # final drop-path probability (DARTS networks), ramped up linearly
    eval_batch_size: int

    def __post_init__(self) -> None:
        for key in ("batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key} must be at least 1, got {getattr(self, key)}.")
        for key in ("epochs", "lr", "lr_min", "momentum", "weight_decay", "grad_clip", "label_smoothing", "cutout",
                    "auxiliary_weight", "drop_path"):
            if getattr(self, key) < 0:
                raise ConfigError(f"trainer.{key} must be at least 0, got {getattr(self, key)}.")


def accuracy(model: nn.Module, split: Split, data: DataSplits, batch_size: int, device: torch.device) -> tuple[float, float]:
    """(accuracy in percent, mean loss) of `model` on a split, in eval mode."""
    model.eval()
    return score(model, BatchLoader(split, data, batch_size, device=device))


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
    # only what is trainable: fine-tuning freezes part of the network
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("The network has no trainable parameters (every parameter has requires_grad=False).")
    optimizer = torch.optim.SGD(
        trainable, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
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
        logits = logits_of(output)
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
