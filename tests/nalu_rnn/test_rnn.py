"""`ArithmeticRNN`: the output and gradients of `keras.layers.RNN`, cheaper."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.rnn import linear_recurrence, recurrent_layer
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal

ALL_CELLS = [
    nalu_rnn.NACCell,
    nalu_rnn.NALUCell,
    nalu_rnn.NAUCell,
    nalu_rnn.NMUCell,
    nalu_rnn.INALUCell,
    nalu_rnn.RealNPUCell,
    nalu_rnn.NPUCell,
]
LINEAR_CELLS = [nalu_rnn.NACCell, nalu_rnn.NAUCell]


def _sequences(length=12, batch=3, features=2, seed=0):
    # Inputs near 1 keep running products of every unit finite.
    rng = np.random.default_rng(seed)
    return rng.uniform(0.9, 1.1, size=(batch, length, features)).astype("float32")


def _pair(cell_cls, parallel=False, **rnn_kwargs):
    """The same cell inside `keras.layers.RNN` and inside `ArithmeticRNN`."""
    cell = cell_cls(3)
    reference = keras.layers.RNN(cell, **rnn_kwargs)
    fast = nalu_rnn.ArithmeticRNN(cell, parallel=parallel, **rnn_kwargs)
    return reference, fast


def _modes(cell_cls):
    return [False, True] if cell_cls.unit_class.linear else [False]


@pytest.mark.parametrize("cell_cls", ALL_CELLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "rnn_kwargs",
    [{}, {"return_sequences": True, "go_backwards": True}, {"return_state": True}],
    ids=["last", "sequences_backwards", "state"],
)
def test_same_output_as_keras_rnn(cell_cls, rnn_kwargs):
    x = _sequences()
    for parallel in _modes(cell_cls):
        reference, fast = _pair(cell_cls, parallel, **rnn_kwargs)
        expected = keras.tree.flatten(reference(x))
        actual = keras.tree.flatten(fast(x))
        for a, e in zip(actual, expected, strict=True):
            assert_allclose(a, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell_cls", ALL_CELLS, ids=lambda c: c.__name__)
def test_same_gradients_as_keras_rnn(cell_cls):
    """One SGD step from the same weights lands on the same weights."""
    x = _sequences()
    results = []
    for parallel in [None] + _modes(cell_cls):
        keras.utils.set_random_seed(3)
        cell = cell_cls(3)
        layer = (
            keras.layers.RNN(cell)
            if parallel is None
            else nalu_rnn.ArithmeticRNN(cell, parallel=parallel)
        )
        model = keras.Sequential([keras.Input((12, 2)), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        model.train_on_batch(x, np.zeros((3, 3), "float32"))
        results.append([as_numpy(w) for w in model.weights])
    for other in results[1:]:
        for a, e in zip(other, results[0], strict=True):
            assert_allclose(a, e, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cell_cls", LINEAR_CELLS, ids=lambda c: c.__name__)
def test_parallel_running_sum_length_1000(cell_cls):
    """An exact running sum stays exact through the associative scan."""
    cell = cell_cls(1)
    layer = nalu_rnn.ArithmeticRNN(cell, parallel=True)
    layer.build((None, 1000, 1))
    unit = cell.unit
    if hasattr(unit, "W_hat"):
        unit.W_hat.assign(np.full((2, 1), 20.0, "float32"))
        unit.M_hat.assign(np.full((2, 1), 20.0, "float32"))
    else:
        unit.W.assign(np.ones((2, 1), "float32"))
    x = np.random.default_rng(1).integers(0, 10, size=(4, 1000, 1))
    y = as_numpy(layer(x.astype("float32")))
    assert_array_equal(y, x.sum(axis=1).astype("float32"))


def _numpy_recurrence(projected, initial, transition):
    states, state = [], initial.astype("float64")
    for step in projected:
        state = state @ transition + step
        states.append(state)
    return np.stack(states)


def test_linear_recurrence_matches_numpy():
    rng = np.random.default_rng(2)
    projected = rng.normal(size=(17, 3, 4)).astype("float32")
    initial = rng.normal(size=(3, 4)).astype("float32")
    transition = (0.3 * rng.normal(size=(4, 4))).astype("float32")
    assert_allclose(
        linear_recurrence(projected, initial, transition),
        _numpy_recurrence(projected, initial, transition),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="only TensorFlow graphs have a time axis of unknown length",
)
def test_parallel_recurrence_with_unknown_length():
    import tensorflow as tf

    rng = np.random.default_rng(4)
    projected = rng.normal(size=(9, 2, 3)).astype("float32")
    initial = rng.normal(size=(2, 3)).astype("float32")
    transition = (0.5 * rng.normal(size=(3, 3))).astype("float32")

    @tf.function(input_signature=[tf.TensorSpec((None, 2, 3), tf.float32)])
    def parallel(x):
        return linear_recurrence(x, initial, transition)

    assert_allclose(
        parallel(projected),
        _numpy_recurrence(projected, initial, transition),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("cell_cls", [nalu_rnn.NACCell, nalu_rnn.NALUCell])
def test_masked_steps_keep_the_state(cell_cls):
    x = _sequences()
    mask = np.ones((3, 12), bool)
    mask[:, 7:] = False
    reference, fast = _pair(cell_cls)
    assert_allclose(fast(x, mask=mask), reference(x, mask=mask), 1e-5)
    assert_allclose(fast(x, mask=mask), fast(x[:, :7]), 1e-5)


def test_initial_state_and_stateful():
    x = _sequences()
    reference, fast = _pair(nalu_rnn.NACCell)
    start = np.full((3, 3), 2.0, "float32")
    assert_allclose(
        fast(x, initial_state=[start]), reference(x, initial_state=[start]), 1e-5
    )
    stateful = nalu_rnn.ArithmeticRNN(nalu_rnn.NACCell(3), stateful=True)
    whole = nalu_rnn.ArithmeticRNN(stateful.cell)
    stateful(x[:, :5])
    assert_allclose(stateful(x[:, 5:]), whole(x), rtol=1e-5)


def test_weights_are_derived_once_per_call():
    cell = nalu_rnn.NALUCell(3)
    layer = nalu_rnn.ArithmeticRNN(cell)
    layer(_sequences())
    calls = []
    derive = cell.unit.derived_weights

    def counting():
        calls.append(1)
        return derive()

    cell.unit.derived_weights = counting
    layer(_sequences(length=20))
    assert len(calls) == 1
    # Outside the layer's loop the cell derives them again at every call.
    cell(_sequences()[:, 0], [np.zeros((3, 3), "float32")])
    assert len(calls) == 2


def test_save_and_load_round_trip(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((None, 2)),
            nalu_rnn.ArithmeticRNN(nalu_rnn.NAUCell(3), parallel=True),
        ]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    layer = restored.layers[0]
    assert type(layer) is nalu_rnn.ArithmeticRNN and layer.parallel
    x = _sequences(length=30)
    assert_allclose(restored(x), model(x), rtol=1e-6)


def test_recurrent_layer_picks_the_loop():
    assert type(recurrent_layer(nalu_rnn.NACCell(2))) is nalu_rnn.ArithmeticRNN
    lstm = recurrent_layer(keras.layers.LSTMCell(2), return_sequences=True)
    assert type(lstm) is keras.layers.RNN and lstm.return_sequences


def test_clear_errors():
    with pytest.raises(ValueError, match="must be a nalu_rnn.ArithmeticCell"):
        nalu_rnn.ArithmeticRNN(keras.layers.LSTMCell(2))
    # Linear cells registered by other tests (a toy unit's) may join the list.
    with pytest.raises(ValueError, match="NACCell, NAUCell.*; received a NALUCell"):
        nalu_rnn.ArithmeticRNN(nalu_rnn.NALUCell(2), parallel=True)
    with pytest.raises(ValueError, match="`parallel` of ArithmeticRNN"):
        nalu_rnn.ArithmeticRNN(nalu_rnn.NACCell(2), parallel="yes")
