"""nas list [group [option]]: what can be chosen, from the registries, with each option's defaults.

Not a Hydra app: it reads the registries (nascli.registry) and the config groups' YAML files.
"""

from __future__ import annotations

import inspect
import sys

from rich.syntax import Syntax

from nascli.errors import NasError
from nascli.registry import REGISTRIES
from nascli.runtime.config import chosen_options, load_option, options_in
from nascli.runtime.console import output, table
from nascli.runtime.console import print_error

USAGE = "usage: nas list [search_space | strategy | evaluator | hardware [<option>]]"


def rows(group: str) -> list[dict[str, str]]:
    """One row per registered entry of a group: its name, kind, class and first docstring line."""
    registry = next(r for r in REGISTRIES if r.group == group)
    out = []
    for name, obj in registry.items():
        doc = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ").split(". ")[0].rstrip(".")
        kind = "one-shot" if getattr(obj, "measures_candidates", False) else "sample"
        out.append({"name": name, "kind": kind, "class": obj.__qualname__, "about": doc})
    return out


def main(argv: list[str]) -> int:
    """Print the registries (one group, or every group), or one option's YAML with its defaults."""
    console = output()
    groups = [r.group for r in REGISTRIES]
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if len(argv) > 2 or (argv and argv[0] not in groups):
        print_error("list", f"{USAGE}\nGroups: {', '.join(groups)}.")
        return 2
    try:
        if len(argv) == 2:
            group, name = argv
            text = options_root_text(group, name)
            console.print(Syntax(text, "yaml", theme="ansi_dark", background_color="default", word_wrap=True))
            return 0
        for group in argv or groups:
            listed = rows(group)
            columns = ["name", "kind", "class", "about"] if group == "strategy" else ["name", "class", "about"]
            console.print(table(f"{group} (conf/{group}/: {', '.join(options_in(group))})", listed, columns))
    except NasError as exc:
        print_error("list", str(exc))
        return 2
    return 0


def options_root_text(group: str, name: str) -> str:
    """An option's YAML as composed (inherited options included): every key with its default; then
    the options it picks in other groups (a one-shot strategy's trainer), each with its defaults."""
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml(load_option(group, name))
    for other, option in chosen_options(group, name).items():
        if other == "trainer":  # the weight-training recipe: every default, changed by trainer.<key>=...
            text += (f"\n# and trainer={option}, the weights' recipe (trainer.<key>=... changes it):\n"
                     + OmegaConf.to_yaml({"trainer": load_option(other, option)}))
        else:
            text += f"\n# and {other}={option} (conf/{other}/{option}.yaml)\n"
    return text


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
