"""The iNALU (`nalu_rnn.units.inalu`)."""

import numpy as np
import pytest

import nalu_rnn
from tasks.arithmetic.model import arithmetic_model
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal


def _saturated_inalu(units, input_dim, w, w_m, gate):
    layer = nalu_rnn.INALU(units)
    layer.build((None, input_dim))
    for signs, w_hat, m_hat in (
        (w, layer.W_hat, layer.M_hat),
        (w_m, layer.W_hat_m, layer.M_hat_m),
    ):
        signs = as_numpy(signs, "float32")
        w_hat.assign(20.0 * signs)
        m_hat.assign(np.where(signs == 0, -20.0, 20.0).astype("float32"))
    layer.G.assign(np.full((units,), gate, "float32"))
    return layer


def test_inalu_recovers_the_sign_of_products_and_quotients():
    layer = _saturated_inalu(2, 2, np.zeros((2, 2)), [[1, 1], [1, -1]], -30.0)
    x = np.array([[-3.0, 4.0], [-1.5, -2.0], [2.0, -0.5]], "float32")
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    expected = np.stack([a * b, a / b], axis=1)
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-5)
    # The NALU loses the sign: its product of -3 and 4 is +12.
    nalu = nalu_rnn.NALU(1)
    nalu.build((None, 2))
    nalu.W_hat.assign(np.full((2, 1), 20.0, "float32"))
    nalu.M_hat.assign(np.full((2, 1), 20.0, "float32"))
    nalu.G.assign(np.full((2, 1), -30.0, "float32"))
    assert as_numpy(nalu(x[:1])).item() == pytest.approx(12.0, rel=1e-5)


def test_inalu_gate_open_adds():
    layer = _saturated_inalu(1, 3, [[1], [-1], [0]], [[1], [1], [1]], 30.0)
    x = np.array([[3.0, 4.0, 10.0]], "float32")
    assert_allclose(as_numpy(layer(x)), [[-1.0]], rtol=1e-6)


def test_inalu_clips_log_and_exponent():
    layer = _saturated_inalu(1, 1, [[0]], [[1]], -30.0)
    layer.max_exp = 5.0
    x = np.array([[0.0], [1e4], [2.0]], "float32")
    y = as_numpy(layer(x))[:, 0]
    assert np.all(np.isfinite(y))
    # |0| is clipped to omega; sign(0) * |W| + 1 - |W| = 0 for W = 1.
    assert y[0] == 0.0
    assert y[1] == pytest.approx(np.exp(5.0), rel=1e-5)  # exponent clipped
    assert y[2] == pytest.approx(2.0, rel=1e-5)
    inverse = _saturated_inalu(1, 1, [[0]], [[-1]], -30.0)
    # 1 / x at x = 0: the sign factor is 0, not inf * 0; at a tiny x,
    # log(max(|x|, omega)) bounds the quotient by 1 / omega = 1e7.
    assert as_numpy(inverse(np.zeros((1, 1), "float32"))).item() == pytest.approx(0.0)
    assert as_numpy(inverse(np.full((1, 1), 1e-9, "float32"))).item() == (
        pytest.approx(1e7, rel=1e-4)
    )


def test_harden_inalu_and_a_whole_model():
    inalu = nalu_rnn.INALU(1)
    inalu.build((None, 2))
    inalu.W_hat.assign(np.array([[3.0], [0.01]], "float32"))
    inalu.M_hat.assign(np.array([[6.0], [0.0]], "float32"))
    gate = inalu.G.numpy().copy()
    report = nalu_rnn.harden(inalu, tolerance=0.1)
    assert [r.path.rsplit("/", 1)[-1] for r in report] == ["W", "W_m", "G"]
    assert_array_equal(inalu.arithmetic_weights()["W"], [[1.0], [0.0]])
    # An undecided gate (sigmoid(G) near 1/2) is left as it is ...
    assert report[-1].snapped == 0
    assert_array_equal(inalu.G.numpy(), gate)
    # ... a decided one becomes exactly 1: the unit is its additive path.
    inalu.G.assign(np.array([4.0], "float32"))
    nalu_rnn.harden(inalu, tolerance=0.1)
    x = np.array([[2.0, 5.0]], "float32")
    assert_array_equal(as_numpy(inalu(x)), [[2.0]])

    model = arithmetic_model("nmu", input_dim=3, units=2)
    report = nalu_rnn.harden(model, tolerance=0.5)
    assert len(report) == 2
    assert all(r.snapped == r.total for r in report)
