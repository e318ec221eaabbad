"""nascli: neural architecture search driven by Hydra configs and one command, `nas`."""

__version__ = "0.1.0"
