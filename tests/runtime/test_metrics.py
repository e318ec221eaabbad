"""Metric directions: perplexity, loss and error are minimised, accuracy maximised, names read by form."""

import math

import pytest

from nascli.runtime import metrics
from nascli.runtime.metrics import Metric


def test_known_metrics_have_their_direction_label_and_unit():
    assert metrics.metric("val_accuracy") == Metric("val_accuracy", False, "validation accuracy", "%")
    assert metrics.lower_is_better("val_perplexity") and metrics.lower_is_better("test_perplexity")
    assert metrics.lower_is_better("val_loss") and metrics.lower_is_better("error")
    assert not metrics.lower_is_better("test_accuracy")
    assert metrics.metric("val_perplexity").axis_label == "validation perplexity"
    assert metrics.metric("val_accuracy").axis_label == "validation accuracy (%)"
    assert metrics.metric("val_perplexity").describe() == {
        "metric": "val_perplexity", "direction": "min", "label": "validation perplexity", "unit": ""}


@pytest.mark.parametrize("name, lower", [("zc_synflow", False), ("my_score", False), ("valid_acc", False),
                                         ("word_perplexity", True), ("ppl", True), ("bits_loss", True),
                                         ("top1_error", True), ("gpu_ms", True)])
def test_unknown_names_are_read_by_their_form_and_otherwise_maximised(name, lower):
    assert metrics.lower_is_better(name) is lower
    assert metrics.worst(name) == (math.inf if lower else -math.inf)


def test_better_best_of_and_score_follow_the_direction():
    assert metrics.better("val_perplexity", 80.0, 120.0) and not metrics.better("val_perplexity", 120.0, 80.0)
    assert metrics.better("val_accuracy", 90.0, 80.0) and not metrics.better("val_accuracy", 80.0, 80.0)
    assert metrics.better("val_loss", 1.0, math.nan) and not metrics.better("val_loss", math.nan, 1.0)
    assert metrics.best_of("val_perplexity", [120.3, None, 95.0, math.nan, 130.0]) == 95.0
    assert metrics.best_of("val_accuracy", [80.0, None, 91.5]) == 91.5
    assert metrics.best_of("val_loss", [None, math.nan]) is None
    # what a strategy is told is a number to maximise; the best value's score is the highest
    assert metrics.score("val_perplexity", 95.0) > metrics.score("val_perplexity", 120.3)
    assert metrics.score("val_accuracy", 91.5) == 91.5


def test_rank_key_sorts_best_first_and_unmeasured_last():
    ppl = metrics.metric("val_perplexity")
    assert sorted([130.0, None, 95.0, math.nan, 120.3], key=ppl.rank_key)[:3] == [95.0, 120.3, 130.0]
    acc = metrics.metric("val_accuracy")
    assert sorted([80.0, None, 91.5], key=acc.rank_key) == [91.5, 80.0, None]


def test_a_registered_metric_overrides_the_rules_and_data_may_name_its_metric():
    try:
        metrics.register(Metric("zc_regret", True, "regret"))
        assert metrics.lower_is_better("zc_regret")
    finally:
        metrics.KNOWN.pop("zc_regret")

    class Corpus:
        objective_metric = "val_perplexity"

    assert metrics.objective_metric(Corpus()) == "val_perplexity"
    assert metrics.objective_metric(object()) == "val_accuracy"


def test_text_shows_the_unit():
    assert metrics.metric("val_accuracy").text(93.4125) == "93.41%"
    assert metrics.metric("val_perplexity").text(120.3) == "120.3"
    assert metrics.metric("latency_ms").text(4.5) == "4.5 ms"
