"""Scoring on batches: score's accuracy and mean loss, predict's labels, networks with an auxiliary
head, and the bootstrap interval of test accuracy and macro-F1."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nascli.training import metrics
from nascli.training.metrics import bootstrap_interval, logits_of, macro_f1_of, predict, score

# two batches: 5 examples, the fixed logits below get 3 of them right
X = [torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[3.0], [4.0]])]
Y = [torch.tensor([0, 1, 1]), torch.tensor([0, 0])]
BATCHES = list(zip(X, Y))


class Lookup(nn.Module):
    """Fixed logits per input value: predicts class 0 for inputs 0, 2, 4 and class 1 for 1, 3."""

    def __init__(self, auxiliary: bool = False) -> None:
        super().__init__()
        self.table = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
        self.auxiliary = auxiliary

    def forward(self, x: torch.Tensor):
        logits = self.table[x[:, 0].long()]
        return (logits, -logits) if self.auxiliary and self.training else logits


def expected_loss() -> float:
    logits, labels = torch.cat([Lookup()(x) for x in X]), torch.cat(Y)
    return nn.functional.cross_entropy(logits, labels).item()


def test_score_is_accuracy_percent_and_mean_loss_over_all_batches() -> None:
    acc, loss = score(Lookup(), BATCHES)
    assert acc == pytest.approx(60.0)  # 3 of 5, not the mean of the batches' accuracies (66.7 and 50)
    assert loss == pytest.approx(expected_loss(), rel=1e-6)


def test_score_reads_the_main_logits_of_a_network_with_an_auxiliary_head() -> None:
    net = Lookup(auxiliary=True).train()
    assert isinstance(net(X[0]), tuple) and torch.equal(logits_of(net(X[0])), Lookup()(X[0]))
    assert score(net, BATCHES) == pytest.approx(score(Lookup(), BATCHES))
    assert score(lambda x: net(x), BATCHES)[0] == pytest.approx(60.0)  # any callable, e.g. a supernet path


def test_predict_gives_labels_targets_and_loss_in_eval_mode() -> None:
    net = Lookup(auxiliary=True).train()
    preds, targets, loss = predict(net, BATCHES)
    assert not net.training
    assert preds.tolist() == [0, 1, 0, 1, 0] and torch.equal(targets, torch.cat(Y))
    assert loss == pytest.approx(expected_loss(), rel=1e-6)


def test_no_batches_give_nans_not_errors() -> None:
    assert all(math.isnan(v) for v in score(Lookup(), []))
    preds, targets, loss = predict(Lookup(), [])
    assert len(preds) == len(targets) == 0 and math.isnan(loss)


def k_of_n_correct(k: int, n: int, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and predictions that are right on exactly the first k of n examples."""
    targets = torch.arange(n) % classes
    preds = torch.where(torch.arange(n) < k, targets, (targets + 1) % classes)
    return preds, targets


@pytest.mark.parametrize("cells", [metrics.BOOTSTRAP_CELLS, 1000])  # one draw, and many small chunks
def test_bootstrap_interval_of_k_correct_of_n_is_the_binomials(cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resampling n examples of which k are right makes the resampled accuracy Binomial(n, k/n) / n,
    so the percentile interval is that distribution's 2.5% and 97.5% quantiles."""
    from scipy.stats import binom

    monkeypatch.setattr(metrics, "BOOTSTRAP_CELLS", cells)
    n, k = 200, 150
    preds, targets = k_of_n_correct(k, n)
    interval = bootstrap_interval(preds, targets, 10, samples=20000, confidence=0.95, seed=0)
    low, high = 100 * binom.ppf([0.025, 0.975], n, k / n) / n
    step = 100 / n  # the resampled accuracy moves in steps of one example
    assert interval["accuracy_low"] == pytest.approx(low, abs=step)
    assert interval["accuracy_high"] == pytest.approx(high, abs=step)
    half = 1.96 * 100 * math.sqrt(0.75 * 0.25 / n)  # the normal approximation agrees: 75 +- 6.0
    assert interval["accuracy_low"] == pytest.approx(75 - half, abs=step)
    assert interval["accuracy_high"] == pytest.approx(75 + half, abs=step)
    assert 0 < interval["macro_f1_low"] < interval["macro_f1_high"] < 1


def test_a_narrower_confidence_gives_a_narrower_interval_and_more_data_too() -> None:
    preds, targets = k_of_n_correct(150, 200)
    wide = bootstrap_interval(preds, targets, 10, 4000, 0.95, seed=0)
    narrow = bootstrap_interval(preds, targets, 10, 4000, 0.5, seed=0)
    assert wide["accuracy_low"] < narrow["accuracy_low"] < 75 < narrow["accuracy_high"] < wide["accuracy_high"]
    preds, targets = k_of_n_correct(1500, 2000)
    larger = bootstrap_interval(preds, targets, 10, 4000, 0.95, seed=0)
    width = larger["accuracy_high"] - larger["accuracy_low"]
    assert width == pytest.approx((wide["accuracy_high"] - wide["accuracy_low"]) / math.sqrt(10), rel=0.15)


def test_all_correct_gives_the_degenerate_interval() -> None:
    targets = torch.arange(50) % 5
    interval = bootstrap_interval(targets, targets, 5, 1000, 0.95, seed=3)
    assert interval == {"accuracy_low": 100.0, "accuracy_high": 100.0, "macro_f1_low": 1.0, "macro_f1_high": 1.0}


def test_the_interval_is_seeded() -> None:
    preds, targets = k_of_n_correct(60, 100)
    first = bootstrap_interval(preds, targets, 10, 300, 0.95, seed=1)
    assert bootstrap_interval(preds, targets, 10, 300, 0.95, seed=1) == first
    assert bootstrap_interval(preds, targets, 10, 300, 0.95, seed=2) != first


def test_macro_f1_of_each_resample_is_scikit_learns() -> None:
    from sklearn.metrics import f1_score

    gen = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 4, (6, 40), generator=gen)   # class 4 never occurs ...
    preds = torch.randint(0, 5, (6, 40), generator=gen)     # ... but is sometimes predicted
    preds[0] = targets[0]
    preds[1, targets[1] == 2] = 3                            # class 2 occurs but is never predicted
    ours = macro_f1_of(preds, targets, 6)                    # class 5: neither, scores 0 as in scikit-learn
    for row in range(6):
        expected = f1_score(targets[row], preds[row], labels=list(range(6)), average="macro", zero_division=0)
        assert ours[row].item() == pytest.approx(expected, abs=1e-12)


def test_no_test_examples_give_nan_intervals() -> None:
    empty = torch.empty(0, dtype=torch.long)
    assert all(math.isnan(v) for v in bootstrap_interval(empty, empty, 3, 100, 0.95, seed=0).values())
