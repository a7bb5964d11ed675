"""The NAC (`nalu_rnn.units.nac`)."""

import numpy as np
import pytest

import nalu_rnn
from tests.support import reference, samples
from tests.support.arrays import as_numpy, assert_allclose


@pytest.mark.parametrize("input_shape", [(4, 3), (2, 5, 3)])
def test_nac_matches_numpy(input_shape):
    rng = np.random.default_rng(1)
    layer = nalu_rnn.NAC(5)
    layer.build(input_shape)
    samples.set_random_weights(layer, rng)
    x = rng.normal(size=input_shape).astype("float32")
    expected = reference.nac(x, reference.weights_of(layer))
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_weight_is_computed_in_call_not_build():
    # Changing W_hat after the first call must change the output: the gated
    # weight may not be frozen at build time.
    layer = nalu_rnn.NAC(1, kernel_initializer="ones")
    x = np.ones((1, 2), "float32")
    first = as_numpy(layer(x)).item()
    layer.W_hat.assign(np.full((2, 1), 20.0, "float32"))
    layer.M_hat.assign(np.full((2, 1), 20.0, "float32"))
    assert first == pytest.approx(2 * np.tanh(1) / (1 + np.exp(-1)), rel=1e-5)
    assert as_numpy(layer(x)).item() == pytest.approx(2.0, rel=1e-6)
