"""Building objects from config: a group's `_target_` plus its options, checked first.

A target's typed signature is its schema (a dataclass's fields where the target is one): an option
it does not take is an error naming the key and the ones it does take, and a value of the wrong
type is an error naming the key and the type. The YAML of each option is the one place its
defaults live; targets built from config declare no defaults of their own, so the two cannot drift.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import inspect
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

from omegaconf import DictConfig, OmegaConf

from nascli.errors import ConfigError

HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")
RUNNER_KEYS = ("jobs_per_gpu", "logger")  # what the runner reads (runtime.devices, runtime.loggers), not the command


def unknown_key(key: str, valid: Iterable[str], where: str, elsewhere: Mapping[str, Iterable[str]] | None = None) -> ConfigError:
    """The error for an option `where` does not have: the key, a likely meant one (in `where`, else in
    one of the `elsewhere` groups: `trainer.epochs` for `strategy.epoch`), every valid one."""
    valid = sorted(valid)
    others = {group: [str(k) for k in keys] for group, keys in (elsewhere or {}).items()}
    same = [f"{group}.{key}" for group, keys in others.items() if key in keys]  # the key, in another group
    close = difflib.get_close_matches(key, valid, n=1)
    near = [f"{group}.{m}" for group, keys in others.items() for m in difflib.get_close_matches(key, keys, n=1, cutoff=0.8)]
    meant = same[:1] or [repr(m) for m in close] or near[:1]
    hint = f" (did you mean {meant[0]}?)" if meant else ""
    return ConfigError(f"{where} has no option {key!r}{hint}. Its options are: {', '.join(valid)}.")


# --- schemas ----------------------------------------------------------------------------------
def _init_of(target: Any) -> Any:
    return target.__init__ if inspect.isclass(target) else target


def options_of(target: Any) -> dict[str, inspect.Parameter]:
    """The keyword options a target takes, each with its resolved annotation: the target's own
    parameters, plus those of the base class it forwards **kwargs to (a subclass adding options)."""
    found: dict[str, inspect.Parameter] = {}
    owners = [c for c in inspect.getmro(target) if "__init__" in vars(c)] if inspect.isclass(target) else [target]
    for owner in owners:
        function = _init_of(owner) if inspect.isclass(owner) else owner
        try:
            hints = typing.get_type_hints(function)
        except (NameError, TypeError):
            hints = {}
        params = list(inspect.signature(function).parameters.values())
        for param in params:
            if param.name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            found.setdefault(param.name, param.replace(annotation=hints.get(param.name, param.annotation)))
        if not any(p.kind is p.VAR_KEYWORD for p in params) or owner is object:
            break
    return found


# --- values -----------------------------------------------------------------------------------
def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        kinds = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    if annotation in names:
        return names[annotation]
    if origin in (list, tuple, collections.abc.Sequence) or annotation in (list, tuple):
        return "a list"
    if origin in (dict, collections.abc.Mapping) or annotation is dict or dataclasses.is_dataclass(annotation):
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def check_value(value: Any, annotation: Any, key: str) -> Any:
    """`value` as `annotation` asks (ints accepted as floats, 3.0 as 3), or a ConfigError naming `key`.
    A nested node with a `_target_` (an optimiser to build later) is checked against its target."""
    if isinstance(value, Mapping) and "_target_" in value:
        return check_target_node(value, key)
    if annotation in (Any, inspect.Parameter.empty, object):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    wrong = ConfigError(f"{key} must be {_describe(annotation)}, got {value!r}.")
    if origin in (Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise wrong
        for arg in (a for a in args if a is not type(None)):
            try:
                return check_value(value, arg, key)
            except ConfigError:
                continue
        raise wrong
    if origin is Literal:
        if value in args:
            return value
        raise wrong
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise wrong
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise wrong
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise wrong
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `hp: 200` in YAML or on the command line
        raise wrong
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if not isinstance(value, Mapping):
            raise wrong
        return check_fields(dict(value), annotation, key)
    if origin in (list, collections.abc.Sequence) or annotation is list:
        if not isinstance(value, (list, tuple)):
            raise wrong
        item = args[0] if args else Any
        return [check_value(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple or annotation is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_value(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise wrong
        return tuple(check_value(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args or [Any] * len(value))))
    if origin in (dict, collections.abc.Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            raise wrong
        return dict(value)
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise wrong
    return value


def check_options(values: Mapping[str, Any], target: Any, where: str, runtime: Iterable[str] = ()) -> dict[str, Any]:
    """`values` checked against the options `target` takes (names and types); the runtime
    arguments the caller passes itself are not options. Missing required options are errors."""
    runtime = set(runtime)
    schema = {name: p for name, p in options_of(target).items() if name not in runtime}
    for key in values:
        if key not in schema:
            raise unknown_key(key, schema, where)
    path = (lambda key: f"{where}.{key}") if where else (lambda key: key)
    checked = {key: check_value(value, schema[key].annotation, path(key)) for key, value in values.items()}
    missing = [name for name, p in schema.items() if name not in checked and p.default is p.empty]
    if missing:
        raise ConfigError(f"{where or 'The config'} needs the option(s) {', '.join(missing)}; give them on the "
                          f"command line, e.g. +{path(missing[0])}=<value>.")
    return checked


def check_target_node(node: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A nested `_target_` node (e.g. `arch_optimizer: {_target_: torch.optim.Adam, _partial_: true, lr: ...}`)
    with its options checked against the target's signature, as plain values ready for
    hydra.utils.instantiate. A partial node may leave out what its caller passes later (the parameters)."""
    target = target_of(node, key)
    values = {k: v for k, v in node.items() if k not in HYDRA_KEYS}
    schema = options_of(target)
    for name in values:
        if name not in schema:
            raise unknown_key(name, schema, key)
    checked = {name: check_value(v, schema[name].annotation, f"{key}.{name}") for name, v in values.items()}
    if not node.get("_partial_", False):
        missing = [n for n, p in schema.items() if n not in checked and p.default is p.empty]
        if missing:
            raise ConfigError(f"{key} needs the option(s) {', '.join(missing)}; give them, or set {key}._partial_=true "
                              "where they are passed at build time.")
    return {**{k: node[k] for k in HYDRA_KEYS if k in node}, **checked}


