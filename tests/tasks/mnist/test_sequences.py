"""What the MNIST tasks' targets are, and which images a sequence holds
(`tasks.mnist.sequences`)."""

import numpy as np
import pytest

from tasks.mnist import (
    COUNT,
    PRODUCT,
    PRODUCT_TASKS,
    SUM,
    TASKS,
    sample_indices,
    sequence_targets,
    target_of,
)
from tests.support.arrays import assert_array_equal
from tests.support.mnist_data import loop_targets


@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("task", TASKS)
def test_sequence_targets_match_loop(small, task, every_step):
    _, labels = small
    indices = sample_indices(len(labels), num_sequences=7, length=6, seed=1)
    got = sequence_targets(labels, indices, task, every_step=every_step)
    expected = loop_targets(labels, indices, task, every_step)
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    assert_array_equal(got, expected)


def test_sequence_targets_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match="mnist_count.*mnist_add"):
        sequence_targets(np.zeros(3), np.zeros((1, 2), np.int64), "mnist_mul")


def test_sample_indices_seeded():
    a = sample_indices(50, num_sequences=4, length=9, seed=5)
    assert a.shape == (4, 9) and a.dtype == np.int64
    assert a.min() >= 0 and a.max() < 50
    assert_array_equal(a, sample_indices(50, 4, 9, seed=5))
    assert not np.array_equal(a, sample_indices(50, 4, 9, seed=6))


def test_targets_are_the_running_product_and_a_zero_digit_makes_it_zero():
    labels = np.array([3, 0, 2, 9, 1], dtype=np.uint8)
    indices = np.array([[0, 2, 3], [0, 1, 2], [4, 4, 4]])
    final = sequence_targets(labels, indices, "mnist_product")
    np.testing.assert_array_equal(final, [[54.0], [0.0], [1.0]])
    running = sequence_targets(labels, indices, "mnist_product", every_step=True)
    np.testing.assert_array_equal(running[:, :, 0], [[3, 6, 54], [3, 0, 0], [1, 1, 1]])
    assert final.dtype == running.dtype == np.float32
    # Twenty nines: 9^20 ~ 1.2e19 fits float32, rounded once from float64.
    nines = sequence_targets(np.array([9]), np.zeros((1, 20), int), "mnist_product")
    assert nines[0, 0] == np.float32(9.0**20)


def test_each_task_is_a_digit_target():
    assert (COUNT.output_dim, SUM.output_dim, PRODUCT.output_dim) == (10, 1, 1)
    assert PRODUCT.multiplicative and not (COUNT.multiplicative or SUM.multiplicative)
    assert PRODUCT_TASKS == ("mnist_product",)
    assert TASKS == ("mnist_count", "mnist_add", "mnist_product")
    # Hardening validates where an inexact state weight shows, and a
    # product stays finite in float32.
    assert (COUNT.harden_length, SUM.harden_length, PRODUCT.harden_length) == (
        100,
        100,
        20,
    )
    assert target_of("mnist_add") is SUM and target_of(SUM) is SUM
    with pytest.raises(ValueError, match="Unknown MNIST task 'mnist_mul'"):
        target_of("mnist_mul")
    # A target given as itself or by its name gives the same targets.
    labels = np.array([3, 0, 2], dtype=np.uint8)
    indices = np.array([[0, 2], [1, 2]])
    assert_array_equal(
        sequence_targets(labels, indices, PRODUCT),
        sequence_targets(labels, indices, "mnist_product"),
    )
