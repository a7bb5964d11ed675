"""Arithmetic units: one module per unit, all built on `ArithmeticUnit`."""

from nalu_rnn.units.base import ArithmeticUnit, gated_weight
from nalu_rnn.units.nac import NAC
from nalu_rnn.units.nalu import NALU

__all__ = ["ArithmeticUnit", "NAC", "NALU", "gated_weight"]
