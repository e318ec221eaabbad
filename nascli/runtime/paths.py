"""Where data and outputs live (conf/paths/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Paths:
    """data_dir: datasets (env NASCLI_DATA_DIR overrides); output_root, multirun_root: Hydra's run
    and sweep directories start there."""

    data_dir: str
    output_root: str
    multirun_root: str
