"""The recurrent cells, kept importable from their former module.

Each cell now lives beside its unit (`nalu_rnn.units.nac.NACCell`, ...) and
the shared mechanism in `nalu_rnn.units.cell`; import them from `nalu_rnn`
or `nalu_rnn.units`.
"""

from nalu_rnn.units import (
    ArithmeticCell,
    INALUCell,
    NACCell,
    NALUCell,
    NAUCell,
    NMUCell,
    NPUCell,
    RealNPUCell,
)

__all__ = [
    "ArithmeticCell",
    "INALUCell",
    "NACCell",
    "NALUCell",
    "NAUCell",
    "NMUCell",
    "NPUCell",
    "RealNPUCell",
]
