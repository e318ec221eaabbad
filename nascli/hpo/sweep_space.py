"""What an Optuna sweep searches (its hyper-parameters, not architectures: that is nascli.spaces), written in Hydra's own override grammar, as Optuna distributions.

`choice(a,b,...)` is categorical, `range(start,stop[,step])` an integer range, `interval(low,high)`
a float interval (`tag(int, interval(...))` an integer one), and `tag(log, ...)` samples on a log
scale. A preset's `hydra.sweeper.params` and the command line's sweep overrides make the space;
the command line's plain overrides are fixed for every trial (and a plain value pins a searched key).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nascli.errors import ConfigError

GRAMMAR = ("choice(a,b,...), range(start,stop[,step]), interval(low,high), tag(int, interval(low,high)) "
           "or tag(log, interval(low,high))")
TAGS = {"log", "int"}
PRIMITIVE = (bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One searched key: the override key as written (`trainer.lr`, `+trainer.x`), its Optuna
    distribution, and for a categorical one the override spelling of each choice."""

    key: str
    distribution: Any
    spellings: dict[Any, str] = field(default_factory=dict)

    def override(self, value: Any) -> str:
        """`key=value`, the value spelt so that Hydra's override parser reads it back unchanged."""
        if self.spellings:
            return f"{self.key}={self.spellings[value]}"
        return f"{self.key}={value!r}"


@dataclass
class SweepSpace:
    """An Optuna sweep's searched config keys, and the overrides every trial gets as they are."""

    params: list[Param]
    fixed: list[str]

    def distributions(self) -> dict[str, Any]:
        return {p.key: p.distribution for p in self.params}

    def overrides(self, values: Mapping[str, Any]) -> list[str]:
        """A trial's command line: the fixed overrides, then one `key=value` per searched key."""
        return [*self.fixed, *(p.override(values[p.key]) for p in self.params)]


def _parse(lines: Sequence[str], where: str) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for line in lines:
        try:
            parsed.append(parser.parse_override(line))
        except HydraException as exc:
            reason = str(exc).splitlines()[0]
            raise ConfigError(f"{where}: cannot read {line!r} ({reason}). A searched key is written {GRAMMAR}.") from None
    return parsed


def _bounds_error(key: str, exc: ValueError) -> ConfigError:
    return ConfigError(f"{key}: {exc}")


def _check_log(key: str, low: float, log: bool) -> None:
    if log and low <= 0:
        raise ConfigError(f"{key}: a log scale needs a lower bound above 0, got {low:g}.")


def _categorical(key: str, sweep: Any, strings: list[str]) -> Param:
    from optuna.distributions import CategoricalDistribution

    if sweep.shuffle:
        raise ConfigError(f"{key}: shuffle(...) means nothing to Optuna, which picks the choices itself; drop it.")
    spellings: dict[Any, str] = {}
    for value, text in zip(sweep.list, strings):
        spellings.setdefault(value if isinstance(value, PRIMITIVE) else text, text)  # lists, dicts: by their text
    return Param(key, CategoricalDistribution(list(spellings)), spellings)


def _range(key: str, sweep: Any, log: bool) -> Param:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    count = math.ceil((sweep.stop - sweep.start) / sweep.step) if sweep.step else 0
    values = [sweep.start + i * sweep.step for i in range(max(0, count))]
    if not values:
        raise ConfigError(f"{key}: range({sweep.start}, {sweep.stop}, {sweep.step}) is empty.")
    if not all(isinstance(v, int) for v in (sweep.start, sweep.step)):  # a float range: its values, as choices
        return Param(key, CategoricalDistribution(values), {v: repr(v) for v in values})
    _check_log(key, min(values), log)
    try:
        return Param(key, IntDistribution(min(values), max(values), step=abs(sweep.step), log=log))
    except ValueError as exc:
        raise _bounds_error(key, exc) from None


def _interval(key: str, sweep: Any, log: bool, integer: bool) -> Param:
    from optuna.distributions import FloatDistribution, IntDistribution

    _check_log(key, sweep.start, log)
    try:
        if integer:
            return Param(key, IntDistribution(math.ceil(sweep.start), math.floor(sweep.end), log=log))
        return Param(key, FloatDistribution(sweep.start, sweep.end, log=log))
    except ValueError as exc:
        raise _bounds_error(key, exc) from None


def to_param(override: Any) -> Param:
    """The Param of one parsed sweep override (`Override.is_sweep_override()`)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    key, sweep = override.get_key_element(), override.value()
    tags = set(getattr(sweep, "tags", ()) or ())
    if tags - TAGS:
        raise ConfigError(f"{key}: unknown tag(s) {', '.join(sorted(tags - TAGS))}; the sweeper knows tag(log, ...) "
                          f"and tag(int, interval(...)).")
    if isinstance(sweep, ChoiceSweep):
        if tags:
            raise ConfigError(f"{key}: tag({', '.join(sorted(tags))}, ...) applies to range(...) and interval(...), "
                              f"not to choice(...).")
        return _categorical(key, sweep, list(override.sweep_string_iterator()))
    if isinstance(sweep, RangeSweep):
        return _range(key, sweep, "log" in tags)
    if isinstance(sweep, IntervalSweep):
        return _interval(key, sweep, "log" in tags, "int" in tags)
    raise ConfigError(f"{key}: {type(sweep).__name__} cannot be searched by Optuna; write {GRAMMAR}.")


def parse_space(params: Mapping[str, Any] | None, arguments: Iterable[str]) -> SweepSpace:
    """The space of a preset's `params` ({key: "interval(0.01, 0.1)", ...}) and the command line's
    overrides `arguments`: the command line's sweep overrides join the params (or replace a key's),
    its plain overrides are fixed for every trial, and pin a key the params would search."""
    searched: dict[str, Any] = {}
    for override in _parse([f"{key}={value}" for key, value in (params or {}).items()], "hydra.sweeper.params"):
        searched[override.get_key_element()] = override
    fixed: list[str] = []
    for override in _parse(list(arguments), "the command line"):
        key = override.get_key_element()
        if override.is_sweep_override():
            searched[key] = override
        else:
            searched.pop(key, None)
            fixed.append(override.input_line)
    preset_fixed = [o.input_line for o in searched.values() if not o.is_sweep_override()]  # plain values in params
    space = SweepSpace([to_param(o) for o in searched.values() if o.is_sweep_override()], preset_fixed + fixed)
    if not space.params:
        raise ConfigError("The sweep has no searched key: give hydra.sweeper.params (an hparams_search preset does) "
                          f"or a sweep override on the command line, e.g. trainer.lr='interval(0.01, 0.1)'. {GRAMMAR}.")
    return space


def describe(param: Param) -> str:
    """A searched key's values in a few words, e.g. `0.005 to 0.2, log scale` or `one of 32, 64, 128`."""
    dist = param.distribution
    if param.spellings or not hasattr(dist, "low"):
        return "one of " + ", ".join(param.spellings.values() if param.spellings else map(str, dist.choices))
    words = f"{dist.low:g} to {dist.high:g}"
    if getattr(dist, "step", None) not in (None, 1):
        words += f" in steps of {dist.step:g}"
    if type(dist).__name__ == "IntDistribution":
        words += ", integers"
    return words + (", log scale" if dist.log else "")
