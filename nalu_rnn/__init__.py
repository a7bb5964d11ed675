"""nalu_rnn: neural arithmetic units as Keras 3 layers and recurrent cells."""

from nalu_rnn import callbacks, initializers, models, regularizers
from nalu_rnn.cell import ArithmeticCell, NACCell, NALUCell
from nalu_rnn.hardening import harden
from nalu_rnn.initializers import StateIdentity
from nalu_rnn.regularizers import SparsityRegularizer
from nalu_rnn.units import NAC, NALU, ArithmeticUnit

__version__ = "0.1.0"

__all__ = [
    "NAC",
    "NALU",
    "ArithmeticCell",
    "ArithmeticUnit",
    "NACCell",
    "NALUCell",
    "SparsityRegularizer",
    "StateIdentity",
    "harden",
    "callbacks",
    "initializers",
    "models",
    "regularizers",
    "__version__",
]
