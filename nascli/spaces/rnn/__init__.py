"""The recurrent cell space of DARTS and ENAS (language modelling and text classification)."""

from nascli.spaces.rnn.space import RNNSpace

__all__ = ["RNNSpace"]
