"""`nas`: dispatch `nas <subcommand> [Hydra overrides]` to one Hydra application per subcommand.

This module and nascli.apps import no torch, so `nas --help`, `nas search --help` and
`nas search --cfg job` stay fast; the command bodies import it when they run.
"""

from __future__ import annotations

import os
import sys

from nascli import __version__

SUBCOMMANDS: dict[str, str] = {
    "search": "find an architecture for a dataset (and a hardware target)",
    "meta-train": "learn a prior across tasks that makes later searches start ahead",
    "retrain": "train a found genotype from scratch, or fine-tune a trained network (init=), and save a checkpoint",
    "evaluate": "test accuracy, per-class report, confusion matrix, params, FLOPs, latency",
    "export": "write TorchScript/ONNX files and check they match PyTorch",
    "predict": "run a trained network on new images or arrays: predictions.csv, accuracy where labels exist",
    "latency-table": "time every op of a search space on this machine, for hardware=lut",
    "report": "compare runs and sweeps: one table, mean ± std over seeds, plots, report.html",
    "list": "the registered search spaces, strategies, evaluators and hardware targets",
}
NOT_HYDRA = {"list", "report"}  # plain commands; every other subcommand is a Hydra app

USAGE = """usage: nas <subcommand> [Hydra overrides ...]
       nas <subcommand> --help | --cfg job | -m key=a,b ...

Neural architecture search from YAML configs.

subcommands:
{table}

examples:
  nas search                                   # random search on the offline `digits` data
  nas search strategy=darts dataset=cifar10    # gradient-based search on a GPU box
  nas retrain genotype=outputs/<date>/<time>   # train what a search found
  nas predict checkpoint=<retrain run> input=photos/   # predictions.csv for new images or arrays
  nas search -m seed=0,1,2                     # a sweep (Hydra multirun)
  nas report multirun/<date>/<time>            # compare a sweep's runs: table, plots, report.html
  nas list strategy                            # what can be chosen, with each option's defaults

options:
  -h, --help     show this message
  -V, --version  print the version
Each subcommand but `list` and `report` takes Hydra's options: `nas search --help` lists its config groups."""


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    table = "\n".join(f"  {name:<{width}}  {text}" for name, text in SUBCOMMANDS.items())
    return USAGE.format(table=table)


def _complete(argv: list[str]) -> int:
    """Hydra shell completion across subcommands: route `-sc query=…` to the subcommand's app."""
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    query = any(arg.startswith("query=") for arg in argv)
    if query and len(words) >= 2 and words[1] in set(SUBCOMMANDS) - NOT_HYDRA and (len(words) > 2 or line.endswith(" ")):
        os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]]) + (" " if line.endswith(" ") else "")
        return _run_app(words[1], argv)
    if query:  # completing the subcommand itself
        prefix = words[1] if len(words) > 1 and not line.endswith(" ") else ""
        print(" ".join(name for name in SUBCOMMANDS if name.startswith(prefix)))
        return 0
    return _run_app("search", argv)  # install/uninstall: the script is the same for every app


def _run_app(subcommand: str, args: list[str]) -> int:
    from nascli.apps import run_app

    return run_app(subcommand, args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nas` console script."""
    try:
        return _dispatch(argv)
    except BrokenPipeError:  # `nas --help | head`: the reader has gone, nothing is wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit must not fail again
        return 141  # as a process killed by SIGPIPE


def _dispatch(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"nascli {__version__}")
        return 0
    if argv[0] in ("-sc", "--shell-completion"):
        return _complete(argv)
    subcommand, rest = argv[0], argv[1:]
    if subcommand not in SUBCOMMANDS:
        print(f"nas: unknown subcommand '{subcommand}'.\n\n{_usage()}", file=sys.stderr)
        return 2
    if subcommand == "list":
        from nascli.commands.list import main as list_main

        return list_main(rest)
    if subcommand == "report":
        from nascli.commands.report import main as report_main

        return report_main(rest)
    if subcommand == "latency-table":  # `--check N` is the override check=N
        rest = [f"check={rest[i + 1]}" if arg == "--check" and i + 1 < len(rest) else arg
                for i, arg in enumerate(rest) if not (i > 0 and rest[i - 1] == "--check")]
    return _run_app(subcommand, rest)


if __name__ == "__main__":
    sys.exit(main())
