"""Arithmetic units: one module per unit, all built on `ArithmeticUnit`."""

from nalu_rnn.units.base import ArithmeticUnit, SnappedWeight, gated_weight
from nalu_rnn.units.inalu import INALU
from nalu_rnn.units.nac import NAC
from nalu_rnn.units.nalu import NALU
from nalu_rnn.units.nau import NAU, NAUInitializer
from nalu_rnn.units.nmu import NMU
from nalu_rnn.units.npu import NPU, RealNPU

__all__ = [
    "INALU",
    "NAC",
    "NALU",
    "NAU",
    "NMU",
    "NPU",
    "ArithmeticUnit",
    "NAUInitializer",
    "RealNPU",
    "SnappedWeight",
    "gated_weight",
]
