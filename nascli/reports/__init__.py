"""`nas report`: read finished runs and sweeps, compare them in one table, plots and an HTML page."""
