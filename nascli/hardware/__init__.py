"""Hardware targets: measure cost (params, FLOPs, latency) and fold it into the search objective."""
