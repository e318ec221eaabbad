"""Supervised training with SGD + momentum, cosine learning rate, weight decay, gradient clipping,
optional cutout, drop path and auxiliary loss (the DARTS evaluation recipe, sized by config).

How each step runs (AMP, channels_last, torch.compile, fused steps, CUDA graphs, gradient
accumulation) is the trainer's switches, run by nascli.training.steps; under torchrun the same call
trains data-parallel (nascli.training.data_parallel). After every epoch a caller may keep the training state, from which
a later call continues exactly as if it had not stopped.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.loader import BatchLoader
from nascli.errors import CheckpointError, ConfigError, DivergedError
from nascli.runtime.torchrun import TorchrunProcess
from nascli.training import data_parallel, steps
from nascli.training.metrics import logits_of, score
from nascli.training.steps import MicroBatch, StepRunner

STATE_FORMAT = "nascli.train_state/1"


@dataclass
class TrainConfig:
    """The trainer group (conf/trainer/*.yaml holds every default)."""

    epochs: int
    batch_size: int            # the global batch: under torchrun each of N processes takes 1/N of it
    lr: float
    lr_min: float
    lr_schedule: Literal["cosine", "exponential"]  # cosine from lr to lr_min | lr times lr_decay every epoch
    lr_decay: float            # exponential: the factor an epoch multiplies lr by (DARTS on ImageNet: 0.97)
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float           # max gradient norm; 0 turns clipping off
    label_smoothing: float
    cutout: int                # side of the cutout square in pixels; 0 is off
    auxiliary_weight: float    # loss weight of an auxiliary head, when the network has one
    drop_path: float           # final drop-path probability (DARTS networks), ramped up linearly
    eval_batch_size: int
    accumulate: int            # batches whose summed gradients make one optimiser step (1: every batch steps)
    amp: Literal["auto", "none", "bf16", "fp16"]                              # autocast dtype
    channels_last: bool | Literal["auto"]                                      # NHWC memory format
    compile: Literal["auto", "none", "default", "reduce-overhead", "max-autotune"]  # torch.compile mode
    optimizer_step: Literal["auto", "loop", "foreach", "fused"]               # the SGD step's kernels
    cuda_graphs: bool | Literal["auto"]                                        # replay a captured step
    sync_batchnorm: bool       # under torchrun: BatchNorm statistics of the global batch, not each slice

    def __post_init__(self) -> None:
        for key in ("batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key} must be at least 1, got {getattr(self, key)}.")
        for key in ("epochs", "lr", "lr_min", "momentum", "weight_decay", "grad_clip", "label_smoothing", "cutout",
                    "auxiliary_weight", "drop_path"):
            if getattr(self, key) < 0:
                raise ConfigError(f"trainer.{key} must be at least 0, got {getattr(self, key)}.")
        if self.lr_schedule not in ("cosine", "exponential"):
            raise ConfigError(f"trainer.lr_schedule must be cosine or exponential, got {self.lr_schedule!r}.")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"trainer.lr_decay must be in (0, 1] (the factor an epoch multiplies lr by), got {self.lr_decay}.")
        steps.check_switches(self.amp, self.channels_last, self.compile, self.optimizer_step, self.cuda_graphs,
                             self.accumulate)


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
    resume: dict[str, Any] | None = None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, float]]:
    """Train `model` and return one record per epoch (train loss/accuracy, val accuracy, lr, time).

    `on_checkpoint` gets, after every epoch (before `on_epoch`), the state that resumes training: pass
    it back as `resume`, into the same network holding that epoch's weights, and training continues
    to the same final weights an uninterrupted run reaches. Under torchrun every process must call
    this alike; only the caller decides who writes.
    """
    train_split = data.train if train_split is None else train_split
    val_split = data.val if val_split is None else val_split
    process = data_parallel.current()
    runner = StepRunner(steps.resolve(cfg, device, process.size if process else 1), device, cfg.accumulate)
    runner.prepare(model)
    loader = BatchLoader(train_split, data, cfg.batch_size, train=True, cutout_length=cfg.cutout, seed=seed, device=device)
    # only what is trainable: fine-tuning freezes part of the network
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("The network has no trainable parameters (every parameter has requires_grad=False).")
    optimizer = runner.optimizer(trainable, cfg)
    schedule = runner.schedule(optimizer, cfg)
    swapped = data_parallel.sync_batchnorm(model, device) if process and cfg.sync_batchnorm else []
    try:
        net = model if process is None else data_parallel.wrap(model, device, find_unused=_unused_head(model, cfg))
        step = SupervisedStep(runner, runner.compiled(net), optimizer,
                              nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), cfg.auxiliary_weight,
                              cfg.grad_clip, trainable)
        history: list[dict[str, float]] = []
        first = 0
        if resume is not None:
            first, history = _restore(resume, optimizer, schedule, runner.scaler, loader, process, device, cfg, seed)
        elif process is not None:
            _seed_processes(seed, process)
        for epoch in range(first, cfg.epochs):
            start = time.perf_counter()
            if hasattr(model, "drop_path_prob"):
                model.drop_path_prob = cfg.drop_path * epoch / max(cfg.epochs, 1)
            lr = optimizer.param_groups[0]["lr"]
            with steps.compile_errors(runner.how):
                loss, acc = _train_epoch(step, runner, loader, process, (lr, getattr(model, "drop_path_prob", None)))
            train_s = time.perf_counter() - start
            _check_finite("training", loss, acc, epoch, cfg, lr)
            schedule.step()
            val_acc, val_loss = _validate(model, val_split, data, cfg.eval_batch_size, device, process)
            _check_finite("validation", val_loss, val_acc, epoch, cfg, lr)
            record = {
                "epoch": epoch + 1, "lr": lr, "train_loss": loss, "train_accuracy": acc,
                "val_loss": val_loss, "val_accuracy": val_acc, "epoch_s": time.perf_counter() - start,
                "train_s": train_s,
            }
            history.append(record)
            if on_checkpoint is not None:
                on_checkpoint(_state(epoch + 1, optimizer, schedule, runner.scaler, loader, history, process, device))
            if on_epoch is not None:
                on_epoch(record)
    finally:
        data_parallel.restore(swapped)
    return history


def _check_finite(which: str, loss: float, acc: float, epoch: int, cfg: TrainConfig, lr: float) -> None:
    """A DivergedError when an epoch's mean loss is nan or inf (a nan accuracy too means no batch).
    Checked once per epoch, from the loss sum read anyway: a nan or inf in any step makes the sum
    nan or inf, so no step pays a host sync. The caller keeps every earlier epoch (records, checkpoint)."""
    if math.isfinite(loss) or math.isnan(acc):
        return
    raise DivergedError(
        f"The {which} loss became {loss} in epoch {epoch + 1} of {cfg.epochs} (learning rate {lr:g}); training "
        f"stopped and the epochs before it are kept. Lower trainer.lr (now {cfg.lr:g})"
        + ("" if cfg.grad_clip > 0 else ", clip gradients (trainer.grad_clip=5)")
        + (", or train without mixed precision (trainer.amp=none)" if cfg.amp not in ("none", "auto") else "") + ".")


class SupervisedStep:
    """The supervised step body: for each micro-batch, forward (under autocast), loss (plus an
    auxiliary head's), backward (scaled for fp16); then clipping and the SGD step. Returns each
    micro-batch's (loss, correct count) as device tensors: no host sync."""

    def __init__(self, runner: StepRunner, net: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module,
                 auxiliary_weight: float, grad_clip: float, trainable: list[nn.Parameter]) -> None:
        self.runner, self.net, self.optimizer, self.criterion = runner, net, optimizer, criterion
        self.auxiliary_weight, self.grad_clip, self.trainable = auxiliary_weight, grad_clip, trainable

    def __call__(self, batches: list[tuple[torch.Tensor, ...]], weights: tuple[float, ...],
                 *constants: object) -> list[tuple[torch.Tensor, torch.Tensor]]:
        self.optimizer.zero_grad(set_to_none=True)
        out = []
        for i, ((x, y), weight) in enumerate(zip(batches, weights)):
            with self.runner.no_sync(self.net, last=i == len(batches) - 1):
                with self.runner.autocast():
                    output = self.net(x)
                    logits = logits_of(output)
                    loss = self.criterion(logits, y)
                    if isinstance(output, tuple) and self.auxiliary_weight > 0:
                        loss = loss + self.auxiliary_weight * self.criterion(output[1], y)
                self.runner.backward(loss if weight == 1.0 else loss * weight)
            out.append((loss.detach(), (logits.detach().argmax(1) == y).sum()))
        self.runner.update(self.optimizer, self.trainable, self.grad_clip)
        return out


def _train_epoch(step: SupervisedStep, runner: StepRunner, loader: BatchLoader, process: TorchrunProcess | None,
                 key: tuple) -> tuple[float, float]:
    """One epoch of steps (`key`: the epoch's constants, what a CUDA graph captures); mean loss and accuracy."""
    step.net.train()
    device = runner.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for batches in runner.groups(_micro_batches(loader, process, runner)):
        for (loss, hits), batch in zip(runner.run(step, batches, key), batches):
            # accumulate on the device: no host sync per step
            n = len(batch.tensors[1])
            loss_sum += loss * n
            correct += hits
            seen += n
    if process is not None:
        loss_total, correct_total, seen = data_parallel.all_sum([loss_sum, correct, seen], device)
        return (math.nan, math.nan) if seen == 0 else (loss_total / seen, 100.0 * correct_total / seen)
    if seen == 0:
        return math.nan, math.nan
    return loss_sum.item() / seen, 100.0 * correct.item() / seen


def _micro_batches(loader: BatchLoader, process: TorchrunProcess | None, runner: StepRunner) -> Iterator[MicroBatch]:
    """The loader's batches as the step takes them: this process's slice under torchrun, in the
    model's memory format; a batch that cannot train is skipped."""
    seen = 0
    for x, y in loader:
        images, weight = len(y), 1.0
        if len(y) == 1 and seen:  # a last batch of one image: batch norm cannot train on its 1x1 maps
            continue
        if process is not None:
            if len(y) < process.size:  # a last batch too small to give every process an image
                continue
            x, y, weight = data_parallel.shard(x, y, process)
        seen += len(y)
        yield MicroBatch((runner.inputs(x), y), weight, images)


def _validate(model: nn.Module, split: Split, data: DataSplits, batch_size: int, device: torch.device,
              process: TorchrunProcess | None) -> tuple[float, float]:
    """accuracy() of the split; under torchrun each process scores a slice and the sums are shared."""
    if process is None:
        return accuracy(model, split, data, batch_size, device)
    start, stop = data_parallel.bounds(len(split), process)
    n = stop - start
    acc, loss = accuracy(model, split.subset(torch.arange(start, stop)), data, batch_size, device) if n else (0.0, 0.0)
    correct, loss_sum, seen = data_parallel.all_sum([round(acc * n / 100.0), loss * n, n], device)
    return (math.nan, math.nan) if seen == 0 else (100.0 * correct / seen, loss_sum / seen)


def _unused_head(model: nn.Module, cfg: TrainConfig) -> bool:
    """Whether a head gets no gradient (an auxiliary head with weight 0): DDP must be told."""
    return getattr(model, "auxiliary_head", None) is not None and cfg.auxiliary_weight == 0


# --- the state that resumes training --------------------------------------------------------------
def _rng_state(device: torch.device) -> dict[str, torch.Tensor | None]:
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _seed_processes(seed: int, process: TorchrunProcess) -> None:
    """Give each process its own random stream (drop path draws a mask per image of its slice);
    rank 0 keeps the stream one process would have."""
    if process.rank > 0:
        torch.manual_seed(seed + 1_000_003 * process.rank)


def _state(epoch: int, optimizer: torch.optim.Optimizer, schedule: Any, scaler: torch.amp.GradScaler | None,
           loader: BatchLoader, history: list[dict[str, float]], process: TorchrunProcess | None,
           device: torch.device) -> dict[str, Any]:
    """Everything but the weights that the next epoch depends on (tensors and plain values only)."""
    rng = _rng_state(device)
    return {
        "format": STATE_FORMAT, "epoch": epoch, "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(), "scaler": scaler.state_dict() if scaler is not None else None,
        "loader": loader.gen.get_state(), "rng": data_parallel.gather(rng) if process else [rng],
        "history": [dict(h) for h in history],
    }


def _restore(state: dict[str, Any], optimizer: torch.optim.Optimizer, schedule: Any,
             scaler: torch.amp.GradScaler | None, loader: BatchLoader, process: TorchrunProcess | None, device: torch.device,
             cfg: TrainConfig, seed: int) -> tuple[int, list[dict[str, float]]]:
    """Load a `_state` into a fresh run; returns (epochs done, their records)."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError("The checkpoint holds no training state to resume from (written by an older nascli?).")
    epoch = int(state["epoch"])
    if epoch > cfg.epochs:
        raise CheckpointError(f"The checkpoint is at epoch {epoch}, beyond trainer.epochs={cfg.epochs}.")
    kernels = [(g["foreach"], g["fused"]) for g in optimizer.param_groups]  # this run's choice, not the saved one
    try:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        loader.gen.set_state(state["loader"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"The training state does not fit this network or trainer ({str(exc)[:200]}).") from None
    for group_, (foreach, fused) in zip(optimizer.param_groups, kernels):
        group_["foreach"], group_["fused"] = foreach, fused
    rngs, size = state["rng"], process.size if process else 1
    if len(rngs) == size:
        mine = rngs[process.rank if process else 0]
        torch.set_rng_state(mine["cpu"])
        if device.type == "cuda" and mine.get("cuda") is not None:
            torch.cuda.set_rng_state(mine["cuda"], device)
    else:
        warnings.warn(f"Resuming with {size} process(es) where the run had {len(rngs)}: drop-path masks "
                      "will differ from an uninterrupted run's.", stacklevel=2)
        torch.manual_seed(seed + epoch)
        if process is not None:
            _seed_processes(seed + epoch, process)
    return epoch, [dict(h) for h in state["history"]]
