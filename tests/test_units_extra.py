"""The units that came after the NALU: NAU, NMU, iNALU, RealNPU, NPU, their
cells, their hardening, and the training tools that go with them."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tests import reference
from tests.layer_test import (
    assert_masked_rnn_matches_reference,
    fit_save_load_regularised_cell,
    run_layer_test,
)

LAYERS = [nalu_rnn.NAU, nalu_rnn.NMU, nalu_rnn.INALU, nalu_rnn.RealNPU, nalu_rnn.NPU]
CELLS = [
    nalu_rnn.NAUCell,
    nalu_rnn.NMUCell,
    nalu_rnn.INALUCell,
    nalu_rnn.RealNPUCell,
    nalu_rnn.NPUCell,
]
WEIGHT_NAMES = {
    "NAU": ["W"],
    "NMU": ["W"],
    "INALU": ["W_hat", "M_hat", "W_hat_m", "M_hat_m", "G"],
    "RealNPU": ["W", "g"],
    "NPU": ["W", "W_im", "g"],
}


def _random_value(unit_name, weight, rng):
    """A random value in the range the weight lives in."""
    shape = tuple(weight.shape)
    if weight.name == "W" and unit_name == "NAU":
        return rng.uniform(-1, 1, shape)
    if weight.name == "W" and unit_name == "NMU":
        return rng.uniform(0, 1, shape)
    if weight.name == "W":  # NPU exponents
        return rng.normal(scale=0.6, size=shape)
    if weight.name == "W_im":
        return rng.normal(scale=0.3, size=shape)
    if weight.name == "g":  # relevance, clipped to [0, 1] in the layer
        return rng.uniform(-0.2, 1.2, shape)
    return rng.normal(scale=0.7, size=shape)


def _randomise(layer, seed=0):
    unit = getattr(layer, "unit", layer)
    rng = np.random.default_rng(seed)
    for w in unit.weights:
        w.assign(_random_value(type(unit).__name__, w, rng).astype("float32"))


def _signed_inputs(shape, seed=1):
    """Values of both signs, none near 0 (where the log paths are steep)."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(0.5, 1.5, size=shape)
    return (magnitude * rng.choice([-1.0, 1.0], size=shape)).astype("float32")


# --- NumPy references ---------------------------------------------------------


