"""Experiment loggers (conf/logger/): what a run tells TensorBoard or MLflow besides its own files.

Like lightning-hydra-template's `logger` group, the group's node is a mapping of loggers by name,
each built from its `_target_`, so `logger=[tensorboard,mlflow]` logs to both. Every logger gets the
flattened config as parameters at the start, the metrics of each trial, epoch or meta-iteration with
its step, and the run directory's files as artefacts at the end. `logger=csv` (the default) adds
nothing: a run's own CSV files (trials.csv, metrics.csv, meta_metrics.csv) already are its CSV log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nascli.errors import ConfigError
from nascli.runtime.config import build

log = logging.getLogger("nascli")
# a run directory's files that are not artefacts: a search's resume state (model.pt, a retrain's
# product, is one); hidden files and temporaries are never logged either
NOT_ARTEFACTS = {"checkpoint.json", "checkpoint.pt"}
STEP_KEYS = {"trial", "epoch", "iteration"}  # a row's step, given as the step, not as a metric
NOT_RESULTS = {"seed", "trials", "epochs"}   # numbers in report.json that are settings, not results
MLFLOW_PARAMS_PER_BATCH = 100   # MLflow's limit for one log_batch call
MLFLOW_PARAM_CHARS = 6000       # ... and for one parameter's value


def _missing(package: str, extra: str, option: str) -> ConfigError:
    return ConfigError(f"logger={option} needs the {package} package, which is not installed. "
                       f"Install it with: pip install 'nascli[{extra}]' (or pip install {package}).")


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys (trainer.lr), lists and other values kept as they are."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric values of a row (not text, flags or private `_` keys); NaN is kept, as it says a run diverged."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not str(k).startswith("_")}


def artefacts(run_dir: Path) -> list[Path]:
    """The files a run leaves for people: every top-level file but hidden ones and resume state."""
    return sorted(p for p in Path(run_dir).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.name not in NOT_ARTEFACTS)


def _under(run_dir: Path, save_dir: str) -> Path:
    """save_dir as a path: relative ones are inside the run directory, so a run carries its logs."""
    path = Path(save_dir).expanduser()
    return path if path.is_absolute() else Path(run_dir) / path


class Logger:
    """The contract of one experiment logger; each method is called by RunLoggers, in this order."""

    def log_params(self, params: dict[str, Any]) -> None:
        """The run's flattened config, once at the start."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """One trial's, epoch's or meta-iteration's numbers."""

    def log_artefacts(self, files: list[Path]) -> None:
        """The run's files, at the end."""

    def close(self, status: str) -> None:
        """The run ended with `status` (completed, failed, interrupted)."""


class TensorBoardLogger(Logger):
    """Event files under `save_dir` (open with `tensorboard --logdir <dir>`): scalars per step, the
    config in the HPARAMS tab, report.md and genotype.json as text, the plots as images."""

    def __init__(self, run_dir: Path, command: str, save_dir: str, flush_secs: int) -> None:
        import importlib.util

        try:  # torch's SummaryWriter needs the tensorboard package, and says so less clearly
            missing = importlib.util.find_spec("tensorboard") is None
        except ValueError:  # a module set to None (as tests do to play a missing package)
            missing = True
        if missing:
            raise _missing("tensorboard", "tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.dir = _under(run_dir, save_dir)
        self.writer = SummaryWriter(log_dir=str(self.dir), flush_secs=flush_secs)
        self.command = command

    def log_params(self, params: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        plain = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}
        for summary in hparams(plain, {}):  # the HPARAMS tab, as Lightning's TensorBoardLogger writes it
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in plain.items()))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def log_artefacts(self, files: list[Path]) -> None:
        import matplotlib.image

        for path in files:
            if path.suffix == ".png":
                self.writer.add_image(path.stem, matplotlib.image.imread(path)[..., :3], dataformats="HWC")
            elif path.suffix in (".md", ".json") and path.stat().st_size < 1_000_000:
                self.writer.add_text(path.name, "    " + path.read_text().replace("\n", "\n    "))

    def close(self, status: str) -> None:
        self.writer.add_text("status", status)
        self.writer.close()


