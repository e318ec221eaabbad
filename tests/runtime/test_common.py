"""What every command sets up first: seeds (Python, NumPy, torch) and the device."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nascli.errors import ConfigError
from nascli.runtime.common import resolve_device, seed_everything


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_repeats_python_numpy_and_torch_draws() -> None:
    seed_everything(7)
    first = _draws()
    seed_everything(7)
    assert _draws() == first
    seed_everything(8)
    assert _draws() != first
    seed_everything(2**32 + 7)  # seeds beyond NumPy's range are folded into it
    assert _draws()[1] == first[1]


def test_device_names() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
