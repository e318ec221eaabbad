"""Fine-tuning a trained network on new data (`nas retrain init=<run> finetune=<mode>`).

The network comes from a nascli checkpoint (a retrain run or its model.pt) or from a one-shot
search's supernet, whose weights for the found architecture it inherits. It is fitted to the new
data: a new classifier where the classes differ, and an InputAdapter (nascli.checkpoint) where the
input's channels or size differ. Then the mode picks what trains:

- full: every parameter;
- head: the classifier only (the features fixed: a linear probe);
- bn:   the BatchNorm scale and shift, and the classifier;
- lora: low-rank adapters on the convolutions (nascli.training.lora), and the classifier.

"The classifier" is every linear layer that outputs the class logits: the network's, and its
auxiliary head's where it has one. An input adapter trains in `full` mode only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from torch import nn

from nascli.checkpoint import FILENAME, InputAdapter, build_model, load_checkpoint, network_input
from nascli.data.datasets import DataSplits
from nascli.errors import CheckpointError, ConfigError, GenotypeError, NasError
from nascli.genotype_file import load_genotype
from nascli.runtime.config import build, options_of, target_of
from nascli.spaces.base import Arch, SearchSpace
from nascli.training.lora import TARGETS, add_lora, has_lora, merge_lora

MODES = ("full", "head", "bn", "lora")
HEADS = ("auto", "new", "keep")
SearchState = Callable[[Path], "tuple[dict[str, Any], dict[str, Any]] | None"]  # (supernet weights, fingerprint)
# the network a one-shot search found, with its supernet's weights (nascli.weight_sharing.inherit.from_supernet)
FromSupernet = Callable[[Path, dict[str, Any], dict[str, Any], DataSplits, dict[str, Any], str], "Pretrained"]


@dataclass
class LoraOptions:
    """finetune.lora: the adapters of mode lora."""

    rank: int
    alpha: float
    targets: str

    def check(self) -> None:
        """Values in range (checked by FinetuneConfig: a nested dataclass's own error would be
        reported as the wrong type of the whole mapping)."""
        if self.rank < 1:
            raise ConfigError(f"finetune.lora.rank must be at least 1, got {self.rank}.")
        if self.alpha <= 0:
            raise ConfigError(f"finetune.lora.alpha must be positive, got {self.alpha}.")
        if self.targets not in TARGETS:
            raise ConfigError(f"finetune.lora.targets must be one of {', '.join(TARGETS)}, got {self.targets!r}.")


@dataclass
class FinetuneConfig:
    """The finetune group (conf/finetune/*.yaml holds every default)."""

    mode: str
    head: str                 # auto | new | keep
    update_bn_stats: bool     # BatchNorm running statistics follow the new data (false: kept as trained)
    compare_scratch: bool     # also train the same network from random init, with the same recipe
    lora: LoraOptions | None  # mode lora only

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"finetune.mode must be one of {', '.join(MODES)}, got {self.mode!r}.")
        if self.head not in HEADS:
            raise ConfigError(f"finetune.head must be one of {', '.join(HEADS)}, got {self.head!r}.")
        if self.mode == "lora" and self.lora is None:
            raise ConfigError("finetune.mode=lora needs finetune.lora (rank, alpha, targets): use finetune=lora.")
        if self.lora is not None:
            self.lora.check()


@dataclass
class Pretrained:
    """A trained network to start from, and what it was trained on."""

    space: SearchSpace             # sized as the network is
    arch: Arch
    network: nn.Module             # with its trained weights and its own classifier
    num_classes: int
    in_channels: int
    input_size: int
    class_names: list[str] | None  # None where unknown (a supernet's search data): the head is replaced
    source: dict[str, Any]         # what the report says of where it came from
    record: dict[str, Any] = field(default_factory=dict)  # its genotype record (hparams, metrics)


@dataclass
class Tuned:
    """The network ready to fine-tune, and what was done to it."""

    model: nn.Module                        # what trains: the network, maybe in an InputAdapter, maybe with LoRA
    head: str                               # "new" or "kept"
    network_input: dict[str, int] | None    # the network's own input where an adapter fits the data to it
    trainable: int                          # parameters that train
    total: int                              # every parameter of `model`
    lora_convs: list[str] = field(default_factory=list)

    def describe(self, config: FinetuneConfig) -> dict[str, Any]:
        """report.json's finetune facts."""
        return {"mode": config.mode, "head": self.head, "trainable_params": self.trainable, "total_params": self.total,
                "input_adapter": self.network_input, "update_bn_stats": config.update_bn_stats,
                **({"lora": {"rank": config.lora.rank, "alpha": config.lora.alpha, "targets": config.lora.targets,
                             "convs": len(self.lora_convs)}} if config.mode == "lora" else {})}


# --- where the weights come from --------------------------------------------------------------------
def load_pretrained(ref: str, data: DataSplits, dataset_config: dict[str, Any], data_dir: str,
                    search_state: SearchState, from_supernet: FromSupernet) -> Pretrained:
    """The trained network `init=` names: a retrain run directory or its model.pt, or a one-shot
    search run directory (`search_state` reads its supernet, `from_supernet` makes the network
    inherit its weights), or a clear error saying what it is not."""
    path = Path(ref).expanduser()
    if path.is_file():
        if path.name == "genotype.json":
            raise ConfigError(f"init={ref} is a genotype (an architecture, no weights): train it from scratch "
                              f"with genotype={ref}, or fine-tune a trained network with init=<retrain run>.")
        return from_checkpoint(ref)
    if not path.is_dir():
        raise ConfigError(f"init={ref} does not exist: give a retrain run directory, its {FILENAME}, "
                          "or a one-shot search run directory.")
    if (path / FILENAME).is_file():
        return from_checkpoint(ref)
    saved = search_state(path)
    if not (path / "genotype.json").is_file():
        if saved is not None:
            raise GenotypeError(f"init={ref} is a search run with no genotype.json: it has not finished. Finish it "
                                f"first (nas search resume=true hydra.run.dir={ref}).")
        raise ConfigError(f"init={ref} is neither a retrain run (holding {FILENAME}) nor a search run "
                          "(holding genotype.json).")
    if saved is None:
        raise ConfigError(f"init={ref} is a search run whose strategy kept no network weights (a sample-based "
                          f"search has no supernet): there are no weights to inherit. Train its genotype from "
                          f"scratch with genotype={ref}, or fine-tune a retrained network with init=<retrain run>.")
    return from_supernet(path, *saved, data, dataset_config, data_dir)


def from_checkpoint(ref: str) -> Pretrained:
    """The network of a nascli checkpoint (a fine-tuned one's own network, without its adapter)."""
    ckpt, path = load_checkpoint(ref)
    space, arch, model = build_model(ckpt, str(path))
    network = model.network if isinstance(model, InputAdapter) else model
    channels, size = network_input(ckpt, str(path))
    data = ckpt["data"]
    names = data.get("class_names")
    return Pretrained(space, arch, network, data["num_classes"], channels, size,
                      list(names) if isinstance(names, list) else None,
                      {"kind": "checkpoint", "path": str(path), "dataset": data.get("name")}, ckpt["genotype"])


def searched_input_size(searched: dict[str, Any], data_dir: str, run_dir: Path) -> int:
    """The image size of the data a search ran on, read by loading that dataset here."""
    if "_target_" not in searched:
        raise CheckpointError(f"{run_dir}: its checkpoint does not say which data the search ran on.")
    node = dict(searched)
    if "root" in options_of(target_of(OmegaConf.create(node), "dataset")):
        node["root"] = data_dir
    return build(OmegaConf.create(node), "dataset").input_size


# --- fitting and freezing ---------------------------------------------------------------------------
def classifier_names(network: nn.Module, num_classes: int) -> list[str]:
    """The linear layers that output the class logits (the network's, an auxiliary head's)."""
    names = [name for name, m in network.named_modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    if not names:
        raise NasError(f"{type(network).__name__} has no linear classifier of {num_classes} outputs to fine-tune.")
    return names


def prepare(pre: Pretrained, data: DataSplits, config: FinetuneConfig) -> Tuned:
    """Fit the pretrained network to `data` (head, input adapter) and freeze what `config.mode` keeps."""
    network, head = _fit_head(pre, data, config.head), "kept"
    if network is not pre.network:
        head = "new"
    model: nn.Module = network
    adapter = None
    if (data.in_channels, data.input_size) != (pre.in_channels, pre.input_size):
        model = InputAdapter(network, data.in_channels, data.input_size, pre.in_channels, pre.input_size)
        adapter = {"in_channels": pre.in_channels, "input_size": pre.input_size}
    for param in model.parameters():
        param.requires_grad_(config.mode == "full")
    lora_convs: list[str] = []
    if config.mode == "bn":
        for m in network.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.requires_grad_(True)
                m.bias.requires_grad_(True)
    elif config.mode == "lora":
        assert config.lora is not None
        lora_convs = add_lora(network, config.lora.rank, config.lora.alpha, config.lora.targets)
    for name in classifier_names(network, data.num_classes):
        network.get_submodule(name).requires_grad_(True)
    if not config.update_bn_stats:
        hold_bn_statistics(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return Tuned(model, head, adapter, trainable, total, lora_convs)


def _fit_head(pre: Pretrained, data: DataSplits, head: str) -> nn.Module:
    """The network with a new classifier where the classes differ (count or names), or as asked."""
    same = pre.num_classes == data.num_classes and pre.class_names == list(data.class_names)
    if head == "keep":
        if pre.num_classes != data.num_classes:
            raise ConfigError(f"finetune.head=keep needs the same number of classes; the network has "
                              f"{pre.num_classes}, the data {data.num_classes}.")
        return pre.network
    if head == "auto" and same:
        return pre.network
    old = {f"{name}.{key}" for name in classifier_names(pre.network, pre.num_classes)
           for key in pre.network.get_submodule(name).state_dict()}
    fresh = pre.space.build_network(pre.arch, data.num_classes, pre.in_channels, pre.input_size)
    body = {k: v for k, v in pre.network.state_dict().items() if k not in old}
    missing, unexpected = fresh.load_state_dict(body, strict=False)
    if unexpected or set(missing) != old:
        raise NasError(f"Replacing the classifier of {type(fresh).__name__} left other weights unloaded: "
                       f"{', '.join(sorted(set(missing) ^ old))[:300]}.")
    return fresh


def hold_bn_statistics(model: nn.Module) -> None:
    """Every BatchNorm normalises with its running statistics and leaves them as they are, in
    training too (a frozen feature extractor stays the function it was)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.register_forward_pre_hook(_eval_mode)


def _eval_mode(module: nn.Module, args: Any) -> None:
    module.training = False


def deployable(model: nn.Module) -> nn.Module:
    """The model to save and measure: a copy with its LoRA adapters merged into the convolutions
    (so nascli.checkpoint.build_model rebuilds it), or the model itself where it has none."""
    if not has_lora(model):
        return model
    merged = copy.deepcopy(model)
    merge_lora(merged)
    return merged


def scratch_network(pre: Pretrained, data: DataSplits) -> nn.Module:
    """The same architecture at the same size, randomly initialised, for `data` as it is."""
    return pre.space.build_network(pre.arch, data.num_classes, data.in_channels, data.input_size)


def check_genotype(pre: Pretrained, genotype: str | None) -> None:
    """A genotype= given beside init= must be the init's architecture."""
    if genotype is None:
        return
    space, arch, _ = load_genotype(genotype)
    if space.name != pre.space.name or space.to_str(arch) != pre.space.to_str(pre.arch):
        raise GenotypeError(f"genotype={genotype} ({space.name}: {space.to_str(arch)}) is not the architecture of "
                            f"init={pre.source['path']} ({pre.space.name}: {pre.space.to_str(pre.arch)}); with "
                            "init= the genotype comes from it: leave genotype= out.")
