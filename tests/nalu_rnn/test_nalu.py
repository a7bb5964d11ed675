"""The NALU (`nalu_rnn.units.nalu`)."""

import keras
import numpy as np
import pytest
from keras import ops

import nalu_rnn
from tests.support import reference, samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal


@pytest.mark.parametrize("shared_weights", [True, False])
def test_nalu_matches_numpy(shared_weights):
    rng = np.random.default_rng(2)
    layer = nalu_rnn.NALU(4, shared_weights=shared_weights, epsilon=1e-5)
    layer.build((6, 3))
    samples.set_random_weights(layer, rng)
    x = rng.normal(size=(6, 3)).astype("float32")
    expected = reference.nalu(x, reference.weights_of(layer), epsilon=1e-5)
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)


def test_nalu_max_exp_matches_numpy_and_keeps_overflow_finite():
    rng = np.random.default_rng(3)
    layer = nalu_rnn.NALU(3, shared_weights=False, max_exp=2.0)
    layer.build((8, 4))
    samples.set_random_weights(layer, rng)
    x = rng.normal(size=(8, 4)).astype("float32")
    expected = reference.nalu(x, reference.weights_of(layer), max_exp=2.0)
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)
    # Weight -1 on an input near 0 adds -log(epsilon) ~ 16.1 to the
    # exponent; six of them pass float32's limit of ~88.7.
    capped = nalu_rnn.NALU(1, max_exp=20.0, gate_initializer="zeros")
    plain = nalu_rnn.NALU(1, gate_initializer="zeros")
    tiny = np.full((1, 6), 1e-9, "float32")
    for layer in (capped, plain):
        layer.build((None, 6))
        layer.W_hat.assign(np.full((6, 1), -20.0, "float32"))
        layer.M_hat.assign(np.full((6, 1), 20.0, "float32"))
    assert not np.isfinite(as_numpy(plain(tiny))).all()
    # Gate 0.5: half the capped product e^20, half the additive ~0.
    expected = 0.5 * np.exp(20.0)
    assert as_numpy(capped(tiny)).item() == pytest.approx(expected, rel=1e-5)


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
    assert_array_equal(layer.W_hat.numpy(), np.full((3, 2), 0.5))
    assert_array_equal(layer.G.numpy(), np.zeros((3, 2)))
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


# The mix of the paths is exact at both ends of the gate.

BIG = 40.0  # a raw weight whose tanh and sigmoid are exactly 1 in float64


def _unit(input_dim, w_a, w_m, gate, dtype="float32", max_exp=20.0):
    """A NALU(1) with separate paths and its weights set through raw values.

    `w_a` and `w_m` are 0/1 selections (rows), `gate` the gate's weights.
    """
    layer = nalu_rnn.NALU(1, shared_weights=False, max_exp=max_exp, dtype=dtype)
    layer.build((None, input_dim))

    def raw(selection):
        return as_numpy(selection, dtype)[:, None] * BIG

    layer.W_hat.assign(raw(w_a))
    layer.M_hat.assign(np.full((input_dim, 1), BIG, dtype))
    layer.W_hat_m.assign(raw(w_m))
    layer.M_hat_m.assign(np.full((input_dim, 1), BIG, dtype))
    layer.G.assign(as_numpy(gate, dtype)[:, None])
    return layer


def _require(dtype):
    # Keras 3.15's torch backend keeps float64 tensors but its matmul
    # returns float32 for them, which the NALU's paths go through.
    zeros = np.zeros((1, 1), dtype)
    tensor = ops.matmul(ops.convert_to_tensor(zeros), ops.convert_to_tensor(zeros))
    if keras.backend.standardize_dtype(tensor.dtype) != dtype:
        pytest.skip(f"this backend computes {dtype} matmuls in lower precision")


