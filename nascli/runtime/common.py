"""Small helpers every command uses: config checks, seeds, devices, building from config."""

from __future__ import annotations

import random
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nascli.errors import ConfigError, NasError


def get_int(cfg: DictConfig, key: str, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """cfg[key] as an int, or a ConfigError naming the key and the bad value."""
    value = OmegaConf.select(cfg, key)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{key} must be an integer{' or null' if allow_none else ''}, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {value}.")
    return value


def get_float(cfg: DictConfig, key: str, minimum: float | None = None, allow_none: bool = False) -> float | None:
    """cfg[key] as a float, or a ConfigError naming the key and the bad value."""
    value = OmegaConf.select(cfg, key)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number{' or null' if allow_none else ''}, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be at least {minimum}, got {value}.")
    return float(value)


def check_trainer(cfg: DictConfig) -> None:
    """Type-check the trainer group so a typo fails before any work is done."""
    get_int(cfg, "trainer.epochs", minimum=0)
    get_int(cfg, "trainer.batch_size", minimum=1)
    get_int(cfg, "trainer.cutout", minimum=0)
    for key in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "label_smoothing", "auxiliary_weight", "drop_path"):
        get_float(cfg, f"trainer.{key}", minimum=0.0)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so CPU runs repeat exactly."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> Any:
    """torch.device for `auto`, `cpu`, `cuda` or `cuda:N`, or a clear error if unavailable."""
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda was asked for, but torch sees no CUDA GPU here; use device=cpu or device=auto.")
    return device


def build(node: DictConfig, what: str, **runtime: Any) -> Any:
    """Build an object from its config node (`_target_` + parameters) with hydra.utils.instantiate.

    Runtime objects (a space, a context) are passed to the built partial, not merged into the
    config, so they arrive untouched. Config mistakes become a ConfigError naming the group.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        factory = instantiate(node, _partial_=True)
    except InstantiationException as exc:
        raise ConfigError(f"Could not build the {what} from its config: {exc.__cause__ or exc}") from None
    try:
        return factory(**runtime)
    except NasError:
        raise
    except TypeError as exc:  # an option the class does not take, or a missing one
        raise ConfigError(f"Could not build the {what} from its config: {exc}") from None
