"""The bilevel step of gradient-based architecture search (DARTS, Liu et al., ICLR 2019), a body the
step runner (nascli.training.steps) runs: the training loss under other weights, the second-order
architecture gradient by one unrolled SGD step and a finite-difference Hessian-vector product, and
the step itself (architecture on a validation batch, then weights on a training batch).

Under torchrun each process runs the step on its slice of the global batches: its losses weighted
by its share (nascli.training.data_parallel.shard) and every gradient averaged over the processes
(`average`) before it is used, so every process takes the step one process takes on the whole
batches (the architecture loss's other terms, the same in every process, are added after)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import torch
from torch import nn
from torch.func import functional_call

from nascli.training.metrics import flat
from nascli.training.text import Streams, penalty_of, recurrent
from nascli.training.steps import Limits, StepRunner

Batch = tuple[torch.Tensor, torch.Tensor]
Average = Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]  # each tensor's mean over the processes


class ArchTerm(Protocol):
    """A term of the architecture loss besides the validation loss, a function of the architecture
    parameters only (a latency table's expected latency, FairDARTS' zero-one loss)."""

    def loss(self, net: nn.Module) -> torch.Tensor: ...

# What no bilevel step can do, and what GDAS' cannot either (the step runner refuses them with these reasons).
BILEVEL_LIMITS = Limits(accumulate="the bilevel step updates the architecture between weight steps, so weight "
                                   "gradients of several batches cannot be summed into one step (a larger "
                                   "trainer.batch_size is the way to larger steps)")
SAMPLED_PATH = ("each GDAS step samples its path on the host (Gumbel noise from a CPU generator, the sampled op "
                "indices read back), so the step is not the same computation twice")
CARRIED_STATE = ("a language model's hidden state is carried from batch to batch, a new tensor each step that a "
                 "captured or compiled step would not read")
SECOND_ORDER_FP16 = "the second-order architecture gradient needs loss scaling, which it does not do; use trainer.amp=bf16"


def loss_on(model: nn.Module, batch: Batch, params: dict[str, torch.Tensor] | None = None,
            buffers: dict[str, torch.Tensor] | None = None, weight: float = 1.0) -> torch.Tensor:
    """Cross-entropy of `model` on `batch`, optionally with other weights (and scratch BN buffers),
    times `weight` (a process's share of the global batch)."""
    x, y = batch
    logits = model(x) if params is None else functional_call(model, {**params, **(buffers or {})}, (x,))
    loss = nn.functional.cross_entropy(*flat(logits.float(), y))  # per token for a language model
    return loss if weight == 1.0 else loss * weight


def _nowhere(name: str, advance: bool) -> AbstractContextManager[None]:
    return nullcontext()


def _averaged(grads: Sequence[torch.Tensor], average: Average | None) -> Sequence[torch.Tensor]:
    return grads if average is None else average(grads)


def unrolled_arch_grads(
    model: nn.Module, weights: dict[str, nn.Parameter], arch: Sequence[nn.Parameter], train: Batch, val: Batch,
    lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
    momentum_buffers: dict[str, torch.Tensor] | None = None, weights_of: tuple[float, float] = (1.0, 1.0),
    average: Average | None = None,
    stream: Callable[[str, bool], AbstractContextManager[None]] = _nowhere,
) -> list[torch.Tensor]:
    """DARTS' second-order architecture gradient (Liu et al., 2019, eq. 7-8).

    grad_a L_val(w', a) - lr * (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps), where
    w' = w - lr * (momentum * buf + grad_w L_train(w, a) + wd * w) is one virtual SGD step,
    w+- = w +- eps * grad_w' L_val(w', a) and eps = 0.01 / ||grad_w' L_val(w', a)||.
    Forward passes on other weights use scratch copies of the BN buffers, as the paper's copy does.
    Data-parallel: `weights_of` are this process's (train, val) loss weights and `average` makes
    each gradient the processes' mean before it is used. A carried language model's forwards run
    inside `stream(name, advance)`: the validation stream advances, every training forward starts
    from the training stream's state and leaves it for the weight step, as in the reference.
    """
    names, ws = list(weights), list(weights.values())
    named_buffers = dict(model.named_buffers())
    scratch = lambda: {n: b.clone() for n, b in named_buffers.items()}  # noqa: E731
    share_train, share_val = weights_of
    with stream("train", False):
        train_loss = loss_on(model, train, dict(zip(names, ws)), scratch(), share_train)
    grads = _averaged(torch.autograd.grad(train_loss, ws), average)
    unrolled = {}
    for name, w, g in zip(names, ws, grads):
        step = g + weight_decay * w.detach()
        if momentum_buffers is not None and name in momentum_buffers:
            step = step + momentum * momentum_buffers[name]
        unrolled[name] = (w.detach() - lr * step).requires_grad_()
    with stream("valid", True):
        val_loss = loss_on(model, val, unrolled, scratch(), share_val)
    found = _averaged(torch.autograd.grad(val_loss, [*arch, *unrolled.values()]), average)
    # Every gradient kept past the next forward is a copy, or is used up before it: under
    # trainer.compile=reduce-overhead, a CUDA graph's outputs are overwritten when that graph runs again.
    d_arch, d_w = [g.clone() for g in found[: len(arch)]], found[len(arch):]
    eps = 0.01 / torch.sqrt(sum((v.float() ** 2).sum() for v in d_w)).clamp_min(1e-12)
    shifted = [{n: w.detach() + sign * eps * v for n, w, v in zip(names, ws, d_w)} for sign in (1.0, -1.0)]
    hvp = []
    for weights in shifted:
        with stream("train", False):
            loss = loss_on(model, train, weights, scratch(), share_train)
        hvp.append(_averaged([g.clone() for g in torch.autograd.grad(loss, arch)], average))
    return [da - lr * (gp - gn) / (2 * eps) for da, gp, gn in zip(d_arch, *hvp)]


def momentum_buffers(optimizer: torch.optim.Optimizer, weights: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
    """The SGD momentum buffer of each weight that has one (what the unrolled step includes)."""
    out = {}
    for name, p in weights.items():
        buf = optimizer.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            out[name] = buf
    return out


class BilevelStep:
    """One bilevel step, the body the step runner runs: the architecture on the validation batch
    (first order: its gradient at the current weights; second order: through one unrolled weight
    step), then the weights on the training batch (SGD, clipped). Returns the training logits.
    Data-parallel (`average` given): the batches are this process's slices, the training loss is
    weighted by the micro-batch's weight and the validation loss by `val_weight`. A language model
    carries a hidden state per stream (`streams`), reset by `new_epoch`."""

    def __init__(self, runner: StepRunner, net: nn.Module, weights: dict[str, nn.Parameter],
                 w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer, order: str, momentum: float,
                 weight_decay: float, grad_clip: float, terms: Sequence[ArchTerm] = (),
                 average: Average | None = None, carry: bool = False) -> None:
        self.runner, self.net, self.weights, self.w_opt, self.a_opt = runner, net, weights, w_opt, a_opt
        self.order, self.momentum, self.weight_decay, self.grad_clip = order, momentum, weight_decay, grad_clip
        self.terms = list(terms)  # the architecture loss's other terms (expected latency, ...), added in order
        self.average = average
        self.recurrent = recurrent(net) is not None  # a recurrent text network adds its activation penalty
        self.streams = Streams(net if carry else None)  # a language model's hidden state, per stream

    def new_epoch(self) -> None:
        """Both streams start afresh, as the reference's search starts each epoch's hidden states at zero."""
        self.streams.reset()

    def __call__(self, batches: list[tuple[torch.Tensor, ...]], loss_weights: tuple[float, ...], lr: float,
                 update_arch: bool, val_weight: float = 1.0) -> list[torch.Tensor]:
        ((train_x, train_y, val_x, val_y),) = batches  # one batch pair: accumulation is refused (BILEVEL_LIMITS)
        train, val = (train_x, train_y), (val_x, val_y)
        (weight,) = loss_weights
        if update_arch:
            self._arch_step(train, val, lr, (weight, val_weight))
        runner = self.runner
        with runner.autocast(), self.streams.on("train"):
            logits = self.net(train[0])
            loss = nn.functional.cross_entropy(*flat(logits.float(), train[1]))
            penalty = penalty_of(self.net) if self.recurrent else None  # AR/TAR of a recurrent cell
            loss = loss if penalty is None else loss + penalty
        self.w_opt.zero_grad(set_to_none=True)
        weights = list(self.weights.values())
        runner.backward(loss if weight == 1.0 else loss * weight, inputs=weights)  # no architecture gradient: unused
        self._average_grads(weights)
        runner.update(self.w_opt, weights, self.grad_clip)
        return [logits.detach()]

    def _average_grads(self, params: Sequence[torch.Tensor]) -> None:
        """Each gradient the processes' mean (data-parallel), before clipping and the optimiser step."""
        if self.average is None:
            return
        having = [p for p in params if p.grad is not None]
        for p, mean in zip(having, self.average([p.grad for p in having])):
            p.grad.copy_(mean)

    def _arch_step(self, train: Batch, val: Batch, lr: float, shares: tuple[float, float]) -> None:
        arch, runner = self.net.arch_parameters(), self.runner
        self.a_opt.zero_grad(set_to_none=True)
        with runner.autocast():
            if self.order == "second":
                grads = unrolled_arch_grads(self.net, self.weights, arch, train, val, lr, self.momentum,
                                            self.weight_decay, momentum_buffers(self.w_opt, self.weights),
                                            shares, self.average, self.streams.on)
                for term in self.terms:  # the terms depend on the alphas only: their gradient adds
                    grads = [g + d for g, d in zip(grads, torch.autograd.grad(term.loss(self.net), arch))]
                for p, g in zip(arch, grads):
                    p.grad = g.to(p.dtype)
            else:
                with self.streams.on("valid"):
                    loss = loss_on(self.net, val, weight=shares[1])
                if self.average is not None:  # the terms, the same in every process, join the averaged gradient
                    runner.backward(loss, inputs=arch)
                    self._average_grads(arch)
                    loss = None
                for term in self.terms:
                    loss = term.loss(self.net) if loss is None else loss + term.loss(self.net)
                if loss is not None:
                    runner.backward(loss, inputs=arch)
        if self.order != "second" and runner.scaler is not None:
            runner.scaler.unscale_(self.a_opt)
            runner.scaler.step(self.a_opt)
        else:
            self.a_opt.step()
