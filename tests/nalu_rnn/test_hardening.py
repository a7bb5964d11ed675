"""Weight hardening (`nalu_rnn.hardening`)."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.discrete import Multiples
from nalu_rnn.hardening import harden_cells, harden_with_rollback, snap_kernel
from tasks.arithmetic.model import arithmetic_model
from tasks.mnist.model import sequence_model
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal
from tests.support.exact_models import two_sum_model


def test_snap_only_the_state_rows_of_a_cell():
    cell = nalu_rnn.NAUCell(2)
    cell.build((None, 2))
    cell.unit.W.assign(np.full((4, 2), 0.95, "float32"))
    rows = np.arange(4) >= 2
    (record,) = cell.unit.snap_arithmetic_weights(0.1, row_mask=rows)
    assert record.snapped == 4
    assert_array_equal(
        cell.unit.W.numpy(), np.float32([[0.95, 0.95], [0.95, 0.95], [1, 1], [1, 1]])
    )


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
    w = as_numpy(cell.arithmetic_weights()["W"])[:, 0]
    assert w[0] == 1.0 and w[1] == 0.0
    assert 0.5 < w[2] < 0.7  # too far from any integer: left alone
    with pytest.raises(ValueError, match="tolerance"):
        nalu_rnn.harden(rnn, tolerance=0.7)


def test_harden_makes_a_near_exact_running_sum_exact():
    cell = nalu_rnn.NACCell(1, kernel_initializer=keras.initializers.Constant(5.0))
    rnn = keras.layers.RNN(cell)
    x = np.ones((2, 1000, 1), "float32")
    approximate = as_numpy(rnn(x))[0, 0]
    assert approximate < 990  # W = tanh(5) * sigmoid(5) ~ 0.993 forgets
    nalu_rnn.harden(rnn, tolerance=0.05)
    assert_allclose(as_numpy(rnn(x)), 1000.0, rtol=1e-6)


def test_harden_visits_every_path_of_a_nalu():
    layer = nalu_rnn.NALU(2, shared_weights=False)
    layer.build((None, 3))
    labels = [r.path.rsplit("/", 1)[-1] for r in nalu_rnn.harden(layer, 0.0)]
    assert labels == ["W", "W_m"]


def test_gate_decisions_name_the_chosen_paths():
    unit = nalu_rnn.NALU(3, gate="unit")
    unit.build((None, 2))
    unit.G.assign(np.array([1000.0, -1000.0, 0.5], "float32"))
    decisions = nalu_rnn.hardening.gate_decisions(unit)
    assert list(decisions) == [unit.path]
    assert [d["path"] for d in decisions[unit.path]] == [
        "additive",
        "multiplicative",
        "mixed",
    ]
    assert_allclose(decisions[unit.path][2]["gate"], 1 / (1 + np.exp(-0.5)))


def test_gate_decisions_skip_units_without_a_unit_gate():
    model = arithmetic_model("nac", input_dim=3, units=2)
    assert nalu_rnn.hardening.gate_decisions(model) == {}
    input_gated = nalu_rnn.NALU(2)
    input_gated.build((None, 2))
    assert nalu_rnn.hardening.gate_decisions(input_gated) == {}


@pytest.mark.parametrize("cell_name", ["nac", "nau", "nalu"])
def test_fold_linear_readout_sums_the_difference_directly(cell_name):
    model, cell, readout = two_sum_model(cell_name)
    x = np.random.default_rng(0).uniform(0, 1, (64, 1000, 3)).astype("float32")
    exact = x.astype(np.float64).sum(1) @ np.array([1.0, -1.0, 0.0])
    two_sums = as_numpy(model(x))[:, 0]
    assert nalu_rnn.hardening.fold_linear_readout(cell, readout)
    folded = as_numpy(model(x))[:, 0]
    assert_array_equal(
        as_numpy(cell.arithmetic_weights()["W"]),
        np.float32([[1, 0], [-1, 0], [0, 0], [1, 0], [0, 0]]),
    )
    assert_array_equal(
        as_numpy(readout.arithmetic_weights()["W"]), np.float32([[1], [0]])
    )
    # One running sum of the difference rounds far less than two large ones.
    assert np.mean((folded - exact) ** 2) < 0.1 * np.mean((two_sums - exact) ** 2)
    assert_allclose(folded, exact, atol=1e-3)
    # Folded already: nothing left to do.
    assert not nalu_rnn.hardening.fold_linear_readout(cell, readout)


def test_fold_linear_readout_refuses_what_is_not_exactly_linear():
    model, cell, readout = two_sum_model("nalu")
    readout.unit_gate().assign(np.float32([5.0]))  # the gate lets 0.7% through
    assert not nalu_rnn.hardening.fold_linear_readout(cell, readout)
    model, cell, readout = two_sum_model("nac")
    state_leak = as_numpy(cell.arithmetic_weights()["W"]).astype(np.float64)
    state_leak[3, 1] = 1.0  # h[1] now also adds h[0]: W_h @ C != C
    cell.unit.assign_discrete_weight("W", state_leak)
    before = [as_numpy(w).copy() for w in model.weights]
    assert not nalu_rnn.hardening.fold_linear_readout(cell, readout)
    for w, value in zip(model.weights, before, strict=True):
        assert_array_equal(as_numpy(w), value)
    model, cell, readout = two_sum_model("nac")
    readout.assign_discrete_weight("W", np.array([[1.0], [1.0]]))  # x[2] twice
    assert not nalu_rnn.hardening.fold_linear_readout(cell, readout)
    lstm = arithmetic_model("lstm", input_dim=3, units=2)
    assert not nalu_rnn.hardening.fold_linear_readout(
        lstm.get_layer("recurrent").cell, lstm.layers[-1]
    )


def test_assign_discrete_weight_checks_label_shape_and_values():
    unit = nalu_rnn.NAC(2)
    unit.build((None, 3))
    with pytest.raises(ValueError, match="no arithmetic weight 'V'"):
        unit.assign_discrete_weight("V", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        unit.assign_discrete_weight("W", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="discrete values"):
        unit.assign_discrete_weight("W", np.full((3, 2), 0.5))
    unit.assign_discrete_weight("W", np.array([[1, 0], [0, -1], [-1, 1]]))
    assert_array_equal(
        as_numpy(unit.arithmetic_weights()["W"]), np.float32([[1, 0], [0, -1], [-1, 1]])
    )


def test_harden_cells_state_rows_only():
    model = sequence_model("nac", 2)
    cell = model.get_layer("head").get_layer("recurrent").cell
    w_hat, m_hat = cell.unit.W_hat, cell.unit.M_hat
    # Input rows 0-1 and state rows 2-3, every effective weight near 0.9.
    w_hat.assign(np.full((4, 2), 2.0, "float32"))
    m_hat.assign(np.full((4, 2), 3.0, "float32"))
    report = harden_cells(model, 0.2, rows="state")
    w = keras.ops.convert_to_numpy(cell.arithmetic_weights()["W"])
    assert_array_equal(w[2:], 1.0)
    assert np.all(np.abs(w[:2] - 1.0) > 0.05)
    assert report[0].snapped == 4 and report[0].total == 8
    with pytest.raises(ValueError, match="rows"):
        harden_cells(model, 0.2, rows="diagonal")


def _dense_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.layers[0].kernel.assign([[0.9], [0.1]])
    return model


def _snap(model):
    model.layers[0].kernel.assign(np.round(model.layers[0].kernel.numpy()))
    return []


def test_hardening_is_kept_when_the_error_does_not_rise():
    model = _dense_model()
    step = harden_with_rollback(model, _snap, lambda m: 0.0)
    assert step.applied and step.snapped == []
    assert_array_equal(model.layers[0].kernel.numpy(), [[1.0], [0.0]])


def test_hardening_is_rolled_back_when_the_error_rises():
    model = _dense_model()
    errors = iter([1.0, 2.0])
    step = harden_with_rollback(model, _snap, lambda m: next(errors))
    assert not step.applied
    assert (step.error_before, step.error_after) == (1.0, 2.0)
    assert_allclose(model.layers[0].kernel.numpy(), [[0.9], [0.1]])
    # A non-finite error after hardening rolls it back too.
    step = harden_with_rollback(model, _snap, lambda m: np.nan, error_before=1.0)
    assert not step.applied


def test_snap_kernel_rounds_entries_near_an_integer_and_keeps_the_rest():
    layer = keras.layers.Dense(1, use_bias=False)
    layer.build((None, 4))
    layer.kernel.assign(np.float32([[0.1], [1.85], [3.4], [-6.96]]))
    (record,) = snap_kernel(layer, 0.2)
    assert_allclose(layer.kernel.numpy().ravel(), [0.0, 2.0, 3.4, -7.0], rtol=1e-6)
    assert (record.snapped, record.total) == (3, 4)
    assert record.max_change == pytest.approx(0.15, rel=1e-5)
    assert record.path == layer.kernel.path
    # Other discrete values: the halves.
    layer.kernel.assign(np.float32([[0.45], [1.2], [2.0], [-0.3]]))
    snap_kernel(layer, 0.1, values=Multiples(0.5))
    assert_allclose(layer.kernel.numpy().ravel(), [0.5, 1.2, 2.0, -0.3], rtol=1e-6)


def test_snap_kernel_refuses_a_layer_without_a_kernel_or_a_bad_tolerance():
    with pytest.raises(ValueError, match="needs a layer with a `kernel`"):
        snap_kernel(keras.layers.ReLU(), 0.2)
    layer = keras.layers.Dense(1)
    layer.build((None, 2))
    with pytest.raises(ValueError, match="tolerance"):
        snap_kernel(layer, 0.7)
