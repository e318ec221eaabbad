"""What a command body gets from the runner: its config, run directory, report, console and paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from nascli.runtime import torchrun
from nascli.runtime.loggers import RunLoggers
from nascli.runtime.paths import Paths
from nascli.runtime.run_config import RunConfig
from nascli.runtime.run_report import RunReport


@dataclass
class RunContext:
    """What a command body gets: its config, run directory, report, console and paths."""

    command: str
    cfg: DictConfig
    run_dir: Path
    report: RunReport
    console: Console
    paths: Paths
    process: torchrun.TorchrunProcess | None = None  # this process among several under torchrun; None alone
    loggers: RunLoggers = field(default_factory=RunLoggers)  # experiment trackers (logger=), per step
    record: RunConfig | None = None  # the run's config record (.hydra/): what it runs with, and its command line

    def beneath(self, values: Mapping[str, Any]) -> DictConfig:
        """The run's config with `values` (dotted keys) set beneath its command line, which wins where it
        sets the same keys (e.g. a genotype's searched lr under `trainer.lr=`); the run's config record
        (.hydra/config.yaml) is rewritten to show the values used."""
        if not values:
            return self.cfg
        self.record = (self.record or RunConfig.of(self.command, self.cfg, [])).beneath(values)  # [] : no command line
        if self.process is None or self.process.main:
            self.record.write(self.run_dir)
        self.cfg = self.record.cfg()
        return self.cfg
