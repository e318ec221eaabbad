"""The search engine: one loop for every strategy, owning the budget, the trial record, objectives
and constraints (through the hardware target), resume, progress and the run directory's files."""
