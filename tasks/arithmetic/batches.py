"""Training batches of the arithmetic tasks, drawn afresh for every step."""

import keras
import numpy as np


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
        rng = np.random.default_rng([self.seed, 0, self.epoch, index])
        length = self.length_at(self.epoch * self.steps_per_epoch + index)
        return self.task.sample(self.batch_size, length, self.task.train_range, rng)

    def on_epoch_end(self):
        self.epoch += 1
