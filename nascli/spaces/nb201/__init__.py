"""The NAS-Bench-201 cell space: genotype (ops and string form), network, space and supernet."""

from nascli.spaces.nb201.space import NB201Space

__all__ = ["NB201Space"]
