"""The MNIST sequence experiments (`mnist_count`, `mnist_add`,
`mnist_product`) for `train.py`.

`MNISTExperiment` plugs into `runner.run.run`: a ConvNet encoder plus a
recurrent head (`nalu_rnn.digits.sequence_model`) is trained on sequences of
`--train-length` images from the MNIST training split (less the validation
slice), and evaluated encode-once on `--eval-sequences` test-split sequences
per `--eval-lengths`.

The default recipe for the arithmetic cells (`nac`, `nalu`):

* Head: `NACCell(k)` whose state is the output (k = 10 counts, or k = 1 sum
  over a scalar digit-value embedding), kernels started at
  `nalu_rnn.initializers.BlockIdentity(10)`, i.e. as the running sum of the
  embeddings. With a random start the head learns nothing in minutes.
* `mnist_product` multiplies instead: its default cell is `nmu`
  (`DEFAULT_CELLS`), whose head is an `NMUCell(1)` with initial state 1
  started at `BlockIdentity(1.0)`, the exact running product of the digit
  values (`nalu_rnn.digits.sequence_head(multiplicative=True)`). Its
  lengths (train 2, evaluate 1 to 20) are `runner.config.MNIST_PRODUCT_RECIPE`.
* Encoder output (`--encoder classes`, the default; `--encoder linear` is
  the paper's linear read-out): the encoder classifies each image
  (softmax over the 10 digits); for counting that class vector is summed,
  for addition a bias-free `Dense(1)` started at 0..9 turns it into a digit
  value first. A class vector sums to exactly 1 per image and is one-hot
  when confident, so its running sum does not drift the way a sum of
  unconstrained regressions does (2000-step probes: addition relative
  error at length 1000 fell from 2.0% to 0.29%, counting MAE from 1.45 to
  0.96).
* Loss MSE (MAE learns a median and leaves a bias that grows with length),
  Adam with cosine learning-rate decay.
* A short length curriculum: the first `CURRICULUM_FRACTION` of the steps
  use a few shorter lengths (1, 2, 5 for length 10), so the encoder first
  learns from nearly single-image targets.
* Supervision "final" (`runner.config.MNIST_RECIPE`): only the target of
  the whole sequence, as in the paper; pass `--supervision every_step` for
  the running targets.
* After training the cell's kernel is hardened block by block (rows of the
  state block first, then of the input block, `HARDEN_ROWS`), each snap kept
  only if validation MAE at the task's `HARDEN_VALIDATION_LENGTHS` does not
  rise. Errors of the state block compound over 1000 steps; the input block
  may have learnt small off-diagonal values that cancel the encoder's
  leakage between classes (then snapping it is rejected).

The baselines (`lstm`, `gru`, `rnn_tanh`, `rnn_relu`) get 32 units, a
10-dimensional embedding and a `Dense` read-out, and their own recipe
(`runner.config.MNIST_BASELINE_RECIPE`): the linear encoder, the read-out
scaled to the training targets (`--scale-targets`: mean and standard
deviation of training sequences at the training length, from
`training_target_statistics`), no curriculum, a longer budget.
"""

import itertools
import math

import keras
import numpy as np

import nalu_rnn
from nalu_rnn import digits
from nalu_rnn.models import get_cell_spec
from runner.training import (
    SaturationPenalty,
    compile_model,
    gate_snap_callback,
    gate_snap_record,
    harden_with_rollback,
)
from tasks import mnist, mnist_thresholds
from tasks.base import Experiment, ModelSignature, register_task

BASELINE_UNITS = 32
CURRICULUM_FRACTION = 0.2
CURRICULUM_STAGES = 3
# Cosine decay ends at this fraction of the initial learning rate.
FINAL_LEARNING_RATE_FRACTION = 0.05
MAX_STEPS_PER_EPOCH = 500
HARDEN_ROWS = ("state", "input")
# The length hardening validates at, by task: long enough that an inexact
# state weight shows (its error compounds over the steps); for the product,
# short enough that the targets stay finite in float32 (9^40 is not).
HARDEN_VALIDATION_LENGTHS = {"mnist_count": 100, "mnist_add": 100, "mnist_product": 20}
# The cell of a task run without --cell, where it is not runner.config's
# DEFAULT_CELL: a product over time needs a head that multiplies.
DEFAULT_CELLS = {"mnist_product": "nmu"}
VALIDATION_SEQUENCES = 1000
TARGET_STATISTICS_SEQUENCES = 4096


