"""The network of the arithmetic tasks (`tasks.arithmetic.model`): a cell of
the registry (`tasks.cells`), then its read-out."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.initializers import StateBlockIdentity
from tasks.arithmetic.model import arithmetic_model
from tasks.cells import get_cell_spec
from tests.support.arrays import as_numpy, assert_array_equal

NEW_CELLS = {
    "nau": ("NAUCell", "NAU", "NAU"),
    "nmu": ("NAUCell", "NAU", "NMU"),
    "inalu": ("INALUCell", "INALU", "INALU"),
    "realnpu": ("NAUCell", "NAU", "RealNPU"),
    "npu": ("NAUCell", "NAU", "NPU"),
}


@pytest.mark.parametrize("name", sorted(NEW_CELLS))
def test_registered_models(name):
    cell_name, static_name, readout_name = NEW_CELLS[name]
    spec = get_cell_spec(name)
    assert spec.arithmetic and spec.description
    reg = nalu_rnn.SparsityRegularizer(0.01)
    model = arithmetic_model(name, input_dim=3, units=2, arithmetic_regularizer=reg)
    cell = model.get_layer("recurrent").cell
    readout = model.layers[-1]
    assert (type(cell).__name__, type(readout).__name__) == (cell_name, readout_name)
    # The NPU read-outs leave the sparsity penalty out (exponents 2, 0.5).
    expected = None if "NPU" in readout_name else reg
    assert readout.arithmetic_regularizer is expected
    x = np.random.default_rng(0).uniform(size=(2, 5, 3)).astype("float32")
    assert np.all(np.isfinite(as_numpy(model(x))))
    static = arithmetic_model(name, input_dim=3, units=2, static=True)
    assert [type(layer).__name__ for layer in static.layers[1:]] == [
        static_name,
        readout_name,
    ]


def test_direct_weight_cells_start_as_exact_running_sums():
    model = arithmetic_model("nau", input_dim=3, units=2)
    w = model.get_layer("recurrent").cell.unit.W.numpy()
    assert_array_equal(w[3:], np.eye(2))
    assert np.abs(w[:3]).max() <= 0.5
    init = StateBlockIdentity(1.0, base="zeros")
    clone = StateBlockIdentity.from_config(init.get_config())
    assert_array_equal(as_numpy(clone((3, 2))), [[0, 0], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="StateBlockIdentity needs"):
        init((1, 2))
    inalu = arithmetic_model("inalu", input_dim=3, units=2)
    unit = inalu.get_layer("recurrent").cell.unit
    state_block = as_numpy(unit.arithmetic_weights()["W"])[3:]
    assert np.all(np.diag(state_block) > 0.9)
    assert np.all(1.0 / (1.0 + np.exp(-unit.G.numpy())) > 0.9)  # gates open


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: arithmetic_model("nac", 0, 2), "input_dim"),
        (lambda: arithmetic_model("nac", 10, 2, output_dim=0), "output_dim"),
    ],
)
def test_model_sizes_must_be_positive_integers(call, name):
    with pytest.raises(ValueError, match=f"`{name}` of .*positive integer"):
        call()


def test_cell_start_replaces_the_registered_start():
    # The registered start of the NAC: the state block a running memory.
    registered = arithmetic_model("nac", input_dim=3, units=2)
    w = as_numpy(registered.get_layer("recurrent").cell.arithmetic_weights()["W"])
    assert np.all(np.diag(w[3:]) > 0.9)
    # A probe's start (`ArithmeticExperiment.cell_start`) wins over it.
    start = {"kernel_initializer": keras.initializers.Constant(0.0)}
    probed = arithmetic_model("nac", input_dim=3, units=2, cell_start=start)
    w = as_numpy(probed.get_layer("recurrent").cell.arithmetic_weights()["W"])
    assert_array_equal(w, np.zeros((5, 2)))
    # The static model has no recurrent cell to start.
    static = arithmetic_model("nac", 3, 2, static=True, cell_start=start)
    assert [type(layer).__name__ for layer in static.layers[1:]] == ["NAC", "NAC"]
