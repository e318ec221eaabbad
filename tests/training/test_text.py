"""Training recurrent networks on generated text (nascli.training.text): perplexity falls on a
bigram corpus, a classifier beats chance on marker-word texts, and a resumed run ends where an
uninterrupted one does."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from nascli.runtime.config import build_option
from nascli.training.text import evaluate, nonmonotone, train_text
from textcorpus import labelled_csv, lm_corpus

QUIET = {"dropout": 0.0, "dropouth": 0.0, "dropoutx": 0.0, "dropouti": 0.0, "tar": 0.0}


def trainer(**options):
    base = {"epochs": 3, "batch_size": 8, "lr": 1.0, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
            "grad_clip": 0.25, "eval_batch_size": 8}
    return build_option("trainer", "proxy", {**base, **options})


def network(data, **options):
    space = build_option("search_space", "rnn", {"nodes": 2, "emsize": 16, "nhid": 16, **QUIET, **options})
    torch.manual_seed(0)
    return space.build_network(space.sample(random.Random(0)), data.num_classes, data.in_channels, data.input_size)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = lm_corpus(tmp_path_factory.mktemp("lm"), (100, 15, 15))
    return build_option("dataset", "text_lm", {"root": str(root), "bptt": 10})


def test_perplexity_falls_well_below_guessing_on_the_bigram_corpus(corpus) -> None:
    net = network(corpus)
    before = evaluate(net, corpus, corpus.val, 8, "cpu")["val_perplexity"]
    history = train_text(net, corpus, trainer(epochs=4, lr=20.0, lr_min=20.0, batch_size=4), torch.device("cpu"), seed=0)
    after = history[-1]["val_perplexity"]
    assert before > 0.8 * corpus.vocab_size  # untrained: close to uniform over 26 tokens
    assert after < 0.4 * before and after == pytest.approx(math.exp(history[-1]["val_loss"]))
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and "train_perplexity" in history[0]


@pytest.mark.slow
def test_a_classifier_beats_chance_by_a_margin(tmp_path: Path) -> None:
    data = build_option("dataset", "text_classification", {
        "path": str(labelled_csv(tmp_path / "r.csv", n=200)), "text_column": "review",
        "label_column": "sentiment", "max_length": 16, "val_fraction": 0.2, "test_fraction": 0.0})
    net = network(data, head="last")
    cfg = trainer(epochs=8, lr=1.0, lr_min=0.0, momentum=0.9, grad_clip=1.0)
    history = train_text(net, data, cfg, torch.device("cpu"), seed=0)
    assert history[0]["val_accuracy"] <= 60.0 and history[-1]["val_accuracy"] >= 80.0  # balanced classes: chance is 50%


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(corpus) -> None:
    cfg = trainer(epochs=2)
    whole = network(corpus, dropout=0.3)  # dropout draws random masks: the resumed stream must match
    train_text(whole, corpus, cfg, torch.device("cpu"), seed=1)
    states = []
    first = network(corpus, dropout=0.3)
    train_text(first, corpus, trainer(epochs=1), torch.device("cpu"), seed=1,
               on_checkpoint=lambda s: states.append((s, {k: v.clone() for k, v in first.state_dict().items()})))
    state, weights = states[-1]
    resumed = network(corpus, dropout=0.3)
    resumed.load_state_dict(weights)
    history = train_text(resumed, corpus, cfg, torch.device("cpu"), seed=1, resume=state)
    assert len(history) == 2
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_asgd_takes_over_when_validation_stops_improving() -> None:
    assert not nonmonotone([5.0, 4.0, 4.5], 0)  # nonmono=0: plain SGD throughout
    assert not nonmonotone([5.0, 4.0], 2)       # too few epochs to tell
    assert nonmonotone([5.0, 4.0, 4.2, 4.5], 2)  # worse than the best before the last two
    assert not nonmonotone([5.0, 4.0, 4.2, 3.9], 2)


def test_the_ptb_retrain_recipe_switches_to_asgd_after_five_flat_epochs() -> None:
    cfg = build_option("trainer", "darts_ptb")
    assert cfg.nonmono == 5 and cfg.lr == 20 and cfg.grad_clip == 0.25 and cfg.momentum == 0
