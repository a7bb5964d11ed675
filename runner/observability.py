"""TensorBoard logs and serving exports of `train.py` runs.

Kept apart from `runner.run` so that the run itself stays a plain sequence
of steps; `runner.run.fit` and `runner.run.run` call these hooks.
"""

import numbers
from pathlib import Path

import keras

import nalu_rnn

# Batches between the loss and weight-distance records (fewer when an epoch
# is shorter): often enough for a curve of a 2000-step run, rare enough that
# reading the weights back costs nothing measurable.
TENSORBOARD_UPDATE_FREQ = 100
SERVING_DIR = "serving"


def tensorboard_dir(config, out_dir):
    """The TensorBoard log folder of one run, or `None` when not asked for.

    `--tensorboard` without a value logs to `OUT/tensorboard` (per seed:
    `OUT/seed_<K>/tensorboard`); with a folder, to that folder (per seed:
    `DIR/seed_<K>`, so that TensorBoard shows every seed as a run).
    """
    tensorboard = config.infra.tensorboard
    if tensorboard is None:
        return None
    if tensorboard == "":
        return Path(out_dir) / "tensorboard"
    if config.run.seeds:
        return Path(tensorboard) / f"seed_{config.run.seed}"
    return Path(tensorboard)


def training_callbacks(log_dir, steps_per_epoch):
    """Keras's TensorBoard (losses) and the arithmetic-weight monitor.

    Layout under `log_dir`: `train/` holds `epoch_loss`, `batch_loss` and
    `epoch_learning_rate` (from `keras.callbacks.TensorBoard`); `weights/`
    holds `arithmetic_weights/<unit>/<matrix>/{max,mean}_distance` (from
    `nalu_rnn.callbacks.ArithmeticWeightMonitor`), recorded every
    `TENSORBOARD_UPDATE_FREQ` batches.
    """
    if log_dir is None:
        return []
    log_dir = Path(log_dir)
    every = min(TENSORBOARD_UPDATE_FREQ, steps_per_epoch)
    return [
        # No graph or profile: neither exists on every backend, and tracing
        # them would slow the first steps.
        keras.callbacks.TensorBoard(
            str(log_dir), update_freq=every, write_graph=False, profile_batch=0
        ),
        nalu_rnn.callbacks.ArithmeticWeightMonitor(
            str(log_dir / "weights"), update_freq=every
        ),
    ]


def write_eval_scalars(log_dir, entries, step):
    """Writes every numeric metric of every eval length to `log_dir/eval`.

    Two views of the same numbers: `eval/length_<L>/<metric>` at the step
    training ended (compare runs at one length), and
    `eval_by_length/<metric>` with the length as the step (error against
    length, TensorBoard's version of `extrapolation.png`).
    """
    if log_dir is None:
        return
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(Path(log_dir) / "eval"))
    with writer.as_default():
        for entry in entries:
            length = int(entry["length"])
            for name, value in entry.items():
                # Booleans (success) and None (a diverged metric) are no
                # scalars; the length is the step, not a metric.
                if name == "length" or not _is_number(value):
                    continue
                tf.summary.scalar(f"eval/length_{length}/{name}", value, step=step)
                tf.summary.scalar(f"eval_by_length/{name}", value, step=length)
    writer.close()


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def export_for_serving(model, out_dir):
    """Exports `model` as a SavedModel in `OUT/serving` and returns the path.

    `model.export` writes an inference-only TensorFlow SavedModel with a
    `serve` endpoint taking the model's input (on JAX it converts through
    `jax2tf`); load it with `tf.saved_model.load(path).serve(x)`, without
    nalu_rnn or Keras.
    """
    path = Path(out_dir) / SERVING_DIR
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path
