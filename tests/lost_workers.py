"""A stand-in evaluator for the parallel engine's tests, importable by the worker processes the
tests start (tests/ is on their path): it scores an NB201 architecture by its 3x3 convolutions
and kills its own process with SIGKILL, as the kernel's out-of-memory killer would, the first time
any process evaluates `dies_once` (a marker file remembers) and every time it evaluates `dies_always`."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from nascli.evaluators.base import EvalContext, Evaluator


class KillsItsWorker(Evaluator):
    """Scores 10 per 3x3 convolution after `seconds`, dying on the architectures named (arch_str)."""

    def __init__(self, context: EvalContext, marker: str, dies_once: str | None, dies_always: str | None,
                 seconds: float) -> None:
        super().__init__(context)
        self.marker, self.dies_once, self.dies_always, self.seconds = Path(marker), dies_once, dies_always, seconds

    def known_cost(self, arch):
        return {"params_m": 0.1 * sum(op == "nor_conv_3x3" for op in arch), "flops_m": 1.0}

    def evaluate(self, arch, fidelity=None):
        self.one_fidelity(fidelity)
        name = self.context.space.to_str(arch)
        if name == self.dies_always or (name == self.dies_once and not self.marker.exists()):
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.seconds)
        return {"val_accuracy": 10.0 * sum(op == "nor_conv_3x3" for op in arch), **self.known_cost(arch),
                "cost_s": self.seconds, "worker_pid": os.getpid()}
