"""Training and evaluation pipelines of MNIST sequences.

`training_dataset` (tf.data, for the TensorFlow backend) draws batch `step`
(0, 1, 2, ...) with `tf.random.stateless_uniform(seed=[seed, step])`, so it
is reproducible and needs no state; `training_batches`, its NumPy twin for
the other backends, draws with `numpy.random.default_rng([seed, step])`, so
one seed trains on different sequences there. Both yield images as float32
in [0, 1] (uint8 value / 255) with a trailing channel axis:
`(batch, length, 28, 28, 1)`. `evaluation_dataset` gathers the images of
`tasks.mnist.sequences.evaluation_arrays`'s sequences.
"""

import numpy as np

from tasks.mnist.checks import check_images_labels, check_positive_int, check_seed
from tasks.mnist.loading import NUM_CLASSES
from tasks.mnist.sequences import evaluation_arrays, sequence_targets, target_of


def _tf():
    # Imported lazily: loading data and NumPy targets should not pay for
    # importing TensorFlow, and a JAX-only user never reaches the pipelines.
    import tensorflow as tf

    return tf


def _tf_targets(tf, digits, target, every_step):
    if target.per_image == "count":
        per_step = tf.one_hot(digits, NUM_CLASSES, dtype=tf.float32)
    else:
        per_step = tf.cast(digits, tf.float32)[..., None]
    if target.multiplicative:
        # As `sequence_targets`: float64 products, rounded once.
        per_step = tf.cast(per_step, tf.float64)
        if every_step:
            return tf.cast(tf.math.cumprod(per_step, axis=1), tf.float32)
        return tf.cast(tf.reduce_prod(per_step, axis=1), tf.float32)
    if every_step:
        return tf.cumsum(per_step, axis=1)
    return tf.reduce_sum(per_step, axis=1)


def _to_model_input(tf, images):
    images = tf.cast(images, tf.float32) / 255.0
    return images[..., None]


def _check_training_arguments(images, labels, task, length, batch_size, seed):
    """`(images, labels, target, length, batch_size, seed)` of both training
    pipelines, checked in the order the pipelines always checked them."""
    target = target_of(task)
    length = check_positive_int(length, "length")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_seed(seed)
    images, labels = check_images_labels(images, labels)
    return images, labels, target, length, batch_size, seed


def training_dataset(images, labels, task, length, batch_size, seed, every_step=False):
    """An infinite, seeded `tf.data.Dataset` of training batches.

    Batch number `step` (0, 1, 2, ...) holds `batch_size` sequences of `length`
    images drawn uniformly with replacement by
    `tf.random.stateless_uniform(seed=[seed, step])`, so the stream is the
    same for the same seed and any batch can be reproduced on its own.

    Args:
        images: uint8 array of shape `(N, 28, 28)`.
        labels: Digit labels 0-9, shape `(N,)`.
        task: A `tasks.mnist.DigitTarget`, or its name (`TASKS`).
        length: Number of images per sequence (positive integer).
        batch_size: Sequences per batch (positive integer).
        seed: Non-negative integer seed.
        every_step: If `True`, targets at every step (`(batch, length, k)`);
            if `False` (default), final targets only (`(batch, k)`).

    Returns:
        A `tf.data.Dataset` of `(x, y)`, x float32 in [0, 1] of shape
        `(batch_size, length, 28, 28, 1)`, y float32 targets as in
        `sequence_targets`. It never ends: pass `steps_per_epoch` to `fit`.
    """
    tf = _tf()
    images, labels, target, length, batch_size, seed = _check_training_arguments(
        images, labels, task, length, batch_size, seed
    )
    num_images = len(images)
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype(np.int32))

    def make_batch(step):
        index = tf.random.stateless_uniform(
            [batch_size, length],
            seed=tf.stack([tf.constant(seed, tf.int64), step]),
            minval=0,
            maxval=num_images,
            dtype=tf.int64,
        )
        x = _to_model_input(tf, tf.gather(images_t, index))
        y = _tf_targets(tf, tf.gather(labels_t, index), target, every_step)
        return x, y

    dataset = tf.data.Dataset.counter(start=0, dtype=tf.int64)
    dataset = dataset.map(
        make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def training_batches(images, labels, task, length, batch_size, seed, every_step=False):
    """An infinite, seeded iterator of training batches, in NumPy.

    The pipeline for backends other than TensorFlow, which need not have
    TensorFlow installed (a JAX or PyTorch machine with a GPU, say). Batch
    number `step` (0, 1, 2, ...) holds `batch_size` sequences of `length`
    images drawn uniformly with replacement by
    `numpy.random.default_rng([seed, step])`, so, as in `training_dataset`,
    the stream is the same for the same seed and any batch can be reproduced
    on its own. The two pipelines draw different sequences for one seed.

    Args:
        images: uint8 array of shape `(N, 28, 28)`.
        labels: Digit labels 0-9, shape `(N,)`.
        task: A `tasks.mnist.DigitTarget`, or its name (`TASKS`).
        length: Number of images per sequence (positive integer).
        batch_size: Sequences per batch (positive integer).
        seed: Non-negative integer seed.
        every_step: If `True`, targets at every step (`(batch, length, k)`);
            if `False` (default), final targets only (`(batch, k)`).

    Returns:
        A generator of `(x, y)` NumPy arrays shaped as `training_dataset`'s.
        It never ends: pass `steps_per_epoch` to `fit`.
    """
    images, labels, target, length, batch_size, seed = _check_training_arguments(
        images, labels, task, length, batch_size, seed
    )

    def batches():
        step = 0
        while True:
            rng = np.random.default_rng([seed, step])
            index = rng.integers(0, len(images), size=(batch_size, length))
            x = images[index].astype(np.float32)[..., None] / np.float32(255.0)
            yield x, sequence_targets(labels, index, target, every_step=every_step)
            step += 1

    return batches()


def evaluation_dataset(images, labels, task, length, num_sequences, batch_size, seed):
    """A finite `tf.data.Dataset` of the sequences of `evaluation_arrays`.

    For the same arguments it holds exactly the sequences (in the same order)
    that `evaluation_arrays` describes, with the images gathered, for naive
    evaluation of short sequences.

    Args:
        images: uint8 array of shape `(N, 28, 28)`.
        labels: Digit labels 0-9, shape `(N,)`.
        task: A `tasks.mnist.DigitTarget`, or its name (`TASKS`).
        length: Number of images per sequence (positive integer).
        num_sequences: Number of sequences (positive integer).
        batch_size: Sequences per batch (positive integer); the last batch
            may be smaller.
        seed: Non-negative integer seed (see `sample_indices`).

    Returns:
        A `tf.data.Dataset` of `(x, y)`, x float32 in [0, 1] of shape
        `(batch, length, 28, 28, 1)`, y float32 final targets `(batch, k)`.
    """
    tf = _tf()
    batch_size = check_positive_int(batch_size, "batch_size")
    images, labels = check_images_labels(images, labels)
    indices, targets = evaluation_arrays(
        images, labels, task, length, num_sequences, seed
    )
    images_t = tf.constant(images)

    def gather(index, y):
        return _to_model_input(tf, tf.gather(images_t, index)), y

    dataset = tf.data.Dataset.from_tensor_slices((indices, targets))
    dataset = dataset.batch(batch_size).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
