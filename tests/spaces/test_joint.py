"""Joint architecture and hyper-parameter search: training hyper-parameters as extra genes of any
space (search_space.hparams.*), trained with by the evaluator, recorded in genotype.json, used by
`nas retrain`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from configured import space, strategy
from nasrun import compose, read_json, read_trials, run

from nascli.errors import ConfigError, GenotypeError
from nascli.registry import STRATEGIES
from nascli.spaces.joint import JointSpace, build_space
from nascli.strategies.base import SearchContext

HPARAMS = {"lr": [0.01, 0.05, 0.1], "batch_size": [32, 64], "label_smoothing": [0.0]}


@pytest.fixture(params=["nb201", "darts", "mobilenet"])
def joint(request) -> JointSpace:
    return JointSpace(space(request.param), HPARAMS)


def test_hyperparameters_are_genes_after_the_spaces_own(joint: JointSpace) -> None:
    base_genes = len(joint.base.cardinalities())
    assert joint.cardinalities() == [*joint.base.cardinalities(), 3, 2, 1]
    rng = random.Random(0)
    for _ in range(20):
        arch = joint.sample(rng)
        genes = joint.encode(arch)
        assert joint.is_valid(genes) and joint.decode(genes) == arch
        assert joint.from_str(joint.to_str(arch)) == arch and joint.from_json(joint.to_json(arch)) == arch
        base, values = arch
        assert joint.training(arch) == dict(zip(HPARAMS, values)) and joint.split(arch) == (joint.base, base,
                                                                                           joint.training(arch))
        child = joint.mutate(arch, rng)
        changed = [i for i, (a, b) in enumerate(zip(genes, joint.encode(child))) if a != b]
        assert changed and (all(i < base_genes for i in changed) or len(changed) == 1)
    assert joint.hparam_choices() == HPARAMS and joint.config() == joint.base.config()


def test_mutation_reaches_the_hyperparameters() -> None:
    joint, rng = JointSpace(space("nb201"), HPARAMS), random.Random(0)
    arch = joint.sample(rng)
    children = [joint.mutate(arch, rng) for _ in range(200)]
    assert any(c[0] == arch[0] and c[1] != arch[1] for c in children)  # a hyper-parameter alone changed
    assert any(c[0] != arch[0] and c[1] == arch[1] for c in children)  # the architecture alone changed


def test_networks_and_costs_are_the_base_spaces() -> None:
    base = space("nb201", channels=4, cells_per_stage=1)
    joint = JointSpace(base, HPARAMS)
    arch = joint.sample(random.Random(1))
    assert str(joint.build_network(arch, 10, 1, 8)) == str(base.build_network(arch[0], 10, 1, 8))
    assert joint.chosen(arch) == base.chosen(arch[0])
    assert joint.smallest() == (base.smallest(), (0.01, 32, 0.0))
    from nascli.weight_sharing.mixing import Softmax
    from nascli.weight_sharing.supernet import build_supernet

    with pytest.raises(ConfigError, match="one-shot strategy"):
        build_supernet(joint, 10, 1, 8, Softmax())


def test_malformed_hyperparameters_and_strings_are_clear_errors() -> None:
    base = space("nb201")
    with pytest.raises(ConfigError, match=r"search_space.hparams.lr must be a list"):
        JointSpace(base, {"lr": 0.1})
    with pytest.raises(ConfigError, match="twice"):
        JointSpace(base, {"lr": [0.1, 0.1]})
    joint = JointSpace(base, HPARAMS)
    text = joint.to_str(joint.sample(random.Random(0)))
    with pytest.raises(GenotypeError, match="names no hyper-parameters"):
        joint.from_str(text.split(" @ ")[0])
    with pytest.raises(GenotypeError, match="not one of search_space.hparams.lr"):
        joint.from_str(text.split(" @ ")[0] + " @ lr=0.7,batch_size=32,label_smoothing=0.0")
    with pytest.raises(GenotypeError, match="hyper-parameters are lr, batch_size, label_smoothing"):
        joint.from_json({"arch": joint.base.to_json(joint.base.sample(random.Random(0))), "hparams": {"lr": 0.1}})


def test_the_config_group_declares_them_and_null_is_not_searched() -> None:
    plain_space = build_space(compose("search", "search_space.channels=4").search_space)
    assert not isinstance(plain_space, JointSpace) and plain_space.hparam_choices() == {}
    joint = build_space(compose("search", "search_space.hparams.lr=[0.01,0.1]").search_space)
    assert isinstance(joint, JointSpace) and joint.hparam_choices() == {"lr": [0.01, 0.1]}
    preset = build_space(compose("search", "hparams=training", "search_space=darts").search_space)
    assert set(preset.hparam_choices()) == {"lr", "weight_decay", "batch_size"} and preset.base.name == "darts"


@pytest.mark.parametrize("name", [n for n, cls in STRATEGIES.items() if not cls.measures_candidates])
def test_every_sample_strategy_searches_the_joint_space(name: str) -> None:
    joint = JointSpace(space("nb201"), HPARAMS)
    search = strategy(name, joint)
    search.setup(SearchContext("cpu", lambda: None, max_fidelity=4))
    seen = set()
    for _ in range(16):
        proposal = search.propose()
        assert joint.validate(proposal.arch) == proposal.arch
        search.tell(proposal.arch, 50.0 + 10 * proposal.arch[1][0])  # a larger lr scores better
        seen.add(proposal.arch[1])
    assert len(seen) > 1


# --- through the CLI -------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_joint_search_trains_with_each_candidates_values_and_retrain_uses_the_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nascli.commands import retrain
    from nascli.evaluators import train as train_evaluator

    trained = []
    for module in (train_evaluator, retrain):
        real = module.train
        monkeypatch.setattr(module, "train", lambda model, data, cfg, *a, real=real, **k: (
            trained.append(cfg), real(model, data, cfg, *a, **k))[1])
    searched = run("search", "debug=smoke", "budget.trials=4", "search_space.hparams.lr=[0.01,0.1]",
                   "search_space.hparams.batch_size=[16,32]", run_dir=tmp_path / "search")
    assert searched.code == 0, searched.text
    rows = read_trials(tmp_path / "search")
    assert [(c.lr, c.batch_size) for c in trained] == [(float(r["hp_lr"]), int(r["hp_batch_size"])) for r in rows]
    assert all(r["arch_str"].endswith(f"lr={r['hp_lr']},batch_size={r['hp_batch_size']}") for r in rows)
    genotype = read_json(tmp_path / "search" / "genotype.json")
    best = read_json(tmp_path / "search" / "report.json")["best"]
    assert best["arch_str"] == f"{genotype['arch_str']} @ lr={genotype['hparams']['lr']}," \
                               f"batch_size={genotype['hparams']['batch_size']}"

    trained.clear()
    assert run("retrain", "debug=smoke", f"genotype={tmp_path / 'search'}", run_dir=tmp_path / "r1").code == 0
    assert (trained[0].lr, trained[0].batch_size) == (genotype["hparams"]["lr"], genotype["hparams"]["batch_size"])
    assert read_json(tmp_path / "r1" / "report.json")["searched_hparams"] == genotype["hparams"]
    trained.clear()
    assert run("retrain", "debug=smoke", f"genotype={tmp_path / 'search'}", "trainer.lr=0.3",
               run_dir=tmp_path / "r2").code == 0
    assert (trained[0].lr, trained[0].batch_size) == (0.3, genotype["hparams"]["batch_size"])  # the command line wins
    trained.clear()
    assert run("retrain", "debug=smoke", f"genotype={tmp_path / 'search'}", "searched_hparams=false",
               run_dir=tmp_path / "r3").code == 0
    assert trained[0].batch_size == 64  # debug=smoke's trainer


@pytest.mark.parametrize(("overrides", "message"), [
    (["evaluator=tabular", "evaluator.table=nb201", "dataset=cifar10"], "evaluator=tabular does not train"),
    (["strategy=darts"], "a one-shot strategy's supernet cannot search them"),
    (["+search_space.hparams.lrr=[0.1]"], "search_space.hparams has no option 'lrr'"),
    (["search_space.hparams.batch_size=[0,8]"], "trainer.batch_size must be at least 1"),
])
def test_joint_searches_that_cannot_work_say_why(overrides: list[str], message: str, tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "search_space.hparams.lr=[0.01,0.1]", *overrides, run_dir=tmp_path)
    assert result.code == 2 and message in result.err, result.err
