"""A new unit is one module: a toy unit defined outside the library
(`tests.support.toy_unit.Selector`) prints its formula and hardens with
nothing else added; every built-in layer and cell does the same. Its one
registry line is tested in tests/tasks/test_cells.py, its run through
`train.py` in tests/runner/test_train.py."""

import numpy as np
import pytest
from keras import ops

import nalu_rnn
from tests.support.toy_unit import Selector


def test_toy_unit_formula_uses_its_discrete_values():
    unit = Selector(1)
    unit.build((None, 3))
    unit.W.assign(np.array([[1.0], [0.0], [0.25]], "float32"))
    assert nalu_rnn.formula(unit) == "y = x[0] + 0.25*x[2]"
    assert unit.discrete_values() == {"W": (0.0, 1.0)}


def test_non_linear_unit_without_formula_gets_the_generic_one():
    class Squares(Selector):
        linear = False

        def call_with(self, inputs, weights):
            return ops.matmul(inputs * inputs, weights[0])

    unit = Squares(2)
    unit.build((None, 2))
    unit.W.assign(np.array([[1.0, 0.0], [0.5, 1.0]], "float32"))
    assert nalu_rnn.formula(unit) == (
        "y[0] = Squares(W: x[0] + 0.5*x[1])\ny[1] = Squares(W: x[1])"
    )


LAYERS = [
    nalu_rnn.NAC,
    nalu_rnn.NALU,
    nalu_rnn.NAU,
    nalu_rnn.NMU,
    nalu_rnn.INALU,
    nalu_rnn.RealNPU,
    nalu_rnn.NPU,
]
CELLS = [
    nalu_rnn.NACCell,
    nalu_rnn.NALUCell,
    nalu_rnn.NAUCell,
    nalu_rnn.NMUCell,
    nalu_rnn.INALUCell,
    nalu_rnn.RealNPUCell,
    nalu_rnn.NPUCell,
]


def _assert_hardens_every_weight(report, arithmetic_weights):
    # Every arithmetic weight is reported; units with a unit gate (iNALU,
    # NALU(gate="unit")) report their gate too, the NPUs their relevance.
    labels = [record.path.rsplit("/", 1)[-1] for record in report]
    assert set(arithmetic_weights) <= set(labels)
    assert set(labels) - set(arithmetic_weights) <= {"G", "g"}


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_every_layer_prints_and_hardens(layer_cls):
    layer = layer_cls(2)
    layer.build((None, 3))
    assert nalu_rnn.formula(layer).startswith("y[0] = ")
    _assert_hardens_every_weight(nalu_rnn.harden(layer), layer.arithmetic_weights())


@pytest.mark.parametrize("cell_cls", CELLS)
def test_every_cell_prints_and_hardens(cell_cls):
    cell = cell_cls(2)
    cell.build((None, 3))
    assert nalu_rnn.formula(cell).startswith("h_t[0] = ")
    _assert_hardens_every_weight(nalu_rnn.harden(cell), cell.arithmetic_weights())
    assert set(cell.unit.discrete_values()) == set(cell.arithmetic_weights())
