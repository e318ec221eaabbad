"""Datasets as in-memory tensors with train/validation/test splits, and fast batch loaders."""
