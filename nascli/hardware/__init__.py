"""Hardware targets: cost profilers measure or look up what a candidate costs (params, FLOPs,
latency); objectives turn that and the candidate's metrics into what the search maximises."""
