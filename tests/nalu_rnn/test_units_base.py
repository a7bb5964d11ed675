"""What every arithmetic unit shares (`nalu_rnn.units.base`), across the units."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tests.support import reference, samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal
from tests.support.layer_test import (
    run_layer_test,
)


@pytest.mark.parametrize("input_shape", [(6, 3), (2, 4, 3)])
@pytest.mark.parametrize("layer_cls", samples.LAYERS)
def test_layer_matches_numpy(layer_cls, input_shape):
    layer = layer_cls(4)
    layer.build(input_shape)
    samples.randomise(layer)
    x = samples.signed_inputs(input_shape)
    expected = reference.unit_function(layer)(x.astype(np.float64))
    assert_allclose(as_numpy(layer(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer_cls", samples.LAYERS)
def test_layer_contract(layer_cls, tmp_path):
    # Negative inputs, so that the NPU's imaginary weights get a gradient.
    run_layer_test(
        layer_cls,
        {"units": 3},
        (8, 4),
        (8, 3),
        samples.WEIGHT_NAMES[layer_cls.__name__],
        tmp_path,
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
    assert_array_equal(npu.W_im.numpy(), 0.0)
    assert_array_equal(npu.g.numpy(), 0.5)
    init = nalu_rnn.units.NAUInitializer(0.3, seed=1)
    assert nalu_rnn.units.NAUInitializer.from_config(init.get_config()).cap == 0.3


@pytest.mark.parametrize(
    "layer_cls, low, high", [(nalu_rnn.NAU, -1.0, 1.0), (nalu_rnn.NMU, 0.0, 1.0)]
)
def test_weight_is_clipped_after_every_update(layer_cls, low, high):
    model = keras.Sequential([keras.Input((3,)), layer_cls(2)])
    model.compile(optimizer=keras.optimizers.SGD(100.0), loss="mse")
    x = samples.signed_inputs((16, 3))
    model.fit(x, 50.0 * np.ones((16, 2), "float32"), epochs=2, verbose=0)
    w = model.layers[0].W.numpy()
    assert low <= w.min() and w.max() <= high
    assert np.any(w == high) or np.any(w == low)  # the clip was needed


def test_clip_applies_after_the_users_constraint():
    layer = nalu_rnn.NAU(2, kernel_constraint="non_neg")
    layer.build((None, 3))
    constraint = layer.W.constraint
    clipped = as_numpy(constraint(np.array([[-3.0, 0.5], [2.0, 1.0]], "float32")))
    assert_array_equal(clipped, [[0.0, 0.5], [1.0, 1.0]])
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


def test_arithmetic_weights_of_every_unit():
    shapes = {}
    for layer_cls in samples.LAYERS:
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
        "NMRU": {"W": (3, 2), "W_r": (3, 2)},
    }


@pytest.mark.parametrize("units", [0, -2, 1.5, "3", None])
@pytest.mark.parametrize("cls", samples.LAYERS + samples.CELLS)
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
        (nalu_rnn.NMRU, "epsilon"),
        (nalu_rnn.NMRUCell, "epsilon"),
    ],
)
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_bad_positive_arguments(cls, name, value):
    with pytest.raises(ValueError, match=rf"`{name}` of .*received {name}="):
        cls(2, **{name: value})


@pytest.mark.parametrize("layer_cls", samples.LAYERS)
def test_wrong_input_rank(layer_cls):
    with pytest.raises(ValueError, match=r"rank >= 2.*received input_shape=\(3,\)"):
        layer_cls(2)(np.ones((3,), "float32"))


def test_reinitialize_draws_new_values_reproducibly():
    layer = nalu_rnn.INALU(2, kernel_initializer=nalu_rnn.StateIdentity(3.0))
    layer.build((None, 4))
    first = layer.W_hat.numpy().copy()
    layer.reinitialize(seed=1)
    once = [w.numpy().copy() for w in layer.weights]
    assert not np.allclose(once[0][:2], first[:2])  # random base rows redrawn
    assert_array_equal(once[0][2:], first[2:])  # identity block kept
    layer.reinitialize(seed=1)
    for w, value in zip(layer.weights, once, strict=True):
        assert_array_equal(w.numpy(), value)


def test_weight_order_and_shapes():
    nac = nalu_rnn.NAC(2)
    nac.build((None, 3))
    assert [(w.name, tuple(w.shape)) for w in nac.weights] == [
        ("W_hat", (3, 2)),
        ("M_hat", (3, 2)),
    ]
    nalu = nalu_rnn.NALU(2, shared_weights=False)
    nalu.build((None, 3))
    assert [w.name for w in nalu.weights] == [
        "W_hat",
        "M_hat",
        "G",
        "W_hat_m",
        "M_hat_m",
    ]
    assert all(tuple(w.shape) == (3, 2) for w in nalu.weights)


def test_exact_arithmetic_with_saturated_weights():
    big = 20.0
    nac = nalu_rnn.NAC(2)
    nac.build((None, 3))
    # Output 0 = x0 + x1, output 1 = x0 - x2.
    signs = np.array([[1, 1], [1, 0], [0, -1]], "float32")
    nac.W_hat.assign(big * signs)
    nac.M_hat.assign(np.where(signs == 0, -big, big).astype("float32"))
    x = np.array([[3.0, 4.0, 10.0], [-1.0, 2.5, 0.5]], "float32")
    assert_allclose(as_numpy(nac(x)), [[7.0, -7.0], [1.5, -1.5]], rtol=1e-6)

    nalu = nalu_rnn.NALU(1)
    nalu.build((None, 2))
    nalu.W_hat.assign(np.full((2, 1), big, "float32"))
    nalu.M_hat.assign(np.full((2, 1), big, "float32"))
    nalu.G.assign(np.full((2, 1), -big, "float32"))  # gate closed: multiply
    x = np.array([[3.0, 4.0], [1.5, 2.0]], "float32")
    assert_allclose(as_numpy(nalu(x)), [[12.0], [3.0]], rtol=1e-5)


@pytest.mark.parametrize(
    "layer_cls, kwargs, names",
    [
        (nalu_rnn.NAC, {"units": 3}, ["W_hat", "M_hat"]),
        (nalu_rnn.NALU, {"units": 3}, ["W_hat", "M_hat", "G"]),
        (
            nalu_rnn.NALU,
            {"units": 3, "shared_weights": False, "epsilon": 1e-5},
            ["W_hat", "M_hat", "G", "W_hat_m", "M_hat_m"],
        ),
    ],
)
def test_gated_layer_contract(layer_cls, kwargs, names, tmp_path):
    run_layer_test(layer_cls, kwargs, (8, 4), (8, 3), names, tmp_path)


@pytest.mark.parametrize("units", [0, -3, 2.5, "4", True, None])
@pytest.mark.parametrize("layer_cls", [nalu_rnn.NAC, nalu_rnn.NALU])
def test_bad_units_of_gated_layers(layer_cls, units):
    with pytest.raises(ValueError, match=rf"units.*received units={units!r}"):
        layer_cls(units)


@pytest.mark.parametrize("layer_cls", [nalu_rnn.NAC, nalu_rnn.NALU])
def test_wrong_input_rank_of_gated_layers(layer_cls):
    with pytest.raises(ValueError, match=r"rank >= 2.*received input_shape=\(3,\)"):
        layer_cls(2)(np.ones((3,), "float32"))


def test_unknown_feature_dimension():
    with pytest.raises(ValueError, match="last .*dimension"):
        nalu_rnn.NAC(2).build((None, None))
