"""Executors: who evaluates a search's candidates (search.executor), and the simulated clock."""