@pytest.mark.parametrize("input_shape", [(6, 3), (2, 4, 3)])
@pytest.mark.parametrize("layer_cls", LAYERS)
def test_layer_matches_numpy(layer_cls, input_shape):
    layer = layer_cls(4)
    layer.build(input_shape)
    _randomise(layer)
    x = _signed_inputs(input_shape)
    expected = reference.unit_function(layer)(x.astype(np.float64))
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell_cls", CELLS)
def test_cell_matches_numpy_over_steps(cell_cls):
    cell = cell_cls(3)
    cell.build((None, 2))
    _randomise(cell)
    x = np.random.default_rng(1).uniform(0.5, 1.5, size=(4, 6, 2)).astype("float32")
    rnn = keras.layers.RNN(cell, return_sequences=True)
    np.testing.assert_allclose(
        np.asarray(rnn(x)), reference.run_cell(cell, x), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("cell_cls", [nalu_rnn.INALUCell, nalu_rnn.RealNPUCell])
def test_signed_cell_matches_numpy_with_masking(cell_cls):
    cell = cell_cls(2)
    cell.build((None, 2))
    _randomise(cell, seed=3)
    x = _signed_inputs((3, 5, 2), seed=4)
    x[1, 3:] = 0.0
    assert_masked_rnn_matches_reference(cell, x)


# --- The Keras contract -------------------------------------------------------


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_layer_contract(layer_cls, tmp_path):
    # Negative inputs, so that the NPU's imaginary weights get a gradient.
    run_layer_test(
        layer_cls,
        {"units": 3},
        (8, 4),
        (8, 3),
        WEIGHT_NAMES[layer_cls.__name__],
        tmp_path,
        input_low=-1.5,
        input_high=1.5,
    )


@pytest.mark.parametrize("cell_cls", CELLS)
def test_cell_contract(cell_cls, tmp_path):
    unit_name = cell_cls.unit_class.__name__
    run_layer_test(
        cell_cls,
        {"units": 3, "initial_state_value": 1.0},
        (8, 5, 2),
        (8, 3),
        WEIGHT_NAMES[unit_name],
        tmp_path,
        is_cell=True,
        input_low=-1.5,
        input_high=1.5,
    )


def test_arguments_round_trip():
    layer = nalu_rnn.INALU(
        2, omega=1e-5, max_exp=10.0, gate_initializer="zeros", name="mix"
    )
    clone = nalu_rnn.INALU.from_config(layer.get_config())
    assert (clone.omega, clone.max_exp, clone.name) == (1e-5, 10.0, "mix")
    assert isinstance(clone.gate_initializer, keras.initializers.Zeros)
    npu = nalu_rnn.NPU(2, epsilon=1e-6, imaginary_initializer="ones")
    clone = nalu_rnn.NPU.from_config(npu.get_config())
    assert clone.epsilon == 1e-6
    assert isinstance(clone.imaginary_initializer, keras.initializers.Ones)
    cell = nalu_rnn.NPUCell(2, epsilon=1e-6, gate_initializer="ones")
    clone = nalu_rnn.NPUCell.from_config(cell.get_config())
    assert clone.unit.epsilon == 1e-6 and clone.initial_state_value == 1.0
    assert isinstance(clone.unit.gate_initializer, keras.initializers.Ones)


def test_default_initial_states():
    # 0 is the neutral start of a sum, 1 that of a product.
    assert nalu_rnn.NAUCell(1).initial_state_value == 0.0
    assert nalu_rnn.INALUCell(1).initial_state_value == 0.0
    for cell_cls in (nalu_rnn.NMUCell, nalu_rnn.RealNPUCell, nalu_rnn.NPUCell):
        assert cell_cls(1).initial_state_value == 1.0
    (state,) = nalu_rnn.NMUCell(2).get_initial_state(batch_size=3)
    np.testing.assert_array_equal(np.asarray(state), np.ones((3, 2)))


def test_paper_initialisations():
    nau = nalu_rnn.NAU(200)
    nau.build((None, 100))
    w = nau.W.numpy()
    # r = min(0.5, sqrt(3) * sqrt(2 / 300)) = 0.1414
    assert np.abs(w).max() <= np.sqrt(6 / 300) + 1e-6
    assert np.abs(w).max() > 0.9 * np.sqrt(6 / 300)
    small = nalu_rnn.NAU(2)
    small.build((None, 3))  # sqrt(6 / 5) > 0.5: capped
    assert np.abs(small.W.numpy()).max() <= 0.5
    nmu = nalu_rnn.NMU(50)
    nmu.build((None, 40))
    w = nmu.W.numpy()
    assert 0.25 <= w.min() and w.max() <= 0.75
    assert abs(w.mean() - 0.5) < 0.02
    npu = nalu_rnn.NPU(3)
    npu.build((None, 4))
    np.testing.assert_array_equal(npu.W_im.numpy(), 0.0)
    np.testing.assert_array_equal(npu.g.numpy(), 0.5)
    init = nalu_rnn.units.NAUInitializer(0.3, seed=1)
    assert nalu_rnn.units.NAUInitializer.from_config(init.get_config()).cap == 0.3


# --- Exact arithmetic with set weights ---------------------------------------


def test_nau_adds_and_subtracts_exactly():
    nau = nalu_rnn.NAU(2)
    nau.build((None, 3))
    nau.W.assign(np.array([[1, 0], [1, 1], [0, -1]], "float32"))
    x = np.array([[3.0, 4.0, 10.0], [-1.0, 2.5, 0.5]], "float32")
    np.testing.assert_array_equal(np.asarray(nau(x)), [[7.0, -6.0], [1.5, 2.0]])


def test_nau_cell_sums_length_1000():
    cell = nalu_rnn.NAUCell(1, kernel_initializer="ones")
    x = np.random.default_rng(3).uniform(0, 1, size=(4, 1000, 1)).astype("float32")
    total = np.asarray(keras.layers.RNN(cell)(x))[:, 0]
    np.testing.assert_allclose(total, x.astype(np.float64).sum(axis=(1, 2)), rtol=1e-5)


def test_nmu_multiplies_selected_inputs_with_signs():
    nmu = nalu_rnn.NMU(2)
    nmu.build((None, 3))
    nmu.W.assign(np.array([[1, 1], [1, 0], [0, 1]], "float32"))
    x = np.array([[3.0, -4.0, 10.0], [-1.5, -2.0, 0.0]], "float32")
    np.testing.assert_array_equal(np.asarray(nmu(x)), [[-12.0, 30.0], [3.0, -0.0]])


def test_nmu_cell_running_product():
    cell = nalu_rnn.NMUCell(1, kernel_initializer="ones")
    x = _signed_inputs((3, 8, 1), seed=5)
    products = np.asarray(keras.layers.RNN(cell, return_sequences=True)(x))[..., 0]
    np.testing.assert_allclose(products, np.cumprod(x[..., 0], axis=1), rtol=1e-6)


@pytest.mark.parametrize("layer_cls", [nalu_rnn.RealNPU, nalu_rnn.NPU])
def test_npu_multiplies_divides_and_squares_signed_inputs(layer_cls):
    npu = layer_cls(3, gate_initializer="ones")
    npu.build((None, 2))
    # y0 = x0 * x1, y1 = x0 / x1, y2 = x0 ** 2
    npu.W.assign(np.array([[1, 1, 2], [1, -1, 0]], "float32"))
    x = np.array([[-3.0, 4.0], [-1.5, -2.0], [2.0, 0.5]], "float32")
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    expected = np.stack([a * b, a / b, a**2], axis=1)
    np.testing.assert_allclose(np.asarray(npu(x)), expected, rtol=1e-5, atol=1e-5)


def test_npu_relevance_gate_switches_inputs_off():
    npu = nalu_rnn.RealNPU(1)
    npu.build((None, 2))
    npu.W.assign(np.array([[1.0], [3.7]], "float32"))
    npu.g.assign(np.array([1.0, -0.5], "float32"))  # clipped to 0: x1 ignored
    x = np.array([[-3.0, 123.0], [2.0, -0.1]], "float32")
    np.testing.assert_allclose(np.asarray(npu(x)), [[-3.0], [2.0]], rtol=1e-6)


def test_npu_imaginary_part():
    npu = nalu_rnn.NPU(1, gate_initializer="ones")
    npu.build((None, 1))
    npu.W.assign(np.array([[0.0]], "float32"))
    npu.W_im.assign(np.array([[1.0]], "float32"))
    # Re(x ** i) = cos(log|x|) for x > 0, exp(-pi) cos(log|x|) for x < 0.
    x = np.array([[2.0], [-2.0]], "float32")
    expected = np.cos(np.log(2.0)) * np.array([[1.0], [np.exp(-np.pi)]])
    np.testing.assert_allclose(np.asarray(npu(x)), expected, rtol=1e-5)


def _saturated_inalu(units, input_dim, w, w_m, gate):
    layer = nalu_rnn.INALU(units)
    layer.build((None, input_dim))
    for signs, w_hat, m_hat in (
        (w, layer.W_hat, layer.M_hat),
        (w_m, layer.W_hat_m, layer.M_hat_m),
    ):
        signs = np.asarray(signs, "float32")
        w_hat.assign(20.0 * signs)
        m_hat.assign(np.where(signs == 0, -20.0, 20.0).astype("float32"))
    layer.G.assign(np.full((units,), gate, "float32"))
    return layer


def test_inalu_recovers_the_sign_of_products_and_quotients():
    layer = _saturated_inalu(2, 2, np.zeros((2, 2)), [[1, 1], [1, -1]], -30.0)
    x = np.array([[-3.0, 4.0], [-1.5, -2.0], [2.0, -0.5]], "float32")
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    expected = np.stack([a * b, a / b], axis=1)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5)
    # The NALU loses the sign: its product of -3 and 4 is +12.
    nalu = nalu_rnn.NALU(1)
    nalu.build((None, 2))
    nalu.W_hat.assign(np.full((2, 1), 20.0, "float32"))
    nalu.M_hat.assign(np.full((2, 1), 20.0, "float32"))
    nalu.G.assign(np.full((2, 1), -30.0, "float32"))
    assert np.asarray(nalu(x[:1])).item() == pytest.approx(12.0, rel=1e-5)


