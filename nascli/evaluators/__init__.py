"""Evaluators: turn an architecture into measured metrics (accuracy in percent, cost in seconds)."""