class MlflowLogger(Logger):
    """One MLflow run per nas run, in a local store (no server): `save_dir`/mlflow.db and its artefacts
    beside it (`mlflow ui --backend-store-uri sqlite:///<save_dir>/mlflow.db`), or `tracking_uri`'s."""

    def __init__(self, run_dir: Path, command: str, save_dir: str, tracking_uri: str | None,
                 experiment_name: str | None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _missing("mlflow", "mlflow", "mlflow") from None
        store = _under(run_dir, save_dir).resolve()
        if tracking_uri is None:
            store.mkdir(parents=True, exist_ok=True)
            tracking_uri = f"sqlite:///{store / 'mlflow.db'}"
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its database migrations on every run
        logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            self.client = MlflowClient(tracking_uri=tracking_uri)
            name = experiment_name or f"nas {command}"
            found = self.client.get_experiment_by_name(name)
            experiment = found.experiment_id if found else self.client.create_experiment(
                name, artifact_location=(store / "artifacts").as_uri())
            self.run_id = self.client.create_run(experiment, run_name=Path(run_dir).name,
                                                 tags={"nascli.run_dir": str(run_dir), "nascli.command": command}
                                                 ).info.run_id
        except ImportError as exc:  # mlflow-skinny without the database libraries
            raise ConfigError(f"logger=mlflow's local store needs {exc.name}: pip install 'nascli[mlflow]'.") from None

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MLFLOW_PARAM_CHARS]) for k, v in params.items()]
        for start in range(0, len(items), MLFLOW_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[start:start + MLFLOW_PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def log_artefacts(self, files: list[Path]) -> None:
        for path in files:
            self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str) -> None:
        states = {"completed": "FINISHED", "interrupted": "KILLED"}
        self.client.set_terminated(self.run_id, states.get(status, "FAILED"))


class RunLoggers:
    """The loggers of one run, called together; none at all is a valid (and the default) set."""

    def __init__(self, loggers: Mapping[str, Logger] | None = None) -> None:
        self.loggers = dict(loggers or {})

    def __bool__(self) -> bool:
        return bool(self.loggers)

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """The numeric values of `metrics` (a trials.csv or metrics.csv row) at `step`."""
        values = {k: v for k, v in numbers(metrics).items() if k not in STEP_KEYS}
        if values:
            for logger in self.loggers.values():
                logger.log_metrics(values, int(step))

    def finish(self, run_dir: Path, status: str, results: Mapping[str, Any]) -> None:
        """The run's results (as `result/<key>`) and files, then its end. A logger that fails here
        is reported and skipped: the run's own files are already written."""
        final = {f"result/{k}": v for k, v in numbers(results).items()
                 if math.isfinite(v) and k not in NOT_RESULTS}
        files = artefacts(run_dir)
        for name, logger in self.loggers.items():
            try:
                if final:
                    logger.log_metrics(final, 0)
                logger.log_artefacts(files)
                logger.close(status)
            except Exception as exc:  # noqa: BLE001 - a tracker's trouble must not hide how the run ended
                log.warning("logger %s could not finish: %s: %s", name, type(exc).__name__, exc)


def open_loggers(cfg: DictConfig, run_dir: Path, command: str) -> RunLoggers:
    """Build the config's `logger` mapping (empty or absent: none) and give each the flattened
    config (Hydra's own settings left out) as parameters."""
    node = cfg.get("logger")
    if node is None:
        return RunLoggers()
    if not OmegaConf.is_dict(node):
        raise ConfigError(f"logger must name options of the logger group (csv, tensorboard, mlflow), got {node!r}.")
    built: dict[str, Logger] = {}
    for name in node:
        if node[name] is None:
            continue  # a logger switched off with logger.<name>=null
        built[str(name)] = build(node[name], f"logger.{name}", run_dir=Path(run_dir), command=command)
    loggers = RunLoggers(built)
    if loggers:
        params = flatten({k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k != "hydra"})
        for logger in built.values():
            logger.log_params(params)
    return loggers
