"""The arithmetic experiments (`add`, `sub`, `mul`, `div`, `square`, `sqrt`).

`ArithmeticExperiment` trains `tasks.arithmetic.model.arithmetic_model` on
the recurrent (or, with `--static`, the static) task of
`tasks.arithmetic.data`, and measures Madsen & Johansen's success
criterion, solved step and sparsity error.
"""

import math

import keras
import numpy as np

import nalu_rnn
from nalu_rnn.hardening import harden_with_rollback, largest_discrete_distance
from tasks.arithmetic.batches import ArithmeticBatches
from tasks.arithmetic.data import ArithmeticTask, mse
from tasks.arithmetic.model import arithmetic_model
from tasks.arithmetic.recipes import FINAL_LEARNING_RATE_FRACTION
from tasks.cells import MEMORY_START, get_cell_spec
from tasks.experiment import Experiment, ModelSignature
from tasks.training import (
    BestInterpolation,
    SolvedStepMonitor,
    TrainingSchedule,
    compile_model,
)

# Examples of each extrapolation set the solved-step monitor predicts: the
# long recurrent sets cost a full pass each.
CHECK_SEQUENCES = 256
VALIDATION_SEQUENCES = 1000


def fold_readout(model, validation_error, error_before):
    """Folds the read-out into the cell's running sums where that is exact.

    `nalu_rnn.hardening.fold_linear_readout` on the model's recurrent cell
    and read-out, kept only if validation error does not rise (as every
    hardening step). Returns results.json's `readout_fold` entry.
    """
    snapshot = nalu_rnn.hardening.weights_snapshot(model)
    cell = model.get_layer("recurrent").cell
    if not nalu_rnn.hardening.fold_linear_readout(cell, model.layers[-1]):
        return {"folded": False}
    error_after = validation_error(model)
    kept = error_after <= error_before
    if not kept:
        nalu_rnn.hardening.restore_weights(model, snapshot)
    return {
        "folded": True,
        "kept": bool(kept),
        "validation_mse_before": error_before,
        "validation_mse_after": error_after,
    }


