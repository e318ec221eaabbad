"""Tables as datasets: a CSV or Parquet file (dataset=csv), or scikit-learn's breast_cancer and wine.

A table becomes feature vectors a network reads as (N, F, 1, 1) float32 "images" of F channels, so
batching, splitting and checkpoints work as for images. Column kinds are detected (numeric;
categorical for strings, booleans and whole numbers with few distinct values; `categorical=` and
`numeric=` say otherwise). Statistics come from the training split alone: numeric columns are
standardised by its mean and std and a missing value becomes that mean plus a 0/1 indicator column;
a categorical column's levels are its training values, code 0 is `<unknown>` (a value first seen
later, or missing), and it is one-hot encoded when it has at most `one_hot_max` codes, otherwise
given as its code, which the network embeds (search_space=mlp: DataShape.table lists those columns'
numbers of codes). The encoding is a JSON-able record (TablePreprocess.record) stored in every
checkpoint, so evaluate, export and predict encode new rows exactly as training did.

Row layout: standardised numeric columns, missing indicators, one-hot blocks, then category codes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascli.data.datasets import Augment, DataSplits, Split, _stratified_split
from nascli.errors import ConfigError, DatasetError

NUMERIC, CATEGORICAL = "numeric", "categorical"
UNKNOWN = "<unknown>"
FORMAT = "nascli.table/1"
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Column:
    """One input column and how it is encoded: numeric (mean, std, missing indicator) or
    categorical (its training levels; code 0 is <unknown>; one-hot or a code to embed)."""

    name: str
    kind: str
    mean: float = 0.0
    std: float = 1.0
    indicator: bool = False
    levels: list[str] = field(default_factory=list)
    one_hot: bool = False

    @property
    def codes(self) -> int:
        """Categorical: how many codes, <unknown> included."""
        return len(self.levels) + 1


def _level(value: Any) -> str | None:
    """A categorical value in one canonical text form (1, 1.0 and "1" are one level); None if missing."""
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


@dataclass
class TablePreprocess:
    """How a table's rows become feature vectors (fitted on the training split), and its classes."""

    label: str
    columns: list[Column]
    class_names: list[str]
    ignored: list[str] = field(default_factory=list)  # columns of the training table left out (drop, constant, not in features)
    label_values: list[str] = field(default_factory=list)  # the label column's values in class order, where not the names

    # --- fitting ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: Any, label: str, kinds: dict[str, str], class_names: list[str], one_hot_max: int) -> TablePreprocess:
        """The encoding of `frame`'s columns (the training rows) of the given kinds."""
        columns = []
        for name, kind in kinds.items():
            values = frame[name]
            if kind == NUMERIC:
                numbers = _numbers(values, name)
                present = numbers[~np.isnan(numbers)]
                mean = float(present.mean()) if present.size else 0.0
                std = float(present.std()) if present.size else 0.0
                columns.append(Column(name, NUMERIC, mean, std if std > 0 else 1.0, bool(np.isnan(numbers).any())))
            else:
                counts: dict[str, int] = {}
                for value in values.tolist():
                    level = _level(value)
                    if level is not None:
                        counts[level] = counts.get(level, 0) + 1
                levels = sorted(counts, key=lambda k: (-counts[k], k))  # most frequent first, ties by name
                columns.append(Column(name, CATEGORICAL, levels=levels, one_hot=len(levels) + 1 <= one_hot_max))
        return cls(label, columns, list(class_names))

    # --- the encoded row ---------------------------------------------------------------------------
    @property
    def numeric(self) -> list[Column]:
        return [c for c in self.columns if c.kind == NUMERIC]

    @property
    def categorical(self) -> list[Column]:
        return [c for c in self.columns if c.kind == CATEGORICAL]

    @property
    def categories(self) -> tuple[int, ...]:
        """The number of codes of each embedded categorical column (the row's last channels)."""
        return tuple(c.codes for c in self.categorical if not c.one_hot)

    @property
    def width(self) -> int:
        """Channels of an encoded row."""
        return (len(self.numeric) + sum(c.indicator for c in self.numeric)
                + sum(c.codes if c.one_hot else 1 for c in self.categorical))

    def check_columns(self, frame: Any, where: str) -> None:
        """A DatasetError naming the columns new rows lack, or hold that the training table did not."""
        known = {c.name for c in self.columns} | {self.label, *self.ignored}
        unknown = [str(c) for c in frame.columns if str(c) not in known]
        if unknown:
            raise DatasetError(f"{where} has column(s) {', '.join(map(repr, unknown))} the network was not trained with "
                               f"(its columns: {', '.join(c.name for c in self.columns)}; label {self.label!r}). Remove "
                               f"them, or check that this is the right table.")

    def transform(self, frame: Any, where: str = "the table") -> np.ndarray:
        """`frame`'s rows as (N, width) float32 feature vectors; a missing input column is an error
        naming it (columns the encoding does not use are ignored)."""
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise DatasetError(f"{where} lacks the column(s) {', '.join(map(repr, missing))} the network was trained on "
                               f"(it has: {', '.join(map(str, frame.columns))}).")
        n = len(frame)
        numbers, indicators, one_hot, codes = [], [], [], []
        for column in self.numeric:
            values = _numbers(frame[column.name], column.name, where)
            absent = np.isnan(values)
            numbers.append(np.where(absent, 0.0, (values - column.mean) / column.std))
            if column.indicator:
                indicators.append(absent.astype(np.float64))
        for column in self.categorical:
            lookup = {level: i + 1 for i, level in enumerate(column.levels)}
            code = np.array([lookup.get(_level(v), 0) for v in frame[column.name].tolist()], dtype=np.int64)
            if column.one_hot:
                block = np.zeros((n, column.codes))
                block[np.arange(n), code] = 1.0
                one_hot.extend(block.T)
            else:
                codes.append(code.astype(np.float64))
        parts = [*numbers, *indicators, *one_hot, *codes]
        return np.stack(parts, axis=1).astype(np.float32) if parts else np.zeros((n, 0), np.float32)

    def labels(self, frame: Any, where: str = "the table") -> np.ndarray | None:
        """The class index of each row, or None when `frame` has no label column; a label the
        checkpoint does not know is an error naming it."""
        if self.label not in frame.columns:
            return None
        lookup = {**{value: i for i, value in enumerate(self.label_values)}, **{name: i for i, name in enumerate(self.class_names)}}
        values = [_level(v) for v in frame[self.label].tolist()]
        unknown = sorted({v for v in values if v not in lookup}, key=str)
        if unknown:
            raise DatasetError(f"{where}: the label column {self.label!r} holds {', '.join(map(str, unknown[:5]))}, "
                               f"not among the classes {', '.join(self.class_names)}.")
        return np.array([lookup[v] for v in values], dtype=np.int64)

    def describe_columns(self) -> dict[str, str]:
        """Each column's kind and encoding, for reports."""
        out = {}
        for c in self.columns:
            if c.kind == NUMERIC:
                out[c.name] = "numeric" + (" (+ missing indicator)" if c.indicator else "")
            else:
                out[c.name] = f"categorical, {len(c.levels)} levels, {'one-hot' if c.one_hot else 'embedded'}"
        return out

    # --- the record in checkpoints -------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": "table", "label": self.label, "class_names": self.class_names,
                "width": self.width, "categories": list(self.categories), "columns": [asdict(c) for c in self.columns],
                "ignored": list(self.ignored), "label_values": list(self.label_values)}

    @classmethod
    def from_record(cls, record: Any) -> TablePreprocess:
        """The encoding a checkpoint stored; ValueError when the record is not one."""
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} record")
        try:
            columns = [Column(**c) for c in record["columns"]]
            out = cls(str(record["label"]), columns, [str(n) for n in record["class_names"]],
                      [str(n) for n in record.get("ignored", [])], [str(v) for v in record.get("label_values", [])])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed table record ({exc})") from None
        if any(c.kind not in (NUMERIC, CATEGORICAL) for c in columns) or out.width != record.get("width"):
            raise ValueError("malformed table record (column kinds or width)")
        return out


