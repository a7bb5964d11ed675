"""The NMU and its cell (`nalu_rnn.units.nmu`)."""

import keras
import numpy as np

import nalu_rnn
from tests import samples


def test_nmu_multiplies_selected_inputs_with_signs():
    nmu = nalu_rnn.NMU(2)
    nmu.build((None, 3))
    nmu.W.assign(np.array([[1, 1], [1, 0], [0, 1]], "float32"))
    x = np.array([[3.0, -4.0, 10.0], [-1.5, -2.0, 0.0]], "float32")
    np.testing.assert_array_equal(np.asarray(nmu(x)), [[-12.0, 30.0], [3.0, -0.0]])


def test_nmu_cell_running_product():
    cell = nalu_rnn.NMUCell(1, kernel_initializer="ones")
    x = samples.signed_inputs((3, 8, 1), seed=5)
    products = np.asarray(keras.layers.RNN(cell, return_sequences=True)(x))[..., 0]
    np.testing.assert_allclose(products, np.cumprod(x[..., 0], axis=1), rtol=1e-6)


def test_harden_snaps_nmu_weights_to_0_and_1():
    layer = nalu_rnn.NMU(1)
    layer.build((None, 3))
    layer.W.assign(np.array([[0.96], [0.03], [0.5]], "float32"))
    nalu_rnn.harden(layer, tolerance=0.1)
    np.testing.assert_array_equal(layer.W.numpy()[:, 0], [1.0, 0.0, 0.5])
