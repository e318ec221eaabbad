"""The MobileNet (MBConv macro) space: genotype (and the published ones), network, supernet, costs, space."""

from nascli.spaces.mobilenet.space import MobileNetSpace

__all__ = ["MobileNetSpace"]
