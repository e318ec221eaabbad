"""model.pt: a retrained network's weights with its genotype, data facts and config.

Loaded only with torch.load(weights_only=True): the file holds tensors and plain containers.

A fine-tuned network whose data differ in shape from what the network was trained on carries
`network_input` ({"in_channels", "input_size"}: the network's own input); the model is then an
InputAdapter around the network, and its state_dict is the adapter's (keys `network.*`, `channels.*`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from nascli.errors import CheckpointError, DatasetError, GenotypeError
from nascli.genotype_file import parse_record
from nascli.runtime import run_state
from nascli.runtime.config import build

FORMAT = "nascli.checkpoint/1"
FILENAME = "model.pt"


def save_checkpoint(path: Path, model: Any, genotype: dict[str, Any], data: dict[str, Any],
                    dataset_config: dict[str, Any], extra: dict[str, Any]) -> Path:
    from nascli import __version__

    return run_state.save(path, {
        "format": FORMAT, "nascli": __version__, "state_dict": model.state_dict(),
        "genotype": genotype, "data": data, "dataset_config": dataset_config, **extra,
    })


def load_checkpoint(ref: str) -> tuple[dict[str, Any], Path]:
    """A nascli checkpoint from a retrain run directory or a model.pt, or a clear error."""
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at '{ref}': expected a retrain run directory holding {FILENAME}, or the file itself.")
    ckpt = run_state.load(path, "nascli checkpoint", FORMAT)
    _check_parts(ckpt, path)
    return ckpt, path


DATA_FACTS = ("num_classes", "in_channels", "input_size")  # what building the network needs of ckpt["data"]
# the most of each that a real checkpoint holds (ImageNet-21k has 21,841 classes): a larger value is
# damage, and building its network would exhaust memory instead of failing
LIMITS = {"num_classes": 1_000_000, "in_channels": 1024, "input_size": 4096}


def _fact(value: Any, key: str) -> bool:
    """A network size as a checkpoint must hold it: a positive integer within LIMITS."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= LIMITS[key]


def _check_parts(ckpt: dict[str, Any], path: Path) -> None:
    """The parts every reader uses, present and of the right kind, so a damaged file fails here
    with one message instead of deep inside a command."""
    kinds = {"state_dict": dict, "genotype": dict, "data": dict, "dataset_config": dict}
    bad = [key for key, kind in kinds.items() if not isinstance(ckpt.get(key), kind)]
    if not bad:
        bad = [f"data.{key}" for key in DATA_FACTS if not _fact(ckpt["data"].get(key), key)]
    if bad:
        raise CheckpointError(f"{path} is a damaged nascli checkpoint: {', '.join(bad)} missing, malformed or out of range.")


class InputAdapter(nn.Module):
    """Fits data of another shape to a trained network: a 1x1 convolution to the network's channel
    count (initialised to the mean of the input channels: grey copied into RGB, RGB averaged to
    grey), then a bilinear resize to the network's input size; each only where the shapes differ."""

    def __init__(self, network: nn.Module, in_channels: int, input_size: int, network_in_channels: int,
                 network_input_size: int) -> None:
        super().__init__()
        self.channels: nn.Module | None = None
        if in_channels != network_in_channels:
            self.channels = nn.Conv2d(in_channels, network_in_channels, 1, bias=False)
            nn.init.constant_(self.channels.weight, 1.0 / in_channels)
        self.size = network_input_size if input_size != network_input_size else None
        self.network = network

    def forward(self, x: torch.Tensor) -> Any:
        if self.channels is not None:
            x = self.channels(x)
        if self.size is not None:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.network(x)

    # a trainer ramps DARTS' drop path through the model it is given: pass it on to the network
    @property
    def drop_path_prob(self) -> float:
        return self.network.drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        self.network.drop_path_prob = value


def network_input(ckpt: dict[str, Any], where: str) -> tuple[int, int]:
    """(in_channels, input_size) of the network itself: `network_input` when an adapter fits other
    data to it, else the data's."""
    given = ckpt.get("network_input")
    if given is None:
        return ckpt["data"]["in_channels"], ckpt["data"]["input_size"]
    if not isinstance(given, dict) or not all(_fact(given.get(k), k) for k in ("in_channels", "input_size")):
        raise CheckpointError(f"{where} is a damaged nascli checkpoint: network_input malformed.")
    return given["in_channels"], given["input_size"]


def build_model(ckpt: dict[str, Any], where: str) -> tuple[Any, Any, Any]:
    """(space, arch, model with the checkpoint's weights) of a loaded checkpoint; the model is an
    InputAdapter around the network when the checkpoint says its data differ in shape."""
    try:
        space, arch, _ = parse_record(ckpt.get("genotype"), where)
    except GenotypeError as exc:
        raise CheckpointError(f"{where}: its genotype is unusable: {exc}") from None
    data = ckpt["data"]
    channels, size = network_input(ckpt, where)
    model = space.build_network(arch, data["num_classes"], channels, size)
    if (channels, size) != (data["in_channels"], data["input_size"]):
        model = InputAdapter(model, data["in_channels"], data["input_size"], channels, size)
    try:
        model.load_state_dict(space.upgrade_state(ckpt["state_dict"], arch))
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{where}: the weights do not fit the network of its genotype ({str(exc)[:300]}).") from None
    return space, arch, model.eval()


def checkpoint_data(ckpt: dict[str, Any], data_dir: str) -> Any:
    """The dataset a checkpoint was trained on: a downloaded one from this machine's paths.data_dir,
    the user's own (dataset=folder) from where it was read."""
    node = dict(ckpt["dataset_config"])
    if "root" in node and str(node.get("_target_", "")).endswith("torchvision_splits"):
        node["root"] = data_dir
    data = build(OmegaConf.create(node), "dataset")
    stored = ckpt["data"].get("preprocess")
    if isinstance(stored, dict) and stored.get("kind") == "table" and data.preprocess != stored:
        # a table's test split and encoding come from the file: read again, they must be the training run's
        theirs = {c.get("name"): c for c in stored.get("columns", [])}
        ours = {c.get("name"): c for c in (data.preprocess or {}).get("columns", [])}
        changed = [name for name in {**theirs, **ours} if theirs.get(name) != ours.get(name)] or ["the label or classes"]
        raise DatasetError(f"The table this network was trained on has changed since ({node.get('path') or node.get('name')}: "
                           f"the encoding of {', '.join(map(str, changed[:5]))} differs from the one the checkpoint "
                           f"stores), so its test split is not the one held out in training. Evaluate on the original "
                           f"table, or retrain on this one.")
    return data
