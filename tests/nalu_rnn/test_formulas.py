"""`nalu_rnn.formula`: readable formulas of layers, cells and models."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tasks.arithmetic.model import arithmetic_model
from tests.support.arrays import as_numpy


def _built(layer, input_dim):
    layer.build((None, input_dim))
    return layer


def _saturate(w_hat, m_hat, signs):
    """Sets a gated pair so that its effective weight is exactly `signs`."""
    signs = as_numpy(signs, "float32")
    w_hat.assign(20.0 * signs)
    m_hat.assign(np.where(signs == 0, -20.0, 20.0).astype("float32"))


def test_nau_cell_running_sum():
    cell = _built(nalu_rnn.NAUCell(1), 10)
    w = np.zeros((11, 1), "float32")
    w[[3, 7, 10]] = 1.0
    cell.unit.W.assign(w)
    assert nalu_rnn.formula(cell) == "h_t = h_{t-1} + x_t[3] + x_t[7]"
    rnn = keras.layers.RNN(cell)
    assert nalu_rnn.formula(rnn) == "h_t = h_{t-1} + x_t[3] + x_t[7]"


def test_linear_layers_round_near_integers_and_print_the_rest():
    nau = _built(nalu_rnn.NAU(2), 3)
    nau.W.assign(np.array([[0.9999, -1.0], [-0.25, 0.0004], [0.0, -0.5]], "float32"))
    assert nalu_rnn.formula(nau) == ("y[0] = x[0] - 0.25*x[1]\ny[1] = -x[0] - 0.5*x[2]")
    # A coarser tolerance snaps more; more decimals show more.
    assert nalu_rnn.formula(nau, tolerance=0.3).splitlines()[0] == "y[0] = x[0]"
    assert nalu_rnn.formula(nau, precision=4).splitlines()[1] == (
        "y[1] = -x[0] + 0.0004*x[1] - 0.5*x[2]"
    )
    nac = _built(nalu_rnn.NAC(1), 2)
    _saturate(nac.W_hat, nac.M_hat, [[0], [0]])
    assert nalu_rnn.formula(nac) == "y = 0"


def test_nmu_product():
    nmu = _built(nalu_rnn.NMU(1), 3)
    nmu.W.assign(np.array([[1.0], [1.0], [0.0]], "float32"))
    assert nalu_rnn.formula(nmu) == "y = x[0] * x[1]"
    nmu.W.assign(np.array([[1.0], [0.25], [0.0]], "float32"))
    assert nalu_rnn.formula(nmu) == "y = x[0] * (0.25*x[1] + 0.75)"
    nmu.W.assign(np.zeros((3, 1), "float32"))
    assert nalu_rnn.formula(nmu) == "y = 1"


def test_nmu_cell_running_product():
    cell = _built(nalu_rnn.NMUCell(1), 2)
    cell.unit.W.assign(np.array([[0.0], [1.0], [1.0]], "float32"))
    assert nalu_rnn.formula(cell) == "h_t = h_{t-1} * x_t[1]"


def test_nalu_paths_and_gate():
    nalu = _built(nalu_rnn.NALU(1, shared_weights=False), 2)
    _saturate(nalu.W_hat, nalu.M_hat, [[1], [1]])
    _saturate(nalu.W_hat_m, nalu.M_hat_m, [[1], [-1]])
    nalu.G.assign(np.zeros((2, 1), "float32"))
    assert nalu_rnn.formula(nalu) == (
        "y = 0.5 * (x[0] + x[1]) + 0.5 * (|x[0]| / |x[1]|)"
    )
    nalu.G.assign(np.array([[-2.0], [0.0]], "float32"))
    assert nalu_rnn.formula(nalu) == (
        "y = g * (x[0] + x[1]) + (1 - g) * (|x[0]| / |x[1]|), g = sigmoid(-2*x[0])"
    )


def test_nalu_shared_weights_and_non_integer_exponents():
    nalu = _built(nalu_rnn.NALU(1), 2)
    nalu.W_hat.assign(np.array([[20.0], [np.arctanh(0.5)]], "float32"))
    nalu.M_hat.assign(np.full((2, 1), 20.0, "float32"))
    nalu.G.assign(np.zeros((2, 1), "float32"))
    assert nalu_rnn.formula(nalu) == (
        "y = 0.5 * (x[0] + 0.5*x[1]) + 0.5 * (|x[0]| * |x[1]|^0.5)"
    )


def test_inalu_selects_its_path_by_the_gate():
    inalu = _built(nalu_rnn.INALU(1), 2)
    _saturate(inalu.W_hat, inalu.M_hat, [[1], [-1]])
    _saturate(inalu.W_hat_m, inalu.M_hat_m, [[1], [-1]])
    inalu.G.assign(np.array([-30.0], "float32"))
    assert nalu_rnn.formula(inalu) == "y = x[0] / x[1]"  # signs restored
    inalu.G.assign(np.array([30.0], "float32"))
    assert nalu_rnn.formula(inalu) == "y = x[0] - x[1]"
    inalu.G.assign(np.array([0.0], "float32"))
    assert nalu_rnn.formula(inalu) == "y = 0.5 * (x[0] - x[1]) + 0.5 * (x[0] / x[1])"


def test_npu_powers_relevance_and_complex_exponents():
    npu = _built(nalu_rnn.NPU(2), 3)
    npu.W.assign(np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 0.0]], "float32"))
    npu.W_im.assign(np.zeros((3, 2), "float32"))
    npu.g.assign(np.ones((3,), "float32"))
    assert nalu_rnn.formula(npu) == "y[0] = x[0] / x[1]\ny[1] = x[0]^2 * x[1]^0.5"
    npu.g.assign(np.array([1.0, 0.0, 1.0], "float32"))  # x[1] switched off
    assert nalu_rnn.formula(npu).splitlines()[0] == "y[0] = x[0]"
    npu.g.assign(np.array([1.0, 0.7, 1.0], "float32"))
    assert nalu_rnn.formula(npu).splitlines()[0] == "y[0] = x[0] / rel(x[1], 0.7)"
    npu.g.assign(np.ones((3,), "float32"))
    npu.W_im.assign(np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]], "float32"))
    assert nalu_rnn.formula(npu).splitlines()[0] == "y[0] = x[0]^(1+0.5i) / x[1]"
    real = _built(nalu_rnn.RealNPU(1), 2)
    real.W.assign(np.array([[1.0], [1.0]], "float32"))
    real.g.assign(np.ones((2,), "float32"))
    assert nalu_rnn.formula(real) == "y = x[0] * x[1]"


def test_npu_cell_reorders_relevance_with_the_rows():
    cell = _built(nalu_rnn.RealNPUCell(1), 2)
    cell.unit.W.assign(np.array([[1.0], [1.0], [1.0]], "float32"))
    cell.unit.g.assign(np.array([1.0, 0.0, 1.0], "float32"))  # x_t[1] off
    assert nalu_rnn.formula(cell) == "h_t = h_{t-1} * x_t[0]"


def test_model_lists_each_arithmetic_layer():
    model = arithmetic_model("nmu", input_dim=3, units=2)
    cell = model.get_layer("recurrent").cell
    w = np.zeros((5, 2), "float32")
    w[[0, 1], 0] = 1.0
    w[[1, 2], 1] = 1.0
    w[3, 0] = w[4, 1] = 1.0
    cell.unit.W.assign(w)
    model.layers[-1].W.assign(np.ones((2, 1), "float32"))
    assert nalu_rnn.formula(model) == "\n".join(
        [
            "recurrent (NAUCell):",
            "  h_t[0] = h_{t-1}[0] + x_t[0] + x_t[1]",
            "  h_t[1] = h_{t-1}[1] + x_t[1] + x_t[2]",
            f"{model.layers[-1].name} (NMU):",
            "  y = h[0] * h[1]",
        ]
    )


def test_static_model_names_hidden_layers():
    model = keras.Sequential(
        [keras.Input((2,)), nalu_rnn.NAU(1, name="a"), nalu_rnn.NAU(1, name="b")]
    )
    model.layers[0].W.assign(np.array([[1.0], [-1.0]], "float32"))
    model.layers[1].W.assign(np.array([[-1.0]], "float32"))
    assert nalu_rnn.formula(model) == "a (NAU):\n  h = x[0] - x[1]\nb (NAU):\n  y = -h"
    three = keras.Sequential(
        [keras.Input((1,))]
        + [nalu_rnn.NAU(1, kernel_initializer="ones") for _ in range(3)]
    )
    lines = nalu_rnn.formula(three).splitlines()
    assert lines[1::2] == ["  h1 = x", "  h2 = h1", "  y = h2"]


def test_bad_arguments_and_objects():
    nau = _built(nalu_rnn.NAU(1), 2)
    with pytest.raises(ValueError, match="precision.*received precision=-1"):
        nalu_rnn.formula(nau, precision=-1)
    with pytest.raises(ValueError, match="precision.*received precision=1.5"):
        nalu_rnn.formula(nau, precision=1.5)
    with pytest.raises(ValueError, match="tolerance.*received tolerance=0.7"):
        nalu_rnn.formula(nau, tolerance=0.7)
    with pytest.raises(ValueError, match="not built"):
        nalu_rnn.formula(nalu_rnn.NAU(1))
    with pytest.raises(ValueError, match="holds no arithmetic"):
        nalu_rnn.formula(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="expects a Keras layer"):
        nalu_rnn.formula("nau")
