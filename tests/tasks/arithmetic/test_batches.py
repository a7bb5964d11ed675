"""The training stream of the arithmetic tasks (`tasks.arithmetic.batches`)."""

import numpy as np
import pytest

from tasks.arithmetic.batches import ArithmeticBatches
from tasks.arithmetic.data import ArithmeticTask
from tests.support.arrays import assert_array_equal


def test_training_batches_are_seeded_and_change_each_epoch():
    task = ArithmeticTask("add")
    batches = ArithmeticBatches(task, 10, 16, steps_per_epoch=3, seed=0)
    same = ArithmeticBatches(task, 10, 16, steps_per_epoch=3, seed=0)
    x0, y0 = batches[0]
    assert_array_equal(x0, same[0][0])
    assert x0.shape == (16, 10, 10) and y0.shape == (16, 1)
    assert not np.array_equal(x0, batches[1][0])
    batches.on_epoch_end()
    assert not np.array_equal(x0, batches[0][0])
    assert len(batches) == 3


def test_every_step_has_the_training_length_unless_a_subclass_varies_it():
    task = ArithmeticTask("div")

    class Doubling(ArithmeticBatches):
        def length_at(self, step):
            return self.length * (2 if step >= 3 else 1)

    plain = ArithmeticBatches(task, 4, 2, steps_per_epoch=3, seed=0)
    assert [plain.length_at(step) for step in (0, 2, 3, 10**6)] == [4, 4, 4, 4]
    doubling = Doubling(task, 4, 2, steps_per_epoch=3, seed=0)
    assert doubling[2][0].shape == (2, 4, 10)
    doubling.on_epoch_end()  # step 3 onwards
    assert doubling[0][0].shape == (2, 8, 10)
    # Where the lengths agree the batches do: both draw from (seed, epoch,
    # step) alone.
    assert_array_equal(plain[1][0], Doubling(task, 4, 2, 3, seed=0)[1][0])


@pytest.mark.parametrize("static", [True, False])
def test_stacked_batches_are_each_seeds_batch_to_the_last_bit(static):
    # Seeds with their own subsets, as `--seeds N` trains them, over two
    # epochs (the draws depend on the epoch).
    seeds = [0, 1, 7]
    tasks = [ArithmeticTask("mul", static=static, subset_seed=s) for s in seeds]
    streams = [
        ArithmeticBatches(t, 5, 8, 2, seed=s) for t, s in zip(tasks, seeds, strict=True)
    ]
    alone = [
        ArithmeticBatches(t, 5, 8, 2, seed=s) for t, s in zip(tasks, seeds, strict=True)
    ]
    for _ in range(2):
        for index in range(2):
            x, y = ArithmeticBatches.stacked(streams, index)
            batches = [b[index] for b in alone]
            assert_array_equal(x, np.stack([b[0] for b in batches]))
            assert_array_equal(y, np.stack([b[1] for b in batches]))
            assert x.dtype == y.dtype == np.float32
        for b in streams + alone:
            b.on_epoch_end()
