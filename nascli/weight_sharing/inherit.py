"""Weight inheritance: the discrete network of an architecture with a trained supernet's weights for
its path (`nas retrain init=<one-shot search run>`).

The network and the supernet are built from one outline (nascli.spaces.outline), so they share
their structure: every fixed module stands at the same path in both, and the i-th site the outline
meets is the same site in both. Inheritance walks that structure: a fixed tensor comes from the
supernet's tensor at the same path; a site's op from the supernet edge's candidate for that op. No
name is rewritten. What the supernet does not hold (the affine scale and shift of the search
network's affine-free BatchNorms, an auxiliary head) keeps the network's own initialisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nascli.data.datasets import DataSplits
from nascli.errors import CheckpointError, ConfigError
from nascli.genotype_file import genotype_record, load_genotype
from nascli.spaces.base import Arch
from nascli.spaces.outline import Picked, Recording
from nascli.training.finetune import Pretrained, searched_input_size
from nascli.weight_sharing.mixing import SinglePath
from nascli.weight_sharing.supernet import Supernet, build_supernet


def inherit_network(supernet: Supernet, arch: Arch, num_classes: int, in_channels: int,
                    input_size: int) -> tuple[nn.Module, int]:
    """The space's network for `arch` (as build_network makes it) holding the supernet's weights of
    that path; returns it and how many of its tensors were inherited."""
    if supernet.mixing.partial > 1:
        raise ConfigError("a partial-channel (PC-DARTS) supernet's candidates see 1/K of the channels: their weights "
                          "do not fit the full network.")
    space = supernet.space
    recorder = Recording(Picked(space.picks(arch)))
    network = space.outline(recorder, num_classes, in_channels, input_size)
    sites = [module for _, module in recorder.made if module is not None]
    inherited = _copy_fixed(network, supernet.network, sites)
    edges = supernet.made
    if [site.key for site, _ in recorder.made] != [site.key for site, _ in edges]:
        raise CheckpointError("the supernet's sites are not the network's: they were built from different outlines.")
    picks = space.picks(arch)
    for (site, module), (_, edge) in zip(recorder.made, edges):
        if module is not None:
            state = edge.candidate_state(supernet.op_names.index(picks[site.key]))
            inherited += _copy(module, state, site.label or str(site.key))
    return network, inherited


def _copy_fixed(network: nn.Module, source: nn.Module, sites: list[nn.Module]) -> int:
    """Every tensor of `network` outside its sites from `source`'s tensor at the same path."""
    ids = {id(module) for module in sites}
    inside = [name for name, module in network.named_modules() if id(module) in ids]
    own = {k: v for k, v in network.state_dict().items() if not any(k.startswith(f"{p}.") for p in inside)}
    theirs = source.state_dict()
    taken = {k: theirs[k] for k in own if k in theirs}
    wrong = [k for k, v in taken.items() if v.shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"The supernet's weights do not fit the network at {', '.join(wrong[:5])}.")
    network.load_state_dict(taken, strict=False)
    return len(taken)


def _copy(target: nn.Module, theirs: dict[str, torch.Tensor], where: str) -> int:
    """A supernet candidate's tensors into the network's op wherever both have them."""
    own = target.state_dict()
    taken = {k: v for k, v in theirs.items() if k in own}
    wrong = [k for k, v in taken.items() if v.shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"The supernet's candidate at {where} does not fit the network's op: {', '.join(wrong[:5])}.")
    target.load_state_dict(taken, strict=False)
    return len(taken)


def from_supernet(run_dir: Path, weights: dict[str, Any], fingerprint: dict[str, Any], data: DataSplits,
                  dataset_config: dict[str, Any], data_dir: str) -> Pretrained:
    """The found architecture's network with the supernet's weights for its path (what the search
    scored it with), at the search space's size and for the data the search ran on."""
    space, arch, record = load_genotype(str(run_dir))
    if any(key.startswith("beta_") for key in weights):
        raise ConfigError(f"init={run_dir} is a PC-DARTS search: its supernet's ops see 1/K of the channels, so "
                          f"their weights do not fit the full network. Train the genotype with genotype={run_dir}, "
                          "then fine-tune that retrained network.")
    tensors = [(k, v) for k, v in weights.items() if not k.startswith("alpha_") and torch.is_tensor(v)]
    if not tensors:
        raise CheckpointError(f"{run_dir}: its checkpoint holds no supernet weights.")
    in_channels = next(v.shape[1] for _, v in tensors if v.dim() == 4)   # the stem's convolution
    num_classes = next(v.shape[0] for _, v in reversed(tensors) if v.dim() == 2)  # the classifier
    searched = {k: v for k, v in (fingerprint.get("dataset") or {}).items() if k != "root"}
    same_data = searched.get("name") == data.name
    input_size = data.input_size if same_data else searched_input_size(searched, data_dir, run_dir)
    supernet = build_supernet(space, num_classes, in_channels, input_size, SinglePath())
    try:
        supernet.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{run_dir}: the saved supernet does not fit the {space.name} space's supernet at the "
                              f"size its genotype.json records ({str(exc).splitlines()[0][:200]}).") from None
    network, inherited = inherit_network(supernet, arch, num_classes, in_channels, input_size)
    same_classes = same_data and searched.get("classes") == dataset_config.get("classes")
    strategy = fingerprint.get("strategy") or {}
    return Pretrained(space, arch, network, num_classes, in_channels, input_size,
                      list(data.class_names) if same_classes else None,
                      {"kind": "supernet", "path": str(run_dir), "dataset": searched.get("name"),
                       "strategy": str(strategy.get("_target_", "")).rsplit(".", 1)[-1],
                       "inherited_tensors": inherited, "tensors": len(network.state_dict())},
                      genotype_record(space, arch, record.get("metrics", {})))
