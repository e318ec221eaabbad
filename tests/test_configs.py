"""The config layer, in process with Hydra's compose API: every option of every group of every app
composes and builds through its `_target_`; the YAML is the one place defaults live; mistakes name
the key; variants inherit; debug=smoke shrinks one-shot strategies through the defaults list; the
apps share one hydra config and comment every defaults-list slot."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from imagetrees import class_tree
from nasrun import compose
from soundtrees import tone_tree
from textcorpus import labelled_csv, lm_corpus
from omegaconf import OmegaConf

from nascli.errors import ConfigError, DatasetError
from nascli.evaluators.base import EvalContext
from nascli.hardware.target import build_target, objective_for
from nascli.registry import STRATEGIES
from nascli.runtime.config import build, check_app, conf_root, load_option, options_in, options_of, plain, target_of
from nascli.spaces.joint import build_space

APPS = ("search", "retrain", "evaluate", "export", "meta-train", "latency-table", "predict")
GROUPS = {  # the groups each app builds (paths: every app)
    "search": ("dataset", "search_space", "strategy", "evaluator", "hardware", "trainer"),
    "retrain": ("dataset", "trainer", "finetune"),
    "evaluate": ("hardware",),
    "export": (),
    "meta-train": ("dataset", "search_space", "method", "tasks"),
    "latency-table": ("dataset", "search_space", "hardware"),
    "predict": (),
}
NEEDED = {  # what an option needs beyond its YAML before it can be built (a required value, offline data)
    ("evaluator", "tabular"): ["evaluator.table=nb201", "evaluator.task=cifar10"],
    ("evaluator", "supernet"): ["evaluator.checkpoint=some/spos/run"],
    ("tasks", "table"): ["tasks.table=nb201"],
    ("tasks", "runs"): ["tasks.runs=[some/search/run]"],
    ("hardware", "lut"): ["hardware.table={table}"],
    ("dataset", "folder"): ["dataset.root={folder}", "dataset.workers=0"],
    ("dataset", "arrays"): ["dataset.path={arrays}"],
    ("dataset", "audio_folder"): ["dataset.root={sounds}"],
    ("dataset", "csv"): ["dataset.path={rows}", "dataset.label=y"],
    ("dataset", "text_lm"): ["dataset.root={corpus}"],
    ("dataset", "text_classification"): ["dataset.path={texts}"],
}
OFFLINE = ("cifar10", "cifar100", "mnist", "fashion_mnist", "svhn")  # torchvision data: absent here


def make(group: str, cfg, **runtime) -> object:
    """Build `group` as the commands do: the space with the hyper-parameters a joint search adds
    (search_space.hparams, nascli.spaces.joint), the hardware target's cost profiler (its _target_)
    and objective (nascli.hardware.target), every other group through its _target_."""
    if group == "search_space":
        return build_space(cfg[group])
    if group == "hardware":
        return build_target(cfg[group]).profiler
    return build(cfg[group], group, **runtime)


def runtime(group: str, cfg) -> dict:
    """The runtime arguments the commands pass when they build `group`."""
    space = make("search_space", cfg) if "search_space" in cfg else None
    if group == "strategy":  # one that trains weights gets the search's trainer
        trains = make("trainer", cfg) if target_of(cfg.strategy, "strategy").trains_weights else None
        return {"space": space, "seed": 0, **({"trainer": trains} if trains is not None else {})}
    if group == "evaluator":
        return {"context": EvalContext(space, 0, "cpu", None, load_data=lambda: None)}
    return {}


CASES = [(app, group, option) for app in APPS for group in (*GROUPS[app], "paths") for option in options_in(group)]


@pytest.mark.parametrize(("app", "group", "option"), CASES, ids=[f"{a}:{g}={o}" for a, g, o in CASES])
def test_every_option_of_every_group_builds(app: str, group: str, option: str, tmp_path: Path) -> None:
    table = tmp_path / "latency_table.csv"  # a latency table's form (hardware=lut reads it when built)
    table.write_text("key,latency_ms,iqr_ms,input_shape,space,device,torch,threads,batch_size\nx,1.0,0,1x1x1,,,,,\n")
    folder = class_tree(tmp_path / "photos", {"a": 5, "b": 5}) if (group, option) == ("dataset", "folder") else None
    arrays = tmp_path / "arrays.npz"
    np.savez(arrays, x=np.zeros((8, 8, 8), np.uint8), y=np.arange(8) % 2)
    sounds = tone_tree(tmp_path / "sounds", per_class=5) if (group, option) == ("dataset", "audio_folder") else None
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,y\n" + "".join(f"{i},{'xyz'[i % 3]},{i % 2}\n" for i in range(20)))
    corpus = lm_corpus(tmp_path / "corpus", (10, 3, 3)) if option == "text_lm" else None
    texts = labelled_csv(tmp_path / "texts.csv", n=20, columns=("text", "label")) if option == "text_classification" else None
    needed = [item.format(table=table, folder=folder, arrays=arrays, sounds=sounds, rows=rows, corpus=corpus, texts=texts)
              for item in NEEDED.get((group, option), [])]
    overrides = [f"{group}={option}", *needed, f"paths.data_dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache"]
    if option in OFFLINE:
        overrides.append("dataset.download=false")
    cfg = compose(app, *overrides)
    if option in OFFLINE:  # instantiating it reaches torchvision, which finds no files: one clear message
        with pytest.raises(DatasetError, match=f"Dataset '{option}' is not in"):
            build(cfg[group], group)
        return
    if (group, option) == ("dataset", "hf"):  # the optional extra: its absence is one clear message
        if importlib.util.find_spec("datasets") is None:
            with pytest.raises(DatasetError, match=r"nascli\[hf\]"):
                build(cfg[group], group)
            return
        pytest.skip("dataset=hf with the extra installed: tests/data/test_hf.py builds it from a saved dataset")
    if (group, option) == ("hardware", "cuda") and not torch.cuda.is_available():  # no GPU: it says so
        with pytest.raises(ConfigError, match="torch sees none here"):
            make(group, cfg)
        return
    built = make(group, cfg, **runtime(group, cfg))
    target = OmegaConf.select(cfg, f"{group}._target_")
    assert built is not None and (type(built).__name__ in target or not inspect.isclass(built))


@pytest.mark.parametrize("app", APPS)
def test_each_apps_own_options_are_checked(app: str) -> None:
    from importlib import import_module

    module = import_module(f"nascli.commands.{app.replace('-', '_')}")
    schema = next(obj for name, obj in vars(module).items() if name.endswith("Options"))
    cfg = compose(app, *(["genotype=DARTS_V2"] if app == "retrain" else []), *(
        ["checkpoint=x"] if app in ("evaluate", "export", "predict") else []), *(["input=x"] if app == "predict" else []))
    check_app(cfg, schema, app, GROUPS[app])  # the defaults pass
    cfg = compose(app, "+budgett=3", *(["genotype=x"] if app == "retrain" else []),
                  *(["checkpoint=x"] if app in ("evaluate", "export", "predict") else []),
                  *(["input=x"] if app == "predict" else []))
    with pytest.raises(ConfigError, match=f"nas {app} has no option 'budgett'"):
        check_app(cfg, schema, app, GROUPS[app])


OPTIONS = [(group, option) for group in ("search_space", "strategy", "evaluator", "hardware", "trainer", "dataset",
                                         "method", "tasks", "paths") for option in options_in(group)]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_the_yaml_is_the_one_place_defaults_live(group: str, option: str) -> None:
    """Every option the target takes is in its YAML, and the target declares no default of its own."""
    node = load_option(group, option)
    target = OmegaConf.select(node, "_target_")
    from hydra.utils import get_object

    params = options_of(get_object(target))
    if group == "hardware":  # one node, two objects: the profiler's options and its objective's
        params = {**params, **options_of(objective_for(get_object(target)))}
    runtime_names = {"strategy": {"space", "seed", "trainer"}, "evaluator": {"context"}}.get(group, set())
    yaml_keys = set(node) - {"_target_"}
    assert yaml_keys == set(params) - runtime_names, f"{group}/{option}.yaml and {target} disagree"
    with_defaults = [name for name, p in params.items() if p.default is not inspect.Parameter.empty]
    assert not with_defaults, f"{target} declares defaults of its own: {with_defaults}"


def test_an_unknown_or_mistyped_option_names_the_key_and_the_valid_ones() -> None:
    cfg = compose("retrain", "genotype=DARTS_V2", "+trainer.lrr=0.1")
    with pytest.raises(ConfigError, match=r"trainer has no option 'lrr' \(did you mean 'lr'\?\). Its options are: "):
        build(cfg.trainer, "trainer")
    cfg = compose("search", "strategy=darts", "strategy.order=3", "+strategy.orders=3")
    with pytest.raises(ConfigError, match="strategy has no option 'orders' .*did you mean 'order'"):
        build(cfg.strategy, "strategy", space=None, seed=0, trainer=None)
    cfg = compose("search", "strategy=darts", "strategy.arch_optimizer.lr=many")
    with pytest.raises(ConfigError, match="strategy.arch_optimizer.lr must be a number"):
        build(cfg.strategy, "strategy", space=None, seed=0, trainer=None)
    cfg = compose("search", "strategy=darts", "trainer.epochs=many")
    with pytest.raises(ConfigError, match="trainer.epochs must be an integer, got 'many'"):
        build(cfg.trainer, "trainer")
    cfg = compose("meta-train", "method=reptile", "+method.stepz=2")
    with pytest.raises(ConfigError, match="method has no option 'stepz'"):
        build(cfg.method, "method")
    cfg = compose("search", "+dataset.augment.cutout=3")
    with pytest.raises(ConfigError, match="dataset.augment has no option 'cutout'"):
        build(cfg.dataset, "dataset")


@pytest.mark.parametrize(("group", "base", "variants"), [("strategy", "darts", ("pcdarts", "gdas")),
                                                      ("trainer", "darts_search", ("pcdarts_search", "gdas_search")),
                                                      ("trainer", "spos_search", ("enas_search",))])
def test_variants_inherit_their_base_and_repeat_none_of_it(group: str, base: str, variants: tuple[str, ...]) -> None:
    parent = load_option(group, base)
    for variant in variants:
        text = conf_root().joinpath(group, f"{variant}.yaml").read_text()
        assert re.search(rf"defaults:\n\s+- {base}\n", text)
        composed = load_option(group, variant)
        assert set(parent) <= set(composed)
        own = {k: v for k, v in OmegaConf.create(text).items() if k != "defaults"}
        repeated = [k for k, v in own.items() if k in parent and parent[k] == v]
        assert not repeated, f"{variant}.yaml repeats {base}'s {repeated}: inherit them instead"


@pytest.mark.parametrize(("strategy", "recipe"), [("darts", "darts_search"), ("pcdarts", "pcdarts_search"),
                                                  ("gdas", "gdas_search"), ("spos", "spos_search"),
                                                  ("enas", "enas_search")])
def test_a_one_shot_strategy_picks_its_trainer_and_the_user_can_pick_another(strategy: str, recipe: str) -> None:
    assert compose("search", f"strategy={strategy}").trainer == load_option("trainer", recipe)
    assert compose("search", f"strategy={strategy}", "trainer=default").trainer == load_option("trainer", "default")
    assert compose("search", f"strategy={strategy}", "trainer.lr=0.5").trainer.lr == 0.5


ONE_SHOT = [name for name, cls in STRATEGIES.items() if cls.measures_candidates]


@pytest.mark.parametrize("strategy", ONE_SHOT)
def test_debug_smoke_shrinks_one_shot_strategies_through_the_defaults_list(strategy: str) -> None:
    full = compose("search", f"strategy={strategy}")
    smoke = compose("search", f"strategy={strategy}", "debug=smoke")
    assert smoke.trainer.epochs < full.trainer.epochs and smoke.search_space.channels < full.search_space.channels
    assert set(smoke.strategy) == set(full.strategy)  # the same options, smaller: no side channel
    assert set(smoke.trainer) == set(full.trainer)  # one trainer shrunk, not a copy per strategy
    assert set(smoke) == set(full)  # and no key added at the top


def test_debug_smoke_leaves_sample_strategies_as_they_are() -> None:
    assert compose("search", "debug=smoke").strategy == compose("search").strategy
    assert compose("search", "debug=smoke").budget.trials == 3


def test_no_config_reads_a_hidden_global() -> None:
    for path in Path(str(conf_root())).rglob("*.yaml"):
        assert "oc.select" not in path.read_text(), path


@pytest.mark.parametrize("app", APPS)
def test_the_apps_share_one_hydra_config_and_comment_every_defaults_slot(app: str) -> None:
    text = conf_root().joinpath(f"{app}.yaml").read_text()
    defaults = text.split("defaults:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "  - hydra: default" in " ".join(defaults) or any(line.strip().startswith("- hydra: default") for line in defaults)
    for line in defaults:
        assert line.strip().startswith("- ") and "#" in line, f"{app}.yaml: slot without a comment: {line!r}"
    own_hydra = OmegaConf.create(text).get("hydra", {})
    assert set(own_hydra) <= {"help"}  # directories, job and logging come from conf/hydra/default.yaml


@pytest.mark.parametrize("preset", options_in("experiment"))
def test_experiment_presets_compose_and_build(preset: str, tmp_path: Path) -> None:
    app = "retrain" if "retrain" in preset else "search"
    cfg = compose(app, f"experiment={preset}", f"paths.data_dir={tmp_path}", *(
        ["genotype=DARTS_V2"] if app == "retrain" else []))
    for group in GROUPS[app]:
        if group != "dataset":
            make(group, cfg, **runtime(group, cfg))
    assert plain(cfg)  # everything resolves
