"""The search loop and its record of trials (shared by sample-based and one-shot strategies)."""
