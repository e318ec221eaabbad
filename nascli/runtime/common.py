"""Seeds and devices: what every command sets up before it works."""

from __future__ import annotations

import random
from typing import Any

from nascli.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so CPU runs repeat exactly."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> Any:
    """torch.device for `auto`, `cpu`, `cuda` or `cuda:N`, or a clear error if unavailable; `auto` in
    a sweep job is the GPU whose slot the job holds (nascli.runtime.devices)."""
    import torch

    from nascli.runtime.devices import assigned_device

    if name in (None, "auto"):
        assigned = assigned_device()
        if assigned is not None:
            return torch.device(assigned)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda was asked for, but torch sees no CUDA GPU here; use device=cpu or device=auto.")
    return device
