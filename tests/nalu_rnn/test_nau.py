"""The NAU and its cell (`nalu_rnn.units.nau`)."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal
from tests.support.layer_test import (
    fit_save_load_regularised_cell,
)


def test_nau_adds_and_subtracts_exactly():
    nau = nalu_rnn.NAU(2)
    nau.build((None, 3))
    nau.W.assign(np.array([[1, 0], [1, 1], [0, -1]], "float32"))
    x = np.array([[3.0, 4.0, 10.0], [-1.0, 2.5, 0.5]], "float32")
    assert_array_equal(as_numpy(nau(x)), [[7.0, -6.0], [1.5, 2.0]])


def test_nau_cell_sums_length_1000():
    cell = nalu_rnn.NAUCell(1, kernel_initializer="ones")
    x = np.random.default_rng(3).uniform(0, 1, size=(4, 1000, 1)).astype("float32")
    total = as_numpy(keras.layers.RNN(cell)(x))[:, 0]
    assert_allclose(total, x.astype(np.float64).sum(axis=(1, 2)), rtol=1e-5)


def test_regularised_nau_cell_trains_and_round_trips(tmp_path):
    reg = nalu_rnn.SparsityRegularizer(0.1)
    cell = nalu_rnn.NAUCell(2, arithmetic_regularizer=reg)
    unit = fit_save_load_regularised_cell(cell, tmp_path)
    assert isinstance(unit.arithmetic_regularizer, nalu_rnn.SparsityRegularizer)
    assert isinstance(unit.kernel_initializer, nalu_rnn.units.NAUInitializer)
    assert unit.W.constraint is not None


def test_harden_snaps_nau_weights():
    layer = nalu_rnn.NAU(1)
    layer.build((None, 4))
    layer.W.assign(np.array([[0.97], [0.02], [0.6], [-0.95]], "float32"))
    (record,) = nalu_rnn.harden(layer, tolerance=0.1)
    assert (record.snapped, record.total) == (3, 4)
    assert record.path.endswith("/W")
    assert record.max_change == pytest.approx(0.05, abs=1e-6)
    assert_array_equal(layer.W.numpy()[:, 0], np.float32([1, 0, 0.6, -1]))
