"""The NAS-Bench-101 cell space: cells (spec, pruning, canonical form, benchmark hash), network, space."""

from nascli.spaces.nb101.space import NB101Space

__all__ = ["NB101Space"]
