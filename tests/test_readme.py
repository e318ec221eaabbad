"""The README's commands work as written: every `nas ...` line of its bash blocks runs, block by block
and in order, at the smoke sizes this module declares in one place (SMOKE, CAPS, PLACEHOLDERS), and
succeeds. Lines that need what a CI machine has not (a GPU, a download, a cluster, an extra that is
not installed) or that are not nascli's are skipped, each with its reason (SKIPS); `python
tests/test_readme.py` prints which lines run and which are skipped, and why.

Each block runs in a directory of its own, as a user would in a fresh one; a placeholder such as
`outputs/<date>/<time>` is the run directory of the latest command of the block that made what the
key needs (genotype=: a search; checkpoint=, init=: a retrain; meta=: a meta-train; hardware.table=:
a latency table), else of one made for the block at smoke size.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
APPS = ("search", "retrain", "evaluate", "export", "meta-train", "latency-table", "predict")
DOWNLOADED = ("cifar10", "cifar100", "mnist", "fashion_mnist", "svhn")

# --- what this test changes in a README command, in one place --------------------------------------
SMOKE = {"search": "debug=smoke", "retrain": "debug=smoke", "meta-train": "debug=smoke",
         "latency-table": "debug=smoke", "evaluate": "debug=smoke"}  # added where the line sets no debug=
CAPS = {"budget.trials": 2, "budget.seconds": 3, "trainer.epochs": 1, "hydra.sweeper.n_trials": 1, "check": 2,
        "method.epochs": 20}  # a line's value is lowered to at most this
SWEEP_CAPS = {"hparams_search": "hydra.sweeper.n_trials=1"}  # added to a -m sweep of that key where absent
SWEPT = 2  # a -m sweep over a list of values (seed=0,1,2) keeps its first two
PLACEHOLDERS = {"genotype": "search", "init": "retrain", "checkpoint": "retrain", "meta": "meta-train",
                "hardware.table": "latency-table", "onnx": "export"}  # key -> the command whose run directory stands in for <...>


def _has_plugin(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# README lines another test runs word for word (but for a sweep's folder), with its own checks of what they
# wrote: run once, not twice
SAME_AS = {
    "nas search -m debug=smoke seed=0,1 hydra/launcher=submitit_local":
        "tests/test_launchers.py::test_a_two_job_sweep_through_submitit_local_completes_both_runs",
    "nas search -m debug=smoke seed=0,1 strategy=random,reinforce hardware.objective=pareto hydra/launcher=joblib "
    "hydra.launcher.n_jobs=2 hydra.sweep.dir=sweep": "tests/commands/test_report.py's `sweep` fixture",
    "nas report sweep": "tests/commands/test_report.py::test_a_2x2_sweep_gives_mean_and_std_over_seeds_and_the_best_"
                        "configuration reports that very sweep",
}

SKIPS: list[tuple[Callable[[list[str]], bool], str]] = [
    (lambda t: " ".join(t) in SAME_AS, "another test runs this line word for word (SAME_AS names it)"),
    (lambda t: t[0] == "pip", "installs nascli: .ci/run installs exactly as the README says"),
    (lambda t: t[:3] == ["python", "-m", "pytest"], "the test suite itself"),
    (lambda t: t[0] == "python" and "screenshot_report" in " ".join(t), "needs Chromium, not installed in CI"),
    (lambda t: t[0] == "python", "a benchmark script (minutes at its sizes); tests/test_scripts.py runs the "
                                 "benchmark scripts at test sizes"),
    (lambda t: t[0] == "lint-imports", "tests/test_layering.py runs it"),
    (lambda t: any(a.startswith(("dataset.root=~", "dataset.path=~", "input=~")) for a in t),
     "the user's own data (~/...); tests/data/ generates such folders and arrays"),
    (lambda t: any(a.startswith("checkpoint=outputs/<text") for a in t),
     "a text network's checkpoint: tests/commands/test_text.py runs the text chain on a generated corpus"),
    (lambda t: t[0] == "tensorboard", "starts a server that runs until it is stopped"),
    (lambda t: t[0] == "torchrun", "starts 2 processes; tests/training/test_data_parallel.py runs retrain and "
                                   "tests/strategies/test_darts_data_parallel.py runs search under torchrun"),
    (lambda t: "hardware=cuda" in t, "needs a GPU"),
    (lambda t: "hydra/launcher=submitit_slurm" in t, "needs a Slurm cluster (sbatch, srun)"),
    (lambda t: "search.executor=submitit" in t, "needs a Slurm cluster (sbatch); tests/search/executors/test_clusters.py "
                                                "runs search.executor=submitit through submitit's local executor"),
    (lambda t: "search.ray.address=auto" in t, "needs a running Ray cluster; tests/search/executors/test_clusters.py runs "
                                               "search.executor=ray on a local Ray instance"),
    (lambda t: any(a.startswith("search.workers=") and int(a.split("=")[1]) > 2 for a in t)
     and "search.executor=simulated" not in t, "many workers need GPUs (a CPU has too few cores for them); the "
                                                "debug=smoke search.workers=2 line beside it runs"),
    (lambda t: "hydra/launcher=ray" in t and not _has_plugin("hydra_plugins.hydra_ray_launcher"),
     'needs the ray extra (pip install "nascli[ray]"), not part of [dev]'),
    (lambda t: any(a.startswith("experiment=darts_cifar10") for a in t), "trains on CIFAR-10: needs its download"),
    (lambda t: any(a.startswith("experiment=kws_") for a in t),
     "trains on Speech Commands: needs its download; tests/commands/test_audio.py runs the preset on a generated miniature"),
    (lambda t: any(a in {f"dataset={d}" for d in DOWNLOADED} for a in t) and "evaluator=tabular" not in t
     and "meta-train" not in t, "trains on a torchvision dataset: needs its download"),
]


# --- the README's commands ----------------------------------------------------------------------------
@dataclass
class Line:
    """One command of a README block, as typed, and what this test does with it."""

    block: int
    typed: str
    tokens: list[str]
    skip: str | None = None


@dataclass
class Block:
    index: int
    lines: list[Line] = field(default_factory=list)


def blocks() -> list[Block]:
    """Every bash block of the README with at least one command, each command split at `&&`."""
    out = []
    for index, body in enumerate(re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)):
        block = Block(index)
        for raw in body.splitlines():
            raw = re.sub(r"<[^>]*>", lambda m: m.group(0).replace(" ", "_"), raw)  # <retrain time>: one word
            tokens = shlex.split(raw, comments=True)
            while tokens:
                cut = tokens.index("&&") if "&&" in tokens else len(tokens)
                command, tokens = tokens[:cut], tokens[cut + 1:]
                typed = " ".join(shlex.quote(t) for t in command)
                reason = next((why for test, why in SKIPS if test(command)), None)
                if reason is None and command[0] != "nas":
                    reason = "not a nas command"
                block.lines.append(Line(index, typed, command, reason))
        if block.lines:
            out.append(block)
    return out


def _key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~") if "=" in arg else ""


def smoke(tokens: list[str]) -> list[str]:
    """The line at smoke size: a debug preset where it sets none, values capped, a sweep's trials capped."""
    sub, args = tokens[1], list(tokens[2:])
    if "--check" in args:  # the CLI's spelling of check=N
        i = args.index("--check")
        args[i:i + 2] = [f"check={args[i + 1]}"]
    capped = []
    for arg in args:
        key = _key(arg)
        if key in CAPS:
            value = arg.split("=", 1)[1]
            if value not in ("null", "None") and float(value) > CAPS[key]:
                arg = f"{key}={CAPS[key]}"
        elif "-m" in args and key and "," in arg and "[" not in arg and "(" not in arg:
            arg = f"{key}={','.join(arg.split('=', 1)[1].split(',')[:SWEPT])}"
        capped.append(arg)
    if sub in SMOKE and not any(_key(a) == "debug" for a in capped):
        capped.append(SMOKE[sub])
    if "-m" in capped:
        capped += [extra for key, extra in SWEEP_CAPS.items()
                   if any(_key(a) == key for a in capped) and not any(_key(a) == _key(extra) for a in capped)]
    return capped


