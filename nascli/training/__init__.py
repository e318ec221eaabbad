"""Training: the step runner every trainer shares (steps.py), the supervised loop used by the train
evaluator, retrain and evaluate (loop.py), data-parallel pieces, fine-tuning and metrics."""
