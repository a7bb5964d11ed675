"""Weight hardening (`nalu_rnn.hardening`)."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tests.arrays import as_numpy, assert_allclose, assert_array_equal


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
    model = nalu_rnn.models.arithmetic_model("nac", input_dim=3, units=2)
    assert nalu_rnn.hardening.gate_decisions(model) == {}
    input_gated = nalu_rnn.NALU(2)
    input_gated.build((None, 2))
    assert nalu_rnn.hardening.gate_decisions(input_gated) == {}
