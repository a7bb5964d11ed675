"""nalu_rnn: neural arithmetic units as Keras 3 layers and recurrent cells."""

import importlib

from nalu_rnn import (
    callbacks,
    formulas,
    hardening,
    initializers,
    optimizers,
    regularizers,
    time_folding,
    units,
)
from nalu_rnn.formulas import formula
from nalu_rnn.hardening import harden
from nalu_rnn.initializers import StateIdentity
from nalu_rnn.regularizers import SparsityRegularizer
from nalu_rnn.rnn import ArithmeticRNN
from nalu_rnn.time_folding import FoldTime, UnfoldTime
from nalu_rnn.units import (
    INALU,
    NAC,
    NALU,
    NAU,
    NMRU,
    NMU,
    NPU,
    ArithmeticCell,
    ArithmeticUnit,
    INALUCell,
    NACCell,
    NALUCell,
    NAUCell,
    NMRUCell,
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
    "NMRU",
    "NMU",
    "NPU",
    "ArithmeticCell",
    "ArithmeticRNN",
    "ArithmeticUnit",
    "FoldTime",
    "INALUCell",
    "NACCell",
    "NALUCell",
    "NAUCell",
    "NMRUCell",
    "NMUCell",
    "NPUCell",
    "RealNPU",
    "RealNPUCell",
    "SparsityRegularizer",
    "StateIdentity",
    "UnfoldTime",
    "formula",
    "harden",
    "callbacks",
    "formulas",
    "hardening",
    "initializers",
    "optimizers",
    "regularizers",
    "time_folding",
    "units",
    "__version__",
]

# Modules that moved out of the library, importable here for one more minor
# version (each warns with a DeprecationWarning when first imported).
_DEPRECATED_MODULES = ("digits", "models")


def __getattr__(name):
    if name in _DEPRECATED_MODULES:
        return importlib.import_module(f"nalu_rnn.{name}")
    raise AttributeError(f"module 'nalu_rnn' has no attribute {name!r}")
