"""The search: assembled from its config in one direction (assembly), then run by one loop for every
strategy (engine), owning the budget, the trial record, cost and objective with constraints (through
the hardware target), resume, progress and the run directory's files."""
