"""Arithmetic units: one module per unit, holding the unit and its cell.

A new unit is one module here (an `ArithmeticUnit` subclass and, for a
recurrent use, an `ArithmeticCell` subclass beside it) and one
`nalu_rnn.models.register_cell(...)` line.
"""

from nalu_rnn.units.base import ArithmeticUnit, SnappedWeight, gated_weight
from nalu_rnn.units.cell import ArithmeticCell
from nalu_rnn.units.inalu import INALU, INALUCell
from nalu_rnn.units.nac import NAC, NACCell
from nalu_rnn.units.nalu import NALU, NALUCell
from nalu_rnn.units.nau import NAU, NAUCell, NAUInitializer
from nalu_rnn.units.nmru import NMRU, NMRUCell
from nalu_rnn.units.nmu import NMU, NMUCell
from nalu_rnn.units.npu import NPU, NPUCell, RealNPU, RealNPUCell

__all__ = [
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMRU",
    "NMU",
    "NPU",
    "ArithmeticCell",
    "ArithmeticUnit",
    "INALUCell",
    "NACCell",
    "NALUCell",
    "NAUCell",
    "NAUInitializer",
    "NMRUCell",
    "NMUCell",
    "NPUCell",
    "RealNPU",
    "RealNPUCell",
    "SnappedWeight",
    "gated_weight",
]