def test_inalu_gate_open_adds():
    layer = _saturated_inalu(1, 3, [[1], [-1], [0]], [[1], [1], [1]], 30.0)
    x = np.array([[3.0, 4.0, 10.0]], "float32")
    np.testing.assert_allclose(np.asarray(layer(x)), [[-1.0]], rtol=1e-6)


def test_inalu_clips_log_and_exponent():
    layer = _saturated_inalu(1, 1, [[0]], [[1]], -30.0)
    layer.max_exp = 5.0
    x = np.array([[0.0], [1e4], [2.0]], "float32")
    y = np.asarray(layer(x))[:, 0]
    assert np.all(np.isfinite(y))
    # |0| is clipped to omega; sign(0) * |W| + 1 - |W| = 0 for W = 1.
    assert y[0] == 0.0
    assert y[1] == pytest.approx(np.exp(5.0), rel=1e-5)  # exponent clipped
    assert y[2] == pytest.approx(2.0, rel=1e-5)
    inverse = _saturated_inalu(1, 1, [[0]], [[-1]], -30.0)
    # 1 / x at x = 0: the sign factor is 0, not inf * 0; at a tiny x,
    # log(max(|x|, omega)) bounds the quotient by 1 / omega = 1e7.
    assert np.asarray(inverse(np.zeros((1, 1), "float32"))).item() == pytest.approx(0.0)
    assert np.asarray(inverse(np.full((1, 1), 1e-9, "float32"))).item() == (
        pytest.approx(1e7, rel=1e-4)
    )


