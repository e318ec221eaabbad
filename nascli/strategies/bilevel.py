"""The bilevel maths of gradient-based architecture search (DARTS, Liu et al., ICLR 2019): the
training loss under other weights, and the second-order architecture gradient by one unrolled SGD
step and a finite-difference Hessian-vector product."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call

Batch = tuple[torch.Tensor, torch.Tensor]


def loss_on(model: nn.Module, batch: Batch, params: dict[str, torch.Tensor] | None = None,
            buffers: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Cross-entropy of `model` on `batch`, optionally with other weights (and scratch BN buffers)."""
    x, y = batch
    logits = model(x) if params is None else functional_call(model, {**params, **(buffers or {})}, (x,))
    return nn.functional.cross_entropy(logits.float(), y)


def unrolled_arch_grads(
    model: nn.Module, weights: dict[str, nn.Parameter], arch: Sequence[nn.Parameter], train: Batch, val: Batch,
    lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
    momentum_buffers: dict[str, torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """DARTS' second-order architecture gradient (Liu et al., 2019, eq. 7-8).

    grad_a L_val(w', a) - lr * (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 eps), where
    w' = w - lr * (momentum * buf + grad_w L_train(w, a) + wd * w) is one virtual SGD step,
    w+- = w +- eps * grad_w' L_val(w', a) and eps = 0.01 / ||grad_w' L_val(w', a)||.
    Forward passes on other weights use scratch copies of the BN buffers, as the paper's copy does.
    """
    names, ws = list(weights), list(weights.values())
    named_buffers = dict(model.named_buffers())
    scratch = lambda: {n: b.clone() for n, b in named_buffers.items()}  # noqa: E731
    grads = torch.autograd.grad(loss_on(model, train, dict(zip(names, ws)), scratch()), ws)
    unrolled = {}
    for name, w, g in zip(names, ws, grads):
        step = g + weight_decay * w.detach()
        if momentum_buffers is not None and name in momentum_buffers:
            step = step + momentum * momentum_buffers[name]
        unrolled[name] = (w.detach() - lr * step).requires_grad_()
    val_loss = loss_on(model, val, unrolled, scratch())
    found = torch.autograd.grad(val_loss, [*arch, *unrolled.values()])
    # Every gradient kept past the next forward is a copy, or is used up before it: under
    # strategy.compile=compile, a CUDA graph's outputs are overwritten when that graph runs again.
    d_arch, d_w = [g.clone() for g in found[: len(arch)]], found[len(arch):]
    eps = 0.01 / torch.sqrt(sum((v.float() ** 2).sum() for v in d_w)).clamp_min(1e-12)
    shifted = [{n: w.detach() + sign * eps * v for n, w, v in zip(names, ws, d_w)} for sign in (1.0, -1.0)]
    hvp = [[g.clone() for g in torch.autograd.grad(loss_on(model, train, weights, scratch()), arch)]
           for weights in shifted]
    return [da - lr * (gp - gn) / (2 * eps) for da, gp, gn in zip(d_arch, *hvp)]


def momentum_buffers(optimizer: torch.optim.Optimizer, weights: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
    """The SGD momentum buffer of each weight that has one (what the unrolled step includes)."""
    out = {}
    for name, p in weights.items():
        buf = optimizer.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            out[name] = buf
    return out
