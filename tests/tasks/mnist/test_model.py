"""The MNIST sequence models (`tasks.mnist.model`): the digit encoder, the
recurrent head, the whole model, and encode-once evaluation. Random images:
no MNIST needed."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import nalu_rnn
from tasks.cells import CELLS
from tasks.mnist.model import (
    ClassBalance,
    ClassBalanceStop,
    digit_encoder,
    encode_images,
    predict_from_embeddings,
    sequence_head,
    sequence_model,
)
from tasks.spec import deferred, resolve
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal
from tests.support.scripts import ROOT


def _images(batch, steps, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch, steps, 28, 28, 1)).astype("float32")


def _head_cell(model):
    head = model if model.name == "head" else model.get_layer("head")
    return head.get_layer("recurrent").cell


@pytest.mark.parametrize(
    "cell, output_dim, return_sequences, expected",
    [
        ("nac", 10, False, (2, 10)),
        ("nac", 1, False, (2, 1)),
        ("nac", 10, True, (2, 3, 10)),
        ("nalu", 1, True, (2, 3, 1)),
        ("lstm", 10, False, (2, 10)),
    ],
)
def test_sequence_model_output_shapes(cell, output_dim, return_sequences, expected):
    model = sequence_model(cell, output_dim, return_sequences=return_sequences)
    assert tuple(model(_images(2, 3)).shape) == expected
    # The time axis is not fixed by the first call.
    longer = model(_images(2, 5))
    assert tuple(longer.shape)[0] == 2 and tuple(longer.shape)[-1] == output_dim


def test_encoder_architecture():
    encoder = digit_encoder(7)
    assert encoder.name == "encoder"
    assert tuple(encoder.output.shape) == (None, 7)
    kinds = [type(layer).__name__ for layer in encoder.layers[1:]]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert encoder.get_layer("hidden").units == 500


def test_encoder_digit_classes():
    counts = digit_encoder(10, digit_classes=True)
    z = keras.ops.convert_to_numpy(counts(_images(3, 1)[:, 0]))
    assert_allclose(z.sum(axis=-1), 1.0, rtol=1e-5)
    values = digit_encoder(1, digit_classes=True, digit_values=True)
    kernel = keras.ops.convert_to_numpy(values.get_layer("digit_value").kernel)
    assert_array_equal(kernel[:, 0], np.arange(10))
    z = keras.ops.convert_to_numpy(values(_images(3, 1)[:, 0]))
    assert z.shape == (3, 1) and np.all((z >= 0) & (z <= 9))
    # By default the values are learnt from the layer's own random start.
    learnt = digit_encoder(1, digit_classes=True)
    kernel = keras.ops.convert_to_numpy(learnt.get_layer("digit_value").kernel)
    assert not np.allclose(kernel[:, 0], np.arange(10))


@pytest.mark.parametrize("cell", ["nac", "nau"])
def test_block_identity_head_starts_as_running_sum(cell):
    head = sequence_head(cell, embed_dim=3, output_dim=3)
    x = np.random.default_rng(0).uniform(size=(4, 6, 3)).astype("float32")
    assert_allclose(head(x), x.sum(axis=1), rtol=1e-3)


@pytest.mark.parametrize("cell", ["nac", "nau"])
def test_a_random_head_starts_as_a_memory_of_its_state(cell):
    # The shared prior: the state block at the identity (a gated cell's
    # effective weight tanh(3) * sigmoid(3)), the input block random.
    head = sequence_head(cell, embed_dim=3, output_dim=3, identity_value=None)
    unit = head.get_layer("recurrent").cell.unit
    weight = as_numpy(unit.arithmetic_weights()["W"])
    state, inputs = weight[3:], weight[:3]
    diagonal = 1.0 if cell == "nau" else np.tanh(3.0) / (1 + np.exp(-3.0))
    assert_allclose(np.diag(state), diagonal, rtol=1e-5)
    assert not np.allclose(inputs, np.eye(3), atol=0.05)
    # Without the prior the state block is the unit's own random start too.
    plain = sequence_head(
        cell, embed_dim=3, output_dim=3, identity_value=None, state_memory=False
    )
    weight = as_numpy(plain.get_layer("recurrent").cell.unit.arithmetic_weights()["W"])
    assert not np.allclose(np.diag(weight[3:]), diagonal, atol=0.05)


def test_a_random_product_head_keeps_its_state_exactly():
    head = sequence_head(
        "nmu", embed_dim=1, output_dim=1, identity_value=None, multiplicative=True
    )
    weight = as_numpy(head.get_layer("recurrent").cell.unit.arithmetic_weights()["W"])
    assert weight[1, 0] == 1.0 and 0.0 <= weight[0, 0] <= 1.0 and weight[0, 0] != 1.0


def test_save_load_round_trip_without_custom_objects(tmp_path):
    model = sequence_model("nac", 10, return_sequences=True)
    x = _images(2, 4)
    expected = keras.ops.convert_to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_allclose(loaded(x), expected, rtol=1e-6, atol=1e-6)
    assert loaded.get_layer("encoder").name == "encoder"
    assert loaded.get_layer("head").name == "head"
    config = loaded.get_layer("head").get_layer("recurrent").cell.get_config()
    assert config["kernel_initializer"]["class_name"] == "BlockIdentity"


@pytest.mark.parametrize("return_sequences", [False, True])
def test_encode_once_equals_naive_evaluation(return_sequences):
    model = sequence_model("nac", 10, return_sequences=return_sequences)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    indices = rng.integers(0, 30, size=(5, 4))
    embeddings = encode_images(model, images)
    fast = predict_from_embeddings(model, embeddings, indices, batch_size=2)
    naive = model.predict(images[indices][..., None] / 255.0, verbose=0)
    if return_sequences:
        naive = naive[:, -1]
    assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)


def test_target_scale_rescales_the_readout():
    """`target_scale=(offset, scale)` multiplies the read-out's output by
    `scale` and adds `offset`, per output, and keeps them in its config."""
    head = sequence_head("lstm", 3, 2, target_scale=([45.0, -1.0], [9.0, 0.5]))
    readout = keras.Model(head.input, head.get_layer("target_scale").input)
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    raw = keras.ops.convert_to_numpy(readout(x))
    expected = raw * np.array([9.0, 0.5]) + np.array([45.0, -1.0])
    assert_allclose(head(x), expected, rtol=1e-6)
    config = head.get_layer("target_scale").get_config()
    assert config["scale"] == [9.0, 0.5] and config["offset"] == [45.0, -1.0]


def test_target_scale_needs_a_readout():
    with pytest.raises(ValueError, match="needs a read-out"):
        sequence_head("nac", 10, 10, target_scale=(0.0, 1.0))


def test_load_needs_only_import_nalu_rnn(tmp_path):
    """A fresh process loads a saved model after a bare `import nalu_rnn`."""
    path = tmp_path / "model.keras"
    sequence_model("nac", 1).save(path)
    code = (
        "import keras, nalu_rnn; "
        f"m = keras.models.load_model({str(path)!r}); "
        "print(m.get_layer('head').name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("head")


def test_nmu_head_multiplies_over_time_exactly():
    head = sequence_head("nmu", embed_dim=1, output_dim=1, multiplicative=True)
    cell = _head_cell(head)
    assert isinstance(cell, nalu_rnn.NMUCell)
    z = np.random.default_rng(0).uniform(0, 9, (3, 6, 1)).astype("float32")
    z[1, 2, 0] = 0.0
    y = keras.ops.convert_to_numpy(head(z))
    np.testing.assert_allclose(y, np.prod(z, axis=1), rtol=1e-5)
    assert y[1, 0] == 0.0
    # Any weights: each step multiplies (w*x + 1 - w) over [z_t, h_{t-1}].
    w = np.array([[0.5], [0.75]], dtype="float32")
    cell.unit.W.assign(w)
    h = np.ones((3, 1))
    for t in range(z.shape[1]):
        h = (w[0] * z[:, t] + 1 - w[0]) * (w[1] * h + 1 - w[1])
    y = keras.ops.convert_to_numpy(head(z))
    np.testing.assert_allclose(y, h, rtol=1e-5)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_registered_cell_builds_a_product_model(cell):
    model = sequence_model(cell, 1, multiplicative=True)
    y = keras.ops.convert_to_numpy(model(np.zeros((2, 3, 28, 28, 1), "float32")))
    assert y.shape == (2, 1)
    recurrent = _head_cell(model)
    product = CELLS[cell].make_product_cell
    if product is not None:
        # The registry names its builders lazily (`tasks.spec.deferred`).
        if isinstance(product, deferred):
            product = resolve(product.path)
        assert isinstance(recurrent, product)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: digit_encoder(0), "output_dim"),
        (lambda: digit_encoder(2.5), "output_dim"),
        (lambda: sequence_head("nac", 0, 1), "embed_dim"),
        (lambda: sequence_head("nac", 1, -1), "output_dim"),
        (lambda: sequence_model("nac", 0), "task_output_dim"),
    ],
)
def test_model_sizes_must_be_positive_integers(call, name):
    with pytest.raises(ValueError, match=f"`{name}` of .*positive integer"):
        call()


def test_sequence_model_refuses_images_without_a_time_axis():
    model = sequence_model("nac", 1)
    with pytest.raises(ValueError, match="incompatible"):
        model(np.zeros((2, 28, 28, 1), "float32"))


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((28, 28), "uint8"), r"`images` .*rank 3 .*received images of shape"),
        (np.zeros((2, 28, 28), "float32"), r"`images` .*rank 4 .*\(2, 28, 28\)"),
        (np.full((1, 28, 28, 1), np.nan, "float32"), r"`images` .*finite"),
        (np.array([["a"]]), r"`images` .*dtype <U1"),
    ],
)
def test_encode_images_checks_rank_dtype_and_finiteness(images, match):
    encoder = digit_encoder(10, conv_filters=(2, 2), dense_units=4)
    with pytest.raises(ValueError, match=match):
        encode_images(encoder, images)


@pytest.mark.parametrize(
    "embeddings, indices, match",
    [
        (np.zeros((5,), "float32"), np.zeros((2, 3), "int64"), "`embeddings`"),
        (np.full((5, 1), np.inf, "float32"), np.zeros((2, 3), "int64"), "finite"),
        (np.zeros((5, 1), "float32"), np.zeros((2, 3), "float32"), "`indices`"),
        (np.zeros((5, 1), "float32"), np.zeros((3,), "int64"), r"`indices`.*\(3,\)"),
        (np.zeros((5, 1), "float32"), np.full((2, 3), 7), r"\[0, 5\).*\[7, 7\]"),
    ],
)
def test_predict_from_embeddings_checks_its_arrays(embeddings, indices, match):
    head = sequence_head("nac", 1, 1)
    with pytest.raises(ValueError, match=match):
        predict_from_embeddings(head, embeddings, indices)


def test_class_balance_penalises_unused_classes_in_training_only():
    balance = ClassBalance(2.0)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=8).astype("float32")
    out = balance(probabilities, training=True)
    assert_array_equal(as_numpy(out), probabilities)
    usage = probabilities.astype("float64").mean(axis=0)
    expected = 2.0 * (np.log(10) + np.sum(usage * np.log(usage)))
    (loss,) = balance.losses
    assert float(as_numpy(loss)) == pytest.approx(expected, rel=1e-4)
    # Every image sent to one class: the largest penalty, strength * log(10).
    collapsed = np.zeros((8, 10), "float32")
    collapsed[:, 3] = 1.0
    model = keras.Sequential([keras.Input((10,)), ClassBalance(2.0)])
    model(collapsed, training=True)
    assert float(as_numpy(model.losses[0])) == pytest.approx(2 * np.log(10), rel=1e-5)
    # Classes used equally: none.
    model(np.eye(10, dtype="float32"), training=True)
    assert float(as_numpy(model.losses[0])) == pytest.approx(0.0, abs=1e-5)
    model(collapsed, training=False)
    assert not model.losses
    with pytest.raises(ValueError, match="strength"):
        ClassBalance(-1.0)


def test_class_confidence_penalises_undecided_images():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(10), size=8).astype("float32")
    layer = ClassBalance(0.0, confidence=0.5)
    layer(probabilities, training=True)
    p = probabilities.astype("float64")
    expected = 0.5 * np.mean(-np.sum(p * np.log(p), axis=-1))
    (loss,) = layer.losses
    assert float(as_numpy(loss)) == pytest.approx(expected, rel=1e-4)
    # Every image decided (one-hot): none; even halves of two classes: log 2.
    model = keras.Sequential([keras.Input((10,)), ClassBalance(0.0, confidence=1.0)])
    model(np.eye(10, dtype="float32"), training=True)
    assert float(as_numpy(model.losses[0])) == pytest.approx(0.0, abs=1e-5)
    halves = np.zeros((4, 10), "float32")
    halves[:, :2] = 0.5
    model(halves, training=True)
    assert float(as_numpy(model.losses[0])) == pytest.approx(np.log(2), rel=1e-5)
    # With both, two losses: the balance's and the confidence's.
    both = ClassBalance(1.0, confidence=1.0)
    both(probabilities, training=True)
    assert len(both.losses) == 2
    with pytest.raises(ValueError, match="confidence"):
        ClassBalance(1.0, confidence=-1.0)


def test_class_balance_stop_switches_the_terms_off_from_its_step():
    # A trainable layer before the balance, so that the terms move it.
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(10, activation="softmax"),
            ClassBalance(1.0, confidence=0.5, name="class_balance"),
        ]
    )
    model.compile("sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 10)).astype("float32")
    stop = ClassBalanceStop(5)
    # 2 epochs of 4 steps: the terms stop at the first step of the second.
    model.fit(x, x, batch_size=8, epochs=2, callbacks=[stop], verbose=0)
    layer = model.get_layer("class_balance")
    assert stop.changed_at == 5
    assert (layer.strength, layer.confidence) == (0.0, 0.0)
    # From then on training sees the task's loss alone.
    model(x, training=True)
    assert not model.losses
    # A run resumed past the step stops them before its first batch.
    resumed = ClassBalanceStop(3)
    other = keras.Sequential([keras.Input((10,)), ClassBalance(2.0)])
    other.compile("sgd", loss="mse")
    other.fit(x, x, batch_size=8, epochs=2, initial_epoch=1, callbacks=[resumed])
    assert resumed.changed_at == 4
    for step in (-1, 1.5):
        with pytest.raises(ValueError, match="step"):
            ClassBalanceStop(step)


def test_class_balance_sits_after_the_softmax_and_round_trips(tmp_path):
    encoder = digit_encoder(
        1, digit_classes=True, class_balance=3.0, class_confidence=0.5
    )
    layer = encoder.get_layer("class_balance")
    assert (layer.strength, layer.confidence) == (3.0, 0.5)
    # The confidence alone adds the layer too.
    alone = digit_encoder(1, digit_classes=True, class_confidence=0.5)
    assert alone.get_layer("class_balance").strength == 0.0
    assert encoder.layers[encoder.layers.index(layer) - 1].name == "embedding"
    assert "class_balance" not in [
        x.name for x in digit_encoder(1, digit_classes=True).layers
    ]
    images = np.random.default_rng(1).uniform(size=(2, 28, 28, 1)).astype("float32")
    path = tmp_path / "encoder.keras"
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("class_balance").confidence == 0.5
    assert_allclose(as_numpy(loaded(images)), as_numpy(encoder(images)), rtol=1e-6)