# --- Constraints and regularisers --------------------------------------------


@pytest.mark.parametrize(
    "layer_cls, low, high", [(nalu_rnn.NAU, -1.0, 1.0), (nalu_rnn.NMU, 0.0, 1.0)]
)
def test_weight_is_clipped_after_every_update(layer_cls, low, high):
    model = keras.Sequential([keras.Input((3,)), layer_cls(2)])
    model.compile(optimizer=keras.optimizers.SGD(100.0), loss="mse")
    x = _signed_inputs((16, 3))
    model.fit(x, 50.0 * np.ones((16, 2), "float32"), epochs=2, verbose=0)
    w = model.layers[0].W.numpy()
    assert low <= w.min() and w.max() <= high
    assert np.any(w == high) or np.any(w == low)  # the clip was needed


def test_clip_applies_after_the_users_constraint():
    layer = nalu_rnn.NAU(2, kernel_constraint="non_neg")
    layer.build((None, 3))
    constraint = layer.W.constraint
    clipped = np.asarray(constraint(np.array([[-3.0, 0.5], [2.0, 1.0]], "float32")))
    np.testing.assert_array_equal(clipped, [[0.0, 0.5], [1.0, 1.0]])
    assert nalu_rnn.NAU.from_config(layer.get_config()).kernel_constraint is not None


def test_arithmetic_regularizer_acts_on_the_weight_itself():
    reg = nalu_rnn.SparsityRegularizer(1.0)
    layer = nalu_rnn.NAU(
        2, arithmetic_regularizer=reg, kernel_regularizer=keras.regularizers.L2(0.5)
    )
    layer.build((None, 2))
    w = np.array([[0.2, -0.9], [1.0, 0.5]], "float32")
    layer.W.assign(w)
    # min(|w|, 1 - |w|): 0.2, 0.1, 0, 0.5 -> mean 0.2; L2: 0.5 * 2.1
    assert float(sum(layer.losses)) == pytest.approx(0.2 + 0.5 * 2.1, rel=1e-5)
    npu = nalu_rnn.NPU(2, arithmetic_regularizer=reg)
    npu.build((None, 2))
    npu.W.assign(np.full((2, 2), 2.5, "float32"))
    npu.W_im.assign(np.full((2, 2), 0.5, "float32"))
    # Only the real part is penalised; beyond 1 the penalty keeps growing.
    assert float(sum(npu.losses)) == pytest.approx(1.5, rel=1e-6)


def test_regularised_nau_cell_trains_and_round_trips(tmp_path):
    reg = nalu_rnn.SparsityRegularizer(0.1)
    cell = nalu_rnn.NAUCell(2, arithmetic_regularizer=reg)
    unit = fit_save_load_regularised_cell(cell, tmp_path)
    assert isinstance(unit.arithmetic_regularizer, nalu_rnn.SparsityRegularizer)
    assert isinstance(unit.kernel_initializer, nalu_rnn.units.NAUInitializer)
    assert unit.W.constraint is not None


# --- Hardening ----------------------------------------------------------------


def test_harden_snaps_nau_weights():
    layer = nalu_rnn.NAU(1)
    layer.build((None, 4))
    layer.W.assign(np.array([[0.97], [0.02], [0.6], [-0.95]], "float32"))
    (record,) = nalu_rnn.harden(layer, tolerance=0.1)
    assert (record.snapped, record.total) == (3, 4)
    assert record.path.endswith("/W")
    assert record.max_change == pytest.approx(0.05, abs=1e-6)
    np.testing.assert_array_equal(layer.W.numpy()[:, 0], np.float32([1, 0, 0.6, -1]))