def is_table_record(record: Any) -> bool:
    """Whether a data record's `preprocess` is a table's (not an image file's)."""
    return isinstance(record, dict) and record.get("kind") == "table"


def _numbers(values: Any, name: str, where: str = "the table") -> np.ndarray:
    """A column as float64 with NaN for missing; text that is not a number is an error naming it."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(numbers) & values.notna().to_numpy()
    if bad.any():
        sample = values[bad].astype(str).unique()[:3].tolist()
        raise DatasetError(f"{where}: column {name!r} is numeric but holds {', '.join(map(repr, sample))}; fix those "
                           f"values, or treat it as categorical with dataset.categorical=[{name}].")
    return numbers


# --- reading and kinds ---------------------------------------------------------------------------------
def read_table(path: str | Path, sep: str = ",") -> Any:
    """A CSV (any `sep`) or Parquet file as a pandas DataFrame, or a DatasetError saying why not."""
    import pandas as pd

    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetError(f"{file} does not exist or is not a file; point dataset.path at a .csv or .parquet table.")
    reader = SUFFIXES.get(file.suffix.lower(), "csv")
    try:
        if reader == "parquet":
            return pd.read_parquet(file)
        return pd.read_csv(file, sep="\t" if file.suffix.lower() == ".tsv" else sep)
    except ImportError as exc:
        raise DatasetError(f"Reading {file} needs a Parquet engine: pip install pyarrow ({exc}).") from None
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for a bad file
        raise DatasetError(f"{file} cannot be read as a {reader} table ({type(exc).__name__}: {str(exc)[:200]}).") from None


def detect_kinds(frame: Any, features: list[str], categorical: list[str], numeric: list[str],
                 max_levels: int) -> dict[str, str]:
    """Each feature column's kind: `categorical` and `numeric` as given; else booleans and text that
    is not all numbers are categorical, whole numbers with at most `max_levels` distinct values too,
    and other numbers numeric."""
    import pandas as pd

    kinds = {}
    for name in features:
        values = frame[name]
        if name in categorical:
            kinds[name] = CATEGORICAL
        elif name in numeric:
            kinds[name] = NUMERIC
        elif pd.api.types.is_bool_dtype(values):
            kinds[name] = CATEGORICAL
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            if (numbers.isna() & values.notna()).any():  # text
                kinds[name] = CATEGORICAL
            else:
                present = numbers.dropna()
                whole = bool(np.all(np.mod(present.to_numpy(dtype=np.float64), 1) == 0))
                kinds[name] = CATEGORICAL if whole and present.nunique() <= max_levels else NUMERIC
    return kinds


def _columns(frame: Any, label: str, features: list[str] | None, drop: list[str] | None,
             categorical: list[str] | None, numeric: list[str] | None, where: str) -> tuple[list[str], dict[str, str]]:
    """The feature columns (all but the label and `drop`, or `features`), and those dropped as
    constant, with the reason; names that are not columns are errors naming them."""
    have = [str(c) for c in frame.columns]
    if label not in have:
        raise DatasetError(f"{where} has no label column {label!r} (dataset.label); its columns are: {', '.join(have)}.")
    for key, names in (("features", features), ("drop", drop), ("categorical", categorical), ("numeric", numeric)):
        unknown = [n for n in (names or []) if n not in have]
        if unknown:
            raise DatasetError(f"dataset.{key} names {', '.join(map(repr, unknown))}, not column(s) of {where} "
                               f"(its columns are: {', '.join(have)}).")
    both = sorted(set(categorical or []) & set(numeric or []))
    if both:
        raise DatasetError(f"dataset.categorical and dataset.numeric both name {', '.join(both)}; say one kind per column.")
    chosen = [n for n in (features if features else have) if n != label and n not in (drop or [])]
    empty = [n for n in chosen if frame[n].isna().all()]
    if empty:
        raise DatasetError(f"{where}: column(s) {', '.join(map(repr, empty))} hold no value at all (every row missing); "
                           f"drop them with dataset.drop=[{','.join(empty)}], or check that the file was read right "
                           f"(dataset.sep).")
    dropped = {n: "constant (one value in every row)" for n in chosen if frame[n].nunique(dropna=False) <= 1}
    kept = [n for n in chosen if n not in dropped]
    if not kept:
        raise DatasetError(f"{where} has no feature column left besides the label {label!r}"
                           + (f" ({', '.join(dropped)} dropped as constant)" if dropped else "") + ".")
    return kept, dropped


def _class_names(values: Any, label: str, where: str) -> tuple[list[str], list[str]]:
    """(sorted class names, each row's name); missing labels are an error naming how many."""
    missing = int(values.isna().sum())
    if missing:
        rows = values.index[values.isna()].tolist()[:5]
        raise DatasetError(f"{where}: the label column {label!r} is missing in {missing} row(s) (e.g. rows "
                           f"{', '.join(map(str, rows))}); fill or remove them.")
    names = [_level(v) or "" for v in values.tolist()]
    unique = set(names)
    try:
        order = sorted(unique, key=float)  # numeric labels in numeric order
    except ValueError:
        order = sorted(unique)
    if len(order) < 2:
        raise DatasetError(f"{where}: the label column {label!r} holds one class ({order[0]!r}); a classifier needs two or more.")
    return order, names


def table_splits(
    name: str, frame: Any, label: str, features: list[str] | None, drop: list[str] | None,
    categorical: list[str] | None, numeric: list[str] | None, max_levels: int, one_hot_max: int,
    val_fraction: float, test_fraction: float, split_seed: int, max_train_samples: int | None,
    where: str, class_names: list[str] | None = None, source: dict[str, Any] | None = None,
) -> DataSplits:
    """A DataFrame as DataSplits: columns chosen and their kinds detected, rows split stratified by
    label and seeded (test with split_seed + 1, then validation, as for images), the encoding fitted
    on the training split and applied to all three."""
    if not 0.0 <= test_fraction < 1.0 or val_fraction < 0.0 or val_fraction + test_fraction >= 1.0:
        raise DatasetError(f"dataset.val_fraction and test_fraction must be at least 0 and sum to below 1, got "
                           f"{val_fraction} and {test_fraction}.")
    if max_levels < 0 or one_hot_max < 0:
        raise DatasetError(f"dataset.max_levels and one_hot_max must be at least 0, got {max_levels} and {one_hot_max}.")
    if len(frame) == 0:
        raise DatasetError(f"{where} has no rows.")
    frame = frame.rename(columns=str)
    kept, dropped = _columns(frame, label, features, drop, categorical, numeric, where)
    order, names = _class_names(frame[label], label, where)
    labels = torch.as_tensor([order.index(n) for n in names], dtype=torch.long)
    rest, test_idx = _stratified_split(labels, test_fraction, split_seed + 1)
    val_of_rest = val_fraction / (1.0 - test_fraction) if val_fraction > 0 else 0.0
    keep, held = _stratified_split(labels[rest], val_of_rest, split_seed)
    train_idx, val_idx = rest[keep], rest[held]
    if max_train_samples is not None:
        if int(max_train_samples) < 1:
            raise DatasetError(f"dataset.max_train_samples must be a positive integer, got {max_train_samples}.")
        gen = torch.Generator().manual_seed(split_seed)
        train_idx = train_idx[torch.randperm(len(train_idx), generator=gen)[: int(max_train_samples)]]
    kinds = detect_kinds(frame, kept, list(categorical or []), list(numeric or []), max_levels)
    shown = class_names if class_names is not None else order
    pre = TablePreprocess.fit(frame.iloc[train_idx.numpy()], label, kinds, shown, one_hot_max)
    pre.ignored = [str(c) for c in frame.columns if str(c) not in kinds and str(c) != label]
    pre.label_values = order if order != list(shown) else []
    rows = torch.from_numpy(pre.transform(frame, where)).reshape(len(frame), pre.width, 1, 1)

    def split(index: torch.Tensor) -> Split:
        return Split(rows[index], labels[index])

    facts = {**(source or {}), "rows": len(frame), "label": label, "columns": pre.describe_columns(),
             **({"dropped": dropped} if dropped else {})}
    _say(name, pre, dropped, len(order))
    return DataSplits(name, split(train_idx), split(val_idx), split(test_idx), len(order), list(shown), 1.0,
                      [0.0] * pre.width, [1.0] * pre.width, Augment(), pre.record(), facts, pre.categories)


def _say(name: str, pre: TablePreprocess, dropped: dict[str, str], classes: int) -> None:
    """One line on what the columns were taken as (and one per dropped column)."""
    from rich import get_console

    one_hot = [c.name for c in pre.categorical if c.one_hot]
    embedded = [c.name for c in pre.categorical if not c.one_hot]
    parts = [f"{len(pre.numeric)} numeric"]
    if one_hot:
        parts.append(f"{len(one_hot)} categorical one-hot ({', '.join(one_hot[:6])}{', ...' if len(one_hot) > 6 else ''})")
    if embedded:
        parts.append(f"{len(embedded)} categorical embedded ({', '.join(embedded[:6])}{', ...' if len(embedded) > 6 else ''})")
    imputed = [c.name for c in pre.numeric if c.indicator]
    if imputed:
        parts.append(f"missing values imputed in {', '.join(imputed[:6])}")
    console = get_console()
    console.print(f"table {name}: {'; '.join(parts)} -> {pre.width} features; label {pre.label!r}, {classes} classes.",
                  highlight=False, soft_wrap=True)
    for column, why in dropped.items():
        console.print(f"table {name}: column {column!r} dropped: {why}.", highlight=False, soft_wrap=True)


def csv_splits(
    name: str, path: str | None, label: str | None, features: list[str] | None, drop: list[str] | None,
    categorical: list[str] | None, numeric: list[str] | None, sep: str, max_levels: int, one_hot_max: int,
    val_fraction: float, test_fraction: float, split_seed: int, max_train_samples: int | None,
) -> DataSplits:
    """dataset=csv: the user's CSV or Parquet table, `label` the class column."""
    if not path:
        raise DatasetError("dataset=csv needs dataset.path=<file.csv | file.parquet> and dataset.label=<class column>.")
    if not label:
        raise DatasetError(f"dataset=csv needs dataset.label=<the class column of {path}>.")
    file = Path(path).expanduser()
    frame = read_table(file, sep)
    return table_splits(name, frame, str(label), _names(features), _names(drop), _names(categorical), _names(numeric),
                        max_levels, one_hot_max, val_fraction, test_fraction, split_seed, max_train_samples,
                        str(file), source={"path": str(file)})


SKLEARN_TABLES = {"breast_cancer": "load_breast_cancer", "wine": "load_wine"}


def sklearn_table_splits(
    name: str, table: str, val_fraction: float, test_fraction: float, split_seed: int,
    max_train_samples: int | None, one_hot_max: int,
) -> DataSplits:
    """A real table scikit-learn ships (breast_cancer: 569 rows, 30 numeric columns, 2 classes;
    wine: 178 rows, 13 numeric columns, 3 classes): offline, read as dataset=csv reads a file."""
    if table not in SKLEARN_TABLES:
        raise DatasetError(f"dataset.table must be one of {', '.join(SKLEARN_TABLES)}, got {table!r}.")
    try:
        import sklearn.datasets as skd
    except ImportError:
        raise DatasetError(f"dataset={table} needs scikit-learn, which ships the data: pip install scikit-learn.") from None
    bunch = getattr(skd, SKLEARN_TABLES[table])(as_frame=True)
    frame = bunch.frame
    names = [str(n) for n in bunch.target_names]
    return table_splits(name, frame, "target", None, None, None, None, 0, one_hot_max, val_fraction, test_fraction,
                        split_seed, max_train_samples, f"scikit-learn's {table}", class_names=names,
                        source={"path": f"sklearn.datasets.{SKLEARN_TABLES[table]}"})


def _names(value: Any) -> list[str] | None:
    """A list-of-columns option (a YAML list, or one name) as a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


TABLE_SOURCES = ("nascli.data.tables.csv_splits", "nascli.data.tables.sklearn_table_splits")


def is_table_config(node: Any) -> bool:
    """Whether a dataset config reads a table (known without reading it)."""
    target = node.get("_target_") if hasattr(node, "get") else None
    return str(target) in TABLE_SOURCES


def check_reads(space: Any, node: Any) -> None:
    """A ConfigError when an image space (nb201, darts, chain, ...) is asked to search or train on a
    table: its networks convolve pixels, and a table's row has none."""
    if is_table_config(node) and not getattr(space, "reads_tables", False):
        raise ConfigError(f"dataset={node.get('name')} is a table: its rows are feature vectors, not images, and the "
                          f"{space.name} space builds networks of images. Use search_space=mlp.")