def _paths(layer, x):
    w_a, w_m, _ = layer.derived_weights()
    additive = ops.matmul(x, w_a)
    exponent = ops.matmul(ops.log(ops.abs(x) + layer.epsilon), w_m)
    if layer.max_exp is not None:
        exponent = ops.minimum(exponent, layer.max_exp)
    return ops.convert_to_numpy(additive), ops.convert_to_numpy(ops.exp(exponent))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gate_one_returns_the_additive_path_beside_a_huge_product(dtype):
    _require(dtype)
    # a = 3 beside m = e^20 (the product path capped at max_exp): the old
    # `m + g * (a - m)` returned 0 here.
    x = np.array([[3.0, np.exp(20.0)]], dtype)
    layer = _unit(2, w_a=[1, 0], w_m=[0, 1], gate=[0, 1], dtype=dtype)
    additive, multiplicative = _paths(layer, x)
    assert multiplicative[0, 0] > 1e8
    y = ops.convert_to_numpy(layer(x))
    assert_array_equal(y, additive)
    assert y[0, 0] == 3.0


def test_gate_one_keeps_tiny_sums_in_float64():
    _require("float64")
    x = np.array([[1e-7, 1e-7, 1e-7, 1e30]], "float64")
    layer = _unit(4, w_a=[1, 1, 1, 0], w_m=[0, 0, 0, 1], gate=[0, 0, 0, 1],
                  dtype="float64", max_exp=None)  # fmt: skip
    additive, multiplicative = _paths(layer, x)
    assert multiplicative[0, 0] > 1e29
    y = ops.convert_to_numpy(layer(x))
    assert_array_equal(y, additive)
    assert_allclose(y, [[3e-7]], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gate_zero_returns_the_product_beside_a_huge_sum(dtype):
    _require(dtype)
    x = np.array([[np.exp(20.0), 3.0]], dtype)
    layer = _unit(2, w_a=[1, 0], w_m=[0, 1], gate=[-1, 0], dtype=dtype)
    additive, multiplicative = _paths(layer, x)
    assert additive[0, 0] > 1e8
    y = ops.convert_to_numpy(layer(x))
    assert_array_equal(y, multiplicative)


def test_saturated_gate_ignores_an_infinite_other_path():
    # Uncapped, a product weight of 2 on 1e30 overflows float32 to inf; a
    # gate of exactly 1 still returns the sum, not 1 * a + 0 * inf = NaN.
    x = np.array([[3.0, 1e30]], "float32")
    layer = _unit(2, w_a=[1, 0], w_m=[0, 1], gate=[0, 1], max_exp=None)
    w_a, _, g = layer.derived_weights()
    w_m = ops.convert_to_tensor(np.array([[0.0], [2.0]], "float32"))
    _, multiplicative = _paths(layer, x)
    y = ops.convert_to_numpy(layer.call_with(x, (w_a, w_m, g)))
    assert y[0, 0] == 3.0


def test_gate_in_between_mixes_the_paths():
    x = np.array([[2.0, 5.0]], "float32")
    layer = _unit(2, w_a=[1, 1], w_m=[1, 1], gate=[0, 0])  # g = 1/2
    y = ops.convert_to_numpy(layer(x))
    assert_allclose(y, [[0.5 * 7.0 + 0.5 * 10.0]], rtol=1e-5)


def _recurrent_sum_model(layer_factory, length):
    """A NALUCell whose gate is saturated at 1 by a huge second input.

    The unit sees `[x_t, h_{t-1}]` = `[value, huge, h]`; the additive path
    is `value + h`, the product path `huge`, the gate `sigmoid(huge)` = 1.
    """
    cell = nalu_rnn.NALUCell(1, shared_weights=False, max_exp=20.0)
    rnn = layer_factory(cell)
    x = np.zeros((1, length, 2), "float32")
    x[..., 0] = 1.0
    x[..., 1] = np.exp(20.0)
    rnn(x)
    unit = cell.unit
    unit.W_hat.assign(np.array([[BIG], [0.0], [BIG]], "float32"))
    unit.M_hat.assign(np.full((3, 1), BIG, "float32"))
    unit.W_hat_m.assign(np.array([[0.0], [BIG], [0.0]], "float32"))
    unit.M_hat_m.assign(np.full((3, 1), BIG, "float32"))
    unit.G.assign(np.array([[0.0], [1.0], [0.0]], "float32"))
    return rnn, x


@pytest.mark.parametrize(
    "layer_factory",
    [
        lambda cell: keras.layers.RNN(cell, return_sequences=True),
        lambda cell: nalu_rnn.ArithmeticRNN(cell, return_sequences=True),
    ],
    ids=["keras_rnn", "arithmetic_rnn"],
)
def test_recurrent_cell_with_saturated_gate_counts_exactly(layer_factory):
    rnn, x = _recurrent_sum_model(layer_factory, length=6)
    y = ops.convert_to_numpy(rnn(x))
    assert_array_equal(y[0, :, 0], np.arange(1, 7, dtype="float32"))


# The unit gate: one input-independent gate per output unit.


@pytest.mark.parametrize("shared_weights", [True, False])
def test_unit_gate_matches_numpy(shared_weights):
    rng = np.random.default_rng(5)
    layer = nalu_rnn.NALU(3, shared_weights=shared_weights, gate="unit")
    layer.build((None, 4))
    assert tuple(layer.G.shape) == (3,)
    samples.set_random_weights(layer, rng)
    x = rng.normal(size=(6, 4)).astype("float32")
    expected = reference.nalu(x, reference.weights_of(layer))
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)


