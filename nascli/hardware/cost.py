"""Cost of a network: parameters, FLOPs (multiply-accumulates, as NAS-Bench-201 counts) and latency."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def params_m(model: nn.Module) -> float:
    """Parameters in millions; an auxiliary head (used only in training) is not counted."""
    total = sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)
    return total / 1e6


@torch.no_grad()
def flops_m(model: nn.Module, input_shape: tuple[int, int, int]) -> float:
    """Multiply-accumulates of one forward pass of a single image, in millions (torch's counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, *input_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e6


@torch.no_grad()
def latency_ms(
    model: nn.Module, input_shape: tuple[int, int, int], device: torch.device | str = "cpu",
    batch_size: int = 1, warmup: int = 3, repeats: int = 10,
) -> float:
    """Median wall time of one forward pass in eval mode, in milliseconds."""
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    x = torch.randn(batch_size, *input_shape, device=device)
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    model.train(was_training)
    return statistics.median(times)