class ArithmeticExperiment(Experiment):
    """The recurrent (or static) arithmetic task of `tasks.arithmetic.data`.

    Args:
        config: The `runner.config.RunConfig` of the run.
        spec: The task's `tasks.spec.TaskSpec` (its `variant` is the op).
    """

    # Every batch is a fresh draw seeded by (seed, epoch, index): shuffling
    # their order would add nothing but a dependence on Keras's shuffle,
    # which `--vectorize` could not reproduce seed by seed.
    shuffle_batches = False
    max_steps_per_epoch = 1000

    def __init__(self, config, spec):
        super().__init__(config, spec)
        data = config.data
        subset_seed = config.run.seed if data.subset_seed is None else data.subset_seed
        self.task = ArithmeticTask(
            spec.variant,
            static=data.static,
            input_dim=data.input_size,
            train_range=data.train_range,
            extrapolation_range=data.extrapolation_range,
            subset_ratio=data.subset_ratio,
            overlap_ratio=data.overlap_ratio,
            subset_seed=subset_seed,
        )
        self.arithmetic = get_cell_spec(config.run.cell).arithmetic
        self.training_schedule = TrainingSchedule(config, self.arithmetic)
        self.monitor = None
        self.selection = None
        self._test_sets = None

    def cell_start(self):
        """Keyword arguments that start the recurrent cell, or `None` for the
        cell's registered start (its running memory of the state)."""
        return None

    def build_model(self):
        c, schedule = self.config, self.training_schedule
        return arithmetic_model(
            c.run.cell,
            self.task.input_dim,
            units=c.model.units,
            static=c.data.static,
            arithmetic_regularizer=schedule.sparsity,
            raw_regularizer=schedule.saturation,
            readout_regularizer=schedule.readout_sparsity,
            state_identity=MEMORY_START if c.model.state_memory else None,
            cell_start=self.cell_start(),
            single_layer=c.model.single_layer,
            signed=self.task.signed,
            pair_pull=c.regularization.pair_pull,
        )

    def problem(self):
        return self.task.describe()

    def evaluation_bytes(self):
        # Every set at once: float32 inputs, and the float64 copy the exact
        # targets and the success threshold are computed from.
        e = self.config.evaluation
        return e.eval_sequences * sum(e.eval_lengths) * self.task.input_dim * 12

    def model_signature(self):
        dim = self.task.input_dim
        return ModelSignature((dim,) if self.config.data.static else (None, dim), 1)

    def compile(self, model):
        optim = self.config.optim
        compile_model(
            model,
            optim,
            decay_steps=optim.steps if optim.lr_decay else None,
            final_fraction=FINAL_LEARNING_RATE_FRACTION,
            warmup_steps=round(optim.warmup * optim.steps),
        )

    def batches(self, steps_per_epoch):
        """The training stream, a `keras.utils.PyDataset` of fresh batches."""
        c = self.config
        return ArithmeticBatches(
            self.task,
            c.data.train_length,
            c.optim.batch_size,
            steps_per_epoch,
            c.run.seed,
        )

    def training_data(self):
        epochs, steps_per_epoch = self.schedule()
        return self.batches(steps_per_epoch), epochs, steps_per_epoch

    def callbacks(self, epochs):
        callbacks = [*self.training_schedule.callbacks(epochs)]
        callbacks.append(self.solved_step_monitor())
        if self.config.evaluation.select == "best-interpolation":
            callbacks.append(self.selection_callback())
        return callbacks

    def selection_callback(self):
        """`--select best-interpolation`'s `BestInterpolation`, on a fixed
        set of `--eval-sequences` examples from the training range."""
        e = self.config.evaluation
        rng = np.random.default_rng([self.config.run.seed, 3])
        x, y = self.task.sample(
            e.eval_sequences, self.config.data.train_length, self.task.train_range, rng
        )
        state = None
        if self.checkpoint_dir is not None:
            state = str(self.checkpoint_dir / "selection.npz")
        self.selection = BestInterpolation(x, y, e.validate_every, state_path=state)
        return self.selection

    def test_sets(self):
        """The evaluation sets, drawn once (the monitor reuses their heads)."""
        if self._test_sets is None:
            e = self.config.evaluation
            self._test_sets = self.task.test_sets(
                list(e.eval_lengths), e.eval_sequences, self.config.run.seed
            )
        return self._test_sets

    def threshold(self, x):
        """The success threshold (an MSE) of inputs `x`: the NALM benchmark's
        (`single_layer_perturbed_mse`) for `--single-layer`, else Madsen &
        Johansen's (`perturbed_solution_mse`), both with epsilon 1e-5."""
        if self.config.model.single_layer:
            return self.task.single_layer_perturbed_mse(x)
        return self.task.perturbed_solution_mse(x)

    def forget_test_sets(self):
        """Drops the evaluation sets drawn so far; `test_sets` draws them
        again, identically, when next asked. `runner.vectorize` holds many
        seeds' experiments at once and needs only their monitored slices
        while training."""
        self._test_sets = None

    def solved_step_monitor(self):
        """Checks the success criterion every `--check-every` steps.

        On the first `CHECK_SEQUENCES` examples of each extrapolation set,
        against the threshold of that same slice.
        """
        n = CHECK_SEQUENCES
        # Copies: the slices alone outlive `forget_test_sets`.
        sets = [
            (x[:n].copy(), y[:n].copy(), self.threshold(x[:n]))
            for split, _, _, x, y in self.test_sets()
            if split == "extrapolation"
        ]
        self.monitor = SolvedStepMonitor(sets, every=self.config.evaluation.check_every)
        return self.monitor

    def validation_set(self):
        rng = np.random.default_rng([self.config.run.seed, 2])
        return self.task.sample(
            VALIDATION_SEQUENCES,
            self.config.data.train_length,
            self.task.train_range,
            rng,
        )

    def after_training(self, model):
        """Hardens the arithmetic weights when that keeps validation error."""
        r = self.config.regularization
        extra = self.training_schedule.snap_record()
        extra["selection"] = (
            {"rule": "last"} if self.selection is None else self.selection.record()
        )
        if not (self.arithmetic and r.harden):
            return extra
        x_val, y_val = self.validation_set()

        def validation_error(m):
            return mse(y_val, m.predict(x_val, batch_size=256, verbose=0))

        step = harden_with_rollback(
            model,
            lambda m: nalu_rnn.harden(m, r.harden_tolerance),
            validation_error,
        )
        extra["hardening"] = {
            "applied": step.applied,
            "tolerance": r.harden_tolerance,
            "validation_mse_before": step.error_before,
            "validation_mse_after": step.error_after,
            "snapped": step.snapped,
        }
        if not self.config.data.static:
            error = step.error_after if step.applied else step.error_before
            extra["readout_fold"] = fold_readout(model, validation_error, error)
        return extra

    def evaluate(self, model):
        # A fresh model of the same architecture is the "random" reference of
        # scaled_error: 100 means no better than untrained.
        keras.utils.set_random_seed(self.config.run.seed + 10_000)
        fresh = keras.models.clone_model(model)
        entries = []
        for split, length, value_range, x, y in self.test_sets():
            prediction = model.predict(x, batch_size=256, verbose=0)
            reference = fresh.predict(x, batch_size=256, verbose=0)
            error = mse(y, prediction)
            fresh_error = mse(y, reference)
            threshold = self.threshold(x)
            entries.append(
                {
                    "length": int(length),
                    "split": split,
                    "range": list(value_range),
                    "mse": error,
                    "mae": float(np.mean(np.abs(prediction - y))),
                    "fresh_mse": fresh_error,
                    "scaled_error": scaled_error(error, fresh_error),
                    "success_threshold_mse": threshold,
                    "success": bool(error < threshold),
                }
            )
        return entries

    def succeeded(self, entries):
        """A seed succeeds when every extrapolation set beats the threshold."""
        return all(e["success"] for e in entries if e["split"] == "extrapolation")

    def success_measures(self, model, entries, steps):
        """`solved_step` and `sparsity_error` of a finished run.

        `solved_step` is the monitor's first step that met the criterion;
        a run that only meets it once hardened counts as solved at its last
        step, and a run that fails at the end is not solved (`None`), even
        if it met the criterion for a while during training.
        """
        solved = self.succeeded(entries)
        step = self.monitor.solved_step if self.monitor is not None else None
        if solved and step is None:
            step = steps
        return {
            "solved_step": step if solved else None,
            "sparsity_error": largest_discrete_distance(model),
        }


def scaled_error(error, fresh_error):
    """100 x MSE / MSE of a fresh model; None when either is not finite."""
    if not (math.isfinite(error) and math.isfinite(fresh_error)) or fresh_error == 0:
        return None
    return 100.0 * error / fresh_error
