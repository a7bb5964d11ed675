import importlib
import inspect

import keras
import numpy as np
import pytest

import nalu_rnn
from tests.support import reference, samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal
from tests.support.layer_test import assert_masked_rnn_matches_reference, run_layer_test

CELLS = [
    (nalu_rnn.NACCell, {}),
    (nalu_rnn.NALUCell, {}),
    (nalu_rnn.NALUCell, {"shared_weights": False}),
]


def _randomised(cell_cls, kwargs, units=3, input_dim=2, seed=0):
    cell = cell_cls(units, **kwargs)
    cell.build((None, input_dim))
    rng = np.random.default_rng(seed)
    for w in cell.weights:
        w.assign(rng.normal(scale=0.7, size=w.shape).astype("float32"))
    return cell


def _inputs(shape, seed=1):
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape).astype("float32")


def _rnn_like(cell, **rnn_kwargs):
    """A keras.layers.RNN over a fresh cell carrying `cell`'s weights."""
    clone = type(cell).from_config(cell.get_config())
    rnn = keras.layers.RNN(clone, **rnn_kwargs)
    return rnn, clone


def _copy_weights(src, dst):
    for s, d in zip(src.weights, dst.weights, strict=True):
        d.assign(s.numpy())


@pytest.mark.parametrize("cell_cls, kwargs", CELLS)
def test_cell_matches_numpy_over_steps(cell_cls, kwargs):
    cell = _randomised(cell_cls, kwargs)
    x = _inputs((4, 6, 2))
    rnn = keras.layers.RNN(cell, return_sequences=True)
    assert_allclose(as_numpy(rnn(x)), reference.run_cell(cell, x), rtol=1e-4, atol=1e-5)


def test_kernel_shapes_input_rows_first():
    cell = nalu_rnn.NALUCell(3, shared_weights=False)
    cell.build((None, 5))
    assert [(w.name, tuple(w.shape)) for w in cell.weights] == [
        (name, (8, 3)) for name in ["W_hat", "M_hat", "G", "W_hat_m", "M_hat_m"]
    ]
    # Input rows first: a kernel that only reads row 0 passes x_t[0] through.
    nac = nalu_rnn.NACCell(1)
    nac.build((None, 2))
    nac.unit.W_hat.assign(np.array([[20.0], [0.0], [0.0]], "float32"))
    nac.unit.M_hat.assign(np.array([[20.0], [-20.0], [-20.0]], "float32"))
    out, _ = nac(np.array([[5.0, 7.0]], "float32"), [np.array([[9.0]], "float32")])
    assert_allclose(as_numpy(out), [[5.0]], rtol=1e-6)


def test_nac_cell_sums_length_1000():
    cell = nalu_rnn.NACCell(1, kernel_initializer=keras.initializers.Constant(20.0))
    x = _inputs((8, 1000, 1), seed=3)
    total = as_numpy(keras.layers.RNN(cell)(x))[:, 0]
    expected = x.astype(np.float64).sum(axis=(1, 2))
    assert_allclose(total, expected, rtol=1e-3)


def test_nalu_cell_running_product():
    cell = nalu_rnn.NALUCell(
        1,
        initial_state_value=1.0,
        kernel_initializer=keras.initializers.Constant(20.0),
        gate_initializer=keras.initializers.Constant(-30.0),  # multiplicative path
    )
    x = np.random.default_rng(4).uniform(1.0, 2.0, size=(5, 12, 1)).astype("float32")
    products = as_numpy(keras.layers.RNN(cell, return_sequences=True)(x))[..., 0]
    assert_allclose(products, np.cumprod(x[..., 0], axis=1), rtol=1e-4)


@pytest.mark.parametrize("value", [0.0, 1.0, -2.5])
def test_initial_state_value(value):
    cell = nalu_rnn.NALUCell(4, initial_state_value=value)
    (state,) = cell.get_initial_state(batch_size=3)
    assert_array_equal(as_numpy(state), np.full((3, 4), value))