def test_harden_snaps_nmu_weights_to_0_and_1():
    layer = nalu_rnn.NMU(1)
    layer.build((None, 3))
    layer.W.assign(np.array([[0.96], [0.03], [0.5]], "float32"))
    nalu_rnn.harden(layer, tolerance=0.1)
    np.testing.assert_array_equal(layer.W.numpy()[:, 0], [1.0, 0.0, 0.5])


def test_harden_snaps_npu_exponents_to_integers_and_leaves_gates():
    layer = nalu_rnn.NPU(1)
    layer.build((None, 3))
    layer.W.assign(np.array([[1.96], [-0.04], [0.5]], "float32"))
    layer.W_im.assign(np.array([[0.05], [0.3], [-0.02]], "float32"))
    layer.g.assign(np.array([0.98, 0.02, 0.5], "float32"))
    report = nalu_rnn.harden(layer, tolerance=0.1)
    assert [r.path.rsplit("/", 1)[-1] for r in report] == ["W", "W_im"]
    np.testing.assert_array_equal(layer.W.numpy()[:, 0], [2.0, 0.0, 0.5])
    np.testing.assert_array_equal(layer.W_im.numpy()[:, 0], np.float32([0, 0.3, 0]))
    np.testing.assert_array_equal(layer.g.numpy(), np.float32([0.98, 0.02, 0.5]))


def test_harden_inalu_and_a_whole_model():
    inalu = nalu_rnn.INALU(1)
    inalu.build((None, 2))
    inalu.W_hat.assign(np.array([[3.0], [0.01]], "float32"))
    inalu.M_hat.assign(np.array([[6.0], [0.0]], "float32"))
    gate = inalu.G.numpy().copy()
    report = nalu_rnn.harden(inalu, tolerance=0.1)
    assert [r.path.rsplit("/", 1)[-1] for r in report] == ["W", "W_m"]
    np.testing.assert_array_equal(inalu.arithmetic_weights()["W"], [[1.0], [0.0]])
    np.testing.assert_array_equal(inalu.G.numpy(), gate)

    model = nalu_rnn.models.arithmetic_model("nmu", input_dim=3, units=2)
    report = nalu_rnn.harden(model, tolerance=0.5)
    assert len(report) == 2
    assert all(r.snapped == r.total for r in report)


def test_snap_only_the_state_rows_of_a_cell():
    cell = nalu_rnn.NAUCell(2)
    cell.build((None, 2))
    cell.unit.W.assign(np.full((4, 2), 0.95, "float32"))
    rows = np.arange(4) >= 2
    (record,) = cell.unit.snap_arithmetic_weights(0.1, row_mask=rows)
    assert record.snapped == 4
    np.testing.assert_array_equal(
        cell.unit.W.numpy(), np.float32([[0.95, 0.95], [0.95, 0.95], [1, 1], [1, 1]])
    )


def test_arithmetic_weights_of_every_unit():
    shapes = {}
    for layer_cls in LAYERS:
        layer = layer_cls(2)
        layer.build((None, 3))
        weights = layer.arithmetic_weights()
        shapes[layer_cls.__name__] = {k: tuple(v.shape) for k, v in weights.items()}
    assert shapes == {
        "NAU": {"W": (3, 2)},
        "NMU": {"W": (3, 2)},
        "INALU": {"W": (3, 2), "W_m": (3, 2)},
        "RealNPU": {"W": (3, 2)},
        "NPU": {"W": (3, 2), "W_im": (3, 2)},
    }


# --- Bad arguments --------------------------------------------------------------


@pytest.mark.parametrize("units", [0, -2, 1.5, "3", None])
@pytest.mark.parametrize("cls", LAYERS + CELLS)
def test_bad_units(cls, units):
    with pytest.raises(ValueError, match=rf"units.*received units={units!r}"):
        cls(units)


