import keras
import numpy as np
import pytest

import nalu_rnn
from tests.layer_test import fit_save_load_regularised_cell
from tests.reference import gated


def test_sparsity_regularizer_value():
    reg = nalu_rnn.SparsityRegularizer(2.0)
    w = np.array([[-1.0, 0.0, 1.0, 0.5], [0.25, -0.9, 0.1, 0.0]], "float32")
    # min(|w|, 1 - |w|): 0, 0, 0, 0.5, 0.25, 0.1, 0.1, 0 -> mean 0.11875
    assert float(reg(w)) == pytest.approx(2.0 * 0.11875, rel=1e-6)
    assert nalu_rnn.SparsityRegularizer.from_config(reg.get_config()).strength == 2.0
    with pytest.raises(ValueError, match="strength.*received strength=-1"):
        nalu_rnn.SparsityRegularizer(-1)


def test_arithmetic_regularizer_acts_on_effective_weight():
    reg = nalu_rnn.SparsityRegularizer(1.0)
    layer = nalu_rnn.NAC(
        2, arithmetic_regularizer=reg, kernel_regularizer=keras.regularizers.L2(0.5)
    )
    layer.build((None, 3))
    rng = np.random.default_rng(0)
    w_hat = rng.normal(size=(3, 2)).astype("float32")
    m_hat = rng.normal(size=(3, 2)).astype("float32")
    layer.W_hat.assign(w_hat)
    layer.M_hat.assign(m_hat)
    w = np.abs(gated(w_hat.astype(np.float64), m_hat.astype(np.float64)))
    expected = (
        np.minimum(w, 1 - w).mean()
        + 0.5 * (w_hat.astype(np.float64) ** 2).sum()
        + 0.5 * (m_hat.astype(np.float64) ** 2).sum()
    )
    assert float(sum(layer.losses)) == pytest.approx(expected, rel=1e-5)


def test_arithmetic_regularizer_trains_inside_rnn_and_round_trips(tmp_path):
    reg = nalu_rnn.SparsityRegularizer(0.1)
    cell = nalu_rnn.NALUCell(
        2, arithmetic_regularizer=reg, kernel_initializer=nalu_rnn.StateIdentity(3.0)
    )
    unit = fit_save_load_regularised_cell(cell, tmp_path)
    assert isinstance(unit.arithmetic_regularizer, nalu_rnn.SparsityRegularizer)
    assert isinstance(unit.kernel_initializer, nalu_rnn.StateIdentity)


def test_state_identity_sets_state_block_only():
    init = nalu_rnn.StateIdentity(4.0, base="zeros")
    kernel = np.asarray(init((5, 2)))
    np.testing.assert_array_equal(kernel[:3], np.zeros((3, 2)))
    np.testing.assert_array_equal(kernel[3:], [[4.0, -4.0], [-4.0, 4.0]])
    clone = nalu_rnn.StateIdentity.from_config(init.get_config())
    np.testing.assert_array_equal(np.asarray(clone((5, 2))), kernel)
    with pytest.raises(ValueError, match="StateIdentity needs a cell kernel"):
        init((1, 2))


def test_harden_snaps_to_exact_values_and_reports():
    cell = nalu_rnn.NACCell(1)
    rnn = keras.layers.RNN(cell)
    rnn.build((None, None, 2))
    # W close to [0.97, 0.02, 0.6] for input 0, input 1 and the state.
    unit = cell.unit
    unit.W_hat.assign(np.array([[3.0], [0.02], [0.8]], "float32"))
    unit.M_hat.assign(np.array([[5.0], [4.0], [2.0]], "float32"))
    report = nalu_rnn.harden(rnn, tolerance=0.1)
    assert len(report) == 1
    assert report[0].snapped == 2 and report[0].total == 3
    assert report[0].path.endswith("/W")
    w = np.asarray(cell.arithmetic_weights()["W"])[:, 0]
    assert w[0] == 1.0 and w[1] == 0.0
    assert 0.5 < w[2] < 0.7  # too far from any integer: left alone
    with pytest.raises(ValueError, match="tolerance"):
        nalu_rnn.harden(rnn, tolerance=0.7)


def test_harden_makes_a_near_exact_running_sum_exact():
    cell = nalu_rnn.NACCell(1, kernel_initializer=keras.initializers.Constant(5.0))
    rnn = keras.layers.RNN(cell)
    x = np.ones((2, 1000, 1), "float32")
    approximate = np.asarray(rnn(x))[0, 0]
    assert approximate < 990  # W = tanh(5) * sigmoid(5) ~ 0.993 forgets
    nalu_rnn.harden(rnn, tolerance=0.05)
    np.testing.assert_allclose(np.asarray(rnn(x)), 1000.0, rtol=1e-6)


def test_harden_visits_every_path_of_a_nalu():
    layer = nalu_rnn.NALU(2, shared_weights=False)
    layer.build((None, 3))
    labels = [r.path.rsplit("/", 1)[-1] for r in nalu_rnn.harden(layer, 0.0)]
    assert labels == ["W", "W_m"]


def test_sparsity_warmup_schedule():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    callback = nalu_rnn.callbacks.SparsityWarmup(reg, 0.2, start_epoch=2, ramp_epochs=2)
    assert [callback.strength_at(e) for e in range(5)] == [0.0, 0.0, 0.1, 0.2, 0.2]
    model = keras.Sequential(
        [keras.Input((3,)), nalu_rnn.NAC(1, arithmetic_regularizer=reg)]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), "float32")
    model.fit(x, x[:, :1], epochs=4, callbacks=[callback], verbose=0)
    assert reg.strength == pytest.approx(0.2)


def test_non_finite_guard_names_the_step():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), "float32")
    y = np.full((8, 1), np.nan, "float32")
    guard = nalu_rnn.callbacks.NonFiniteGuard(check_every=2, hint="Try --clipnorm.")
    with pytest.raises(nalu_rnn.callbacks.NonFiniteError, match=r"step 2 .*clipnorm"):
        model.fit(x, y, batch_size=2, epochs=1, callbacks=[guard], verbose=0)
    with pytest.raises(ValueError, match="check_every"):
        nalu_rnn.callbacks.NonFiniteGuard(check_every=0)


def test_non_finite_guard_checks_weights_at_epoch_end():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    poison = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: model.layers[0].bias.assign([np.inf])
    )
    guard = nalu_rnn.callbacks.NonFiniteGuard(check_every=1000)
    x = np.ones((4, 2), "float32")
    with pytest.raises(nalu_rnn.callbacks.NonFiniteError, match="bias is not finite"):
        model.fit(x, x[:, :1], epochs=1, callbacks=[poison, guard], verbose=0)