def _generator(*iterables):
    """One generator over the iterables in turn."""
    for iterable in iterables:
        yield from iterable


def curriculum_lengths(train_length, stages=CURRICULUM_STAGES):
    """Shorter lengths trained before `train_length`, spaced geometrically.

    Args:
        train_length: The final training length.
        stages: Number of shorter lengths wanted (fewer when they coincide).
            Defaults to 3.

    Returns:
        Sorted list of distinct lengths in `[1, train_length)`; `[1, 2, 5]`
        for length 10, empty for length 1.
    """
    points = np.geomspace(1, train_length, stages + 1)[:-1]
    return sorted({int(round(p)) for p in points} - {train_length})


def evaluation_seed(seed, length, purpose=0):
    """A seed of the evaluation sequences derived from the run's seed.

    Distinct per (seed, length, purpose), so test sequences of different
    lengths are independent and never those of a validation set.
    """
    state = np.random.SeedSequence([seed, purpose, length]).generate_state(1)
    return int(state[0])


def sequence_metrics(prediction, target):
    """SPEC section 5 metrics of final outputs.

    Args:
        prediction: Array `(num_sequences, k)`.
        target: Array `(num_sequences, k)`.

    Returns:
        Dict with `mae` and `mse` (means over sequences and the k outputs),
        `accuracy` (fraction of sequences whose rounded outputs all equal the
        target) and `relative_error` (`mae` / mean absolute target).
    """
    prediction = np.asarray(prediction, np.float64)
    target = np.asarray(target, np.float64)
    mae = float(np.mean(np.abs(prediction - target)))
    mse = float(np.mean((prediction - target) ** 2))
    exact = np.all(np.round(prediction) == target, axis=-1)
    scale = float(np.mean(np.abs(target)))
    return {
        "mae": mae,
        "mse": mse,
        "accuracy": float(np.mean(exact)),
        "relative_error": mae / scale if scale > 0 else None,
    }


