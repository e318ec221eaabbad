"""The `baseline` space: standard torchvision networks (ResNet-18, MobileNetV3-Small, EfficientNet-B0),
adapted to the data's channels and size, so a search's result can be compared with what a user would
have trained anyway (`nas retrain baseline=<name>`)."""

from nascli.spaces.baseline.space import BaselineSpace

__all__ = ["BaselineSpace"]