def test_unit_gate_round_trips_and_is_validated():
    cell = nalu_rnn.NALUCell(2, gate="unit")
    assert cell.gate == cell.unit.gate == "unit"
    restored = nalu_rnn.NALUCell.from_config(cell.get_config())
    assert restored.unit.gate == "unit"
    with pytest.raises(ValueError, match="gate"):
        nalu_rnn.NALU(2, gate="input_dependent")


@pytest.mark.parametrize("raw, path", [(4.0, "additive"), (-4.0, "multiplicative")])
def test_hardening_snaps_a_unit_gate_to_its_path(raw, path):
    x = np.array([[3.0, np.exp(20.0)]], "float32")
    layer = _unit(2, w_a=[1, 0], w_m=[0, 1], gate=[0, 0])
    unit = nalu_rnn.NALU(1, shared_weights=False, max_exp=20.0, gate="unit")
    unit.build((None, 2))
    for name in ("W_hat", "M_hat", "W_hat_m", "M_hat_m"):
        getattr(unit, name).assign(getattr(layer, name).numpy())
    unit.G.assign(np.array([raw], "float32"))
    report = nalu_rnn.harden(unit, tolerance=0.2)
    gate_record = [r for r in report if r.path.endswith("/G")]
    assert gate_record and gate_record[0].snapped == 1
    additive, multiplicative = _paths(layer, x)
    expected = additive if path == "additive" else multiplicative
    assert_array_equal(ops.convert_to_numpy(unit(x)), expected)
    lines = nalu_rnn.formula(keras.Sequential([keras.Input((2,)), unit]))
    assert lines.splitlines()[-1].strip() == (
        "y = x[0]" if path == "additive" else "y = |x[1]|"
    )


def test_undecided_unit_gate_is_not_snapped():
    unit = nalu_rnn.NALU(1, gate="unit", gate_initializer="zeros")
    unit.build((None, 2))
    nalu_rnn.harden(unit, tolerance=0.2)
    assert float(unit.G.numpy()[0]) == 0.0


def test_unit_gate_is_pulled_with_the_arithmetic_regularizer():
    sparsity = nalu_rnn.SparsityRegularizer(0.0)
    unit = nalu_rnn.NALU(
        1,
        gate="unit",
        gate_initializer=keras.initializers.Constant(1.0),
        arithmetic_regularizer=sparsity,
    )
    unit.build((None, 2))

    def gate_loss():
        return float(ops.convert_to_numpy(unit.G.regularizer(unit.G.value)))

    assert gate_loss() == 0.0
    sparsity.strength = 0.5  # as nalu_rnn.callbacks.SparsityWarmup does
    g = 1.0 / (1.0 + np.exp(-1.0))
    assert_allclose(gate_loss(), 20.0 * 0.5 * g * (1 - g), rtol=1e-6)


def test_unit_gate_model_saves_and_loads(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((None, 3)),
            nalu_rnn.ArithmeticRNN(nalu_rnn.NALUCell(2, gate="unit")),
            nalu_rnn.NALU(1, gate="unit", shared_weights=False),
        ]
    )
    x = np.random.default_rng(0).uniform(0.5, 2.0, (4, 5, 3)).astype("float32")
    path = tmp_path / "unit_gate.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.layers[-1].gate == "unit"
    assert_array_equal(as_numpy(restored(x)), as_numpy(model(x)))


