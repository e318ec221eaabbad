"""Training and scoring networks on token data (nascli.data.text): a language model by next-token
cross-entropy, reported as perplexity (exp of the mean loss per token, lower is better), or a text
classifier by cross-entropy and accuracy.

A language model is trained as the DARTS reference code's rnn/ trains it: contiguous batches whose
hidden state carries over (detached), the network's activation regularisation added to the loss,
gradients clipped, plain SGD; with `nonmono` > 0 (the reference's retrain) it switches to averaged
SGD (ASGD) once the validation loss has not improved on the best of all but the last `nonmono`
epochs, and scores with the averaged weights from then on (Merity et al., 2018).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits, Split
from nascli.data.text_batches import StreamBatches, TextBatches
from nascli.errors import CheckpointError, ConfigError, DivergedError
from nascli.training.loop import TrainConfig

STATE_FORMAT = "nascli.text_train_state/1"


@dataclass
class TextTrainConfig(TrainConfig):
    """The trainer group for recurrent text networks: TrainConfig and when to switch to ASGD."""

    nonmono: int  # epochs of no improvement after which SGD becomes ASGD (0: never; the reference's retrain: 5)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonmono < 0:
            raise ConfigError(f"trainer.nonmono must be at least 0, got {self.nonmono}.")


def is_text(data: Any) -> bool:
    """Whether `data` holds token ids (nascli.data.text.TextSplits)."""
    return getattr(data, "task", None) in ("lm", "classification")


def is_lm(data: Any) -> bool:
    return getattr(data, "task", None) == "lm"


def recurrent(model: nn.Module) -> nn.Module | None:
    """The network inside `model` that carries a hidden state (an RNNNet, a supernet's too)."""
    return next((m for m in model.modules() if hasattr(m, "carry") and hasattr(m, "reset")), None)


def perplexity_of(data: DataSplits, loss: float) -> dict[str, float]:
    """{"val_perplexity": exp(loss)} for a language model's mean validation loss, else nothing."""
    return {"val_perplexity": math.exp(min(loss, 700.0))} if is_lm(data) else {}


def example_tokens(data: DataSplits, split: Split, count: int = 1) -> torch.Tensor:
    """`count` real inputs of a split, (count, seq_len) ids: a stream's first windows, or texts."""
    if is_lm(data):
        need = count * data.input_size
        stream = split.images[:need] if len(split) >= need else split.images.repeat(-(-need // max(len(split), 1)))[:need]
        return stream.reshape(count, data.input_size)
    return split.images[:count]


def penalty_of(model: nn.Module) -> torch.Tensor | None:
    """The activation regularisation (AR, TAR) a recurrent network kept from its last training
    forward, for the loss; None for other networks."""
    net = recurrent(model)
    return None if net is None else getattr(net, "penalty", None)


def batches(data: DataSplits, split: Split, batch_size: int, train: bool, seed: int,
            device: torch.device | str) -> StreamBatches | TextBatches:
    """A split's batches: contiguous bptt windows of a stream (lm; for training, of varying length
    drawn from `seed` where the data says so), or padded texts (classification)."""
    if is_lm(data):
        gen = torch.Generator().manual_seed(seed) if train and getattr(data, "variable_bptt", False) else None
        return StreamBatches(split.images, batch_size, data.input_size, device, gen)
    return TextBatches(split, batch_size, train=train, seed=seed, device=device)


def loss_of(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per target (per token for a language model)."""
    return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]), y.reshape(-1))


def carrying(model: nn.Module, lm: bool) -> AbstractContextManager[None]:
    """A language model's hidden state carried from batch to batch while inside (one stream, from
    zeros); as it was again after."""
    return Streams(model if lm else None).on("stream")


class Streams:
    """The hidden states of several batch streams through one recurrent language model, each carried
    on from that stream's own last batch: a one-shot search reads a training and a validation
    stream in turn, and carries a hidden state for each, as the DARTS reference's search does
    (`hidden`, `hidden_valid`). For any other network (`model` None) it does nothing."""

    def __init__(self, model: nn.Module | None) -> None:
        self.net = None if model is None else recurrent(model)
        self.states: dict[str, torch.Tensor | None] = {}

    def reset(self) -> None:
        """Every stream starts afresh (a new epoch)."""
        self.states.clear()

    @contextmanager
    def on(self, name: str, advance: bool = True) -> Iterator[None]:
        """Forwards inside start from stream `name`'s state; with `advance`, the last one's end
        state becomes the stream's (otherwise each starts from the same state and leaves it)."""
        net = self.net
        if net is None:
            yield
            return
        kept = net.carry, net.advance, net.hidden
        net.carry, net.advance, net.hidden = True, advance, self.states.get(name)
        try:
            yield
            if advance:
                self.states[name] = net.hidden
        finally:
            net.carry, net.advance, net.hidden = kept


def measure(forward: Callable[[torch.Tensor], torch.Tensor], model: nn.Module, data: DataSplits,
            pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Mean loss and perplexity (lm) or accuracy (classification) of `forward` over `pairs`, in eval
    mode, without gradients."""
    model.eval()
    lm = is_lm(data)
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad(), carrying(model, lm):
        for x, y in pairs:
            out = forward(x).float()
            loss_sum += float(nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="sum"))
            correct += int((out.argmax(-1) == y).sum())
            seen += y.numel()
    if not seen:
        return {"loss": math.nan, "perplexity": math.nan, "accuracy": math.nan}
    loss = loss_sum / seen
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "accuracy": 100.0 * correct / seen}


def evaluate(model: nn.Module, data: DataSplits, split: Split, batch_size: int, device: torch.device | str,
             prefix: str = "val") -> dict[str, float]:
    """`{prefix}_loss` and `{prefix}_perplexity` (lm) or `{prefix}_accuracy` of `model` on a split."""
    scores = measure(model, model, data, batches(data, split, batch_size, False, 0, device))
    kept = ("loss", "perplexity") if is_lm(data) else ("loss", "accuracy")
    return {f"{prefix}_{k}": scores[k] for k in kept}


def train_text(
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
    """Train `model` on token data; one record per epoch (lr, train and validation loss with
    perplexity or accuracy, seconds). `on_checkpoint` gets the state that `resume` continues from
    (the caller keeps the weights), exactly as an uninterrupted run would go on."""
    train_split = data.train if train_split is None else train_split
    val_split = data.val if val_split is None else val_split
    lm = is_lm(data)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("The network has no trainable parameters (every parameter has requires_grad=False).")
    optimizer: torch.optim.Optimizer = torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        nesterov=cfg.nesterov and cfg.momentum > 0)
    nonmono = int(getattr(cfg, "nonmono", 0))
    loader = batches(data, train_split, cfg.batch_size, True, seed, device)
    bptt = data.input_size
    history: list[dict[str, float]] = []
    averaged = False
    first = 0
    if resume is not None:
        first, history, averaged, optimizer = _restore(resume, params, optimizer, loader, cfg)
    for epoch in range(first, cfg.epochs):
        start = time.perf_counter()
        lr = _lr(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if lm:  # each epoch's windows drawn afresh from (seed, epoch): a resumed run draws the same
            loader = batches(data, train_split, cfg.batch_size, True, seed * 1_000_003 + epoch, device)
        train_scores = _train_epoch(model, loader, optimizer, cfg, lm, bptt)
        _check_finite("training", train_scores["loss"], epoch, cfg, lr)
        with _averaged_weights(optimizer, params, averaged):
            val_scores = evaluate(model, data, val_split, cfg.eval_batch_size, device)
        record: dict[str, float] = {"epoch": epoch + 1, "lr": lr}
        metric = "perplexity" if lm else "accuracy"
        record.update({"train_loss": train_scores["loss"], f"train_{metric}": train_scores[metric], **val_scores,
                       "epoch_s": time.perf_counter() - start})
        _check_finite("validation", record["val_loss"], epoch, cfg, lr)
        history.append(record)
        if not averaged and nonmonotone([h["val_loss"] for h in history], nonmono):
            optimizer = _asgd(params, cfg, lr)  # switch to averaged SGD, as AWD-LSTM does
            averaged = True
            record["switched_to_asgd"] = 1.0
        if on_checkpoint is not None:
            on_checkpoint(_state(epoch + 1, optimizer, loader, history, averaged))
        if on_epoch is not None:
            on_epoch(record)
    if averaged:  # the averaged weights are the result, as the reference code saves them
        _swap_in_average(optimizer, params)
    return history


def nonmonotone(val_losses: list[float], nonmono: int) -> bool:
    """AWD-LSTM's trigger: the last validation loss is worse than the best of all but the last
    `nonmono` epochs (never when nonmono is 0)."""
    if nonmono < 1 or len(val_losses) <= nonmono:
        return False
    return val_losses[-1] > min(val_losses[:-nonmono])


def _lr(cfg: TrainConfig, epoch: int) -> float:
    if cfg.lr_schedule == "exponential":
        return cfg.lr * cfg.lr_decay ** epoch
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))


def _train_epoch(model: nn.Module, loader: StreamBatches | TextBatches, optimizer: torch.optim.Optimizer,
                 cfg: TrainConfig, lm: bool, bptt: int) -> dict[str, float]:
    """One pass; a language model's step on a window of L tokens takes lr * L / bptt (AWD-LSTM), so
    that every token weighs alike whatever its window's length."""
    model.train()
    net = recurrent(model)
    loss_sum, correct, seen = 0.0, 0, 0
    base = [group["lr"] for group in optimizer.param_groups]
    with carrying(model, lm):
        for x, y in loader:
            if lm:
                for group, lr in zip(optimizer.param_groups, base):
                    group["lr"] = lr * x.shape[1] / bptt
            optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_of(out, y)
            penalty = getattr(net, "penalty", None)
            (loss if penalty is None else loss + penalty).backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], cfg.grad_clip)
            optimizer.step()
            n = y.numel()
            loss_sum += float(loss.detach()) * n
            correct += int((out.detach().argmax(-1) == y).sum())
            seen += n
    for group, lr in zip(optimizer.param_groups, base):
        group["lr"] = lr
    if not seen:
        return {"loss": math.nan, "perplexity": math.nan, "accuracy": math.nan}
    mean = loss_sum / seen
    return {"loss": mean, "perplexity": math.exp(min(mean, 700.0)), "accuracy": 100.0 * correct / seen}


def _check_finite(which: str, loss: float, epoch: int, cfg: TrainConfig, lr: float) -> None:
    if math.isfinite(loss) or math.isnan(loss) and which == "validation":
        return
    raise DivergedError(f"The {which} loss became {loss} in epoch {epoch + 1} of {cfg.epochs} (learning rate {lr:g}); "
                        f"training stopped and the epochs before it are kept. Lower trainer.lr (now {cfg.lr:g})"
                        + ("" if cfg.grad_clip > 0 else ", clip gradients (trainer.grad_clip=0.25)") + ".")


def _asgd(params: list[nn.Parameter], cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.ASGD(params, lr=lr, t0=0, lambd=0.0, weight_decay=cfg.weight_decay)


@contextmanager
def _averaged_weights(optimizer: torch.optim.Optimizer, params: list[nn.Parameter], averaged: bool) -> Iterator[None]:
    """Inside: the parameters hold ASGD's running averages (when averaging), then their own values again."""
    if not averaged:
        yield
        return
    saved = [p.detach().clone() for p in params]
    _swap_in_average(optimizer, params)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def _swap_in_average(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> None:
    with torch.no_grad():
        for p in params:
            ax = optimizer.state.get(p, {}).get("ax")
            if ax is not None:
                p.copy_(ax)


def _state(epoch: int, optimizer: torch.optim.Optimizer, loader: StreamBatches | TextBatches,
           history: list[dict[str, float]], averaged: bool) -> dict[str, Any]:
    gen = getattr(loader, "gen", None)
    return {"format": STATE_FORMAT, "epoch": epoch, "optimizer": optimizer.state_dict(), "averaged": averaged,
            "loader": gen.get_state() if gen is not None else None, "rng": torch.get_rng_state(),
            "history": [dict(h) for h in history]}


def _restore(state: dict[str, Any], params: list[nn.Parameter], optimizer: torch.optim.Optimizer,
             loader: StreamBatches | TextBatches, cfg: TrainConfig
             ) -> tuple[int, list[dict[str, float]], bool, torch.optim.Optimizer]:
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError("The checkpoint holds no text-training state to resume from.")
    epoch = int(state["epoch"])
    if epoch > cfg.epochs:
        raise CheckpointError(f"The checkpoint is at epoch {epoch}, beyond trainer.epochs={cfg.epochs}.")
    averaged = bool(state["averaged"])
    if averaged:
        optimizer = _asgd(params, cfg, cfg.lr)
    try:
        optimizer.load_state_dict(state["optimizer"])
        if state.get("loader") is not None and hasattr(loader, "gen"):
            loader.gen.set_state(state["loader"])
        torch.set_rng_state(state["rng"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"The training state does not fit this network or trainer ({str(exc)[:200]}).") from None
    return epoch, [dict(h) for h in state["history"]], averaged, optimizer