def check_fields(values: Mapping[str, Any], schema: type, where: str) -> Any:
    """A dataclass instance of `schema` from `values`, every key and type checked."""
    return schema(**check_options(values, schema, where))


# --- config nodes -----------------------------------------------------------------------------
def plain(node: Any) -> Any:
    """A config node as plain Python containers, interpolations resolved."""
    return OmegaConf.to_container(node, resolve=True, throw_on_missing=True) if OmegaConf.is_config(node) else node


def target_of(node: DictConfig, group: str) -> Any:
    """The object a group's `_target_` names, or a ConfigError saying what is wrong."""
    from hydra.utils import get_object

    name = node.get("_target_") if OmegaConf.is_dict(node) or isinstance(node, Mapping) else None
    if not name:
        raise ConfigError(f"The {group} config names no _target_ (the class or function it builds).")
    try:
        return get_object(str(name))
    except Exception as exc:  # noqa: BLE001 - Hydra raises several types for an unimportable name
        raise ConfigError(f"{group}._target_ {name!r} cannot be imported ({exc}).") from None


def _values(node: DictConfig) -> dict[str, Any]:
    return {k: v for k, v in plain(node).items() if k not in HYDRA_KEYS}


def configured(node: DictConfig, group: str, runtime: Iterable[str] = ()) -> tuple[Any, dict[str, Any]]:
    """A group's target and its options, checked: what `build` calls it with, besides the runtime
    arguments named. For a caller that must decide something from them before building."""
    target = target_of(node, group)
    return target, check_options(_values(node), target, group, runtime)


def build(node: DictConfig, group: str, **runtime: Any) -> Any:
    """Build a group's object: `_target_(**runtime, **options)`, options checked first.

    Runtime objects (a space, a seed, a context) are passed as they are, never merged into the
    config. Each option's default is its YAML's; a target built from config declares none.
    """
    target, options = configured(node, group, runtime)
    return target(**runtime, **options)


def build_parts(node: DictConfig, group: str, *targets: Any) -> list[Any]:
    """Build several objects from one group's options, each option going to the one target that
    takes it (the hardware group: a cost profiler and an objective). An option none of them takes is
    an error naming the group and every option they take, as `build`'s is."""
    schemas = [options_of(target) for target in targets]
    shared = {key for key, count in collections.Counter(k for schema in schemas for k in schema).items() if count > 1}
    if shared:
        raise TypeError(f"{group}: the option(s) {', '.join(sorted(shared))} are taken by more than one part")
    values = _values(node)
    taken = set().union(*schemas)
    for key in values:
        if key not in taken:
            raise unknown_key(key, taken, group)
    return [target(**check_options({k: v for k, v in values.items() if k in schema}, target, group))
            for target, schema in zip(targets, schemas)]


def check_app(cfg: DictConfig, schema: type, command: str, groups: Iterable[str]) -> Any:
    """The app's own top-level options (seed, budget, ...) as `schema`, every key checked; the
    config groups (built by their own targets) and paths are left to their builders."""
    groups = {*groups, "paths", *RUNNER_KEYS}
    values = {k: plain(cfg[k]) for k in cfg if k not in groups}
    fields = {f.name for f in dataclasses.fields(schema)}
    for key in values:
        if key not in fields:
            raise unknown_key(key, fields | groups, f"nas {command}")
    return schema(**check_options(values, schema, ""))


