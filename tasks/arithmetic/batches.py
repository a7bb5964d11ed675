"""Training batches of the arithmetic tasks, drawn afresh for every step."""

import keras
import numpy as np

from tasks.arithmetic.data import stacked_targets


class ArithmeticBatches(keras.utils.PyDataset):
    """Training batches drawn afresh for every step, seeded by (seed, epoch, step).

    Args:
        task: An `ArithmeticTask`.
        length: Sequence length (ignored when the task is static).
        batch_size: Examples per batch.
        steps_per_epoch: Batches per epoch.
        seed: Integer seed.
    """

    def __init__(self, task, length, batch_size, steps_per_epoch, seed, **kwargs):
        super().__init__(**kwargs)
        self.task = task
        self.length = length
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        return self.steps_per_epoch

    def length_at(self, step):
        """The sequence length of training step `step` (counted over epochs):
        `length` at every step; a subclass may vary it."""
        return self.length

    def __getitem__(self, index):
        x = self.inputs(index)
        return x, self.task.targets(x)

    def inputs(self, index):
        """The inputs of batch `index` of this epoch, without targets."""
        rng = np.random.default_rng([self.seed, 0, self.epoch, index])
        length = self.length_at(self.epoch * self.steps_per_epoch + index)
        return self.task.inputs(self.batch_size, length, self.task.train_range, rng)

    def on_epoch_end(self):
        self.epoch += 1

    @staticmethod
    def stacked(batches, index):
        """Batch `index` of each of `batches`, stacked on a new first axis.

        Equal to stacking `b[index] for b in batches` to the last bit, with
        the targets of all of them computed at once (`stacked_targets`):
        `runner.vectorize` draws every seed's batch at every step.

        Args:
            batches: `ArithmeticBatches` of one op and one batch shape.
            index: The batch of their current epochs.

        Returns:
            `(x, y)`, each with a leading axis over `batches`.
        """
        x = np.stack([b.inputs(index) for b in batches])
        return x, stacked_targets([b.task for b in batches], x)
