"""Every strategy starts from a meta prior (meta=<dir>): what it asks first, or how it initialises."""

from __future__ import annotations

import random

import pytest
import torch
from configured import CPU, dataset, method, space, strategy

from nascli.data.datasets import subset_classes
from nascli.errors import NasError
from nascli.meta.prior import ArchPrior
from nascli.meta.tasks import History, describe
from nascli.meta.transfer import fit_transfer
from nascli.spaces.darts.genotype import GENOTYPE_OPS
from nascli.strategies.base import SearchContext
from nascli.weight_sharing.mixing import Softmax
from nascli.weight_sharing.supernet import build_supernet

SPACE = space("nb201")
SMALL = space("nb201", channels=4, cells_per_stage=1)  # a supernet is its space's size
TARGET = describe("cifar100")



@pytest.fixture(scope="module")
def digits():
    return dataset("digits")


def setup_on(strategy_, data) -> None:
    """What the search engine does before the first proposal: one-shot strategies build their supernet."""
    strategy_.setup(SearchContext(CPU, lambda: data))


def convs(arch) -> int:
    return sum(op == "nor_conv_3x3" for op in arch)


def synthetic_objective(arch) -> float:
    """A task where 3x3 convolutions help and pooling hurts (its optimum: six convolutions)."""
    return 60.0 + 5.0 * convs(arch) - 2.0 * sum(op == "avg_pool_3x3" for op in arch)


@pytest.fixture(scope="module")
def prior() -> ArchPrior:
    """A transfer prior learned on the synthetic task's history (as `nas meta-train` learns it)."""
    rng = random.Random(0)
    archs = list({SPACE.sample(rng) for _ in range(300)})
    history = History(describe("cifar10"), [SPACE.to_str(a) for a in archs],
                      [synthetic_objective(a) + rng.random() for a in archs], "synthetic")
    return fit_transfer(SPACE, [history], method("transfer", epochs=200), seed=0)[0]


def first_asks(strategy, n: int) -> list:
    asked = []
    for _ in range(n):
        arch = strategy.ask()
        strategy.tell(arch, synthetic_objective(arch))
        asked.append(arch)
    return asked


def best_after(strategy, n: int) -> float:
    return max(synthetic_objective(a) for a in first_asks(strategy, n))


@pytest.mark.parametrize("make", [
    lambda: strategy("random", SPACE, seed=0, warm_start_size=20),
    lambda: strategy("evolution", SPACE, seed=0, population=20),
    lambda: strategy("genetic", SPACE, seed=0, population=20),
    lambda: strategy("bo", SPACE, seed=0, initial=20),
], ids=["random", "evolution", "genetic", "bo"])
def test_the_initial_population_comes_from_the_prior(make, prior: ArchPrior) -> None:
    cold, warm = make(), make()
    warm.warm_start(prior, TARGET)
    cold_convs = sum(map(convs, first_asks(cold, 20))) / 20
    warm_asks = first_asks(warm, 20)
    assert len(set(warm_asks)) == 20
    assert cold_convs < 2.0 and sum(map(convs, warm_asks)) / 20 >= 4.0  # uniform samples average 1.2


def test_bo_uses_the_predictor_as_its_prior_mean(prior: ArchPrior) -> None:
    # Same initial design for both; only the surrogate's mean differs.
    plain, informed = strategy("bo", SPACE, seed=3, initial=5), strategy("bo", SPACE, seed=3, initial=5)
    informed.prior_score = prior.scorer(SPACE, TARGET)
    assert best_after(informed, 15) == 90.0  # six 3x3 convolutions, found in 10 model-based queries
    assert best_after(plain, 15) < 90.0


