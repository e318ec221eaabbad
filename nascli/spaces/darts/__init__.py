"""The DARTS cell space: genotype (and the published ones), network, space and supernet."""

from nascli.spaces.darts.space import DartsSpace

__all__ = ["DartsSpace"]
