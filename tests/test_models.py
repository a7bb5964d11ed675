"""The registry of cells and the models built from it (`nalu_rnn.models`)."""

import numpy as np
import pytest

import nalu_rnn
from tests.arrays import as_numpy, assert_array_equal

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
    spec = nalu_rnn.models.get_cell_spec(name)
    assert spec.arithmetic and spec.description
    reg = nalu_rnn.SparsityRegularizer(0.01)
    model = nalu_rnn.models.arithmetic_model(
        name, input_dim=3, units=2, arithmetic_regularizer=reg
    )
    cell = model.get_layer("recurrent").cell
    readout = model.layers[-1]
    assert (type(cell).__name__, type(readout).__name__) == (cell_name, readout_name)
    # The NPU read-outs leave the sparsity penalty out (exponents 2, 0.5).
    expected = None if "NPU" in readout_name else reg
    assert readout.arithmetic_regularizer is expected
    x = np.random.default_rng(0).uniform(size=(2, 5, 3)).astype("float32")
    assert np.all(np.isfinite(as_numpy(model(x))))
    static = nalu_rnn.models.arithmetic_model(name, input_dim=3, units=2, static=True)
    assert [type(layer).__name__ for layer in static.layers[1:]] == [
        static_name,
        readout_name,
    ]


def test_direct_weight_cells_start_as_exact_running_sums():
    model = nalu_rnn.models.arithmetic_model("nau", input_dim=3, units=2)
    w = model.get_layer("recurrent").cell.unit.W.numpy()
    assert_array_equal(w[3:], np.eye(2))
    assert np.abs(w[:3]).max() <= 0.5
    init = nalu_rnn.models.StateBlockIdentity(1.0, base="zeros")
    clone = nalu_rnn.models.StateBlockIdentity.from_config(init.get_config())
    assert_array_equal(as_numpy(clone((3, 2))), [[0, 0], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="StateBlockIdentity needs"):
        init((1, 2))
    inalu = nalu_rnn.models.arithmetic_model("inalu", input_dim=3, units=2)
    unit = inalu.get_layer("recurrent").cell.unit
    state_block = as_numpy(unit.arithmetic_weights()["W"])[3:]
    assert np.all(np.diag(state_block) > 0.9)
    assert np.all(1.0 / (1.0 + np.exp(-unit.G.numpy())) > 0.9)  # gates open


def test_train_cli_offers_the_new_cells():
    import train

    for name in NEW_CELLS:
        options = train.parse_args(["--task", "mul", "--cell", name, "--static"])
        assert options.cell == name and options.units == 2
