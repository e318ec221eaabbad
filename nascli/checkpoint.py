"""model.pt: a retrained network's weights with its genotype, data facts and config.

Loaded only with torch.load(weights_only=True): the file holds tensors and plain containers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nascli.errors import CheckpointError, GenotypeError
from nascli.genotype import parse_record
from nascli.runtime.config import build
from nascli.runtime.files import torch_save

FORMAT = "nascli.checkpoint/1"
FILENAME = "model.pt"


def save_checkpoint(path: Path, model: Any, genotype: dict[str, Any], data: dict[str, Any],
                    dataset_config: dict[str, Any], extra: dict[str, Any]) -> Path:
    from nascli import __version__

    return torch_save(path, {
        "format": FORMAT, "nascli": __version__, "state_dict": model.state_dict(),
        "genotype": genotype, "data": data, "dataset_config": dataset_config, **extra,
    })


def load_checkpoint(ref: str) -> tuple[dict[str, Any], Path]:
    """A nascli checkpoint from a retrain run directory or a model.pt, or a clear error."""
    import pickle

    import torch

    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at '{ref}': expected a retrain run directory holding {FILENAME}, or the file itself.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable nascli checkpoint ({first}).") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nascli checkpoint (written by `nas retrain`).")
    _check_parts(ckpt, path)
    return ckpt, path


DATA_FACTS = ("num_classes", "in_channels", "input_size")  # what building the network needs of ckpt["data"]


def _check_parts(ckpt: dict[str, Any], path: Path) -> None:
    """The parts every reader uses, present and of the right kind, so a damaged file fails here
    with one message instead of deep inside a command."""
    kinds = {"state_dict": dict, "genotype": dict, "data": dict, "dataset_config": dict}
    bad = [key for key, kind in kinds.items() if not isinstance(ckpt.get(key), kind)]
    if not bad:
        bad = [f"data.{key}" for key in DATA_FACTS if not isinstance(ckpt["data"].get(key), int)]
    if bad:
        raise CheckpointError(f"{path} is a damaged nascli checkpoint: {', '.join(bad)} missing or malformed.")


def build_model(ckpt: dict[str, Any], where: str) -> tuple[Any, Any, Any]:
    """(space, arch, model with the checkpoint's weights) of a loaded checkpoint."""
    try:
        space, arch, _ = parse_record(ckpt.get("genotype"), where)
    except GenotypeError as exc:
        raise CheckpointError(f"{where}: its genotype is unusable: {exc}") from None
    data = ckpt["data"]
    model = space.build_network(arch, data["num_classes"], data["in_channels"], data["input_size"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{where}: the weights do not fit the network of its genotype ({str(exc)[:300]}).") from None
    return space, arch, model.eval()


def checkpoint_data(ckpt: dict[str, Any], data_dir: str) -> Any:
    """The dataset a checkpoint was trained on, read from this machine's paths.data_dir."""
    node = dict(ckpt["dataset_config"])
    if "root" in node:
        node["root"] = data_dir
    return build(OmegaConf.create(node), "dataset")
