"""Tasks for meta-learning and their descriptions (what the meta-learner conditions on).

A task is a dataset (or a class subset of one, or one dataset's column of a benchmark table)
described by its number of classes, input size, channels and training-sample count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from nascli.errors import NasError

# Facts about the datasets nascli knows, so tasks named in a benchmark table are described
# without loading them (training-set sizes are of the official training split; pixel statistics
# are the usual per-channel normalisation constants, averaged over channels, in [0, 1] units).
KNOWN: dict[str, dict[str, float]] = {
    "cifar10": {"num_classes": 10, "in_channels": 3, "input_size": 32, "samples": 50000, "pixel_mean": 0.4734, "pixel_std": 0.2507},
    "cifar100": {"num_classes": 100, "in_channels": 3, "input_size": 32, "samples": 50000, "pixel_mean": 0.4782, "pixel_std": 0.2666},
    "ImageNet16-120": {"num_classes": 120, "in_channels": 3, "input_size": 16, "samples": 151700, "pixel_mean": 0.4488, "pixel_std": 0.2607},
    "mnist": {"num_classes": 10, "in_channels": 1, "input_size": 28, "samples": 60000, "pixel_mean": 0.1307, "pixel_std": 0.3081},
    "fashion_mnist": {"num_classes": 10, "in_channels": 1, "input_size": 28, "samples": 60000, "pixel_mean": 0.2860, "pixel_std": 0.3530},
    "svhn": {"num_classes": 10, "in_channels": 3, "input_size": 32, "samples": 73257, "pixel_mean": 0.4514, "pixel_std": 0.1987},
    "digits": {"num_classes": 10, "in_channels": 1, "input_size": 8, "samples": 1078, "pixel_mean": 0.3053, "pixel_std": 0.3760},
}


@dataclass
class Task:
    """A task's description; `embedding()` is the vector the predictor is conditioned on."""

    name: str
    num_classes: int
    in_channels: int
    input_size: int
    samples: int
    pixel_mean: float = 0.5   # of the training images in [0, 1], averaged over channels
    pixel_std: float = 0.25
    extra: dict[str, float] = field(default_factory=dict)

    def embedding(self) -> list[float]:
        """Scale-free statistics of the task (log-sizes and pixel statistics), each roughly in [0, 2]."""
        return [
            math.log10(max(self.num_classes, 2)) / 2,
            math.log2(max(self.input_size, 1)) / 5,
            self.in_channels / 3,
            math.log10(max(self.samples, 1)) / 5,
            self.pixel_mean * 2,
            self.pixel_std * 4,
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(**data)


def describe(name: str, **overrides: int) -> Task:
    """The description of a known dataset by name (overrides for class subsets and the like)."""
    if name not in KNOWN and not overrides:
        raise NasError(f"No description for task '{name}': known datasets are {', '.join(KNOWN)}.")
    return Task(name=name, **{**KNOWN.get(name, {}), **overrides})


def describe_data(data: Any) -> Task:
    """The description of loaded DataSplits (works for any dataset, subsets included), with the
    pixel statistics of its own training images: computed here for images held in memory, the data's
    own (bounded-memory) statistics for images streamed from a cache or read from files."""
    if isinstance(data.train.images, torch.Tensor):
        scaled = data.train.images.float() / data.max_value
        mean = scaled.mean(dim=(0, 2, 3))
        std = scaled.std(dim=(0, 2, 3)) if scaled.numel() > scaled.shape[1] else torch.zeros_like(mean)
    else:  # never the whole split in memory
        mean, std = torch.tensor(data.mean), torch.tensor(data.std)
    return Task(data.name, data.num_classes, data.in_channels, data.input_size, len(data.train),
                round(float(mean.mean()), 4), round(float(std.mean()), 4))


@dataclass
class History:
    """What was measured on one task: architecture strings and their validation accuracy (%)."""

    task: Task
    arch_strs: list[str]
    accuracies: list[float]
    source: str
