"""The searched network beside scikit-learn's standard models on the same table splits: gradient
boosting (HistGradientBoostingClassifier, default settings) and logistic regression, so a search
report says whether the search beat them (on tables they are hard to beat).

All three see the same encoded rows (nascli.data.tables: standardised, imputed, one-hot or codes);
the network found is trained once from scratch with the search's trainer and seed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from nascli.data.datasets import DataSplits, Split
from nascli.spaces.base import Arch, SearchSpace
from nascli.training.loop import TrainConfig, accuracy, train


def _rows(split: Split) -> tuple[np.ndarray, np.ndarray]:
    return split.images.flatten(1).numpy(), split.labels.numpy()


def _scored(model: Any, data: DataSplits) -> dict[str, float | None]:
    """Validation and test accuracy (%) of a fitted scikit-learn model."""
    out: dict[str, float | None] = {}
    for name, split in (("val_accuracy", data.val), ("test_accuracy", data.test)):
        x, y = _rows(split)
        out[name] = float(100.0 * (model.predict(x) == y).mean()) if len(y) else None
    return out


def compare(space: SearchSpace, arch: Arch, data: DataSplits, trainer: TrainConfig, device: Any, seed: int) -> list[dict[str, Any]]:
    """One row per model: `searched` (the found architecture trained from scratch), then
    `hist_gradient_boosting` and `logistic_regression`: val and test accuracy (%), fit seconds."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rows = []
    start = time.perf_counter()
    base, inner, _ = space.split(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = base.build_network(inner, data.num_classes, data.in_channels, data.input_size).to(device)
        train(model, data, trainer, device, seed=seed)
    scores = {name: (accuracy(model, split, data, trainer.eval_batch_size, device)[0] if len(split) else None)
              for name, split in (("val_accuracy", data.val), ("test_accuracy", data.test))}
    rows.append({"model": "searched", "arch": space.to_str(arch), **scores, "fit_s": time.perf_counter() - start})
    x, y = _rows(data.train)
    for name, model in (("hist_gradient_boosting", HistGradientBoostingClassifier(random_state=seed)),
                        ("logistic_regression", LogisticRegression(max_iter=1000))):
        start = time.perf_counter()
        model.fit(x, y)
        rows.append({"model": name, **_scored(model, data), "fit_s": time.perf_counter() - start})
    return rows


def verdict(rows: list[dict[str, Any]]) -> str:
    """One sentence: did the searched network beat both baselines on the test split?"""
    searched = rows[0].get("test_accuracy")
    others = [r for r in rows[1:] if r.get("test_accuracy") is not None]
    if searched is None or not others:
        return "No test split: the searched network and the baselines are compared on validation accuracy only."
    best = max(others, key=lambda r: r["test_accuracy"])
    searched, top = round(searched, 6), round(best["test_accuracy"], 6)
    if searched > top:
        return f"The searched network beat both baselines on the test split ({searched:.2f}% against {best['model']}'s {best['test_accuracy']:.2f}%)."
    if searched == top:
        return f"The searched network tied the best baseline on the test split ({best['model']}, {searched:.2f}%): the search did not beat it."
    return (f"The search did not beat the baselines: on the test split {best['model']} scores {best['test_accuracy']:.2f}%, "
            f"the searched network {searched:.2f}%.")