@pytest.mark.parametrize(
    "cls, name",
    [
        (nalu_rnn.INALU, "omega"),
        (nalu_rnn.INALU, "max_exp"),
        (nalu_rnn.INALUCell, "omega"),
        (nalu_rnn.RealNPU, "epsilon"),
        (nalu_rnn.NPU, "epsilon"),
        (nalu_rnn.NPUCell, "epsilon"),
    ],
)
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_bad_positive_arguments(cls, name, value):
    with pytest.raises(ValueError, match=rf"`{name}` of .*received {name}="):
        cls(2, **{name: value})


def test_bad_initial_state_and_cap():
    with pytest.raises(ValueError, match="initial_state_value.*received"):
        nalu_rnn.NMUCell(2, initial_state_value="one")
    with pytest.raises(ValueError, match="cap.*received cap=0"):
        nalu_rnn.units.NAUInitializer(0)


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_wrong_input_rank(layer_cls):
    with pytest.raises(ValueError, match=r"rank >= 2.*received input_shape=\(3,\)"):
        layer_cls(2)(np.ones((3,), "float32"))


@pytest.mark.parametrize("cell_cls", CELLS)
def test_rnn_input_of_wrong_rank(cell_cls):
    rnn = keras.layers.RNN(cell_cls(2))
    with pytest.raises(ValueError, match=rf"{cell_cls.__name__} expects .*rank 3"):
        rnn(np.ones((4, 3), "float32"))


# --- Training tools -------------------------------------------------------------


def test_sparsity_warmup_step_schedule():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    callback = nalu_rnn.callbacks.SparsityWarmup(
        reg, 0.2, start_step=2, end_step=6, update_every=1
    )
    values = [callback.strength_at_step(t) for t in range(8)]
    np.testing.assert_allclose(values, [0, 0, 0, 0.05, 0.1, 0.15, 0.2, 0.2])
    model = keras.Sequential(
        [keras.Input((3,)), nalu_rnn.NAU(1, arithmetic_regularizer=reg)]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 3), "float32")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(reg.strength)
    )
    # 2 epochs of 4 batches: steps 0..7, the strength follows across epochs.
    model.fit(
        x, x[:, :1], batch_size=2, epochs=2, callbacks=[callback, record], verbose=0
    )
    np.testing.assert_allclose(seen, values)


