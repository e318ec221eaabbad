"""The mlp space: multilayer perceptrons for tables (and flattened images)."""

from nascli.spaces.mlp.space import MLPSpace

__all__ = ["MLPSpace"]
