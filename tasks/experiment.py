"""Runs one experiment end to end: model, training, evaluation, outputs.

`train.py` parses flags into an `argparse.Namespace` and hands it to `run`
(one seed) or `run_seeds` (several). Each task family provides an
experiment object with `build_model()`, `compile(model)`, `training_data()`
and `evaluate(model)`; everything else (seeding, fitting, the results file,
the plot, the summary over seeds) is shared here.
"""

import dataclasses
import json
import math
import os
import statistics
import time
from pathlib import Path

import keras
import numpy as np

import nalu_rnn
from tasks import distribution
from tasks.arithmetic import OPS, ArithmeticBatches, ArithmeticTask, mse
from tasks.mnist import TASKS as MNIST_TASKS
from tasks.observability import (
    export_for_serving,
    tensorboard_dir,
    training_callbacks,
    write_eval_scalars,
)
from tasks.success import (
    SolvedStepMonitor,
    median_or_none,
    sparsity_error,
    wilson_interval,
)

TASK_NAMES = OPS + tuple(MNIST_TASKS)


class ArithmeticExperiment:
    """The recurrent (or static) arithmetic task of `tasks.arithmetic`."""

    # Keras shuffles the order of the ArithmeticBatches within an epoch.
    shuffle_batches = True

    def __init__(self, options):
        self.options = options
        self.task = ArithmeticTask(options.task, static=options.static)
        self.arithmetic = nalu_rnn.models.get_cell_spec(options.cell).arithmetic
        # Shared by every arithmetic layer; SparsityWarmup raises it later.
        self.sparsity = nalu_rnn.SparsityRegularizer(0.0)
        self.monitor = None
        self._test_sets = None

    def build_model(self):
        o = self.options
        return nalu_rnn.models.arithmetic_model(
            o.cell,
            self.task.input_dim,
            units=o.units,
            static=o.static,
            arithmetic_regularizer=self.sparsity,
        )

    def callbacks(self, epochs):
        o = self.options
        callbacks = [self.solved_step_monitor()]
        if not self.arithmetic or o.sparsity == 0:
            return callbacks
        end = getattr(o, "sparsity_end", None)
        if end is None:
            start = max(1, round(o.sparsity_start * epochs))
            warmup = nalu_rnn.callbacks.SparsityWarmup(self.sparsity, o.sparsity, start)
            return [warmup, *callbacks]
        # Madsen & Johansen's linear ramp by step, compressed into this run.
        # A gradual start matters for the NAU: an add/sub weight split
        # between the two hidden units resolves towards one of them while
        # the pull towards {-1, 0, 1} is still weak, but a strong pull
        # switched on at once can freeze both halves near 0.5.
        start_step = round(o.sparsity_start * o.steps)
        end_step = max(start_step + 1, round(end * o.steps))
        warmup = nalu_rnn.callbacks.SparsityWarmup(
            self.sparsity,
            o.sparsity,
            start_step=start_step,
            end_step=end_step,
            # Each change retraces the train function: about 20 per ramp.
            update_every=max(1, (end_step - start_step) // 20),
            stop_step=_step_or_none(getattr(o, "sparsity_stop", None), o.steps),
        )
        return [warmup, *callbacks]

    def test_sets(self):
        """The evaluation sets, drawn once (the monitor reuses their heads)."""
        if self._test_sets is None:
            o = self.options
            self._test_sets = self.task.test_sets(
                o.eval_lengths, o.eval_sequences, o.seed
            )
        return self._test_sets

    def solved_step_monitor(self):
        """Checks the success criterion every `--check-every` steps.

        On the first `--check-sequences` examples of each extrapolation set
        (the long recurrent sets cost a full pass each), against the
        threshold of that same slice.
        """
        o = self.options
        n = getattr(o, "check_sequences", 256)
        sets = [
            (x[:n], y[:n], self.task.perturbed_solution_mse(x[:n]))
            for split, _, _, x, y in self.test_sets()
            if split == "extrapolation"
        ]
        self.monitor = SolvedStepMonitor(sets, every=getattr(o, "check_every", 100))
        return self.monitor

    def validation_set(self):
        rng = np.random.default_rng([self.options.seed, 2])
        return self.task.sample(
            1000, self.options.train_length, self.task.train_range, rng
        )

    def after_training(self, model):
        """Hardens the arithmetic weights when that keeps validation error."""
        if not (self.arithmetic and self.options.harden):
            return {}
        return harden_if_no_worse(
            model, *self.validation_set(), tolerance=self.options.harden_tolerance
        )

    def compile(self, model):
        o = self.options
        learning_rate = o.learning_rate
        if getattr(o, "lr_decay", False):
            # A high rate finds the structure fast; decaying it lets the
            # weights settle to the precision the success criterion asks.
            learning_rate = keras.optimizers.schedules.CosineDecay(
                o.learning_rate, decay_steps=o.steps, alpha=0.01
            )
        optimizer = nalu_rnn.optimizers.get_optimizer(
            o.optimizer, learning_rate, clipnorm=o.clipnorm
        )
        model.compile(optimizer=optimizer, loss="mse")

    def training_data(self):
        o = self.options
        steps_per_epoch = min(o.steps, 1000)
        epochs = math.ceil(o.steps / steps_per_epoch)
        batches = ArithmeticBatches(
            self.task, o.train_length, o.batch_size, steps_per_epoch, o.seed
        )
        return batches, epochs, steps_per_epoch

    def evaluate(self, model):
        o = self.options
        # A fresh model of the same architecture is the "random" reference of
        # scaled_error: 100 means no better than untrained.
        keras.utils.set_random_seed(o.seed + 10_000)
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

    @staticmethod
    def succeeded(entries):
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


def harden_if_no_worse(model, x_val, y_val, tolerance):
    """Applies `nalu_rnn.harden` and keeps it unless validation MSE rises."""
    before = mse(y_val, model.predict(x_val, batch_size=256, verbose=0))
    snapshot = nalu_rnn.hardening.weights_snapshot(model)
    report = nalu_rnn.harden(model, tolerance)
    after = mse(y_val, model.predict(x_val, batch_size=256, verbose=0))
    kept = after <= before
    if not kept:
        nalu_rnn.hardening.restore_weights(model, snapshot)
    return {
        "hardening": {
            "applied": kept,
            "tolerance": tolerance,
            "validation_mse_before": before,
            "validation_mse_after": after,
            "snapped": [dataclasses.asdict(r) for r in report],
        }
    }


def scaled_error(error, fresh_error):
    """100 x MSE / MSE of a fresh model; None when either is not finite."""
    if not (math.isfinite(error) and math.isfinite(fresh_error)) or fresh_error == 0:
        return None
    return 100.0 * error / fresh_error


class ModelFileError(ValueError):
    """`--evaluate` was given a file that is not a loadable Keras model."""


def load_model(path):
    """Loads a `.keras` model, or raises `ModelFileError` naming the file."""
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - any failure means "not a model"
        first_line = str(error).strip().splitlines()[0] if str(error) else ""
        raise ModelFileError(
            f"--evaluate {path}: not a Keras model file that this version of "
            f"nalu_rnn can load ({type(error).__name__}: {first_line[:200]})"
        ) from error


def make_experiment(options):
    if options.task in OPS:
        return ArithmeticExperiment(options)
    from tasks.mnist_experiment import MNISTExperiment

    return MNISTExperiment(options)


def versions():
    return {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "nalu_rnn": nalu_rnn.__version__,
    }


class OutputExistsError(ValueError):
    """`--out` already holds a finished run and `--force` was not given."""


NON_FINITE_HINT = (
    "Flags that help: --clipnorm 1.0 (gradient clipping), a lower "
    "--learning-rate, or a cell with exponent clipping (--cell inalu)."
)


def resume_epoch(backup_dir):
    """The epoch an interrupted run's checkpoint resumes from, or None."""
    metadata = Path(backup_dir) / "training_metadata.json"
    if not metadata.exists():
        return None
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (ValueError, KeyError):
        return None


def fit(model, experiment, options, out_dir):
    """`model.fit` with checkpoints every epoch and a guard against NaN.

    A run killed at any point and started again with the same command
    resumes from its last checkpoint in `OUT/backup` (Keras
    `BackupAndRestore`, which also restores the optimizer); the checkpoint
    is deleted when training ends. Returns `(steps, seconds)`.
    """
    data, epochs, steps_per_epoch = experiment.training_data()
    backup = out_dir / "backup"
    resumed = resume_epoch(backup)
    if resumed is not None and not options.quiet:
        print(
            f"Resuming from the checkpoint in {backup}: epoch {resumed + 1} of "
            f"{epochs}, step {resumed * steps_per_epoch} of "
            f"{epochs * steps_per_epoch}"
        )
    callbacks = [
        *experiment.callbacks(epochs),
        nalu_rnn.callbacks.NonFiniteGuard(hint=NON_FINITE_HINT),
        keras.callbacks.BackupAndRestore(
            str(backup), save_freq="epoch", double_checkpoint=True
        ),
        *training_callbacks(tensorboard_dir(options, out_dir), steps_per_epoch),
    ]
    start = time.perf_counter()
    model.fit(
        data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=experiment.shuffle_batches,
        verbose=0 if options.quiet else 1,
    )
    return epochs * steps_per_epoch, time.perf_counter() - start


def run(options, out_dir):
    """Trains (or loads) and evaluates one seed; writes results to `out_dir`.

    All of it runs in the scope of `options.strategy` (`--strategy`): the
    model must be built and compiled there for its variables to live on
    every replica, and its later clones and reloads belong there too.
    """
    with distribution.scope(_strategy(options)):
        return _run_in_scope(options, out_dir)


def _strategy(options):
    return getattr(options, "strategy", None) or "none"


def _run_in_scope(options, out_dir):
    out_dir = Path(out_dir)
    if (out_dir / "results.json").exists() and not getattr(options, "force", False):
        raise OutputExistsError(
            f"{out_dir} already holds a finished run (results.json); pass "
            "--force to overwrite it or choose another --out"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(options.seed)
    experiment = make_experiment(options)
    steps = 0
    train_seconds = 0.0
    extra = {}
    if options.evaluate:
        model = load_model(options.evaluate)
    else:
        model = experiment.build_model()
        experiment.compile(model)
        steps, train_seconds = fit(model, experiment, options, out_dir)
        extra = experiment.after_training(model)
        model.save(out_dir / "model.keras")
    if getattr(options, "export", False):
        export_for_serving(model, out_dir)
    entries = experiment.evaluate(model)
    write_eval_scalars(tensorboard_dir(options, out_dir), entries, steps)
    if nalu_rnn.models.get_cell_spec(options.cell).arithmetic:
        extra["formula"] = nalu_rnn.formula(model)
        if not options.quiet:
            print(extra["formula"])
    results = {
        "task": options.task,
        "cell": options.cell,
        "seed": options.seed,
        "static": bool(getattr(options, "static", False)),
        "train_length": options.train_length,
        "train_seconds": round(train_seconds, 2),
        "steps": steps,
        "optimizer": options.optimizer,
        "evaluated_model": str(options.evaluate) if options.evaluate else None,
        "eval": entries,
        "versions": versions(),
        "config": distribution.describe(_strategy(options)),
        **extra,
    }
    if hasattr(experiment, "succeeded"):
        results["success"] = experiment.succeeded(entries)
    if hasattr(experiment, "success_measures"):
        results.update(experiment.success_measures(model, entries, steps))
    write_json(out_dir / "results.json", results)
    plot_errors([results], out_dir / "extrapolation.png")
    if not options.quiet:
        print(format_table(results))
        print(f"Wrote {out_dir / 'results.json'}")
    return results


def run_seeds(options, out_dir):
    """Runs seeds `seed ... seed + seeds - 1` and writes `summary.json`."""
    out_dir = Path(out_dir)
    if (out_dir / "summary.json").exists() and not getattr(options, "force", False):
        raise OutputExistsError(
            f"{out_dir} already holds a finished run (summary.json); pass "
            "--force to overwrite it or choose another --out"
        )
    first = options.seed
    all_results = []
    for seed in range(first, first + options.seeds):
        options.seed = seed
        seed_dir = out_dir / f"seed_{seed}"
        finished = seed_dir / "results.json"
        if finished.exists() and not getattr(options, "force", False):
            # A sweep stopped part-way resumes: finished seeds are kept.
            if not options.quiet:
                print(f"Seed {seed} already finished in {seed_dir}; keeping it")
            all_results.append(json.loads(finished.read_text()))
            continue
        all_results.append(run(options, seed_dir))
    options.seed = first
    summary = summarize(all_results)
    write_json(out_dir / "summary.json", summary)
    plot_errors(all_results, out_dir / "extrapolation.png")
    if not options.quiet:
        print(format_summary(summary))
        print(f"Wrote {out_dir / 'summary.json'}")
    return summary


def summarize(all_results):
    """Success rate and, per eval set, the median of each metric over seeds."""
    first = all_results[0]
    per_length = []
    for i, entry in enumerate(first["eval"]):
        row = {k: entry[k] for k in ("length", "split") if k in entry}
        entries = [r["eval"][i] for r in all_results]
        # A metric is numeric, or None where a seed diverged (all seeds may
        # have diverged: the median is then None too).
        keys = [
            key
            for key in dict.fromkeys(k for e in entries for k in e)
            if key not in row and all(_is_metric(e.get(key)) for e in entries)
        ]
        for key in keys:
            row[f"median_{key}"] = _median([e.get(key) for e in entries])
        per_length.append(row)
    summary = {
        "task": first["task"],
        "cell": first["cell"],
        "static": first.get("static", False),
        "seeds": [r["seed"] for r in all_results],
        "median_train_seconds": _median([r["train_seconds"] for r in all_results]),
        "eval": per_length,
        "versions": first["versions"],
    }
    if "success" in first:
        successes = [bool(r["success"]) for r in all_results]
        summary["successes"] = successes
        summary["success_rate"] = sum(successes) / len(successes)
        summary["success_ci"] = list(wilson_interval(sum(successes), len(successes)))
        # Over the solved seeds only, as Madsen & Johansen report them.
        solved = [r for r in all_results if r["success"]]
        summary["median_solved_step"] = median_or_none(
            [r.get("solved_step") for r in solved]
        )
        summary["median_sparsity_error"] = median_or_none(
            [r.get("sparsity_error") for r in solved]
        )
    return summary


def _is_metric(value):
    return value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def _median(values):
    """Median that treats None (a non-finite result) as +infinity."""
    ranked = [math.inf if v is None else v for v in values]
    value = statistics.median(ranked)
    return None if not math.isfinite(value) else value


def write_json(path, data):
    """Writes JSON atomically: a reader never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(_finite(data), f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def _finite(value):
    # JSON has no Infinity or NaN: a diverged metric is written as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


METRIC_COLUMNS = ("mse", "scaled_error", "mae", "accuracy", "relative_error")


def format_table(results):
    title = f"{results['task']} / {results['cell']} / seed {results['seed']}"
    if "success" in results:
        title += f" / success: {results['success']}"
    return title + "\n" + _metric_table(results["eval"], prefix="")


def format_summary(summary):
    title = f"{summary['task']} / {summary['cell']} / seeds {summary['seeds']}"
    if "success_rate" in summary:
        low, high = summary["success_ci"]
        title += (
            f" / success rate {summary['success_rate']:.2f} "
            f"(95% CI {low:.2f}-{high:.2f}), median solved step "
            f"{_fmt(summary['median_solved_step'])}, median sparsity error "
            f"{_fmt(summary['median_sparsity_error'])}"
        )
    return title + "\n" + _metric_table(summary["eval"], prefix="median_")


def _metric_table(entries, prefix):
    columns = [prefix + c for c in METRIC_COLUMNS if prefix + c in entries[0]]
    rows = [
        [str(e["length"]), e.get("split", "")] + [_fmt(e.get(c)) for c in columns]
        for e in entries
    ]
    return _table(["length", "split"] + columns, rows)


def _fmt(value):
    if value is None:
        return "inf/nan"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header, rows):
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for r in rows:
        lines.append(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def plot_errors(all_results, path, metric=None):
    """Error against length on log axes, one line per result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    static = all_results[0].get("static", False)
    first = all_results[0]["eval"][0]
    metric = metric or next(m for m in ("mae", "mse") if m in first)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in all_results:
        xs = [max(e["length"], 1) for e in r["eval"]]
        if static:
            xs = [e["range"][1] for e in r["eval"]]
        ys = [e.get(metric) for e in r["eval"]]
        ys = [np.nan if v is None or v <= 0 else v for v in ys]
        ax.plot(xs, ys, marker="o", label=f"seed {r['seed']}")
    ax.set_xscale("log")
    plotted = [v for line in ax.get_lines() for v in line.get_ydata()]
    if any(np.isfinite(v) for v in plotted):
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "every error diverged", ha="center", transform=ax.transAxes)
    ax.set_xlabel("upper value bound" if static else "sequence length")
    ax.set_ylabel(metric)
    ax.set_title(f"{all_results[0]['task']} / {all_results[0]['cell']}")
    if len(all_results) > 1:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
