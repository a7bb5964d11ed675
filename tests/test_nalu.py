"""The NALU (`nalu_rnn.units.nalu`)."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.keras_internals import flatten_layers
from tests import reference, samples


@pytest.mark.parametrize("shared_weights", [True, False])
def test_nalu_matches_numpy(shared_weights):
    rng = np.random.default_rng(2)
    layer = nalu_rnn.NALU(4, shared_weights=shared_weights, epsilon=1e-5)
    layer.build((6, 3))
    samples.set_random_weights(layer, rng)
    x = rng.normal(size=(6, 3)).astype("float32")
    expected = reference.nalu(x, reference.weights_of(layer), epsilon=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-5)


def test_nalu_max_exp_matches_numpy_and_keeps_overflow_finite():
    rng = np.random.default_rng(3)
    layer = nalu_rnn.NALU(3, shared_weights=False, max_exp=2.0)
    layer.build((8, 4))
    samples.set_random_weights(layer, rng)
    x = rng.normal(size=(8, 4)).astype("float32")
    expected = reference.nalu(x, reference.weights_of(layer), max_exp=2.0)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-5)
    # Weight -1 on an input near 0 adds -log(epsilon) ~ 16.1 to the
    # exponent; six of them pass float32's limit of ~88.7.
    capped = nalu_rnn.NALU(1, max_exp=20.0, gate_initializer="zeros")
    plain = nalu_rnn.NALU(1, gate_initializer="zeros")
    tiny = np.full((1, 6), 1e-9, "float32")
    for layer in (capped, plain):
        layer.build((None, 6))
        layer.W_hat.assign(np.full((6, 1), -20.0, "float32"))
        layer.M_hat.assign(np.full((6, 1), 20.0, "float32"))
    assert not np.isfinite(np.asarray(plain(tiny))).all()
    # Gate 0.5: half the capped product e^20, half the additive ~0.
    expected = 0.5 * np.exp(20.0)
    assert np.asarray(capped(tiny)).item() == pytest.approx(expected, rel=1e-5)


def test_nalu_max_exp_round_trips_and_is_validated():
    layer = nalu_rnn.NALU(2, max_exp=15.0)
    assert nalu_rnn.NALU.from_config(layer.get_config()).max_exp == 15.0
    assert nalu_rnn.NALU(2).get_config()["max_exp"] is None
    cell = nalu_rnn.NALUCell(2, max_exp=15.0)
    assert nalu_rnn.NALUCell.from_config(cell.get_config()).unit.max_exp == 15.0
    for bad in (0.0, -1.0, float("inf"), float("nan"), "20"):
        with pytest.raises(ValueError, match="max_exp.*received max_exp="):
            nalu_rnn.NALU(2, max_exp=bad)


def test_initializers_regularizers_constraints_are_used_and_serialized():
    layer = nalu_rnn.NALU(
        2,
        kernel_initializer=keras.initializers.Constant(0.5),
        gate_initializer="zeros",
        kernel_regularizer=keras.regularizers.L2(0.1),
        gate_regularizer="l1",
        kernel_constraint=keras.constraints.MaxNorm(1.0),
        gate_constraint="non_neg",
    )
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.W_hat.numpy(), np.full((3, 2), 0.5))
    np.testing.assert_array_equal(layer.G.numpy(), np.zeros((3, 2)))
    assert len(layer.losses) == 3  # W_hat, M_hat and G regularised
    clone = nalu_rnn.NALU.from_config(layer.get_config())
    assert isinstance(clone.kernel_regularizer, keras.regularizers.L2)
    assert isinstance(clone.gate_constraint, keras.constraints.NonNeg)
    assert isinstance(clone.kernel_initializer, keras.initializers.Constant)


@pytest.mark.parametrize("epsilon", [0.0, -1e-7, float("nan"), float("inf"), "1e-7"])
def test_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon.*received epsilon="):
        nalu_rnn.NALU(2, epsilon=epsilon)


def test_bad_shared_weights():
    with pytest.raises(ValueError, match="shared_weights"):
        nalu_rnn.NALU(2, shared_weights="yes")


def test_registry_nalu_caps_its_exponents():
    # The models train.py builds must not overflow (see NALU_MAX_EXP).
    model = nalu_rnn.models.arithmetic_model("nalu", input_dim=3, units=2)
    caps = [layer.max_exp for layer in _nalu_units(model)]
    assert caps and all(cap == nalu_rnn.models.NALU_MAX_EXP for cap in caps)
    static = nalu_rnn.models.arithmetic_model("nalu", 3, 2, static=True)
    assert [layer.max_exp for layer in _nalu_units(static)] == [20.0, 20.0]


def _nalu_units(model):
    return [
        layer
        for layer in flatten_layers(model, include_self=False)
        if isinstance(layer, nalu_rnn.NALU)
    ]
