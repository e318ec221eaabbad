"""Where data and outputs live (conf/paths/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Paths:
    """data_dir: datasets (env NASCLI_DATA_DIR overrides); cache_dir: decoded images of the user's
    folders (env NASCLI_CACHE_DIR overrides); output_root, multirun_root: Hydra's run and sweep
    directories start there."""

    data_dir: str
    cache_dir: str
    output_root: str
    multirun_root: str
