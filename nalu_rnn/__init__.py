"""nalu_rnn: neural arithmetic units as Keras 3 layers and recurrent cells."""

from nalu_rnn import (
    callbacks,
    digits,
    formulas,
    initializers,
    models,
    optimizers,
    regularizers,
    units,
)
from nalu_rnn.formulas import formula
from nalu_rnn.hardening import harden
from nalu_rnn.initializers import StateIdentity
from nalu_rnn.regularizers import SparsityRegularizer
from nalu_rnn.rnn import ArithmeticRNN
from nalu_rnn.units import (
    INALU,
    NAC,
    NALU,
    NAU,
    NMU,
    NPU,
    ArithmeticCell,
    ArithmeticUnit,
    INALUCell,
    NACCell,
    NALUCell,
    NAUCell,
    NMUCell,
    NPUCell,
    RealNPU,
    RealNPUCell,
)

__version__ = "0.1.0"

__all__ = [
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMU",
    "NPU",
    "ArithmeticCell",
    "ArithmeticRNN",
    "ArithmeticUnit",
    "INALUCell",
    "NACCell",
    "NALUCell",
    "NAUCell",
    "NMUCell",
    "NPUCell",
    "RealNPU",
    "RealNPUCell",
    "SparsityRegularizer",
    "StateIdentity",
    "formula",
    "harden",
    "callbacks",
    "digits",
    "formulas",
    "initializers",
    "models",
    "optimizers",
    "regularizers",
    "units",
    "__version__",
]
