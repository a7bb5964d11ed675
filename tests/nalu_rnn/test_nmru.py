"""The NMRU and its cell (`nalu_rnn.units.nmru`)."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tests.support import reference, samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal


def division_unit():
    """An NMRU(4) on 2 inputs set to x0 / x1, x0 * x1, 1 / x0 and x1 / x1."""
    nmru = nalu_rnn.NMRU(4)
    nmru.build((None, 2))
    nmru.W.assign(np.array([[1, 1, 0, 0], [0, 1, 0, 1]], "float32"))
    nmru.W_r.assign(np.array([[0, 0, 1, 0], [1, 0, 0, 1]], "float32"))
    return nmru


def test_nmru_divides_and_multiplies_signed_inputs():
    x = np.array(
        [[3.0, -4.0], [-1.5, -2.0], [-6.0, 0.5], [20.0, 40.0], [-0.15, 1.9]],
        "float32",
    )
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    expected = np.stack([a / b, a * b, 1 / a, np.ones_like(a)], axis=1)
    assert_allclose(as_numpy(division_unit()(x)), expected, rtol=1e-6)


def test_nmru_matches_numpy_on_random_signed_inputs():
    x = samples.signed_inputs((64, 2), seed=7) * 10.0
    nmru = division_unit()
    expected = reference.nmru(x.astype(np.float64), reference.weights_of(nmru))
    assert_allclose(as_numpy(nmru(x)), expected, rtol=1e-6)
    assert_allclose(expected[:, 0], x[:, 0] / x[:, 1], rtol=1e-6)


def test_nmru_reciprocal_of_zero_is_finite():
    nmru = division_unit()
    y = as_numpy(nmru(np.array([[1.0, 0.0], [0.0, 2.0]], "float32")))
    assert np.all(np.isfinite(y))
    assert y[0, 0] == pytest.approx(1e7, rel=1e-6)  # 1 / max(|0|, epsilon)


def test_nmru_reciprocal_weight_starts_independent_of_w():
    nmru = nalu_rnn.NMRU(3)
    nmru.build((None, 5))
    w, w_r = nmru.W.numpy(), nmru.W_r.numpy()
    assert not np.array_equal(w, w_r)
    for value in (w, w_r):
        assert 0.25 <= value.min() and value.max() <= 0.75
    # A fixed start is the same for both.
    ones = nalu_rnn.NMRU(2, kernel_initializer="ones")
    ones.build((None, 3))
    assert_array_equal(ones.W_r.numpy(), np.ones((3, 2)))


def test_nmru_weights_are_clipped_and_regularised():
    reg = nalu_rnn.SparsityRegularizer(1.0)
    nmru = nalu_rnn.NMRU(1, arithmetic_regularizer=reg)
    nmru.build((None, 2))
    nmru.W.assign(np.array([[0.2], [1.0]], "float32"))
    nmru.W_r.assign(np.array([[0.6], [0.0]], "float32"))
    # min(w, 1 - w): 0.2 and 0 for W, 0.4 and 0 for W_r; one mean over the
    # four, as over the paper's single weight [W; W_r], not a mean per half.
    assert float(sum(nmru.losses)) == pytest.approx((0.2 + 0.4) / 4, rel=1e-5)
    nmru.W_r.assign(np.array([[0.3], [0.0]], "float32"))
    assert float(sum(nmru.losses)) == pytest.approx((0.2 + 0.3) / 4, rel=1e-5)
    model = keras.Sequential([keras.Input((2,)), nalu_rnn.NMRU(2)])
    model.compile(optimizer=keras.optimizers.SGD(100.0), loss="mse")
    x = samples.signed_inputs((16, 2))
    model.fit(x, 50.0 * np.ones((16, 2), "float32"), epochs=2, verbose=0)
    for w in model.layers[0].weights:
        assert 0.0 <= w.numpy().min() and w.numpy().max() <= 1.0


def test_nmru_pair_pull_adds_the_pull_on_each_inputs_weight_difference():
    reg = nalu_rnn.SparsityRegularizer(1.0)
    nmru = nalu_rnn.NMRU(1, arithmetic_regularizer=reg, pair_pull=0.5)
    nmru.build((None, 3))
    nmru.W.assign(np.array([[0.2], [1.0], [0.45]], "float32"))
    nmru.W_r.assign(np.array([[0.6], [0.0], [0.5]], "float32"))
    w = np.array([0.2, 1.0, 0.45, 0.6, 0.0, 0.5])
    stacked = np.mean(np.minimum(w, 1.0 - w))
    # W - W_r = -0.4, 1, -0.05: distances 0.4, 0, 0.05 to -1, 0 or 1.
    difference = np.mean([0.4, 0.0, 0.05])
    expected = stacked + 0.5 * difference
    assert float(sum(nmru.losses)) == pytest.approx(expected, rel=1e-5)
    # Without it, the paper's pull alone.
    plain = nalu_rnn.NMRU(1, arithmetic_regularizer=reg)
    plain.build((None, 3))
    plain.W.assign(nmru.W.numpy())
    plain.W_r.assign(nmru.W_r.numpy())
    assert float(sum(plain.losses)) == pytest.approx(stacked, rel=1e-5)


def test_nmru_pair_pull_is_configured_and_checked():
    unit = nalu_rnn.NMRU(2, pair_pull=1.5)
    assert nalu_rnn.NMRU.from_config(unit.get_config()).pair_pull == 1.5
    cell = nalu_rnn.NMRUCell(2, pair_pull=1.5)
    cell.build((None, 3))
    assert cell.unit.pair_pull == 1.5
    assert nalu_rnn.NMRUCell.from_config(cell.get_config()).get_config() == (
        cell.get_config()
    )
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="pair_pull"):
            nalu_rnn.NMRU(1, pair_pull=bad)


def test_nmru_gradients_reach_both_weights_with_signs():
    nmru = nalu_rnn.NMRU(2)
    nmru.build((None, 3))
    samples.randomise(nmru, seed=2)
    grads = samples.gradients(nmru, samples.signed_inputs((8, 3), seed=3))
    assert set(grads) == {"W", "W_r"}
    for name, grad in grads.items():
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), name


def test_harden_and_formula_of_a_division():
    nmru = nalu_rnn.NMRU(1)
    nmru.build((None, 3))
    nmru.W.assign(np.array([[0.97], [0.02], [0.0]], "float32"))
    nmru.W_r.assign(np.array([[0.0], [0.95], [0.5]], "float32"))
    report = nalu_rnn.harden(nmru, tolerance=0.1)
    assert [r.path.rsplit("/", 1)[-1] for r in report] == ["W", "W_r"]
    assert_array_equal(nmru.W.numpy()[:, 0], [1.0, 0.0, 0.0])
    assert_array_equal(nmru.W_r.numpy()[:, 0], [0.0, 1.0, 0.5])
    assert nalu_rnn.formula(nmru) == "y = x[0] * (0.5/|x[2]| + 0.5) / x[1]"
    nmru.W_r.assign(np.array([[0.0], [1.0], [0.0]], "float32"))
    assert nalu_rnn.formula(nmru) == "y = x[0] / x[1]"


def test_nmru_cell_keeps_a_running_quotient():
    cell = nalu_rnn.NMRUCell(1, kernel_initializer="zeros")
    cell.build((None, 1))
    # h_t = h_{t-1} / x_t: the state row of W and the input row of W_r.
    cell.unit.W.assign(np.array([[0.0], [1.0]], "float32"))
    cell.unit.W_r.assign(np.array([[1.0], [0.0]], "float32"))
    x = samples.signed_inputs((3, 6, 1), seed=5)
    h = as_numpy(keras.layers.RNN(cell, return_sequences=True)(x))[..., 0]
    expected = np.cumprod(1.0 / x[..., 0].astype(np.float64), axis=1)
    assert_allclose(h, expected, rtol=1e-6)
    assert cell.initial_state_value == 1.0


def test_nmru_cell_hardens_state_rows_only():
    cell = nalu_rnn.NMRUCell(1)
    rnn = keras.layers.RNN(cell)
    rnn(np.ones((1, 2, 2), "float32"))
    cell.unit.W.assign(np.array([[0.95], [0.95], [0.95]], "float32"))
    cell.unit.W_r.assign(np.array([[0.05], [0.05], [0.05]], "float32"))
    nalu_rnn.hardening.harden_cells(rnn, 0.1, rows="state")
    assert_array_equal(cell.unit.W.numpy()[:, 0], np.float32([0.95, 0.95, 1.0]))
    assert_array_equal(cell.unit.W_r.numpy()[:, 0], np.float32([0.05, 0.05, 0.0]))


def test_noisy_nmru_is_exact_at_discrete_weights_and_plain_in_inference():
    nmru = nalu_rnn.NMRU(4, noise_range=(1.0, 5.0), seed=2)
    nmru.build((None, 2))
    exact = division_unit()
    nmru.W.assign(exact.W.numpy())
    nmru.W_r.assign(exact.W_r.numpy())
    x = samples.signed_inputs((64, 2), seed=8)
    expected = as_numpy(exact(x))
    assert_allclose(as_numpy(nmru(x, training=True)), expected, rtol=1e-5)
    assert_allclose(as_numpy(nmru(x)), expected, rtol=1e-6)
    # Between 0 and 1 the noise changes the training output, not inference.
    nmru.W.assign(np.full((2, 4), 0.6, "float32"))
    assert_allclose(as_numpy(nmru(x)), as_numpy(_plain_copy(nmru)(x)), rtol=1e-6)
    assert not np.allclose(as_numpy(nmru(x, training=True)), as_numpy(nmru(x)))


def _plain_copy(nmru):
    plain = nalu_rnn.NMRU(nmru.units)
    plain.build((None, nmru.W.shape[0]))
    plain.W.assign(nmru.W.numpy())
    plain.W_r.assign(nmru.W_r.numpy())
    return plain


def test_noisy_nmru_config_round_trip_and_bad_range():
    nmru = nalu_rnn.NMRU(2, noise_range=(1.0, 5.0), seed=4)
    config = nmru.get_config()
    assert config["noise_range"] == [1.0, 5.0] and config["seed"] == 4
    assert nalu_rnn.NMRU.from_config(config).noise_range == (1.0, 5.0)
    with pytest.raises(ValueError, match="noise_range` of NMRU"):
        nalu_rnn.NMRU(2, noise_range=(2.0, 1.0))