@pytest.mark.parametrize("cell_cls, kwargs", CELLS)
def test_return_state_and_go_backwards(cell_cls, kwargs):
    cell = _randomised(cell_cls, kwargs)
    x = _inputs((3, 5, 2))
    rnn, clone = _rnn_like(cell, return_state=True, go_backwards=True)
    rnn.build(x.shape)
    _copy_weights(cell, clone)
    output, state = rnn(x)
    expected = reference.run_cell(cell, x[:, ::-1])[:, -1]
    assert_allclose(as_numpy(output), expected, rtol=1e-4, atol=1e-5)
    assert_allclose(as_numpy(state), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell_cls, kwargs", CELLS)
def test_initial_state_argument(cell_cls, kwargs):
    cell = _randomised(cell_cls, kwargs)
    x = _inputs((3, 4, 2))
    h0 = _inputs((3, 3), seed=9)
    out = keras.layers.RNN(cell)(x, initial_state=[h0])
    assert_allclose(
        as_numpy(out), reference.run_cell(cell, x, h0=h0)[:, -1], rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("cell_cls, kwargs", CELLS)
def test_masking_carries_state(cell_cls, kwargs):
    cell = _randomised(cell_cls, kwargs)
    x = _inputs((3, 6, 2))
    x[0, 4:] = 0.0  # padded tail
    x[2, 1:] = 0.0
    assert_masked_rnn_matches_reference(cell, x)


@pytest.mark.parametrize("cell_cls, kwargs", CELLS)
def test_stateful_continues_across_calls(cell_cls, kwargs):
    cell = _randomised(cell_cls, kwargs)
    x = _inputs((2, 6, 2))
    rnn, clone = _rnn_like(cell, stateful=True, return_sequences=True)
    rnn.build((2, 3, 2))
    _copy_weights(cell, clone)
    first = as_numpy(rnn(x[:, :3]))
    second = as_numpy(rnn(x[:, 3:]))
    expected = reference.run_cell(cell, x)
    assert_allclose(first, expected[:, :3], rtol=1e-4, atol=1e-5)
    assert_allclose(second, expected[:, 3:], rtol=1e-4, atol=1e-5)
    rnn.reset_state()
    assert_allclose(as_numpy(rnn(x[:, :3])), expected[:, :3], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell_cls, kwargs", CELLS)
def test_bidirectional(cell_cls, kwargs, tmp_path):
    x = _inputs((3, 5, 2))
    layer = keras.layers.Bidirectional(keras.layers.RNN(cell_cls(3, **kwargs)))
    out = as_numpy(layer(x))
    forward_cell = layer.forward_layer.cell
    backward_cell = layer.backward_layer.cell
    expected = np.concatenate(
        [
            reference.run_cell(forward_cell, x)[:, -1],
            reference.run_cell(backward_cell, x[:, ::-1])[:, -1],
        ],
        axis=-1,
    )
    assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    model = keras.Sequential([keras.Input((5, 2)), layer])
    model.save(tmp_path / "bi.keras")
    loaded = keras.models.load_model(tmp_path / "bi.keras")
    assert_allclose(as_numpy(loaded(x)), out, rtol=1e-6)


@pytest.mark.parametrize(
    "cell_cls, kwargs, names",
    [
        (nalu_rnn.NACCell, {"units": 3}, ["W_hat", "M_hat"]),
        (
            nalu_rnn.NALUCell,
            {"units": 3, "initial_state_value": 1.0, "epsilon": 1e-6},
            ["W_hat", "M_hat", "G"],
        ),
        (
            nalu_rnn.NALUCell,
            {"units": 3, "shared_weights": False},
            ["W_hat", "M_hat", "G", "W_hat_m", "M_hat_m"],
        ),
    ],
)
def test_cell_contract(cell_cls, kwargs, names, tmp_path):
    run_layer_test(cell_cls, kwargs, (8, 5, 2), (8, 3), names, tmp_path, is_cell=True)


def test_cell_config_carries_unit_arguments():
    cell = nalu_rnn.NALUCell(
        2,
        epsilon=1e-4,
        shared_weights=False,
        gate_initializer="zeros",
        initial_state_value=1.0,
        name="head",
    )
    assert cell.epsilon == 1e-4 and cell.shared_weights is False
    clone = nalu_rnn.NALUCell.from_config(cell.get_config())
    assert clone.name == "head"
    assert clone.unit.epsilon == 1e-4
    assert clone.unit.shared_weights is False
    assert clone.initial_state_value == 1.0
    assert isinstance(clone.unit.gate_initializer, keras.initializers.Zeros)


def test_gradients_reach_every_weight_inside_rnn():
    # Train a NALU cell on a sum; every weight (incl. the unit's) must move.
    cell = nalu_rnn.NALUCell(2, shared_weights=False)
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.RNN(cell)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    x = _inputs((16, 4, 3))
    y = x.sum(axis=(1, 2))[:, None].repeat(2, axis=1)
    before = [np.array(w.numpy()) for w in model.trainable_weights]
    assert len(before) == 5
    model.fit(x, y, epochs=2, verbose=0)
    for w, b in zip(model.trainable_weights, before, strict=True):
        assert not np.allclose(w.numpy(), b), w.path


@pytest.mark.parametrize("cell_cls", [nalu_rnn.NACCell, nalu_rnn.NALUCell])
@pytest.mark.parametrize("units", [0, -1, 1.5, "2"])
def test_cell_bad_units(cell_cls, units):
    with pytest.raises(ValueError, match=rf"units.*received units={units!r}"):
        cell_cls(units)


def test_cell_bad_epsilon_and_initial_state():
    with pytest.raises(ValueError, match="epsilon.*received epsilon=0"):
        nalu_rnn.NALUCell(2, epsilon=0)
    with pytest.raises(ValueError, match="initial_state_value.*received"):
        nalu_rnn.NACCell(2, initial_state_value=float("nan"))


def test_rnn_input_of_wrong_rank():
    rnn = keras.layers.RNN(nalu_rnn.NACCell(2))
    with pytest.raises(ValueError, match=r"NACCell expects .*rank 3"):
        rnn(np.ones((4, 3), "float32"))


def test_base_cell_needs_a_unit():
    with pytest.raises(TypeError, match="unit_class"):
        nalu_rnn.ArithmeticCell(2)


ALL_CELLS = [
    nalu_rnn.NACCell,
    nalu_rnn.NALUCell,
    nalu_rnn.NAUCell,
    nalu_rnn.NMUCell,
    nalu_rnn.INALUCell,
    nalu_rnn.RealNPUCell,
    nalu_rnn.NPUCell,
]


@pytest.mark.parametrize("cell_cls", [*ALL_CELLS, nalu_rnn.NMRUCell])
def test_cell_signature_names_every_unit_argument(cell_cls):
    def arguments(cls):
        parameters = inspect.signature(cls.__init__).parameters
        return [n for n, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD]

    # Bar the unit's layer-only ones (the NMU's training noise).
    layer_only = getattr(cell_cls.unit_class, "layer_only_arguments", ())
    unit_arguments = [a for a in arguments(cell_cls.unit_class) if a not in layer_only]
    cell_arguments = arguments(cell_cls)
    assert cell_arguments[:3] == ["self", "units", "initial_state_value"]
    assert cell_arguments[3:] == unit_arguments[2:]
    for name in cell_arguments[3:]:
        assert f"        {name}: " in cell_cls.__doc__, name
    config = cell_cls(2).get_config()
    assert set(cell_arguments[1:]) <= set(config)


@pytest.mark.parametrize("cell_cls", ALL_CELLS)
def test_configs_saved_from_the_former_cell_module_still_load(cell_cls):
    config = keras.saving.serialize_keras_object(cell_cls(2))
    config["module"] = "nalu_rnn.cell"
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is cell_cls
    former = importlib.import_module("nalu_rnn.cell")
    assert getattr(former, cell_cls.__name__) is cell_cls


@pytest.mark.parametrize("cell_cls", samples.CELLS)
def test_every_cell_matches_numpy_over_steps(cell_cls):
    cell = cell_cls(3)
    cell.build((None, 2))
    samples.randomise(cell)
    x = np.random.default_rng(1).uniform(0.5, 1.5, size=(4, 6, 2)).astype("float32")
    rnn = keras.layers.RNN(cell, return_sequences=True)
    assert_allclose(as_numpy(rnn(x)), reference.run_cell(cell, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell_cls", [nalu_rnn.INALUCell, nalu_rnn.RealNPUCell])
def test_signed_cell_matches_numpy_with_masking(cell_cls):
    cell = cell_cls(2)
    cell.build((None, 2))
    samples.randomise(cell, seed=3)
    x = samples.signed_inputs((3, 5, 2), seed=4)
    x[1, 3:] = 0.0
    assert_masked_rnn_matches_reference(cell, x)


# Signed inputs, so that every cell's sign handling is exercised, except for
# the NMRU: with random weights its sign factor, cos(pi * sum w), can put a
# state near 0, whose reciprocal at the next step overflows float32 on every
# backend (whether it does depends on the draw). Its signs are tested with
# set weights in test_nmru.py.
_INPUT_RANGE = {nalu_rnn.NMRUCell: (0.5, 1.5)}


@pytest.mark.parametrize("cell_cls", samples.CELLS)
def test_every_cell_contract(cell_cls, tmp_path):
    unit_name = cell_cls.unit_class.__name__
    input_low, input_high = _INPUT_RANGE.get(cell_cls, (-1.5, 1.5))
    run_layer_test(
        cell_cls,
        {"units": 3, "initial_state_value": 1.0},
        (8, 5, 2),
        (8, 3),
        samples.WEIGHT_NAMES[unit_name],
        tmp_path,
        is_cell=True,
        input_low=input_low,
        input_high=input_high,
    )


def test_default_initial_states():
    # 0 is the neutral start of a sum, 1 that of a product.
    assert nalu_rnn.NAUCell(1).initial_state_value == 0.0
    assert nalu_rnn.INALUCell(1).initial_state_value == 0.0
    for cell_cls in (nalu_rnn.NMUCell, nalu_rnn.RealNPUCell, nalu_rnn.NPUCell):
        assert cell_cls(1).initial_state_value == 1.0
    (state,) = nalu_rnn.NMUCell(2).get_initial_state(batch_size=3)
    assert_array_equal(as_numpy(state), np.ones((3, 2)))


def test_bad_initial_state_and_cap():
    with pytest.raises(ValueError, match="initial_state_value.*received"):
        nalu_rnn.NMUCell(2, initial_state_value="one")
    with pytest.raises(ValueError, match="cap.*received cap=0"):
        nalu_rnn.units.NAUInitializer(0)


@pytest.mark.parametrize("cell_cls", samples.CELLS)
def test_every_cell_rejects_input_of_wrong_rank(cell_cls):
    rnn = keras.layers.RNN(cell_cls(2))
    with pytest.raises(ValueError, match=rf"{cell_cls.__name__} expects .*rank 3"):
        rnn(np.ones((4, 3), "float32"))
