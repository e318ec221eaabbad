"""A search assembled from its config in one direction (nascli.search.assembly): the space is settled
first (joint genes, fitted to the data's input, restricted to a table) and the evaluator and the
strategy are built for that one object; the strategy's context says what it needs (the evaluator's
fidelity, a latency table's terms), and nothing is loaded that the search does not need."""

from __future__ import annotations

from pathlib import Path

import pytest
from configured import CPU, hardware, space
from nasrun import compose

from nascli.errors import ConfigError
from nascli.hardware.latency_table import build_table
from nascli.search.assembly import assemble
from nascli.spaces.joint import JointSpace
from nascli.spaces.subset import SubsetSpace


CIFAR10 = ("dataset=cifar10", "dataset.download=false")  # not on disk here: an error if anything read it


def search_of(*overrides: str, data_dir: Path):
    """`nas search <overrides>` assembled, as the command assembles it."""
    return assemble(compose("search", f"paths.data_dir={data_dir}", *overrides), 0, CPU)


def test_the_evaluator_and_the_strategy_are_built_for_the_one_settled_space(tmp_path: Path) -> None:
    search = search_of("debug=smoke", data_dir=tmp_path)
    assert search.evaluator.context.space is search.strategy.space is search.space
    assert search.space.name == "nb201" and search.space.config()["channels"] == 4  # debug=smoke's size
    assert search.context.max_fidelity == 1  # the train evaluator's full training (smoke: 1 epoch), for sh/hyperband
    assert search.context.latency is None


def test_a_chain_space_is_fitted_to_the_datas_input_size_without_loading_the_data(tmp_path: Path) -> None:
    """cifar10 is not on disk here: its shape comes from its config, so nothing is read or downloaded."""
    search = search_of("search_space=chain", *CIFAR10, data_dir=tmp_path)
    assert search.space.config()["input_size"] == 32
    assert search.evaluator.context.space is search.strategy.space is search.space
    digits = search_of("search_space=chain", data_dir=tmp_path)
    assert digits.space.config()["input_size"] == 8 and digits.space is digits.strategy.space


def test_a_benchmark_table_restricts_the_space_before_the_evaluator_is_built(tmp_path: Path) -> None:
    search = search_of("strategy=evolution", "evaluator=tabular", "evaluator.table=nb201", *CIFAR10,
                       data_dir=tmp_path)
    assert isinstance(search.space, SubsetSpace) and len(search.space) == 724  # the table's cifar10 cells
    assert search.evaluator.context.space is search.strategy.space is search.space
    assert search.context.max_fidelity is None  # a table scores one way
    unrestricted = search_of("evaluator=tabular", "evaluator.table=nb201", "evaluator.restrict_space=false",
                             *CIFAR10, data_dir=tmp_path)
    assert not isinstance(unrestricted.space, SubsetSpace) and unrestricted.evaluator.context.space is unrestricted.space


def test_searched_hyperparameters_join_the_space_and_need_an_evaluator_that_trains(tmp_path: Path) -> None:
    search = search_of("debug=smoke", "search_space.hparams.lr=[0.01,0.1]", data_dir=tmp_path)
    assert isinstance(search.space, JointSpace) and search.space.hparam_choices() == {"lr": [0.01, 0.1]}
    assert search.evaluator.context.space is search.strategy.space is search.space
    with pytest.raises(ConfigError, match=r"search_space.hparams \(lr\) are searched by training .* "
                                          r"evaluator=tabular does not train"):
        search_of("search_space.hparams.lr=[0.01,0.1]", "evaluator=tabular", "evaluator.table=nb201", *CIFAR10,
                  data_dir=tmp_path)


def test_a_one_shot_strategy_is_given_the_latency_tables_terms_at_the_datas_shape(tmp_path: Path) -> None:
    nb201 = space("nb201", channels=4)  # debug=smoke's size
    table = tmp_path / "latency_table.csv"
    build_table(nb201, (10, 1, 8), hardware("cpu", repeats=1, warmup=0).profiler.time, {"device": "cpu"},
                calibration=0, seed=0).save(table)
    common = ("strategy=darts", "debug=smoke", "hardware=lut", f"hardware.table={table}")
    weighted = search_of(*common, "hardware.latency_loss_weight=0.05", data_dir=tmp_path)
    assert weighted.context.latency_loss_weight == 0.05 and weighted.context.max_fidelity is None
    assert weighted.context.latency == weighted.hardware.profiler.table.terms(nb201, (10, 1, 8))
    assert search_of(*common, data_dir=tmp_path).context.latency is None  # weight 0: no term