class Runner:
    """Runs one block's lines in its own directory, remembering each command's latest run directory.
    The smoke-size runs a block needs but does not make come from `shared`, made once for all blocks
    (only read: a genotype, a checkpoint, a prior, a table)."""

    def __init__(self, cwd: Path, shared: Runner | None = None) -> None:
        self.cwd, self.latest, self.count, self.shared = cwd, {}, 0, shared
        self.ran: list[str] = []

    def resolve(self, args: list[str]) -> list[str]:
        """Placeholders `<...>` replaced by the run directory of the command their key needs."""
        out = []
        for arg in args:
            key = _key(arg)
            if "<" in arg and key == "input":  # nas predict's new inputs
                arg = f"input={self.new_inputs()}"
            elif "<" in arg and key in PLACEHOLDERS:
                run_dir = self.latest.get(PLACEHOLDERS[key]) or self.base(PLACEHOLDERS[key])
                arg = f"{key}={run_dir / 'latency_table.csv' if key == 'hardware.table' else run_dir}"  # the table file
            out.append(arg.replace("$PWD", str(self.cwd)))
        return out

    def new_inputs(self) -> Path:
        """Inputs for `nas predict`: the test split of the latest retrain's data, as a .npz of x and y."""
        import numpy as np

        from nascli.checkpoint import checkpoint_data, load_checkpoint

        ckpt, _ = load_checkpoint(str(self.latest.get("retrain") or self.base("retrain")))
        data = checkpoint_data(ckpt, str(self.cwd / "outputs" / "data"))
        path = self.cwd / "new_inputs.npz"
        np.savez(path, x=data.test.images.numpy(), y=data.test.labels.numpy())
        return path

    def base(self, command: str) -> Path:
        """A smoke-size run of `command` for this block, when the block made none: the shared one,
        unless it must be made from this block's own runs (a retrain of the block's search)."""
        if self.shared is not None and not (command == "retrain" and "search" in self.latest):
            return self.shared.latest.get(command) or self.shared.base(command)
        if command == "retrain":
            self.run(["nas", "retrain", f"genotype={self.latest.get('search') or self.base('search')}"])
        elif command == "meta-train":
            self.run(["nas", "meta-train", "method=transfer", "tasks=table", "tasks.table=nb201"])
        else:
            self.run(["nas", command])
        return self.latest[command]

    def run(self, tokens: list[str]) -> None:
        sub, args = tokens[1], self.resolve(smoke(tokens))
        if sub in APPS and "-m" not in args:
            self._app(sub, args)
        else:
            if "-m" in args and not any(_key(a) == "hydra.sweep.dir" for a in args):
                # Hydra names a sweep's folder by the second it starts: lines run faster than a user types
                self.count += 1
                args.append(f"hydra.sweep.dir=multirun/sweep-{self.count}")
            code, text = _cli([sub, *args], self.cwd)
            assert code == 0, f"`{' '.join(tokens)}` exited {code}:\n{text[-3000:]}"
        self.ran.append(" ".join(tokens))

    def _app(self, sub: str, args: list[str]) -> None:
        """A Hydra app in this process (as the tests' `run` composes and runs it)."""
        from nasrun import run

        given = [a for a in args if _key(a) == "hydra.run.dir"]
        args = [a for a in args if _key(a) != "hydra.run.dir"]
        if given:
            run_dir = self.cwd / given[0].split("=", 1)[1]
        else:
            self.count += 1
            run_dir = self.cwd / "outputs" / f"{sub}-{self.count}"
        if "resume=true" in args and not run_dir.exists():  # a run to resume: made first, as a user's killed one
            made = run(sub, *[a for a in args if a != "resume=true"], "budget.trials=1", run_dir=run_dir)
            assert made.code == 0, made.text[-3000:]
        result = run(sub, *args, run_dir=run_dir)
        if result.code == 2 and "No feasible candidate: hardware.max_latency_ms" in result.err:
            # the README's latency bound, timed on this machine beside the suite's other workers (the smallest
            # network took 9x its idle time in one CI run), bound every candidate: what a user on a slower machine
            # is told. The line still ran as typed: its table was read and every candidate priced.
            return
        assert result.code == 0, f"`nas {sub} {' '.join(args)}` exited {result.code}:\n{result.text[-3000:]}"
        self.latest[sub] = run_dir