# --- options by name (the Python face of the config groups) -----------------------------------
def conf_root() -> Any:
    """The config directory: inside the installed package (nascli.conf), or, when the package is
    imported from a source checkout, the checkout's top-level conf/ (a Traversable either way)."""
    import importlib.resources
    import importlib.util
    from pathlib import Path

    if importlib.util.find_spec("nascli.conf") is not None:
        return importlib.resources.files("nascli.conf")
    return Path(__file__).resolve().parents[2] / "conf"


def config_path() -> str:
    """conf_root() as Hydra's config_path: pkg://nascli.conf, or the checkout's conf/ directory."""
    import importlib.util

    return "pkg://nascli.conf" if importlib.util.find_spec("nascli.conf") is not None else str(conf_root())


def options_in(group: str) -> list[str]:
    """The option names of a config group (its YAML files)."""
    folder = conf_root().joinpath(group)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")) if folder.is_dir() else []


def app_groups(app: str) -> set[str]:
    """The config groups conf/<app>.yaml's defaults list chooses from (`debug/app` for
    `optional debug/app@_global_: ...`, which debug= picks, left out): the groups that mean something to
    that app."""
    node = OmegaConf.create(conf_root().joinpath(f"{app}.yaml").read_text())
    groups = set()
    for entry in node.get("defaults") or []:
        key = next(iter(entry)) if OmegaConf.is_dict(entry) else str(entry)
        group = str(key).removeprefix("optional ").removeprefix("override ").partition("@")[0].strip("/")
        if group != "_self_" and not group.startswith("debug/"):  # debug/*: what debug= picks, never chosen by hand
            groups.add(group)
    return groups


def default_option(app: str, group: str) -> str | None:
    """The option of `group` that conf/<app>.yaml's defaults list picks (None where it picks none)."""
    node = OmegaConf.create(conf_root().joinpath(f"{app}.yaml").read_text())
    for entry in node.get("defaults") or []:
        if OmegaConf.is_dict(entry) and group in entry:
            return None if entry[group] is None else str(entry[group])
    return None


def load_option(group: str, name: str) -> DictConfig:
    """One option's YAML, with the options of the same group it inherits (`defaults: [darts, _self_]`);
    the choices it makes in other groups (`override /budget@_global_.budget: schedule`) are Hydra's."""
    file = conf_root().joinpath(group, f"{name}.yaml")
    if not file.is_file():
        raise ConfigError(f"There is no {group} option {name!r}; the options are: {', '.join(options_in(group))}.")
    node = OmegaConf.create(file.read_text())
    defaults = node.pop("defaults", None) or ["_self_"]
    merged = OmegaConf.create({})
    for entry in defaults:
        if not isinstance(entry, str):  # another group's choice (`override /budget@...: schedule`): not this option's values
            continue
        merged = OmegaConf.merge(merged, node if entry == "_self_" else load_option(group, entry))
    return merged


def option_node(group: str, name: str, options: Mapping[str, Any] | None = None) -> DictConfig:
    """A config group's option as `nas` composes it, with its YAML defaults and some `options` changed."""
    return OmegaConf.merge(load_option(group, name), OmegaConf.create(dict(options or {})))
def chosen_options(group: str, name: str) -> dict[str, str]:
    """The options of other groups that an option picks in its defaults list, inherited ones included
    (strategy darts: {"budget": "schedule", "trainer": "darts_search"}; pcdarts overrides the trainer)."""
    file = conf_root().joinpath(group, f"{name}.yaml")
    if not file.is_file():
        raise ConfigError(f"There is no {group} option {name!r}; the options are: {', '.join(options_in(group))}.")
    chosen: dict[str, str] = {}
    for entry in OmegaConf.create(file.read_text()).get("defaults") or []:
        if isinstance(entry, str):
            if entry != "_self_":
                chosen.update(chosen_options(group, entry))
            continue
        for key, option in entry.items():  # `override /trainer@_global_.trainer: darts_search`
            other = str(key).removeprefix("override ").lstrip("/").split("@")[0]
            chosen[other] = str(option)
    return chosen


def build_option(group: str, name: str, options: Mapping[str, Any] | None = None, **runtime: Any) -> Any:
    """Build a config group's option as `nas` would, with its YAML defaults and some `options`
    changed, e.g. build_option("strategy", "evolution", {"population": 8}, space=space, seed=0)."""
    return build(option_node(group, name, options), group, **runtime)
