"""Data-parallel training under torchrun: every process draws the same global batch (same order and
augmentation, from the seed) and trains on its slice of it; DistributedDataParallel averages the
gradients, and BatchNorm normalises over the global batch, so N processes at batch B/N each take
the steps one process takes at batch B.

The process process itself is started by the runner (nascli.runtime.torchrun), before the command.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nascli.runtime.torchrun import TorchrunProcess, this_process


def current() -> TorchrunProcess | None:
    """This process among the training processes, once their process process of more than one process
    is started; None when one process trains alone."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    here = this_process()  # torchrun says which GPU of the node is this process's
    return TorchrunProcess(dist.get_rank(), here.local_rank if here else 0, dist.get_world_size())


def bounds(n: int, process: TorchrunProcess) -> tuple[int, int]:
    """[start, stop) of this process's slice of `n` items: contiguous, sizes differing by at most one."""
    base, extra = divmod(n, process.size)
    start = process.rank * base + min(process.rank, extra)
    return start, start + base + (process.rank < extra)


def shard(x: torch.Tensor, y: torch.Tensor, process: TorchrunProcess) -> tuple[torch.Tensor, torch.Tensor, float]:
    """This process's slice of a global batch and the weight of its mean loss: slice size x processes /
    global size, so that DDP's average of the processes' gradients is the gradient of the global mean."""
    start, stop = bounds(len(y), process)
    return x[start:stop], y[start:stop], (stop - start) * process.size / len(y)


def wrap(model: nn.Module, device: torch.device, find_unused: bool) -> nn.Module:
    """DistributedDataParallel over `model` (rank 0's weights are broadcast to every process here)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def all_sum(values: list[torch.Tensor | float | int], device: torch.device) -> list[float]:
    """Sums of scalars over every process (one collective, in float64)."""
    import torch.distributed as dist

    total = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device).reshape(()) for v in values])
    dist.all_reduce(total)
    return total.tolist()


def gather(obj: object) -> list[object]:
    """`obj` of every process, in rank order (pickled through the process process: our own values only)."""
    import torch.distributed as dist

    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) with its gradient: the gradient of a sum over processes is the sum of the
    processes' gradients."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = grad.clone()
        dist.all_reduce(out)
        return out


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training-mode statistics are those of the global batch, on any device and
    backend (torch's SyncBatchNorm needs a GPU). Mean and variance are summed over the processes with
    a differentiable all-reduce, in two passes like BatchNorm itself; eval mode is plain BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        local = torch.cat([xf.sum(dims), xf.new_tensor([xf.numel() / max(x.shape[1], 1)])])
        summed = _SumOverProcesses.apply(local)
        count = summed[-1]
        mean = summed[:-1] / count
        centred = xf - mean.view(shape)
        var = _SumOverProcesses.apply((centred * centred).sum(dims)) / count
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                unbiased = var * (count / (count - 1).clamp(min=1))
                self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        return out.to(x.dtype)


def sync_batchnorm(model: nn.Module, device: torch.device) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every BatchNorm of `model` by one over the global batch (torch's SyncBatchNorm on CUDA,
    GlobalBatchNorm elsewhere) sharing its weights and statistics; returns what `restore` undoes."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, _BatchNorm) or isinstance(child, (nn.SyncBatchNorm, GlobalBatchNorm)):
                continue
            kind = nn.SyncBatchNorm if device.type == "cuda" else GlobalBatchNorm
            sync = kind(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            if child.affine:
                sync.weight, sync.bias = child.weight, child.bias
            if child.track_running_stats:
                sync.running_mean, sync.running_var = child.running_mean, child.running_var
                sync.num_batches_tracked = child.num_batches_tracked
            # hooks go along (fine-tuning's frozen statistics are a forward pre-hook)
            sync._forward_pre_hooks, sync._forward_hooks = child._forward_pre_hooks, child._forward_hooks
            sync.train(child.training)
            setattr(parent, name, sync)
            swapped.append((parent, name, child))
    return swapped


def restore(swapped: list[tuple[nn.Module, str, nn.Module]]) -> None:
    """Put back the BatchNorm modules `sync_batchnorm` replaced (their tensors hold the trained values)."""
    for parent, name, original in reversed(swapped):
        original.train(getattr(parent, name).training)
        setattr(parent, name, original)
