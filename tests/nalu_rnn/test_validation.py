"""Library inputs of the wrong rank or dtype, and non-finite values where
they matter, raise `ValueError` naming the argument and what was received.

The same checks of the task models (`tasks.arithmetic.model`,
`tasks.mnist.model`) are tested beside them, in tests/tasks/."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.hardening import harden_cells


@pytest.mark.parametrize("layer", [nalu_rnn.NAC, nalu_rnn.NALU, nalu_rnn.NAU])
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_unit_refuses_non_float_inputs(layer, dtype):
    with pytest.raises(ValueError, match=f"`inputs`; received inputs of dtype {dtype}"):
        layer(2)(np.ones((3, 4), dtype))


def test_unit_refuses_string_inputs():
    with pytest.raises(ValueError, match="NAC expects floating-point `inputs`"):
        nalu_rnn.NAC(2)(np.array([["a", "b"]]))


def test_unit_accepts_every_float_dtype():
    assert nalu_rnn.NAC(2)(np.ones((3, 4), "float64")).shape == (3, 2)
    half = nalu_rnn.NAC(2, dtype="float16")(np.ones((3, 4), "float16"))
    assert keras.backend.standardize_dtype(half.dtype) == "float16"


def test_cell_in_rnn_refuses_integer_sequences():
    rnn = keras.layers.RNN(nalu_rnn.NACCell(2))
    with pytest.raises(ValueError, match="NACCell expects floating-point `inputs`"):
        rnn(np.ones((3, 5, 4), "int32"))


@pytest.mark.parametrize("layer", [nalu_rnn.NAC, nalu_rnn.NALUCell])
def test_non_float_dtype_argument(layer):
    with pytest.raises(ValueError, match="`dtype` of .* received dtype='int32'"):
        layer(2, dtype="int32")


@pytest.mark.parametrize("tolerance", [float("nan"), float("inf"), "0.1", -0.1])
def test_harden_tolerance_must_be_a_finite_number_in_range(tolerance):
    model = keras.Sequential([keras.Input((2,)), nalu_rnn.NAC(1)])
    with pytest.raises(ValueError, match=r"`tolerance` of nalu_rnn.harden .*received"):
        nalu_rnn.harden(model, tolerance)
    with pytest.raises(ValueError, match="`tolerance` of harden_cells"):
        harden_cells(model, tolerance)
    with pytest.raises(ValueError, match="`tolerance` of NAC"):
        model.layers[0].snap_arithmetic_weights(tolerance)


@pytest.mark.parametrize(
    "make, name",
    [
        (nalu_rnn.StateIdentity, "value"),
        (nalu_rnn.initializers.BlockIdentity, "value"),
        (nalu_rnn.initializers.StateBlockIdentity, "value"),
    ],
)
def test_initializer_values_must_be_finite(make, name):
    with pytest.raises(ValueError, match=f"`{name}` of .*received {name}=nan"):
        make(float("nan"))


def test_fold_time_refuses_inputs_without_a_time_axis():
    with pytest.raises(ValueError, match=r"FoldTime expects inputs of rank >= 3"):
        nalu_rnn.FoldTime()(np.zeros((2, 28), "float32"))
