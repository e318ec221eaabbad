"""Hyper-parameter optimisation: an Optuna sweeper for Hydra's multirun (`nas <app> -m hparams_search=<preset>`).

Hydra instantiates plugins only from the `hydra_plugins` namespace, so it loads the sweeper as
hydra_plugins.nascli_hpo.OptunaSweeper; the code lives here. Nothing in this package imports Optuna
or torch at module level: `nas --help` stays fast, and a missing Optuna is one clear message.
"""

from __future__ import annotations

from typing import Any

SWEEPER_TARGET = "hydra_plugins.nascli_hpo.OptunaSweeper"


def runs_in_sweep(hydra_cfg: Any) -> bool:
    """Whether the job that `hydra_cfg` (HydraConfig.get()) describes is a trial of our Optuna sweep,
    which records a failed job as a failed trial and goes on (other sweeps stop at the first failure)."""
    from hydra.types import RunMode

    sweeper = hydra_cfg.get("sweeper") or {}
    return hydra_cfg.get("mode") == RunMode.MULTIRUN and sweeper.get("_target_") == SWEEPER_TARGET
