"""Meta-learning across tasks: task descriptions, the prior a search starts from, and methods."""