# --- sign_correction ---------------------------------------------------------


def multiplicative_nalu(w_m, sign_correction=True):
    """A unit-gated NALU(1) on its multiplicative path, `W_m` set exactly."""
    nalu = nalu_rnn.NALU(
        w_m.shape[1],
        shared_weights=False,
        gate="unit",
        sign_correction=sign_correction,
        gate_initializer=keras.initializers.Constant(-1000.0),
    )
    nalu.build((None, w_m.shape[0]))
    nalu.assign_discrete_weight("W_m", w_m)
    return nalu


def test_sign_correction_multiplies_and_divides_signed_inputs():
    # y0 = x0 * x1, y1 = x0 / x1, y2 = x1
    nalu = multiplicative_nalu(np.array([[1, 1, 0], [1, -1, 1]]))
    x = np.array([[-3.0, 4.0], [-1.5, -2.0], [2.0, -0.5], [20.0, 40.0]], "float32")
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    expected = np.stack([a * b, a / b, b], axis=1)
    assert_allclose(as_numpy(nalu(x)), expected, rtol=1e-5)
    # Without it the products are those of |x|.
    plain = multiplicative_nalu(np.array([[1, 1, 0], [1, -1, 1]]), False)
    assert_allclose(as_numpy(plain(x)), np.abs(expected), rtol=1e-5)


@pytest.mark.parametrize("gate", ["input", "unit"])
def test_sign_correction_matches_numpy_with_fractional_weights(gate):
    rng = np.random.default_rng(4)
    layer = nalu_rnn.NALU(3, shared_weights=False, gate=gate, sign_correction=True)
    layer.build((None, 4))
    samples.set_random_weights(layer, rng)
    x = samples.signed_inputs((16, 4), seed=6)
    x[0, 1] = 0.0  # counts as positive
    expected = reference.unit_function(layer)(x.astype(np.float64))
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)


def test_sign_correction_changes_nothing_on_non_negative_inputs():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.0, 2.0, size=(32, 3)).astype("float32")
    x[0] = 0.0
    plain = nalu_rnn.NALU(2, shared_weights=False, max_exp=20.0)
    plain.build((None, 3))
    samples.set_random_weights(plain, rng)
    signed = nalu_rnn.NALU.from_config({**plain.get_config(), "sign_correction": True})
    signed.build((None, 3))
    signed.set_weights(plain.get_weights())
    assert_array_equal(as_numpy(signed(x)), as_numpy(plain(x)))
    grads, signed_grads = samples.gradients(plain, x), samples.gradients(signed, x)
    for name, grad in grads.items():
        assert_array_equal(signed_grads[name], grad)


def test_sign_correction_cell_keeps_a_signed_running_product():
    cell = nalu_rnn.NALUCell(
        1,
        initial_state_value=1.0,
        shared_weights=False,
        gate="unit",
        sign_correction=True,
        gate_initializer=keras.initializers.Constant(-1000.0),
    )
    cell.build((None, 1))
    cell.unit.assign_discrete_weight("W_m", np.array([[1.0], [1.0]]))
    x = samples.signed_inputs((3, 6, 1), seed=8)
    h = as_numpy(keras.layers.RNN(cell, return_sequences=True)(x))[..., 0]
    expected = np.cumprod(x[..., 0].astype(np.float64), axis=1)
    assert_allclose(h, expected, rtol=1e-5)
    clone = nalu_rnn.NALUCell.from_config(cell.get_config())
    assert clone.unit.sign_correction is True


def test_sign_correction_round_trips_is_validated_and_written():
    layer = multiplicative_nalu(np.array([[1.0], [-1.0]]))
    assert nalu_rnn.NALU.from_config(layer.get_config()).sign_correction is True
    assert nalu_rnn.NALU(2).get_config()["sign_correction"] is False
    assert nalu_rnn.formula(layer) == "y = x[0] / x[1]"
    plain = multiplicative_nalu(np.array([[1.0], [-1.0]]), False)
    assert nalu_rnn.formula(plain) == "y = |x[0]| / |x[1]|"
    with pytest.raises(ValueError, match="sign_correction.*received"):
        nalu_rnn.NALU(2, sign_correction="yes")
