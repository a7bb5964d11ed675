"""A small `run_layer_test` for nalu_rnn layers and cells.

One call checks what every public class must do: config round trip, Keras
serialization, weight count and names, output shape, one training step that
moves every weight, and a `.keras` save/load round trip.
"""

import keras
import numpy as np

from tests.support import reference
from tests.support.arrays import as_numpy, assert_allclose


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    expected_weight_names,
    tmp_path,
    is_cell=False,
    input_low=0.5,
    input_high=1.5,
):
    layer = layer_cls(**init_kwargs)

    # Config round trip: from_config(get_config()) reproduces the config.
    config = layer.get_config()
    for key, value in init_kwargs.items():
        if not hasattr(value, "get_config"):
            assert config[key] == value, key
    assert layer_cls.from_config(config).get_config() == config

    # Keras serialization finds the class by its registered name.
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is layer_cls
    assert restored.get_config() == config

    # Model: the layer alone, or the cell inside keras.layers.RNN.
    inputs = keras.Input(shape=input_shape[1:], batch_size=input_shape[0])
    wrapped = keras.layers.RNN(layer) if is_cell else layer
    outputs = wrapped(inputs)
    model = keras.Model(inputs, outputs)
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    assert [w.name for w in layer.weights] == list(expected_weight_names)
    assert len(layer.trainable_weights) == len(expected_weight_names)
    assert len(layer.non_trainable_weights) == 0

    rng = np.random.default_rng(0)
    x = rng.uniform(input_low, input_high, size=input_shape).astype("float32")
    y = rng.uniform(size=expected_output_shape).astype("float32")
    prediction = as_numpy(model.predict(x, verbose=0))
    assert prediction.shape == tuple(expected_output_shape)
    assert np.all(np.isfinite(prediction))

    # One training step moves every weight: gradients reach all of them.
    before = [np.array(w.numpy()) for w in layer.weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, batch_size=input_shape[0], epochs=1, verbose=0)
    after = [np.array(w.numpy()) for w in layer.weights]
    for w, b, a in zip(layer.weights, before, after, strict=True):
        assert np.all(np.isfinite(a)), w.name
        assert not np.array_equal(b, a), f"no gradient reached {w.name}"

    # Save and load without custom_objects.
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_allclose(
        as_numpy(loaded.predict(x, verbose=0)),
        as_numpy(model.predict(x, verbose=0)),
        rtol=1e-6,
        atol=1e-6,
    )
    return model


def assert_masked_rnn_matches_reference(cell, x):
    """`Masking(0.0) -> RNN(cell)` equals the NumPy cell run with that mask."""
    mask = np.any(x != 0.0, axis=-1)
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Masking(0.0),
            keras.layers.RNN(cell, return_sequences=True),
        ]
    )
    assert_allclose(
        as_numpy(model(x)),
        reference.run_cell(cell, x, mask=mask),
        rtol=1e-4,
        atol=1e-5,
    )


def fit_save_load_regularised_cell(cell, tmp_path):
    """Trains a cell with one arithmetic regulariser inside `RNN` for an
    epoch, saves and reloads the model, checks that the reloaded model
    predicts the same; returns the reloaded cell's unit."""
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.RNN(cell)])
    assert len(model.losses) == 1
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).uniform(size=(8, 4, 3)).astype("float32")
    history = model.fit(x, np.ones((8, cell.units), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert_allclose(as_numpy(loaded(x)), as_numpy(model(x)), rtol=1e-6)
    return loaded.layers[0].cell.unit
