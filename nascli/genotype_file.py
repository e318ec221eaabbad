"""genotype.json: the found architecture, readable by people and by `nas retrain`.

{"format": "nascli.genotype/1", "search_space": name, "space_config": {...}, "arch": ...,
 "arch_str": canonical one-line form, "metrics": {...}}

and, when a joint search chose training hyper-parameters with the architecture, "hparams": {...}
(trainer option -> value), which `nas retrain` trains with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nascli.errors import ConfigError, GenotypeError, NasError
from nascli.registry import SPACES
from nascli.runtime.config import build_option

if TYPE_CHECKING:  # records sit below the spaces they describe: they build them by registry name
    from nascli.spaces.base import Arch, SearchSpace

FORMAT = "nascli.genotype/1"


def genotype_record(space: SearchSpace, arch: Arch, metrics: dict[str, Any]) -> dict[str, Any]:
    """The genotype.json document of `arch`: its network's architecture, and the training
    hyper-parameters it was searched with, if any."""
    space, arch, hparams = space.split(arch)
    return {
        "format": FORMAT,
        "search_space": space.name,
        "space_config": space.config(),
        "arch": space.to_json(arch),
        "arch_str": space.to_str(arch),
        **({"hparams": hparams} if hparams else {}),
        "metrics": metrics,
    }


def published_genotypes() -> dict[str, tuple[str, Arch]]:
    """Every published genotype of every registered space, as name -> (space name, arch)."""
    return {name: (space, arch) for space, cls in SPACES.items() for name, arch in cls.published.items()}


def load_genotype(ref: str) -> tuple[SearchSpace, Arch, dict[str, Any]]:
    """(space, arch, record) from a search run directory, a genotype.json, or a published name.

    A published genotype is of its space as conf/search_space/<space>.yaml configures it.
    """
    published = published_genotypes()
    if ref in published:
        space_name, arch = published[ref]
        space = build_option("search_space", space_name)
        return space, arch, genotype_record(space, arch, {"published": ref})
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "genotype.json"
    if not path.exists():
        names = ", ".join(sorted(published))
        raise GenotypeError(
            f"No genotype at '{ref}': expected a search run directory holding genotype.json, "
            f"a genotype.json file, or a published name ({names})."
        )
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenotypeError(f"{path} is not a readable genotype.json ({exc}).") from None
    return parse_record(record, str(path))


def parse_record(record: Any, where: str) -> tuple[SearchSpace, Arch, dict[str, Any]]:
    """Validate a genotype document and rebuild its space and architecture."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise GenotypeError(f"{where} is not a nascli genotype (expected \"format\": \"{FORMAT}\").")
    name = record.get("search_space")
    if name not in SPACES.names():
        raise GenotypeError(f"{where} names an unknown search space {name!r}; known: {', '.join(SPACES.names())}.")
    config = record.get("space_config") or {}
    if not isinstance(config, dict):
        raise GenotypeError(f"{where}: space_config must be a mapping.")
    try:
        space = build_option("search_space", name, config)
    except ConfigError as exc:
        raise GenotypeError(f"{where}: space_config does not fit the {name} space ({exc}).") from None
    try:
        arch = space.from_json(record.get("arch"))
    except NasError as exc:
        raise GenotypeError(f"{where}: its arch is not an architecture of the {name} space: {exc}") from None
    if "arch_str" in record and record["arch_str"] != space.to_str(arch):
        raise GenotypeError(f"{where}: arch and arch_str disagree; the file was edited or is corrupt.")
    if not isinstance(record.get("hparams", {}), dict):
        raise GenotypeError(f"{where}: hparams must be a mapping of trainer options to values.")
    return space, arch, record
