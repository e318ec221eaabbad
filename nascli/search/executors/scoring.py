"""Scoring one candidate the same way wherever it runs: in the engine's process or on a worker."""

from __future__ import annotations

import logging
import math
from typing import Any

from nascli.errors import DivergedError, UnscorableError
from nascli.evaluators.base import Evaluator
from nascli.spaces.base import Arch

log = logging.getLogger("nascli.search")


def score(evaluator: Evaluator, arch: Arch, fidelity: int | None) -> dict[str, Any]:
    """The evaluator's metrics. A candidate whose training diverged (nan or inf loss), or that the
    evaluator could not score, is scored nan with the reason in `error` (and how it failed in
    `_failure`), and the search goes on: one bad candidate (a joint search's too high learning
    rate) must not end it. Any other error ends the search."""
    try:
        return evaluator.evaluate(arch, fidelity)
    except (DivergedError, UnscorableError) as exc:
        diverged = isinstance(exc, DivergedError)
        log.warning("%s  %s: %s", evaluator.context.space.to_str(arch),
                    "diverged" if diverged else "could not be scored", exc)
        reason = str(exc).split(";")[0]  # what happened; the advice on the trainer is the run's, not the trial's
        return {evaluator.objective_metric: math.nan, "error": reason,
                "_failure": "diverged" if diverged else "failed"}
