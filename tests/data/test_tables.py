"""Tables as datasets: column kinds, the training split's statistics, imputation with indicators,
<unknown> categories, the stored encoding, and every bad input one clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nascli.data.tables import CATEGORICAL, NUMERIC, TablePreprocess, check_reads, csv_splits, detect_kinds
from nascli.errors import ConfigError, DatasetError
from nascli.runtime.config import option_node
from tests.configured import dataset, space


def frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.normal(40, 10, n).round(1),
        "city": rng.choice(["paris", "oslo", "rome"], n),
        "rooms": rng.integers(1, 4, n),            # whole numbers, 3 levels: categorical
        "zip": [f"z{i % 20}" for i in range(n)],   # 20 levels: embedded
        "const": 7,
        "y": np.where(np.arange(n) % 2 == 0, "yes", "no"),
    })


def write(tmp_path, table: pd.DataFrame, name: str = "t.csv"):
    path = tmp_path / name
    table.to_parquet(path) if name.endswith(".parquet") else table.to_csv(path, index=False)
    return str(path)


def splits(path: str, **options):
    defaults = dict(features=None, drop=None, categorical=None, numeric=None, sep=",", max_levels=10, one_hot_max=16,
                    val_fraction=0.2, test_fraction=0.2, split_seed=0, max_train_samples=None)
    return csv_splits("csv", path, "y", **{**defaults, **options})


def test_kinds_are_detected_and_can_be_overridden() -> None:
    table = frame()
    kinds = detect_kinds(table, ["age", "city", "rooms", "zip"], [], [], max_levels=10)
    assert kinds == {"age": NUMERIC, "city": CATEGORICAL, "rooms": CATEGORICAL, "zip": CATEGORICAL}
    assert detect_kinds(table, ["rooms", "age"], ["age"], ["rooms"], 10) == {"rooms": NUMERIC, "age": CATEGORICAL}


def test_a_csv_becomes_standardised_feature_vectors_with_embedded_and_one_hot_columns(tmp_path, capsys) -> None:
    data = splits(write(tmp_path, frame()))
    pre = TablePreprocess.from_record(data.preprocess)
    # age standardised, city (3 levels + unknown) and rooms one-hot, zip a code (the training split's levels + unknown > 16)
    assert pre.width == 1 + 4 + 4 + 1 and data.shape == (2, 10, 1) and data.shape.table == (pre.categorical[-1].codes,)
    assert data.shape.table[0] > 16 and pre.categorical[-1].levels[0] != "<unknown>"
    assert data.class_names == ["no", "yes"] and len(data.train) + len(data.val) + len(data.test) == 60
    train = data.train.images.flatten(1)
    assert abs(float(train[:, 0].mean())) < 1e-5 and abs(float(train[:, 0].std(unbiased=False)) - 1) < 1e-4
    out = capsys.readouterr().out
    assert "1 numeric" in out and "embedded (zip)" in out and "'const' dropped: constant" in out
    assert data.source["dropped"] == {"const": "constant (one value in every row)"}


def test_missing_values_are_imputed_with_an_indicator_and_new_categories_are_unknown(tmp_path) -> None:
    table = frame()
    table.loc[::5, "age"] = np.nan
    data = splits(write(tmp_path, table, "t.parquet"))
    pre = TablePreprocess.from_record(data.preprocess)
    assert [c.indicator for c in pre.numeric] == [True] and pre.width == 11
    new = pd.DataFrame({"age": [np.nan, 40.0], "city": ["tokyo", "oslo"], "rooms": [9, 1], "zip": ["z3", "nowhere"]})
    rows = pre.transform(new)
    mean = pre.numeric[0].mean
    assert rows[0, 0] == 0.0 and rows[0, 1] == 1.0 and rows[1, 1] == 0.0  # imputed at the mean, flagged
    assert rows[1, 0] == pytest.approx((40.0 - mean) / pre.numeric[0].std)
    city = 2 + np.arange(4)  # its one-hot block: <unknown>, then levels
    assert rows[0, city][0] == 1.0 and rows[1, city][0] == 0.0  # tokyo was never seen: <unknown>
    assert rows[1, -1] == 0.0 and rows[0, -1] > 0  # zip "nowhere": code 0


def test_the_record_round_trips_and_names_missing_columns() -> None:
    pre = TablePreprocess.fit(frame(), "y", {"age": NUMERIC, "city": CATEGORICAL}, ["no", "yes"], 16)
    again = TablePreprocess.from_record(pre.record())
    assert again == pre
    with pytest.raises(DatasetError, match="lacks the column.*city"):
        again.transform(pd.DataFrame({"age": [1.0]}))
    assert list(again.labels(frame(4))) == [1, 0, 1, 0]


@pytest.mark.parametrize("change, message", [
    (lambda t, o: o.update(label="target"), "no label column 'target'"),
    (lambda t, o: t.__setitem__("empty", np.nan), "'empty'.*hold no value at all"),
    (lambda t, o: t.__setitem__("y", "yes"), "holds one class"),
    (lambda t, o: t.loc.__setitem__((3, "y"), np.nan), "label column 'y' is missing in 1 row"),
    (lambda t, o: o.update(drop=["nope"]), "dataset.drop names 'nope'"),
    (lambda t, o: o.update(numeric=["city"]), "column 'city' is numeric but holds"),
])
def test_bad_tables_are_clear_errors(tmp_path, change, message) -> None:
    table, options = frame(), {}
    change(table, options)
    label = options.pop("label", "y")
    defaults = dict(features=None, drop=None, categorical=None, numeric=None, sep=",", max_levels=10, one_hot_max=16,
                    val_fraction=0.2, test_fraction=0.2, split_seed=0, max_train_samples=None)
    with pytest.raises(DatasetError, match=message):
        csv_splits("csv", write(tmp_path, table), label, **{**defaults, **options})


def test_sklearn_tables_are_offline_and_image_spaces_refuse_them() -> None:
    data = dataset("wine")
    assert data.shape == (3, 13, 1) and data.shape.table == () and data.class_names == ["class_0", "class_1", "class_2"]
    node = option_node("dataset", "wine")
    with pytest.raises(ConfigError, match="dataset=wine is a table.*Use search_space=mlp"):
        check_reads(space("nb201"), node)
    check_reads(space("mlp"), node)


def test_evaluating_on_a_table_that_changed_since_training_is_refused(tmp_path) -> None:
    from nascli.checkpoint import checkpoint_data
    from nascli.runtime.config import plain

    path = write(tmp_path, frame())
    node = plain(option_node("dataset", "csv", {"path": path, "label": "y"}))
    trained = checkpoint_data({"dataset_config": node, "data": {}}, str(tmp_path))
    ckpt = {"dataset_config": node, "data": {"preprocess": trained.preprocess}}
    assert checkpoint_data(ckpt, str(tmp_path)).preprocess == trained.preprocess  # the same file: the same encoding
    changed = frame()
    changed.loc[:5, "age"] += 100
    changed.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="has changed since.*encoding of age differs"):
        checkpoint_data(ckpt, str(tmp_path))
