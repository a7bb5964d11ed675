"""The MNIST sequence experiments (`mnist_count`, `mnist_add`,
`mnist_product`) for `train.py`.

`MNISTExperiment` plugs into `runner.run.run`: a ConvNet encoder plus a
recurrent head (`tasks.mnist.model.sequence_model`) is trained on sequences
of `--train-length` images from the MNIST training split (less the
validation slice), and evaluated encode-once on `--eval-sequences`
test-split sequences per `--eval-lengths`. What the target is comes from
the task's registered `tasks.mnist.DigitTarget`: its size, and whether the
head must multiply over time.

The recipe (`tasks.mnist.recipes`): loss MSE (MAE learns a median and
leaves a bias that grows with length), Adam with cosine decay, the final
target only (`--supervision`), the class-vector encoder (`--encoder`) and
a short-length curriculum (`tasks.curriculum`). After training an
arithmetic head's kernel is hardened block by block (rows of the state
block first, then of the input block, `HARDEN_ROWS`), each snap kept only
if validation MAE at the target's `harden_length` does not rise: errors of
the state block compound over 1000 steps, while the input block may have
learnt small off-diagonal values that cancel the encoder's leakage between
classes. Then, where the encoder reads a value off each class (addition,
the product), those values are snapped to the nearest integer the same way:
a bias of 0.02 per image is 20 at length 1000.

The baselines (`lstm`, `gru`, `rnn_tanh`, `rnn_relu`) get 32 units, a
10-dimensional embedding and a `Dense` read-out, and their own recipe: the
linear encoder, the read-out scaled to the training targets
(`--scale-targets`: mean and standard deviation of training sequences at
the training length, `training_target_statistics`), no curriculum, a
longer budget.
"""

import functools
import itertools

import keras
import numpy as np

from nalu_rnn.callbacks import RateMultiplierChange
from nalu_rnn.hardening import harden_cells, harden_with_rollback, snap_kernel
from nalu_rnn.keras_internals import flatten_layers
from tasks import curriculum
from tasks.cells import get_cell_spec
from tasks.experiment import Experiment, ModelSignature
from tasks.mnist import loading, pipelines, sequences, thresholds
from tasks.mnist import model as mnist_model
from tasks.training import TrainingSchedule, compile_model

BASELINE_UNITS = 32
# Cosine decay ends at this fraction of the initial learning rate.
FINAL_LEARNING_RATE_FRACTION = 0.05
HARDEN_ROWS = ("state", "input")
# The diagonal of the exact head's `BlockIdentity` start (`--head-init exact`
# and the reference's frozen head): tanh(10) * sigmoid(10) = 0.99995 for the
# gated cells, hardened to 1; direct cells start at exactly 1.
EXACT_START = 10.0
# The layers `--head-learning-rate` applies to: the recurrent head, its
# read-out, and the encoder's digit-value read-out that feeds it.
HEAD_LAYERS = ("recurrent", "readout", mnist_model.VALUE_LAYER)
VALIDATION_SEQUENCES = 1000
TARGET_STATISTICS_SEQUENCES = 4096


def _generator(*iterables):
    """One generator over the iterables in turn."""
    for iterable in iterables:
        yield from iterable


