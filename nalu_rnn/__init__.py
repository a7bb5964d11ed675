"""nalu_rnn: neural arithmetic units as Keras 3 layers and recurrent cells."""

from nalu_rnn.cell import ArithmeticCell, NACCell, NALUCell
from nalu_rnn.units import NAC, NALU, ArithmeticUnit

__version__ = "0.1.0"

__all__ = [
    "NAC",
    "NALU",
    "ArithmeticCell",
    "ArithmeticUnit",
    "NACCell",
    "NALUCell",
    "__version__",
]
