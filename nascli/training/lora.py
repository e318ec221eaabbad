"""Low-rank adapters on convolutions (LoRA, Hu et al., ICLR 2022), a small module of our own.

A convolution's weight (out, in/groups, kh, kw) is the matrix out x (in/groups * kh * kw) that it
multiplies the unfolded input by. LoRAConv2d keeps that weight frozen and learns a low-rank update
of it, delta = (alpha / rank) * B @ A, with A (rank x in/groups*kh*kw) random and B (out x rank)
zero, so training starts from the pretrained function exactly. The update is applied in weight
space (one convolution with W + delta), which works alike for dense, grouped and depthwise
convolutions at any stride and dilation (the DARTS sep/dil convs), costs one small matrix product
per step, and makes merging exact: the merged convolution computes the same thing.

Why not the `peft` library: installing it brings transformers, accelerate, tokenizers and the
Hugging Face hub client (about twenty packages) into a CNN tool, and its LoRA for a grouped
convolution splits the adapter per group and needs the rank to be a multiple of `groups`, so a
depthwise convolution of C channels needs rank >= C (an adapter larger than the layer).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from nascli.errors import ConfigError

TARGETS = ("all", "dense")  # which convolutions get adapters: every one, or those with groups == 1


class LoRAConv2d(nn.Module):
    """A frozen nn.Conv2d plus a trainable low-rank update of its weight."""

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ConfigError(f"finetune.lora.rank must be at least 1, got {rank}.")
        self.base = base
        for param in base.parameters():
            param.requires_grad_(False)
        out, fan_in = base.weight.shape[0], base.weight[0].numel()
        self.rank = min(rank, out, fan_in)  # a higher rank than the matrix has adds nothing
        self.scaling = alpha / rank
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_a = nn.Parameter(torch.empty(self.rank, fan_in, **factory))
        self.lora_b = nn.Parameter(torch.zeros(out, self.rank, **factory))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # as nn.Linear initialises, and LoRA's A

    def delta(self) -> torch.Tensor:
        """The update of the base weight, in its shape."""
        return (self.lora_b @ self.lora_a).view_as(self.base.weight) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base._conv_forward(x, self.base.weight + self.delta(), self.base.bias)

    @torch.no_grad()
    def merged(self) -> nn.Conv2d:
        """A plain nn.Conv2d with the update folded into its weight (trainable, like any layer)."""
        conv = copy.deepcopy(self.base)
        conv.weight.copy_(self.base.weight + self.delta())
        for param in conv.parameters():
            param.requires_grad_(True)
        return conv

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scaling={self.scaling:g}"


def add_lora(model: nn.Module, rank: int, alpha: float, targets: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Replace the targeted convolutions of `model` by LoRAConv2d, in place; returns their names.

    `skip`: module names (and their submodules) left alone, e.g. an input adapter.
    """
    if targets not in TARGETS:
        raise ConfigError(f"finetune.lora.targets must be one of {', '.join(TARGETS)}, got {targets!r}.")
    if rank < 1:
        raise ConfigError(f"finetune.lora.rank must be at least 1, got {rank}.")
    if alpha <= 0:
        raise ConfigError(f"finetune.lora.alpha must be positive, got {alpha}.")
    chosen = [name for name, module in model.named_modules()
              if type(module) is nn.Conv2d and (targets == "all" or module.groups == 1)
              and not any(name == s or name.startswith(f"{s}.") for s in skip)]
    for name in chosen:
        parent, attr = _parent(model, name)
        setattr(parent, attr, LoRAConv2d(getattr(parent, attr), rank, alpha))
    return chosen


def merge_lora(model: nn.Module) -> int:
    """Fold every LoRAConv2d of `model` into a plain convolution, in place; returns how many.

    The state_dict is then the network's own again (what nascli.checkpoint.build_model loads).
    """
    names = [name for name, module in model.named_modules() if isinstance(module, LoRAConv2d)]
    for name in names:
        parent, attr = _parent(model, name)
        setattr(parent, attr, getattr(parent, attr).merged())
    return len(names)


def has_lora(model: nn.Module) -> bool:
    return any(isinstance(module, LoRAConv2d) for module in model.modules())


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """(the module holding submodule `name`, its attribute name there)."""
    path, _, attr = name.rpartition(".")
    return (model.get_submodule(path) if path else model), attr
