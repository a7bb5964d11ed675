"""MNIST sequences: what a task's target is, and which images a sequence holds.

A sequence is `length` MNIST images drawn uniformly *with replacement* from one
split. Each task is a `DigitTarget`: what one image contributes (a one-hot
class vector to count, or its digit value), and how the contributions
combine over the sequence (a sum, or a product):

* `COUNT` (`"mnist_count"`): the 10-vector of how many images of each digit
  appear (float32, it sums to `length`).
* `SUM` (`"mnist_add"`): the sum of the digit values, shape `(1,)`.
* `PRODUCT` (`"mnist_product"`): the product of the digit values, shape
  `(1,)` (computed in float64 and rounded once to float32): 1 times each
  digit in turn, so any zero digit makes it 0. Madsen & Johansen's
  sequential MNIST product; the product of 20 nines, about 1.2e19, still
  fits float32.

With `every_step=True` the targets are the running values after every step
(shape `(..., length, k)`) instead of the final value only (`(..., k)`). Note
that every-step targets reveal each single digit (the difference of two
consecutive targets); the paper trained on final targets only.
"""

import dataclasses

import numpy as np

from tasks.mnist.checks import check_images_labels, check_positive_int, check_seed
from tasks.mnist.loading import NUM_CLASSES


@dataclasses.dataclass(frozen=True)
class DigitTarget:
    """The target of one MNIST task.

    Args:
        name: The task's name.
        per_image: What one image contributes: `"count"` (its one-hot class
            vector) or `"value"` (its digit value).
        over_time: How the contributions combine: `"sum"` or `"product"`.
        harden_length: The sequence length hardening validates at: long
            enough that an inexact state weight shows (its error compounds
            over the steps), and for a product short enough that the targets
            stay finite in float32 (9^40 is not).
    """

    name: str
    per_image: str
    over_time: str
    harden_length: int

    @property
    def output_dim(self):
        """The size of the target: 10 counts, or one number."""
        return NUM_CLASSES if self.per_image == "count" else 1

    @property
    def multiplicative(self):
        """Whether the target multiplies over time, so a head must multiply."""
        return self.over_time == "product"


COUNT = DigitTarget(
    "mnist_count", per_image="count", over_time="sum", harden_length=100
)
SUM = DigitTarget("mnist_add", per_image="value", over_time="sum", harden_length=100)
PRODUCT = DigitTarget(
    "mnist_product", per_image="value", over_time="product", harden_length=20
)
TARGETS = {target.name: target for target in (COUNT, SUM, PRODUCT)}
TASKS = tuple(TARGETS)
# The tasks whose target multiplies the digit values over time.
PRODUCT_TASKS = tuple(name for name, t in TARGETS.items() if t.multiplicative)


def target_of(task):
    """The `DigitTarget` of `task` (one, or its name); `ValueError` otherwise."""
    if isinstance(task, DigitTarget):
        return task
    if task not in TARGETS:
        raise ValueError(
            f"Unknown MNIST task {task!r}; valid tasks are: {', '.join(TASKS)}"
        )
    return TARGETS[task]


def sequence_targets(labels, indices, task, every_step=False):
    """Targets of image sequences, computed with NumPy.

    Args:
        labels: Integer digit labels 0-9, shape `(N,)`.
        indices: Integer array of shape `(num_sequences, length)` into `labels`.
        task: A `DigitTarget`, or the name of one (`TASKS`):
            `"mnist_count"` (10-vector of how many of each digit),
            `"mnist_add"` (sum of the digits, shape `(1,)`) or
            `"mnist_product"` (their product, shape `(1,)`).
        every_step: If `True`, return the running targets after every step;
            if `False` (default), the targets of whole sequences only.

    Returns:
        float32 array of shape `(num_sequences, k)`, or
        `(num_sequences, length, k)` with `every_step=True`, where `k` is 10
        for `"mnist_count"` and 1 for `"mnist_add"` and `"mnist_product"`.
    """
    target = target_of(task)
    labels = np.asarray(labels)
    indices = np.asarray(indices)
    if indices.ndim != 2 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"`indices` must be an integer array of shape (num_sequences, "
            f"length); received dtype {indices.dtype} and shape {indices.shape}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= len(labels)):
        raise ValueError(
            f"`indices` must lie in [0, {len(labels)}) for {len(labels)} labels; "
            f"received values from {indices.min()} to {indices.max()}"
        )
    digits = labels[indices].astype(np.int64)
    if target.per_image == "count":
        per_step = np.eye(NUM_CLASSES, dtype=np.float32)[digits]
    else:
        per_step = digits[..., None].astype(np.float32)
    if target.multiplicative:
        # In float64, rounded once: float32 partial products would round at
        # every step beyond 2^24.
        if every_step:
            return np.cumprod(per_step, axis=1, dtype=np.float64).astype(np.float32)
        return per_step.prod(axis=1, dtype=np.float64).astype(np.float32)
    if every_step:
        return np.cumsum(per_step, axis=1, dtype=np.float32)
    return per_step.sum(axis=1, dtype=np.float32)


def sample_indices(num_images, num_sequences, length, seed):
    """Draws image indices of sequences uniformly with replacement.

    Args:
        num_images: Number of images to draw from (indices lie in
            `[0, num_images)`).
        num_sequences: Number of sequences.
        length: Number of images per sequence.
        seed: Non-negative integer seed of `numpy.random.default_rng`.

    Returns:
        int64 array of shape `(num_sequences, length)`; the same for the same
        arguments.
    """
    num_images = check_positive_int(num_images, "num_images")
    num_sequences = check_positive_int(num_sequences, "num_sequences")
    length = check_positive_int(length, "length")
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_images, size=(num_sequences, length), dtype=np.int64)


def evaluation_arrays(images, labels, task, length, num_sequences, seed):
    """Index sequences and their final targets, for encode-once evaluation.

    The caller can encode each image once and gather the embeddings by
    `indices`, which makes long sequences (L = 1000) cheap to evaluate.

    Args:
        images: Array of shape `(N, ...)`; only its length is used.
        labels: Digit labels 0-9, shape `(N,)`.
        task: A `DigitTarget`, or its name (`TASKS`).
        length: Number of images per sequence (positive integer).
        num_sequences: Number of sequences (positive integer).
        seed: Non-negative integer seed (see `sample_indices`).

    Returns:
        `(indices, targets)`: int64 `(num_sequences, length)` and float32
        `(num_sequences, k)`.
    """
    target = target_of(task)
    images, labels = check_images_labels(images, labels, require_uint8=False)
    indices = sample_indices(len(images), num_sequences, length, seed)
    return indices, sequence_targets(labels, indices, target)
