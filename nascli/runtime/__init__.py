"""What every command shares: atomic files, the run report, the console, seeds and devices."""
