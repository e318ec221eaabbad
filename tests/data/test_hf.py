"""dataset=hf: a Hugging Face dataset saved with save_to_disk, its ClassLabel names as class names;
without the optional extra, a clear message naming it."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest
from imagetrees import picture

from nascli.errors import DatasetError
from nascli.runtime.config import build_option


def _hf(path: Path, **options):
    return build_option("dataset", "hf", {"path": str(path), "cache_dir": str(path.parent / "hub"), **options})


def test_without_the_extra_the_message_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets" or name.startswith("datasets."):
            raise ImportError("No module named 'datasets'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DatasetError, match=r"nascli\[hf\]"):
        _hf(tmp_path)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    pyarrow = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog", "owl"])})

    def split(n: int) -> object:
        labels = [i % 3 for i in range(n)]
        batch = features.encode_batch({"img": [picture(rng, c, (20, 16)) for c in labels], "label": labels})
        table = pyarrow.Table.from_pydict(batch, schema=features.arrow_schema)
        return datasets.Dataset(table, fingerprint=f"nascli-test-{n}")  # a given fingerprint: nothing is hashed

    datasets.DatasetDict({"train": split(30), "test": split(9)}).save_to_disk(str(tmp_path / "saved"))
    return tmp_path / "saved"


def test_a_saved_dataset_gives_its_splits_and_class_names(saved: Path) -> None:
    data = _hf(saved, image_column="img", image_size=12)
    assert data.class_names == ["cat", "dog", "owl"] and data.shape == (3, 3, 12)
    assert len(data.test) == 9 and len(data.train) + len(data.val) == 30 and len(data.val) == 3
    assert data.preprocess["image_size"] == 12 and data.describe()["source"]["splits"] == ["test", "train"]
    means = [data.train.images[data.train.labels == c].float().mean(dim=(0, 2, 3)) for c in range(3)]
    assert not np.allclose(means[0].numpy(), means[1].numpy(), atol=5)  # the colours that say the class survive


def test_a_column_that_does_not_exist_is_a_clear_error(saved: Path) -> None:
    with pytest.raises(DatasetError, match="dataset.image_column=image is not a column of the train split; its columns are img, label"):
        _hf(saved)
    with pytest.raises(DatasetError, match="exactly one of dataset.path"):
        build_option("dataset", "hf", {"cache_dir": str(saved.parent / "hub")})
