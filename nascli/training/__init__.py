"""Training and evaluation loops shared by the train evaluator, retrain and evaluate."""