def test_sparsity_warmup_step_schedule_takes_effect_in_the_loss():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    layer = nalu_rnn.NAU(
        1,
        kernel_initializer=keras.initializers.Constant(0.5),
        arithmetic_regularizer=reg,
    )
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.zeros((4, 2), "float32")
    callback = nalu_rnn.callbacks.SparsityWarmup(
        reg, 1.0, start_step=0, end_step=1, update_every=1
    )
    history = model.fit(
        x, x[:, :1], batch_size=4, epochs=2, callbacks=[callback], verbose=0
    )
    # Epoch 1 (step 0): strength 0; epoch 2 (step 1): 1.0 * min(0.5, 0.5).
    np.testing.assert_allclose(history.history["loss"], [0.0, 0.5], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start_step": 5}, "given together"),
        ({"start_step": 5, "end_step": 5}, "start_step < end_step"),
        ({"start_step": 0, "end_step": 5, "update_every": 0}, "update_every"),
    ],
)
def test_sparsity_warmup_bad_steps(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nalu_rnn.callbacks.SparsityWarmup(nalu_rnn.SparsityRegularizer(), **kwargs)


def test_inalu_reinitialization_rule():
    callback = nalu_rnn.callbacks.INALUReinitialization(
        check_every=4, threshold=1.0, min_history=4
    )
    callback.history = [5.0, 5.0, 4.9, 5.0]  # flat and high: stalled
    assert callback.stalled()
    callback.history = [9.0, 8.0, 3.0, 2.0]  # still improving
    assert not callback.stalled()
    callback.history = [0.5, 0.5, 0.5, 0.5]  # flat but good
    assert not callback.stalled()
    callback.history = [5.0, 5.0, float("nan"), 5.0]  # diverged
    assert callback.stalled()
    callback.history = [5.0, 5.0, 5.0]  # too short to judge
    assert not callback.stalled()
    with pytest.raises(ValueError, match="min_history.*received min_history=1"):
        nalu_rnn.callbacks.INALUReinitialization(min_history=1)
    with pytest.raises(ValueError, match="check_every.*received check_every=0"):
        nalu_rnn.callbacks.INALUReinitialization(check_every=0)


def test_inalu_reinitialization_redraws_a_stalled_unit():
    inalu = nalu_rnn.INALU(1)
    nau = nalu_rnn.NAU(1)
    model = keras.Sequential([keras.Input((2,)), inalu, nau])
    # A learning rate of 0: the loss cannot improve, the run has stalled.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = _signed_inputs((8, 2))
    before = [w.numpy().copy() for w in model.weights]
    callback = nalu_rnn.callbacks.INALUReinitialization(
        check_every=2, threshold=0.0, min_history=2, seed=0
    )
    model.fit(x, 100.0 + x[:, :1], epochs=3, callbacks=[callback], verbose=0)
    assert callback.restarts == [1]
    assert callback.history and len(callback.history) == 1
    for w, b in zip(model.weights[:5], before[:5], strict=True):
        assert not np.allclose(w.numpy(), b), w.name  # every iNALU weight
    np.testing.assert_array_equal(nau.W.numpy(), before[5])  # not an iNALU


def test_reinitialize_draws_new_values_reproducibly():
    layer = nalu_rnn.INALU(2, kernel_initializer=nalu_rnn.StateIdentity(3.0))
    layer.build((None, 4))
    first = layer.W_hat.numpy().copy()
    layer.reinitialize(seed=1)
    once = [w.numpy().copy() for w in layer.weights]
    assert not np.allclose(once[0][:2], first[:2])  # random base rows redrawn
    np.testing.assert_array_equal(once[0][2:], first[2:])  # identity block kept
    layer.reinitialize(seed=1)
    for w, value in zip(layer.weights, once, strict=True):
        np.testing.assert_array_equal(w.numpy(), value)


# --- Registry -------------------------------------------------------------------

NEW_CELLS = {
    "nau": ("NAUCell", "NAU", "NAU"),
    "nmu": ("NAUCell", "NAU", "NMU"),
    "inalu": ("INALUCell", "INALU", "INALU"),
    "realnpu": ("NAUCell", "NAU", "RealNPU"),
    "npu": ("NAUCell", "NAU", "NPU"),
}


@pytest.mark.parametrize("name", sorted(NEW_CELLS))
def test_registered_models(name):
    cell_name, static_name, readout_name = NEW_CELLS[name]
    spec = nalu_rnn.models.get_cell_spec(name)
    assert spec.arithmetic and spec.description
    reg = nalu_rnn.SparsityRegularizer(0.01)
    model = nalu_rnn.models.arithmetic_model(
        name, input_dim=3, units=2, arithmetic_regularizer=reg
    )
    cell = model.get_layer("recurrent").cell
    readout = model.layers[-1]
    assert (type(cell).__name__, type(readout).__name__) == (cell_name, readout_name)
    # The NPU read-outs leave the sparsity penalty out (exponents 2, 0.5).
    expected = None if "NPU" in readout_name else reg
    assert readout.arithmetic_regularizer is expected
    x = np.random.default_rng(0).uniform(size=(2, 5, 3)).astype("float32")
    assert np.all(np.isfinite(np.asarray(model(x))))
    static = nalu_rnn.models.arithmetic_model(name, input_dim=3, units=2, static=True)
    assert [type(layer).__name__ for layer in static.layers[1:]] == [
        static_name,
        readout_name,
    ]


def test_direct_weight_cells_start_as_exact_running_sums():
    model = nalu_rnn.models.arithmetic_model("nau", input_dim=3, units=2)
    w = model.get_layer("recurrent").cell.unit.W.numpy()
    np.testing.assert_array_equal(w[3:], np.eye(2))
    assert np.abs(w[:3]).max() <= 0.5
    init = nalu_rnn.models.StateBlockIdentity(1.0, base="zeros")
    clone = nalu_rnn.models.StateBlockIdentity.from_config(init.get_config())
    np.testing.assert_array_equal(np.asarray(clone((3, 2))), [[0, 0], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="StateBlockIdentity needs"):
        init((1, 2))
    inalu = nalu_rnn.models.arithmetic_model("inalu", input_dim=3, units=2)
    unit = inalu.get_layer("recurrent").cell.unit
    state_block = np.asarray(unit.arithmetic_weights()["W"])[3:]
    assert np.all(np.diag(state_block) > 0.9)
    assert np.all(1.0 / (1.0 + np.exp(-unit.G.numpy())) > 0.9)  # gates open


def test_train_cli_offers_the_new_cells():
    import train

    for name in NEW_CELLS:
        options = train.parse_args(["--task", "mul", "--cell", name, "--static"])
        assert options.cell == name and options.units == 2
