"""The MNIST training and evaluation pipelines (`tasks.mnist.pipelines`):
tf.data for the TensorFlow backend, its NumPy twin for the others."""

import itertools

import numpy as np
import pytest

from tasks.mnist import (
    TASKS,
    evaluation_arrays,
    evaluation_dataset,
    sequence_targets,
    training_batches,
    training_dataset,
)
from tests.support.arrays import assert_allclose, assert_array_equal
from tests.support.mnist_data import loop_targets


def _first_batches(dataset, n):
    if hasattr(dataset, "take"):
        return [(x.numpy(), y.numpy()) for x, y in dataset.take(n)]
    return list(itertools.islice(dataset, n))


# tf.data for the TensorFlow backend, its NumPy twin for the others.
TRAINING_PIPELINES = pytest.mark.parametrize(
    "make", [training_dataset, training_batches], ids=["tf.data", "numpy"]
)


@TRAINING_PIPELINES
@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("task", TASKS)
def test_training_dataset_batches(small, task, every_step, make):
    images, labels = small
    length, batch_size = 5, 4
    dataset = make(
        images, labels, task, length, batch_size, seed=2, every_step=every_step
    )
    batches = _first_batches(dataset, 2)
    k = 10 if task == "mnist_count" else 1
    y_shape = (batch_size, length, k) if every_step else (batch_size, k)
    # Each image is found again by its pixels to recompute the target.
    label_of = {}
    for image, label in zip(images, labels, strict=True):
        assert label_of.setdefault(image.tobytes(), label) == label
    for x, y in batches:
        assert x.shape == (batch_size, length, 28, 28, 1)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert y.shape == y_shape
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
        pixels = np.rint(x[..., 0] * 255).astype(np.uint8)
        digits = np.array(
            [[label_of[image.tobytes()] for image in row] for row in pixels]
        )
        positions = np.arange(digits.size).reshape(digits.shape)
        expected = loop_targets(digits.ravel(), positions, task, every_step)
        assert_array_equal(y, expected)
        if task == "mnist_count":
            final = y[:, -1] if every_step else y
            assert_array_equal(final.sum(-1), length)
    assert not np.array_equal(batches[0][0], batches[1][0])


@TRAINING_PIPELINES
def test_training_dataset_deterministic(small, make):
    images, labels = small
    first = _first_batches(make(images, labels, "mnist_add", 3, 8, 7), 2)
    again = _first_batches(make(images, labels, "mnist_add", 3, 8, 7), 2)
    other = _first_batches(make(images, labels, "mnist_add", 3, 8, 8), 2)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        assert_array_equal(x1, x2)
        assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])


def test_training_batches_reproduce_any_step_on_its_own(small):
    """Batch `step` is drawn by `default_rng([seed, step])` alone, so it needs
    none of the batches before it."""
    images, labels = small
    stream = training_batches(images, labels, "mnist_count", 4, 3, seed=5)
    batches = _first_batches(stream, 3)
    index = np.random.default_rng([5, 2]).integers(0, len(images), size=(3, 4))
    assert_array_equal(batches[2][0], images[index].astype(np.float32)[..., None] / 255)
    assert_array_equal(batches[2][1], sequence_targets(labels, index, "mnist_count"))


@pytest.mark.parametrize("task", TASKS)
def test_evaluation_dataset_matches_arrays(small, task):
    images, labels = small
    indices, targets = evaluation_arrays(
        images, labels, task, length=4, num_sequences=10, seed=11
    )
    assert indices.shape == (10, 4)
    assert_array_equal(targets, sequence_targets(labels, indices, task))
    dataset = evaluation_dataset(
        images, labels, task, length=4, num_sequences=10, batch_size=4, seed=11
    )
    batches = _first_batches(dataset, 10)
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    expected_x = images[indices].astype(np.float32)[..., None] / 255.0
    assert_allclose(x, expected_x, rtol=0, atol=1e-7)
    assert_array_equal(y, targets)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("length", {"length": 0}),
        ("length", {"length": 2.0}),
        ("batch_size", {"batch_size": -3}),
        ("num_sequences", {"num_sequences": True}),
        ("seed", {"seed": -1}),
        ("mnist_count", {"task": "count"}),
    ],
)
def test_pipeline_arguments_are_validated(small, name, kwargs):
    images, labels = small
    arguments = dict(
        task="mnist_count", length=3, num_sequences=5, batch_size=2, seed=0
    )
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        evaluation_dataset(images, labels, **arguments)
    if name != "num_sequences":
        del arguments["num_sequences"]
        for make in (training_dataset, training_batches):
            with pytest.raises(ValueError, match=name):
                make(images, labels, **arguments)


def test_product_training_pipeline_targets_match_numpy():
    # Image i is filled with the value i, so that x tells which were drawn.
    labels = np.arange(40, dtype=np.uint8) % 10
    images = np.repeat(np.arange(40, dtype=np.uint8), 28 * 28).reshape(40, 28, 28)
    for every_step in (False, True):
        data = training_dataset(
            images, labels, "mnist_product", 4, 8, seed=1, every_step=every_step
        )
        x, y = next(iter(data))
        drawn = np.rint(np.asarray(x)[:, :, 0, 0, 0] * 255).astype(int)
        expected = sequence_targets(
            labels, drawn, "mnist_product", every_step=every_step
        )
        np.testing.assert_array_equal(np.asarray(y), expected)
