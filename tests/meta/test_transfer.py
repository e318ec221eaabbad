"""The transfer method: gene prior, predictor, prior files, the space check, and task descriptions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from configured import dataset, method, space

from nascli.errors import NasError
from nascli.meta.prior import ArchPrior
from nascli.meta.tasks import History, describe
from nascli.meta.transfer import fit_transfer, gene_distribution, spearman

NB201 = space("nb201")



def conv_history(space, n: int = 300, seed: int = 0, task: str = "cifar10") -> History:
    """A synthetic task where accuracy grows with the number of 3x3 convolutions."""
    rng = random.Random(seed)
    archs = list({space.sample(rng) for _ in range(n)})
    acc = [60.0 + 5.0 * sum(op == "nor_conv_3x3" for op in a) + rng.random() for a in archs]
    return History(describe(task), [space.to_str(a) for a in archs], acc, "synthetic")


@pytest.fixture(scope="module")
def fitted() -> tuple[ArchPrior, dict]:
    """The transfer prior of the synthetic cifar10 history, and how it was learned."""
    return fit_transfer(NB201, [conv_history(NB201)], method("transfer", epochs=200), seed=0)


def test_gene_prior_prefers_the_choices_of_the_best_architectures() -> None:
    log_probs = gene_distribution(NB201, [conv_history(NB201)], top_fraction=0.1, smoothing=1.0)
    conv3 = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"].index("nor_conv_3x3")
    for gene in log_probs:
        assert torch.isclose(gene.exp().sum(), torch.tensor(1.0))
        assert int(gene.argmax()) == conv3


def test_predictor_ranks_held_out_architectures_of_a_known_function(fitted) -> None:
    _, summary = fitted
    assert summary["heldout_spearman"]["cifar10"] > 0.8
    assert summary["loss"][-1] < summary["loss"][0] / 5


def test_proposals_transfer_to_a_new_task(fitted) -> None:
    prior, _ = fitted
    proposed = prior.propose(NB201, describe("cifar100"), n=5, rng=random.Random(1), pool=400)
    assert len(set(proposed)) == 5
    assert min(sum(op == "nor_conv_3x3" for op in a) for a in proposed) >= 4  # uniform samples average 1.2


def test_prior_files_round_trip_and_refuse_another_space(tmp_path: Path) -> None:
    prior, _ = fit_transfer(NB201, [conv_history(NB201, n=60)], method("transfer", epochs=20), seed=0)
    prior.save(tmp_path)
    loaded = ArchPrior.load(str(tmp_path))
    archs = [NB201.sample(random.Random(i)) for i in range(8)]
    cifar10 = describe("cifar10")
    assert torch.allclose(loaded.score(NB201, archs, cifar10), prior.score(NB201, archs, cifar10))
    loaded.check_space(space("nb201", channels=8))  # same genes, other sizes: fine
    with pytest.raises(NasError, match="learned on the nb201 space, but this search uses darts"):
        loaded.check_space(space("darts"))
    with pytest.raises(NasError, match="holding prior.json and prior.pt"):
        ArchPrior.load(str(tmp_path / "nowhere"))


def test_spearman() -> None:
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert spearman(a, a * 10) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)


def test_tasks_are_described_by_their_data() -> None:
    from nascli.data.datasets import subset_classes
    from nascli.meta.tasks import describe_data

    digits = dataset("digits")
    full, known = describe_data(digits), describe("digits")
    assert full.num_classes == 10 and full.in_channels == 1 and full.input_size == 8
    assert abs(full.pixel_mean - known.pixel_mean) < 0.01 and abs(full.pixel_std - known.pixel_std) < 0.01
    three = describe_data(subset_classes(digits, [7, 8, 9]))
    assert three.num_classes == 3 and three.samples < full.samples
    assert three.embedding() != full.embedding() and len(three.embedding()) == len(describe("cifar10").embedding())


def test_a_prior_with_another_task_embedding_is_refused(tmp_path: Path) -> None:
    import json

    prior, _ = fit_transfer(NB201, [conv_history(NB201, n=40)], method("transfer", epochs=5), seed=0)
    prior.save(tmp_path)
    meta = json.loads((tmp_path / "prior.json").read_text())
    (tmp_path / "prior.json").write_text(json.dumps({**meta, "task_dim": 4}))
    with pytest.raises(NasError, match="run nas meta-train again"):
        ArchPrior.load(str(tmp_path))
