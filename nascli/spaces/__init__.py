"""Search spaces: `nb201` (NAS-Bench-201 cell), `darts` (DARTS cells). See base.SearchSpace."""
