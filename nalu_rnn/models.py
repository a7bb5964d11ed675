"""Deprecated: the cell registry and the arithmetic model moved to `tasks`.

`nalu_rnn.models` is kept for one minor version so that scripts written
against it still run; import `tasks.cells` (the registry) and
`tasks.arithmetic.model` (`arithmetic_model`) instead. It is the one place
where the library reaches into `tasks`.
"""

import warnings

from tasks.arithmetic.model import arithmetic_model
from tasks.cell_builders import NALU_GATE_START, NALU_MAX_EXP
from tasks.cells import (
    CELLS,
    CellSpec,
    get_cell_spec,
    register_cell,
    regularizer_kwargs,
)

warnings.warn(
    "nalu_rnn.models is deprecated and will be removed in nalu_rnn 0.3: the cell "
    "registry is tasks.cells, arithmetic_model is in tasks.arithmetic.model",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "CELLS",
    "NALU_GATE_START",
    "NALU_MAX_EXP",
    "CellSpec",
    "arithmetic_model",
    "get_cell_spec",
    "register_cell",
    "regularizer_kwargs",
]
