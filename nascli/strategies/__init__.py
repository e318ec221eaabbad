"""Search strategies: decide what to try next from the objective values they are told."""
