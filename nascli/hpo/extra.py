"""Optuna is an optional extra: import it on demand, or say in one line how to install it."""

from __future__ import annotations

import logging
from types import ModuleType

from nascli.errors import NasError

INSTALL = 'pip install "nascli[hpo]"'


def import_optuna() -> ModuleType:
    """The optuna module, its own INFO chatter muted (the sweeper prints each trial itself)."""
    try:
        import optuna
    except ImportError:
        raise NasError(f"hparams_search needs Optuna, which is not installed. Install it with: {INSTALL}") from None
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna
