"""Scoring on batches: score's accuracy and mean loss, predict's labels, and networks with an auxiliary head."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nascli.training.metrics import logits_of, predict, score

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
