"""The arithmetic experiments (`add`, `sub`, `mul`, `div`, `square`, `sqrt`).

`ArithmeticExperiment` trains `nalu_rnn.models.arithmetic_model` on the
recurrent (or, with `--static`, the static) task of `tasks.arithmetic`, and
measures Madsen & Johansen's success criterion, solved step and sparsity
error (`runner.success`).
"""

import math

import keras
import numpy as np

import nalu_rnn
from runner.success import SolvedStepMonitor, sparsity_error
from runner.training import (
    SaturationPenalty,
    compile_model,
    gate_snap_callback,
    gate_snap_record,
    harden_with_rollback,
)
from tasks.arithmetic import OPS, ArithmeticBatches, ArithmeticTask, mse
from tasks.base import Experiment, ModelSignature, register_task

# Examples of each extrapolation set the solved-step monitor predicts: the
# long recurrent sets cost a full pass each.
CHECK_SEQUENCES = 256
MAX_STEPS_PER_EPOCH = 1000
VALIDATION_SEQUENCES = 1000
# The cell of a run without `--cell`, by op, where the best measured one is
# not the NAC (docs/nalu.md, docs/beyond-nalu.md; 10 seeds each, Madsen &
# Johansen's criterion). Recurrent mul and square 10/10 (30/30 over seeds
# 0-29) and div 27/40 (seeds 0-39) with the NALU recipe, against 0/10 on
# mul for the NMU, NPU and RealNPU stacks and 0/10 on div for the RealNPU;
# sqrt 8/10 (28/40 over seeds 0-39) with the RealNPU, whose exponents
# harden to multiples of 1/2, against 0/10 for the NALU (its weights harden
# to -1, 0, 1). Static mul 10/10 with the NMU recipe (NAU -> NMU), against
# 0/10 for the NALU. The static square and sqrt keep the recurrent choice,
# and the static div the RealNPU (not measured on the static task).
DEFAULT_CELLS = {"mul": "nalu", "square": "nalu", "sqrt": "realnpu", "div": "nalu"}
STATIC_DEFAULT_CELLS = {"mul": "nmu", "div": "realnpu"}
# Cosine decay (`--lr-decay`) ends at this fraction of the learning rate.
FINAL_LEARNING_RATE_FRACTION = 0.01


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
    """The recurrent (or static) arithmetic task of `tasks.arithmetic`.

    Args:
        config: The `runner.config.RunConfig` of the run (`task` is the op).
    """

    # Keras shuffles the order of the ArithmeticBatches within an epoch.
    shuffle_batches = True

    def __init__(self, config):
        super().__init__(config)
        self.task = ArithmeticTask(config.task, static=config.static)
        self.arithmetic = nalu_rnn.models.get_cell_spec(config.cell).arithmetic
        # Shared by every arithmetic layer; SparsityWarmup raises it later.
        self.sparsity = nalu_rnn.SparsityRegularizer(0.0)
        # The read-out's own, when its pull starts later than the cell's.
        self.readout_sparsity = (
            None
            if config.readout_sparsity_start is None
            else nalu_rnn.SparsityRegularizer(0.0)
        )
        self.saturation = SaturationPenalty.of(config, self.arithmetic)
        self.gate_snap = gate_snap_callback(config, self.arithmetic)
        self.monitor = None
        self._test_sets = None

    def build_model(self):
        c = self.config
        return nalu_rnn.models.arithmetic_model(
            c.cell,
            self.task.input_dim,
            units=c.units,
            static=c.static,
            arithmetic_regularizer=self.sparsity,
            raw_regularizer=self.saturation.regularizer,
            readout_regularizer=self.readout_sparsity,
        )

    def evaluation_bytes(self):
        # Every set at once: float32 inputs, and the float64 copy the exact
        # targets and the success threshold are computed from.
        c = self.config
        return c.eval_sequences * sum(c.eval_lengths) * self.task.input_dim * 12

    def model_signature(self):
        dim = self.task.input_dim
        return ModelSignature((dim,) if self.config.static else (None, dim), 1)

    def compile(self, model):
        c = self.config
        compile_model(
            model,
            c,
            decay_steps=c.steps if c.lr_decay else None,
            final_fraction=FINAL_LEARNING_RATE_FRACTION,
        )

    def training_data(self):
        c = self.config
        steps_per_epoch = min(c.steps, MAX_STEPS_PER_EPOCH)
        epochs = math.ceil(c.steps / steps_per_epoch)
        batches = ArithmeticBatches(
            self.task, c.train_length, c.batch_size, steps_per_epoch, c.seed
        )
        return batches, epochs, steps_per_epoch

    def callbacks(self, epochs):
        c = self.config
        callbacks = [*self.saturation.callbacks(), self.solved_step_monitor()]
        if self.gate_snap is not None:
            callbacks.insert(0, self.gate_snap)
        if not self.arithmetic or c.sparsity == 0:
            return callbacks
        pulls = [self.pull_schedule(self.sparsity, c.sparsity_start, epochs)]
        if self.readout_sparsity is not None:
            pulls.append(
                self.pull_schedule(
                    self.readout_sparsity, c.readout_sparsity_start, epochs
                )
            )
        return [*pulls, *callbacks]

    def pull_schedule(self, regularizer, start, epochs):
        """The `SparsityWarmup` of `regularizer`, starting at fraction `start`.

        Full strength at once from the first epoch at `start`, or, with
        `--sparsity-end`, Madsen & Johansen's ramp by step: a read-out whose
        pull starts later than the cell's ramps over as many steps, and
        stops (`--sparsity-stop`) as much later, within the run.
        """
        c = self.config
        if c.sparsity_end is None:
            warmup_start = max(1, round(start * epochs))
            return nalu_rnn.callbacks.SparsityWarmup(
                regularizer, c.sparsity, warmup_start
            )
        # Madsen & Johansen's linear ramp by step, compressed into this run.
        # A gradual start matters for the NAU: an add/sub weight split
        # between the two hidden units resolves towards one of them while
        # the pull towards {-1, 0, 1} is still weak, but a strong pull
        # switched on at once can freeze both halves near 0.5.
        delay = start - c.sparsity_start
        start_step = round(start * c.steps)
        end_step = max(
            start_step + 1, round(min(1.0, c.sparsity_end + delay) * c.steps)
        )
        stop_step = _step_or_none(
            None if c.sparsity_stop is None else min(1.0, c.sparsity_stop + delay),
            c.steps,
        )
        return nalu_rnn.callbacks.SparsityWarmup(
            regularizer,
            c.sparsity,
            start_step=start_step,
            end_step=end_step,
            # Each change retraces the train function: about 20 per ramp.
            update_every=max(1, (end_step - start_step) // 20),
            stop_step=stop_step,
        )

    def test_sets(self):
        """The evaluation sets, drawn once (the monitor reuses their heads)."""
        if self._test_sets is None:
            c = self.config
            self._test_sets = self.task.test_sets(
                list(c.eval_lengths), c.eval_sequences, c.seed
            )
        return self._test_sets

    def solved_step_monitor(self):
        """Checks the success criterion every `--check-every` steps.

        On the first `CHECK_SEQUENCES` examples of each extrapolation set,
        against the threshold of that same slice.
        """
        n = CHECK_SEQUENCES
        sets = [
            (x[:n], y[:n], self.task.perturbed_solution_mse(x[:n]))
            for split, _, _, x, y in self.test_sets()
            if split == "extrapolation"
        ]
        self.monitor = SolvedStepMonitor(sets, every=self.config.check_every)
        return self.monitor

    def validation_set(self):
        rng = np.random.default_rng([self.config.seed, 2])
        return self.task.sample(
            VALIDATION_SEQUENCES, self.config.train_length, self.task.train_range, rng
        )

    def after_training(self, model):
        """Hardens the arithmetic weights when that keeps validation error."""
        c = self.config
        extra = gate_snap_record(self.gate_snap)
        if not (self.arithmetic and c.harden):
            return extra
        x_val, y_val = self.validation_set()

        def validation_error(m):
            return mse(y_val, m.predict(x_val, batch_size=256, verbose=0))

        step = harden_with_rollback(
            model,
            lambda m: nalu_rnn.harden(m, c.harden_tolerance),
            validation_error,
        )
        extra["hardening"] = {
            "applied": step.applied,
            "tolerance": c.harden_tolerance,
            "validation_mse_before": step.error_before,
            "validation_mse_after": step.error_after,
            "snapped": step.snapped,
        }
        if not c.static:
            error = step.error_after if step.applied else step.error_before
            extra["readout_fold"] = fold_readout(model, validation_error, error)
        return extra

    def evaluate(self, model):
        c = self.config
        # A fresh model of the same architecture is the "random" reference of
        # scaled_error: 100 means no better than untrained.
        keras.utils.set_random_seed(c.seed + 10_000)
        fresh = keras.models.clone_model(model)
        entries = []
        for split, length, value_range, x, y in self.test_sets():
            prediction = model.predict(x, batch_size=256, verbose=0)
            reference = fresh.predict(x, batch_size=256, verbose=0)
            error = mse(y, prediction)
            fresh_error = mse(y, reference)
            threshold = self.task.perturbed_solution_mse(x)
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
            "sparsity_error": sparsity_error(model),
        }


def _step_or_none(fraction, steps):
    return None if fraction is None else round(fraction * steps)


def scaled_error(error, fresh_error):
    """100 x MSE / MSE of a fresh model; None when either is not finite."""
    if not (math.isfinite(error) and math.isfinite(fresh_error)) or fresh_error == 0:
        return None
    return 100.0 * error / fresh_error


for _op in OPS:
    register_task(
        _op,
        ArithmeticExperiment,
        recipe="arithmetic",
        static=True,
        default_cell=DEFAULT_CELLS.get(_op),
        static_default_cell=STATIC_DEFAULT_CELLS.get(_op),
    )
