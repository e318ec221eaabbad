"""Fine-tuning: what each mode trains (counted by hand), a new classifier for new classes, and an input
adapter for new input shapes (a supernet's path handed to the network: tests/weight_sharing/test_inherit.py)."""

from __future__ import annotations

import pytest
import torch
from configured import dataset, space
from torch import nn

from nascli.checkpoint import InputAdapter
from nascli.errors import ConfigError
from nascli.runtime.config import build_option
from nascli.training.finetune import Pretrained, deployable, prepare
from nascli.training.lora import LoRAConv2d

NB201_ARCH = ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3")
C = 4  # initial channels of the test networks: classifier Linear(4C, classes)


def finetuning(option: str, **options) -> object:
    """The finetune group's `option` as `finetune=<option> finetune.<key>=<value>` builds it."""
    return build_option("finetune", option, options)


@pytest.fixture(scope="module")
def digits_5_to_9():
    return dataset("digits", classes=[5, 6, 7, 8, 9], max_train_samples=64)


def pretrained_on_0_to_9() -> Pretrained:
    nb201 = space("nb201", channels=C, cells_per_stage=1)
    torch.manual_seed(0)
    network = nb201.build_network(NB201_ARCH, 10, 1, 8)
    return Pretrained(nb201, NB201_ARCH, network, 10, 1, 8, [str(i) for i in range(10)],
                      {"kind": "checkpoint", "path": "test"})


def test_each_mode_trains_what_it_says_counted_by_hand(digits_5_to_9) -> None:
    head = 4 * C * 5 + 5  # Linear(16, 5): the new classifier
    counts = {mode: prepare(pretrained_on_0_to_9(), digits_5_to_9, finetuning(mode)) for mode in
              ("full", "head", "bn", "lora")}
    network = counts["full"].model
    assert counts["full"].trainable == counts["full"].total == sum(p.numel() for p in network.parameters())
    assert counts["head"].trainable == head
    bn_features = sum(m.num_features for m in network.modules() if isinstance(m, nn.BatchNorm2d) and m.affine)
    assert counts["bn"].trainable == 2 * bn_features + head
    rank = 4  # conf/finetune/lora.yaml; per conv: min(rank, out, in*k*k) * (out + in*k*k)
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    fans = [(m.out_channels, m.weight[0].numel()) for m in convs]
    assert counts["lora"].trainable == sum(min(rank, o, f) * (o + f) for o, f in fans) + head
    assert len(counts["lora"].lora_convs) == len(convs)
    assert counts["lora"].total == counts["full"].total + counts["lora"].trainable - head
    assert {t.head for t in counts.values()} == {"new"}


def test_only_the_trainable_parameters_change_in_a_step(digits_5_to_9) -> None:
    tuned = prepare(pretrained_on_0_to_9(), digits_5_to_9, finetuning("bn"))
    before = {n: p.detach().clone() for n, p in tuned.model.named_parameters()}
    optimizer = torch.optim.SGD([p for p in tuned.model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(8, 1, 8, 8)
    nn.functional.cross_entropy(tuned.model(x), torch.randint(0, 5, (8,))).backward()
    optimizer.step()
    for name, param in tuned.model.named_parameters():
        assert torch.equal(param, before[name]) != param.requires_grad, name
    batch_norms = {f"{n}.{k}" for n, m in tuned.model.named_modules()
                   if isinstance(m, nn.BatchNorm2d) and m.affine for k in ("weight", "bias")}
    trainable = {n for n, p in tuned.model.named_parameters() if p.requires_grad}
    assert trainable == batch_norms | {"classifier.weight", "classifier.bias"}


def test_head_mode_keeps_the_features_and_their_statistics(digits_5_to_9) -> None:
    pre = pretrained_on_0_to_9()
    features = {k: v.clone() for k, v in pre.network.state_dict().items() if not k.startswith("classifier")}
    tuned = prepare(pre, digits_5_to_9, finetuning("head"))
    tuned.model.train()
    tuned.model(torch.randn(8, 1, 8, 8))  # a training-mode forward updates no running statistics
    after = tuned.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in features.items())
    assert tuned.model.classifier.out_features == 5


def test_a_new_classifier_where_the_classes_differ_even_in_equal_number() -> None:
    five = dataset("digits", classes=[0, 1, 2, 3, 4], max_train_samples=64)
    pre = pretrained_on_0_to_9()
    pre = Pretrained(pre.space, pre.arch, pre.space.build_network(pre.arch, 5, 1, 8), 5, 1, 8,
                     list(five.class_names), pre.source)
    assert prepare(pre, five, finetuning("head")).head == "kept"  # the same classes: its own head
    other = dataset("digits", classes=[5, 6, 7, 8, 9], max_train_samples=64)
    tuned = prepare(pre, other, finetuning("head"))
    assert tuned.head == "new" and not torch.equal(tuned.model.classifier.weight, pre.network.classifier.weight)
    with pytest.raises(ConfigError, match="head=keep needs the same number of classes"):
        prepare(pretrained_on_0_to_9(), other, finetuning("head", head="keep"))


def test_other_input_shapes_go_through_an_adapter_that_trains_only_in_full_mode() -> None:
    rgb = dataset("fake", channels=3, image_size=12, num_classes=4, train_samples=16, val_samples=8, test_samples=8)
    head = prepare(pretrained_on_0_to_9(), rgb, finetuning("head"))
    assert isinstance(head.model, InputAdapter) and head.network_input == {"in_channels": 1, "input_size": 8}
    assert head.trainable == 4 * C * 4 + 4 and head.total == head.trainable + 3 + sum(
        p.numel() for n, p in head.model.network.named_parameters() if not n.startswith("classifier"))
    assert head.model(torch.randn(2, 3, 12, 12)).shape == (2, 4)
    full = prepare(pretrained_on_0_to_9(), rgb, finetuning("full"))
    assert full.model.channels.weight.requires_grad and full.trainable == full.total


def test_lora_is_merged_into_a_plain_network_for_saving(digits_5_to_9) -> None:
    tuned = prepare(pretrained_on_0_to_9(), digits_5_to_9, finetuning("lora"))
    with torch.no_grad():
        for m in tuned.model.modules():
            if isinstance(m, LoRAConv2d):
                m.lora_b.normal_(std=0.1)
    plain = deployable(tuned.model)
    assert not any(isinstance(m, LoRAConv2d) for m in plain.modules())
    assert set(plain.state_dict()) == set(pretrained_on_0_to_9().network.state_dict())
    x = torch.randn(4, 1, 8, 8)
    tuned.model.eval(), plain.eval()
    assert torch.allclose(plain(x), tuned.model(x), atol=1e-5)


def test_unknown_mode_and_bad_lora_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="finetune.mode must be one of full, head, bn, lora"):
        finetuning("full", mode="everything")
    with pytest.raises(ConfigError, match="finetune.lora.rank must be at least 1"):
        finetuning("lora", lora={"rank": 0, "alpha": 1.0, "targets": "all"})
    with pytest.raises(ConfigError, match="needs finetune.lora"):
        finetuning("full", mode="lora")