def _value_layer(model):
    """The encoder's class-value read-out, or `None` without one."""
    named = [x for x in flatten_layers(model) if x.name == mnist_model.VALUE_LAYER]
    return named[0] if named else None


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
        config: The `runner.config.RunConfig` of the run. `model.units=None`
            means the target's size (10 or 1) for arithmetic cells, 32 for
            the baselines.
        spec: The task's `tasks.spec.TaskSpec`; its `variant` is the
            `tasks.mnist.DigitTarget`.

    Example:

    ```python
    config = runner.config.RunConfig.for_task("mnist_add", steps=100)
    experiment = tasks.registry.make_experiment(config)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508), section 4.2.
    """

    # The tf.data pipeline shuffles its own sequences; Keras ignores `fit`'s
    # shuffle for a dataset and warns on every run if it is asked to.
    shuffle_batches = False
    max_steps_per_epoch = 500

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.target = spec.variant
        self.output_dim = self.target.output_dim
        self.arithmetic = get_cell_spec(config.run.cell).arithmetic
        self.units = config.model.units or (
            self.output_dim if self.arithmetic else BASELINE_UNITS
        )
        # `--weight-snap` snaps the class values with the head, where the
        # model has them.
        self.training_schedule = TrainingSchedule(
            config,
            self.arithmetic,
            snap_kernels=(
                (mnist_model.VALUE_LAYER,) if self.has_class_values() else ()
            ),
        )
        # Madsen & Johansen's success thresholds, by length, for this task
        # and encoder (none for a reference run, which defines them).
        task, encoder = config.run.task, config.model.encoder
        solved_head = config.model.solved_head
        self.thresholds = {} if solved_head else thresholds.thresholds(task, encoder)
        # The encoder whose reference those thresholds come from.
        self.success_reference = (
            None if solved_head else thresholds.reference_encoder(task, encoder)
        )
        data = loading.load_mnist(config.data.data_dir, tfds_dir=config.data.tfds_dir)
        self.train_split, self.validation_split = loading.split_validation(
            *data["train"]
        )
        self.test_split = data["test"]
        # `(mean, std)` of the training targets for `--scale-targets`, set
        # when a model is built (an evaluated model carries its own).
        self.target_scale = None
        # TensorFlow's backend trains from a parallel tf.data pipeline; the
        # others from its NumPy twin, so that they need no TensorFlow. The
        # two draw different sequences for one seed (`tasks.mnist.pipelines`).
        self.pipeline = (
            "tf.data" if keras.backend.backend() == "tensorflow" else "numpy"
        )

    def has_class_values(self):
        """Whether the model reads a value off each class before its head:
        an arithmetic head after the `classes` encoder with a target that is
        not the class vector itself (addition, the product)."""
        return (
            self.arithmetic
            and self.config.model.encoder == "classes"
            and self.output_dim != loading.NUM_CLASSES
        )

    def training_target_statistics(self):
        """`(mean, std)` per output of the targets of `TARGET_STATISTICS_SEQUENCES`
        training sequences at `--train-length`, for `--scale-targets`.

        The same statistics a standardised regression target would use; they
        come from the training split only, and say nothing about how a
        target is made from the digits."""
        ((_, _, targets),) = self._sets(
            self.train_split,
            [self.config.data.train_length],
            TARGET_STATISTICS_SEQUENCES,
            purpose=2,
        )
        targets = np.asarray(targets, "float64")
        # A constant target would make the scale 0 and the output constant.
        return targets.mean(axis=0), np.maximum(targets.std(axis=0), 1e-3)

    # ------------------------------------------------------------- training

    def build_model(self):
        c, schedule = self.config, self.training_schedule
        # A judged head starts at the solution only as a named warm start
        # (`--head-init exact`, the digit values with it); the reference's
        # head is the solution, frozen, and its encoder, digit values
        # included, learns as a judged run's does.
        warm = c.model.head_init == "exact"
        exact = warm or c.model.solved_head
        if c.model.scale_targets:
            self.target_scale = self.training_target_statistics()
        model = mnist_model.sequence_model(
            c.run.cell,
            self.output_dim,
            units=self.units,
            return_sequences=c.data.supervision == "every_step",
            arithmetic_regularizer=schedule.sparsity if self.arithmetic else None,
            # `classes`: softmax over the 10 digits before the head sums;
            # see `tasks.mnist.model.digit_encoder(digit_classes=)`.
            encoder_kwargs={
                "digit_classes": c.model.encoder == "classes",
                "digit_values": warm,
                "class_balance": c.regularization.class_balance,
                "class_confidence": c.regularization.class_confidence,
            },
            raw_regularizer=schedule.saturation,
            multiplicative=self.target.multiplicative,
            target_scale=self.target_scale,
            identity_value=EXACT_START if exact else None,
            state_memory=c.model.state_memory,
        )
        if c.model.solved_head:
            # Madsen & Johansen's reference: the head is the exact running
            # sum or product (its BlockIdentity start snapped), so only the
            # encoder learns.
            harden_cells(model, 0.5, rows="all")
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
        e = self.config.evaluation
        return e.eval_sequences * sum(e.eval_lengths) * (8 + 4 * loading.NUM_CLASSES)

    def model_signature(self):
        return ModelSignature((None, *loading.IMAGE_SHAPE, 1), self.output_dim)

    def compile(self, model):
        optim = self.config.optim
        epochs, steps_per_epoch = self.schedule()
        steps = epochs * steps_per_epoch
        multipliers = None
        if optim.head_learning_rate is not None:
            factor = optim.head_learning_rate / optim.learning_rate
            multipliers = dict.fromkeys(HEAD_LAYERS, factor)
        compile_model(
            model,
            optim,
            decay_steps=steps if optim.lr_decay else None,
            final_fraction=FINAL_LEARNING_RATE_FRACTION,
            warmup_steps=round(optim.warmup * steps),
            rate_multipliers=multipliers,
        )

    def training_data(self):
        """The curriculum stages, then an endless stream at `train_length`."""
        c = self.config
        epochs, steps_per_epoch = self.schedule()
        train_length = c.data.train_length
        lengths = (
            curriculum.curriculum_lengths(train_length) if c.data.curriculum else []
        )
        stage_steps = curriculum.stage_steps(train_length, c.optim.steps)
        every_step = c.data.supervision == "every_step"

        make = (
            pipelines.training_dataset
            if self.pipeline == "tf.data"
            else pipelines.training_batches
        )

        def stream(length, stage):
            # Distinct stream per stage; seed * 16 + stage never collides
            # across seeds because there are fewer than 16 stages.
            return make(
                *self.train_split,
                self.target,
                length,
                c.optim.batch_size,
                seed=c.run.seed * 16 + stage,
                every_step=every_step,
            )

        data = stream(train_length, 0)
        if lengths and stage_steps > 0:
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
        callbacks = self.training_schedule.callbacks(epochs)
        # The configuration refuses a stop without a head rate to end.
        optim = self.config.optim
        if optim.head_rate_stop is not None:
            after = optim.head_rate_after_stop
            multipliers = None if after is None else dict.fromkeys(HEAD_LAYERS, after)
            callbacks.append(
                RateMultiplierChange(
                    round(optim.head_rate_stop * optim.steps), multipliers
                )
            )
        stop = self.config.regularization.class_aids_stop
        if stop is not None:
            callbacks.append(
                mnist_model.ClassBalanceStop(round(stop * self.config.optim.steps))
            )
        return callbacks

    # ----------------------------------------------------------- evaluation

    def _sets(self, split, lengths, num_sequences, purpose):
        images, labels = split
        for length in lengths:
            seed = evaluation_seed(self.config.run.seed, length, purpose)
            indices, targets = sequences.evaluation_arrays(
                images, labels, self.target, length, num_sequences, seed
            )
            yield length, indices, targets

    def _validation_mae(self, model, embeddings, length):
        ((_, indices, targets),) = self._sets(
            self.validation_split, [length], VALIDATION_SEQUENCES, purpose=1
        )
        prediction = mnist_model.predict_from_embeddings(model, embeddings, indices)
        return sequence_metrics(prediction, targets)["mae"]

    def after_training(self, model):
        """Hardens the cell's kernel block by block, keeping each block's
        snap only if validation MAE does not rise (`HARDEN_ROWS` order)."""
        c = self.config
        r = c.regularization
        extra = {
            "supervision": c.data.supervision,
            "encoder": c.model.encoder,
            "solved_head": c.model.solved_head,
            "scale_targets": c.model.scale_targets,
            "curriculum": c.data.curriculum,
            "pipeline": self.pipeline,
            "success_reference": self.success_reference,
            # Whether this run's recipe is the reference's (its bar is then
            # the one its recipe sets); `None` without a recorded recipe.
            "success_reference_same_recipe": (
                None
                if c.model.solved_head
                else thresholds.same_recipe(c.run.task, c.model.encoder, c.as_dict())
            ),
            "target_scale": self._target_scale_record(),
            **self.training_schedule.snap_record(),
        }
        if not (self.arithmetic and r.harden) or c.model.solved_head:
            return extra
        length = max(self.target.harden_length, c.data.train_length)
        images = self.validation_split[0]
        # The head's stages leave the encoding as it is; the class values'
        # stage changes it, so it is judged on its own encoding, which is
        # kept with it when it is applied.
        encoded = {"kept": mnist_model.encode_images(model, images)}

        def validation_error(m, encoder):
            if encoder:
                encoded["trial"] = mnist_model.encode_images(m, images)
            embeddings = encoded["trial" if encoder else "kept"]
            return self._validation_mae(m, embeddings, length)

        stages = []
        initial = before = validation_error(model, encoder=False)
        for stage, harden, encoder in self._hardening_stages(model, r.harden_tolerance):
            step = harden_with_rollback(
                model,
                harden,
                functools.partial(validation_error, encoder=encoder),
                error_before=before,
            )
            if step.applied:
                before = step.error_after
                if encoder:
                    encoded["kept"] = encoded["trial"]
            stages.append(
                {
                    **stage,
                    "applied": step.applied,
                    "validation_mae_after": step.error_after,
                    "snapped": step.snapped,
                }
            )
        extra["hardening"] = {
            "applied": any(stage["applied"] for stage in stages),
            "tolerance": r.harden_tolerance,
            "validation_length": length,
            "validation_mae_before": initial,
            "validation_mae_after": before,
            "stages": stages,
        }
        return extra

    def _hardening_stages(self, model, tolerance):
        """`(record, harden, changes_encoder)` per stage, in order: the head's
        state rows, its input rows, then, where the encoder reads a value off
        each class (addition, the product), those values together with the
        input rows they feed, as each class's value is their product."""
        for rows in HARDEN_ROWS:
            yield (
                {"stage": rows, "rows": rows},
                lambda m, rows=rows: harden_cells(m, tolerance, rows=rows),
                False,
            )
        if self.has_class_values():
            yield (
                {"stage": mnist_model.VALUE_LAYER, "rows": "input"},
                lambda m: (
                    harden_cells(m, tolerance, rows="input")
                    + snap_kernel(_value_layer(m), tolerance)
                ),
                True,
            )

    def evaluate(self, model):
        """Encode-once evaluation on test-split sequences of every length."""
        c = self.config
        embeddings = mnist_model.encode_images(model, self.test_split[0])
        entries = []
        for length, indices, targets in self._sets(
            self.test_split,
            c.evaluation.eval_lengths,
            c.evaluation.eval_sequences,
            purpose=0,
        ):
            prediction = mnist_model.predict_from_embeddings(model, embeddings, indices)
            split = (
                "interpolation" if length == c.data.train_length else "extrapolation"
            )
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
