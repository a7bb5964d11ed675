"""Regularizers of the arithmetic weights (`nalu_rnn.regularizers`)."""

import keras
import numpy as np
import pytest
from keras import ops

import nalu_rnn
from nalu_rnn.regularizers import SaturationRegularizer
from tests.support.arrays import assert_allclose
from tests.support.layer_test import (
    fit_save_load_regularised_cell,
)
from tests.support.reference import gated


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


# The iNALU's saturation regulariser.


def test_saturation_matches_numpy():
    w = np.array([[-25.0, -3.0], [0.0, 19.5], [20.0, 40.0]], "float32")
    reg = SaturationRegularizer(0.05, threshold=20.0)
    expected = 0.05 * np.mean(np.maximum(20.0 - np.abs(w), 0.0))
    assert_allclose(ops.convert_to_numpy(reg(w)), expected, rtol=1e-6)
    saturated = np.array([[-20.0, 21.0]], "float32")
    assert float(ops.convert_to_numpy(reg(saturated))) == 0.0


def test_saturation_round_trips():
    reg = SaturationRegularizer(0.1, threshold=5.0)
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(restored, SaturationRegularizer)
    assert (restored.strength, restored.threshold) == (0.1, 5.0)


@pytest.mark.parametrize(
    "kwargs", [{"strength": -1.0}, {"threshold": 0.0}, {"strength": float("nan")}]
)
def test_saturation_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SaturationRegularizer(**kwargs)


def test_saturation_reaches_every_raw_inalu_weight():
    reg = SaturationRegularizer(0.05)
    unit = nalu_rnn.INALU(1, kernel_regularizer=reg, gate_regularizer=reg)
    unit.build((None, 2))
    # W_hat, M_hat, W_hat_m, M_hat_m and G: five penalties, all positive at
    # the initial (unsaturated) weights.
    losses = [float(ops.convert_to_numpy(x)) for x in unit.losses]
    assert len(losses) == 5 and all(x > 0 for x in losses)