def _cli(argv: list[str], cwd: Path) -> tuple[int, str]:
    """`nas <argv>` through the console script's entry point (sweeps, nas list, nas report), in
    `cwd`: in this process (no fresh interpreter's start for each line), except a sweep through a
    launcher of worker processes, which keeps them from one sweep to the next (joblib's loky
    workers stay in the directory and environment of the first): in a fresh process as a user's."""
    import contextlib
    import io
    import os

    from nascli.cli import main

    env = {"COLUMNS": "200", "NASCLI_DATA_DIR": str(cwd / "data")}
    if any(a.startswith("hydra/launcher=") for a in argv):
        proc = subprocess.run([sys.executable, "-m", "nascli", *argv], cwd=cwd, capture_output=True, text=True,
                              env={**os.environ, **env, "OMP_NUM_THREADS": "1"}, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr
    out = io.StringIO()
    saved, here = {key: os.environ.get(key) for key in env}, os.getcwd()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main(list(argv))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(here)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, out.getvalue()


BLOCKS = blocks()


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """Where the smoke-size runs that blocks need but do not make are made, once (per worker)."""
    return Runner(tmp_path_factory.mktemp("readme-shared"))


def test_the_readme_has_commands_and_every_skip_has_a_reason() -> None:
    lines = [line for block in BLOCKS for line in block.lines]
    assert sum(line.skip is None for line in lines) >= 40  # the README's nas lines run, almost all of them
    assert all(line.skip for line in lines if line.tokens[0] != "nas")


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if any(line.skip is None for line in b.lines)],
                         ids=lambda b: f"block{b.index}")  # each block ordered on its own (conftest.SPREAD)
def test_every_command_of_the_block_works_as_written(block: Block, tmp_path: Path, shared_runs: Runner,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a user's fresh directory: relative paths of the README land here
    runner = Runner(tmp_path, shared=shared_runs)
    for line in block.lines:
        if line.skip is None:
            runner.run(line.tokens)


def main() -> None:
    """The plan: every README line this test runs, and every one it skips with the reason."""
    for block in BLOCKS:
        for line in block.lines:
            print(f"block {block.index:2d}  {'SKIP ' + line.skip if line.skip else 'runs'}:  {line.typed}")


if __name__ == "__main__":
    main()
