"""The chain space (layer-by-layer plain CNNs, Zoph & Le's REINFORCE space): genotype, network, space."""

from nascli.spaces.chain.space import ChainSpace

__all__ = ["ChainSpace"]