def test_reinforce_samples_from_the_prior_before_learning_anything(prior: ArchPrior) -> None:
    cold, warm = strategy("reinforce", SPACE, seed=0), strategy("reinforce", SPACE, seed=0)
    warm.warm_start(prior, TARGET)
    best = SPACE.encode(("nor_conv_3x3",) * 6)
    log_p = lambda s: float(s.controller.evaluate(torch.tensor([best]))[0].detach())  # noqa: E731
    assert log_p(warm) > log_p(cold) + 3.0
    assert sum(map(convs, first_asks(warm, 10))) > 2 * sum(map(convs, first_asks(cold, 10)))


def test_darts_starts_from_the_priors_architecture_weights(prior: ArchPrior, digits) -> None:
    darts = strategy("darts", SMALL, seed=0, prior_strength=2.0)
    darts.warm_start(prior, TARGET)
    setup_on(darts, subset_classes(digits, [0, 1, 2]))
    net = darts.net
    expected = 2.0 * torch.stack(prior.gene_log_probs)
    assert torch.allclose(net.alpha("cell").detach(), expected)
    assert net.derive() == tuple(SPACE.decode([int(p.argmax()) for p in prior.gene_log_probs]))


def test_darts_prior_logits_favour_the_priors_ops_and_inputs() -> None:
    # Every node of both cells: op_a and op_b most likely sep_conv_3x3, inputs most likely 0 and 1.
    darts = space("darts", channels=4, layers=2)
    sep3 = GENOTYPE_OPS.index("sep_conv_3x3")
    log_probs = []
    for k, card in enumerate(darts.cardinalities()):
        p = torch.full((card,), 0.02)
        p[{0: sep3, 1: 0, 2: sep3, 3: 1}[k % 4]] = 1.0
        log_probs.append(torch.log(p / p.sum()))
    net = build_supernet(darts, 10, 3, 8, Softmax())
    with torch.no_grad():
        for cell, logits in net.gene_prior_logits(log_probs).items():
            assert logits.shape == net.alpha(cell).shape
            assert (logits.argmin(1) == net.op_names.index("none")).all()
            net.alpha(cell).copy_(logits)
    derived = net.derive()
    for pairs in (derived.normal, derived.reduce):
        for node in range(darts.steps):
            assert sorted(pairs[2 * node: 2 * node + 2]) == [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)]


def reptile_prior(net, space_config: dict, num_classes: int = 3) -> ArchPrior:
    meta = {"supernet": {"mode": "darts", "space_config": space_config, "num_classes": num_classes,
                         "in_channels": 1, "input_size": 8}}
    return ArchPrior(meta, [], None, supernet=net.state_dict())


def test_a_reptile_prior_is_the_supernets_starting_point(digits) -> None:
    torch.manual_seed(5)
    learned = build_supernet(SMALL, 3, 1, 8, Softmax())
    with torch.no_grad():
        learned.alpha("cell").normal_()
    darts = strategy("darts", SMALL, seed=0)
    darts.warm_start(reptile_prior(learned, SMALL.config()), TARGET)
    setup_on(darts, subset_classes(digits, [7, 8, 9]))
    for name, tensor in learned.state_dict().items():
        assert torch.equal(darts.net.state_dict()[name], tensor), name


def test_a_reptile_prior_of_another_shape_is_a_clear_error(digits) -> None:
    learned = build_supernet(SMALL, 3, 1, 8, Softmax())
    wider = space("nb201", channels=8, cells_per_stage=1)
    with pytest.raises(NasError, match="built with search_space.channels=4, this search's with search_space.channels=8: "
                                       "search with search_space.channels=4"):
        strategy("darts", wider).warm_start(reptile_prior(learned, SMALL.config()), TARGET)
    darts = strategy("darts", SMALL)
    darts.warm_start(reptile_prior(learned, SMALL.config()), TARGET)
    with pytest.raises(NasError, match="classifies 3 classes"):
        setup_on(darts, digits)
    pc = strategy("pcdarts", SMALL)
    pc.warm_start(reptile_prior(learned, SMALL.config()), TARGET)
    with pytest.raises(NasError, match="does not fit strategy PCDARTS"):
        setup_on(pc, subset_classes(digits, [7, 8, 9]))