class MNISTExperiment(Experiment):
    """MNIST counting, addition or product with a ConvNet encoder and a
    recurrent head.

    Data is loaded when the experiment is created, so a missing or corrupt
    MNIST raises `tasks.mnist.MNISTNotFoundError` / `MNISTDataError` (with
    their message on how to provide it) before any model is built.

    Args:
        config: The `runner.config.RunConfig` of the run (task, cell, seed,
            train_length, eval_lengths, eval_sequences, steps, batch_size,
            learning_rate, units, data_dir, tfds_dir, clipnorm, harden,
            harden_tolerance, sparsity, sparsity_start, supervision).
            `units=None` means `k` (10 or 1) for arithmetic cells, 32 for the
            baselines.

    Example:

    ```python
    config = runner.config.RunConfig.for_task("mnist_add", steps=100)
    results = runner.run.run(config, "runs/demo")
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508), section 4.2.
    """

    # The tf.data pipeline shuffles its own sequences; Keras ignores `fit`'s
    # shuffle for a dataset and warns on every run if it is asked to.
    shuffle_batches = False

    def __init__(self, config):
        super().__init__(config)
        self.task = config.task
        self.output_dim = mnist.NUM_CLASSES if self.task == "mnist_count" else 1
        # The head multiplies over time (`nalu_rnn.digits.sequence_head`).
        self.multiplicative = self.task in mnist.PRODUCT_TASKS
        self.arithmetic = get_cell_spec(config.cell).arithmetic
        self.supervision = config.supervision
        self.units = config.units or (
            self.output_dim if self.arithmetic else BASELINE_UNITS
        )
        # Shared by the arithmetic layers; SparsityWarmup raises it later.
        self.sparsity = nalu_rnn.SparsityRegularizer(0.0)
        self.saturation = SaturationPenalty.of(config, self.arithmetic)
        self.gate_snap = gate_snap_callback(config, self.arithmetic)
        # Madsen & Johansen's success thresholds, by length, for this task
        # and encoder (none for a reference run, which defines them).
        self.thresholds = (
            {}
            if config.solved_head
            else mnist_thresholds.thresholds(self.task, config.encoder)
        )
        # The encoder whose reference those thresholds come from.
        self.success_reference = (
            None
            if config.solved_head
            else mnist_thresholds.reference_encoder(self.task, config.encoder)
        )
        data = mnist.load_mnist(config.data_dir, tfds_dir=config.tfds_dir)
        self.train_split, self.validation_split = mnist.split_validation(*data["train"])
        self.test_split = data["test"]
        # `(mean, std)` of the training targets for `--scale-targets`, set
        # when a model is built (an evaluated model carries its own).
        self.target_scale = None
        # TensorFlow's backend trains from a parallel tf.data pipeline; the
        # others from its NumPy twin, so that they need no TensorFlow. The
        # two draw different sequences for one seed (`tasks.mnist`).
        self.pipeline = (
            "tf.data" if keras.backend.backend() == "tensorflow" else "numpy"
        )

    def training_target_statistics(self):
        """`(mean, std)` per output of the targets of `TARGET_STATISTICS_SEQUENCES`
        training sequences at `--train-length`, for `--scale-targets`.

        The same statistics a standardised regression target would use; they
        come from the training split only, and say nothing about how a
        target is made from the digits."""
        ((_, _, targets),) = self._sets(
            self.train_split,
            [self.config.train_length],
            TARGET_STATISTICS_SEQUENCES,
            purpose=2,
        )
        targets = np.asarray(targets, "float64")
        # A constant target would make the scale 0 and the output constant.
        return targets.mean(axis=0), np.maximum(targets.std(axis=0), 1e-3)

    # ------------------------------------------------------------- training

    def schedule(self):
        """`(epochs, steps_per_epoch)` covering at least `config.steps`."""
        steps_per_epoch = min(self.config.steps, MAX_STEPS_PER_EPOCH)
        return math.ceil(self.config.steps / steps_per_epoch), steps_per_epoch

    def build_model(self):
        if self.config.scale_targets:
            self.target_scale = self.training_target_statistics()
        model = digits.sequence_model(
            self.config.cell,
            self.output_dim,
            units=self.units,
            return_sequences=self.supervision == "every_step",
            arithmetic_regularizer=self.sparsity if self.arithmetic else None,
            # `classes`: softmax over the 10 digits before the head sums;
            # see `nalu_rnn.digits.digit_encoder(digit_classes=)`.
            encoder_kwargs={"digit_classes": self.config.encoder == "classes"},
            raw_regularizer=self.saturation.regularizer,
            multiplicative=self.multiplicative,
            target_scale=self.target_scale,
        )
        if self.config.solved_head:
            # Madsen & Johansen's reference: the head is the exact running
            # sum or product (its BlockIdentity start snapped), so only the
            # encoder learns.
            digits.harden_cells(model, 0.5, rows="all")
            model.get_layer("head").trainable = False
        return model

    def _target_scale_record(self):
        if self.target_scale is None:
            return None
        offset, scale = self.target_scale
        return {"offset": list(map(float, offset)), "scale": list(map(float, scale))}

    def evaluation_bytes(self):
        # Per step of a sequence: its image index (int64) and, in
        # `predict_from_embeddings`, its float32 embedding.
        c = self.config
        return c.eval_sequences * sum(c.eval_lengths) * (8 + 4 * mnist.NUM_CLASSES)

    def model_signature(self):
        return ModelSignature((None, *mnist.IMAGE_SHAPE, 1), self.output_dim)

    def compile(self, model):
        epochs, steps_per_epoch = self.schedule()
        compile_model(
            model,
            self.config,
            decay_steps=epochs * steps_per_epoch,
            final_fraction=FINAL_LEARNING_RATE_FRACTION,
        )

    def training_data(self):
        """The curriculum stages, then an endless stream at `train_length`."""
        c = self.config
        epochs, steps_per_epoch = self.schedule()
        lengths = curriculum_lengths(c.train_length) if c.curriculum else []
        stage_steps = round(CURRICULUM_FRACTION * c.steps / max(len(lengths), 1))
        every_step = self.supervision == "every_step"

        make = (
            mnist.training_dataset
            if self.pipeline == "tf.data"
            else mnist.training_batches
        )

        def stream(length, stage):
            # Distinct stream per stage; seed * 16 + stage never collides
            # across seeds because there are fewer than 16 stages.
            return make(
                *self.train_split,
                self.task,
                length,
                c.batch_size,
                seed=c.seed * 16 + stage,
                every_step=every_step,
            )

        data = stream(c.train_length, 0)
        if stage_steps > 0:
            # The stages run in order, then the endless stream; `fit` keeps
            # one iterator across epochs, so the curriculum runs only once.
            stages = [stream(length, i + 1) for i, length in enumerate(lengths)]
            if self.pipeline == "tf.data":
                for stage in reversed(stages):
                    data = stage.take(stage_steps).concatenate(data)
            else:
                # Keras takes a generator, not any iterator.
                data = _generator(
                    *(itertools.islice(stage, stage_steps) for stage in stages), data
                )
        return data, epochs, steps_per_epoch

    def callbacks(self, epochs):
        c = self.config
        callbacks = self.saturation.callbacks()
        if self.gate_snap is not None:
            callbacks.append(self.gate_snap)
        if not self.arithmetic or not c.sparsity:
            return callbacks
        start = max(1, round(c.sparsity_start * epochs))
        warmup = nalu_rnn.callbacks.SparsityWarmup(self.sparsity, c.sparsity, start)
        return [warmup, *callbacks]

    # ----------------------------------------------------------- evaluation

    def _sets(self, split, lengths, num_sequences, purpose):
        images, labels = split
        for length in lengths:
            seed = evaluation_seed(self.config.seed, length, purpose)
            indices, targets = mnist.evaluation_arrays(
                images, labels, self.task, length, num_sequences, seed
            )
            yield length, indices, targets

    def _validation_mae(self, model, embeddings, length):
        ((_, indices, targets),) = self._sets(
            self.validation_split, [length], VALIDATION_SEQUENCES, purpose=1
        )
        prediction = digits.predict_from_embeddings(model, embeddings, indices)
        return sequence_metrics(prediction, targets)["mae"]

    def after_training(self, model):
        """Hardens the cell's kernel block by block, keeping each block's
        snap only if validation MAE does not rise (`HARDEN_ROWS` order)."""
        c = self.config
        extra = {
            "supervision": self.supervision,
            "encoder": c.encoder,
            "solved_head": c.solved_head,
            "scale_targets": c.scale_targets,
            "curriculum": c.curriculum,
            "pipeline": self.pipeline,
            "success_reference": self.success_reference,
            "target_scale": self._target_scale_record(),
            **gate_snap_record(self.gate_snap),
        }
        if not (self.arithmetic and c.harden) or c.solved_head:
            return extra
        length = max(HARDEN_VALIDATION_LENGTHS[self.task], c.train_length)
        # Hardening changes only the head, so the encoding stays valid.
        embeddings = digits.encode_images(model, self.validation_split[0])
        stages = []
        initial = before = self._validation_mae(model, embeddings, length)
        for rows in HARDEN_ROWS:
            step = harden_with_rollback(
                model,
                lambda m, rows=rows: digits.harden_cells(
                    m, c.harden_tolerance, rows=rows
                ),
                lambda m: self._validation_mae(m, embeddings, length),
                error_before=before,
            )
            if step.applied:
                before = step.error_after
            stages.append(
                {
                    "rows": rows,
                    "applied": step.applied,
                    "validation_mae_after": step.error_after,
                    "snapped": step.snapped,
                }
            )
        extra["hardening"] = {
            "applied": any(stage["applied"] for stage in stages),
            "tolerance": c.harden_tolerance,
            "validation_length": length,
            "validation_mae_before": initial,
            "validation_mae_after": before,
            "stages": stages,
        }
        return extra

    def evaluate(self, model):
        """Encode-once evaluation on test-split sequences of every length."""
        c = self.config
        embeddings = digits.encode_images(model, self.test_split[0])
        entries = []
        for length, indices, targets in self._sets(
            self.test_split, c.eval_lengths, c.eval_sequences, purpose=0
        ):
            prediction = digits.predict_from_embeddings(model, embeddings, indices)
            split = "interpolation" if length == c.train_length else "extrapolation"
            entry = {
                "length": int(length),
                "split": split,
                **sequence_metrics(prediction, targets),
            }
            threshold = self.thresholds.get(int(length))
            if threshold is not None:
                entry["success_threshold_mse"] = threshold
                entry["success"] = bool(entry["mse"] < threshold)
            entries.append(entry)
        return entries

    def succeeded(self, entries):
        """Success at every length with a reference threshold, or `None`
        when there is none (per length, each entry has its own `success`)."""
        judged = [e["success"] for e in entries if "success" in e]
        return all(judged) if judged else None


for _task in mnist.TASKS:
    register_task(
        _task, MNISTExperiment, recipe="mnist", default_cell=DEFAULT_CELLS.get(_task)
    )
