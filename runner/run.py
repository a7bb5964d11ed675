"""Runs one experiment end to end: model, training, evaluation, outputs.

`runner.cli` builds a `runner.config.RunConfig` and hands it to `run` (one
seed) or `run_seeds` (several). The task's `tasks.base.Experiment` builds,
compiles, feeds and evaluates the model; everything else (seeding, fitting
with checkpoints, the results file, the plot, the summary over seeds) is
shared here.
"""

import json
import os
import time
from pathlib import Path

import keras

import nalu_rnn
from runner import distribution
from runner.model_record import read_record, write_record
from runner.observability import (
    export_for_serving,
    tensorboard_dir,
    training_callbacks,
    write_eval_scalars,
)
from runner.results import (
    format_summary,
    format_table,
    plot_errors,
    summarize,
    write_json,
)
from tasks.cells import get_cell_spec
from tasks.experiment import ModelSignature
from tasks.registry import make_experiment
from tasks.training import whole_batches


class ModelFileError(ValueError):
    """`--evaluate` was given a file that is not a loadable Keras model."""


class OutputExistsError(ValueError):
    """`--out` already holds a finished run and `--force` was not given."""


class OutputDirError(ValueError):
    """`--out` cannot be created (not writable, or under a file)."""


class EvaluationTooLargeError(ValueError):
    """The evaluation sets asked for would not fit in this machine's memory."""


class VectorizeError(ValueError):
    """`--vectorize` cannot train these seeds (backend, probe): one line."""


def check_evaluation_fits(experiment, config):
    """Raises `EvaluationTooLargeError` when the evaluation sets would take
    more than half of this machine's memory (`Experiment.evaluation_bytes`).
    """
    needed = experiment.evaluation_bytes()
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return  # no way to know here; let the evaluation try
    if needed > memory / 2:
        evaluation = config.evaluation
        lengths = ",".join(str(n) for n in evaluation.eval_lengths)
        raise EvaluationTooLargeError(
            f"--eval-lengths {lengths} with --eval-sequences "
            f"{evaluation.eval_sequences} needs about {needed / 2**30:.1f} GiB for "
            f"its evaluation sets, more than half of this machine's "
            f"{memory / 2**30:.1f} GiB; pass fewer --eval-sequences or shorter "
            "--eval-lengths"
        )


NON_FINITE_HINT = (
    "Flags that help: --clipnorm 1.0 (gradient clipping), a lower "
    "--learning-rate, or a cell with exponent clipping (--cell inalu)."
)


def load_model(path):
    """Loads a `.keras` model, or raises `ModelFileError` naming the file."""
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - any failure means "not a model"
        first_line = str(error).strip().splitlines()[0] if str(error) else ""
        if "safe_mode" in str(error):
            raise ModelFileError(
                f"--evaluate {path}: Keras refuses to load this model because it "
                "holds Python code (a Lambda layer or function); safe mode stays "
                "on, since loading it would run that code"
            ) from error
        raise ModelFileError(
            f"--evaluate {path}: not a Keras model file that this version of "
            f"nalu_rnn can load ({type(error).__name__}: {first_line[:200]})"
        ) from error


def check_model_fits(model, experiment, config):
    """Raises `ModelFileError` if `model` does not fit the task of `config`.

    The model's input shape and output size must be those the task's
    experiment trains (`Experiment.model_signature`); its task record, where
    the file has one, names what it was trained for.
    """
    expected = experiment.model_signature()
    if expected is None:
        return
    given = ModelSignature.of_model(model)
    if expected.accepts(given):
        return
    record = read_record(config.run.evaluate)
    trained = ""
    if record is not None:
        static = " --static" if record.get("static") else ""
        trained = f" (trained for --task {record['task']}{static})"
    static = " --static" if config.data.static else ""
    raise ModelFileError(
        f"--evaluate {config.run.evaluate}: the model takes {given.describe()}"
        f"{trained}, but --task {config.run.task}{static} gives "
        f"{expected.describe()}"
    )


def versions():
    return {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "nalu_rnn": nalu_rnn.__version__,
    }


def resume_epoch(backup_dir):
    """The epoch an interrupted run's checkpoint resumes from, or None."""
    metadata = Path(backup_dir) / "training_metadata.json"
    if not metadata.exists():
        return None
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (ValueError, KeyError):
        return None


def fit(model, experiment, config, out_dir):
    """`model.fit` with checkpoints every epoch and a guard against NaN.

    A run killed at any point and started again with the same command
    resumes from its last checkpoint in `OUT/backup` (Keras
    `BackupAndRestore`, which also restores the optimizer); the checkpoint
    is deleted when training ends. Returns `(steps, seconds)`.
    """
    data, epochs, steps_per_epoch = experiment.training_data()
    backup = Path(out_dir) / "backup"
    experiment.checkpoint_dir = backup
    resumed = resume_epoch(backup)
    quiet = config.infra.quiet
    if resumed is not None and not quiet:
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
        *training_callbacks(tensorboard_dir(config, out_dir), steps_per_epoch),
    ]
    start = time.perf_counter()
    model.fit(
        data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=experiment.shuffle_batches,
        verbose=0 if quiet else 1,
    )
    return epochs * steps_per_epoch, time.perf_counter() - start


def run(config, out_dir=None, experiment=None):
    """Trains (or loads) and evaluates one seed; writes results to `out_dir`.

    All of it runs in the scope of `config.infra.strategy` (`--strategy`):
    the model must be built and compiled there for its variables to live on
    every replica, and its later clones and reloads belong there too.

    Args:
        config: The `RunConfig`.
        out_dir: Folder of the outputs. Defaults to `config.run.out`.
        experiment: The `tasks.experiment.Experiment` class of the run (a
            probe's subclass), or `None` for the task family's own.
            Defaults to `None`.

    Returns:
        The dict written to `results.json`.
    """
    with distribution.scope(config.infra.strategy):
        return _run_in_scope(config, Path(out_dir or config.run.out), experiment)


def _run_in_scope(config, out_dir, experiment_class):
    experiment = start(config, out_dir, experiment_class)
    if config.run.evaluate:
        model = load_model(config.run.evaluate)
        check_model_fits(model, experiment, config)
        return finish(config, experiment, model, out_dir)
    model = experiment.build_model()
    experiment.compile(model)
    steps, train_seconds = fit(model, experiment, config, out_dir)
    return finish(config, experiment, model, out_dir, steps, train_seconds)


def start(config, out_dir, experiment_class=None):
    """Seeds everything and makes the run's experiment, before any model.

    Refuses, with the errors `train.py` turns into one line, a finished run
    in `out_dir` (without `--force`), evaluation sets too large for this
    machine, and an output folder that cannot be made.

    Returns:
        The run's `tasks.experiment.Experiment`.
    """
    if (out_dir / "results.json").exists() and not config.run.force:
        raise OutputExistsError(
            f"{out_dir} already holds a finished run (results.json); pass "
            "--force to overwrite it or choose another --out"
        )
    keras.utils.set_random_seed(config.run.seed)
    experiment = make_experiment(config, experiment_class)
    check_evaluation_fits(experiment, config)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputDirError(
            f"--out {out_dir}: cannot create the output folder "
            f"({error.strerror or type(error).__name__})"
        ) from error
    return experiment


def finish(config, experiment, model, out_dir, steps=0, train_seconds=0.0, record=None):
    """Judges, hardens, saves and evaluates a trained (or loaded) model.

    The model is evaluated as trained first (`success_raw`, each entry's
    `mse_raw` and `success_raw`), then hardened (`after_training`, for a
    model trained here) and evaluated again (`success`). Writes
    `results.json`, the plot and, for a trained model, `model.keras`.

    Args:
        config: The `RunConfig`.
        experiment: The run's `tasks.experiment.Experiment`.
        model: The model, trained for `steps` steps (0: loaded to evaluate).
        out_dir: The output folder (a `pathlib.Path`).
        steps: Training steps taken. Defaults to `0`.
        train_seconds: Seconds of training. Defaults to `0.0`.
        record: Further results.json entries about how the run trained
            (`runner.vectorize`'s `vectorized`), or `None`. Defaults to
            `None`.

    Returns:
        The dict written to `results.json`.
    """
    trained = not config.run.evaluate
    extra = {}
    # Hardening's validation set, like the evaluation sets, need not split
    # evenly over the devices of a JAX `--strategy mirrored`.
    with whole_batches():
        raw_entries = experiment.evaluate(model) if trained else None
        if trained:
            extra = experiment.after_training(model)
    if trained:
        model.save(out_dir / "model.keras")
        write_record(out_dir / "model.keras", config, experiment.model_signature())
    if config.infra.export:
        export_for_serving(model, out_dir)
    with whole_batches():
        entries = experiment.evaluate(model)
        measures = experiment.success_measures(model, entries, steps)
    raw_entries = raw_entries or entries
    for entry, raw in zip(entries, raw_entries, strict=True):
        entry["mse_raw"] = raw["mse"]
        if "success" in raw:
            entry["success_raw"] = raw["success"]
    write_eval_scalars(tensorboard_dir(config, out_dir), entries, steps)
    if get_cell_spec(config.run.cell).arithmetic:
        extra["formula"] = nalu_rnn.formula(model)
        extra["gates"] = nalu_rnn.hardening.gate_decisions(model)
        if not config.infra.quiet:
            print(extra["formula"])
    results = {
        "task": config.run.task,
        "cell": config.run.cell,
        "seed": config.run.seed,
        "static": config.data.static,
        "train_length": config.data.train_length,
        "train_seconds": round(train_seconds, 2),
        "steps": steps,
        "optimizer": config.optim.optimizer,
        "evaluated_model": str(config.run.evaluate) if config.run.evaluate else None,
        "eval": entries,
        "versions": versions(),
        "config": distribution.describe(config.infra.strategy),
        # Every option after recipes and flags: the run, repeatable from it
        # alone (`RunConfig.from_record`).
        "run_config": config.as_dict(),
        **(record or {}),
        **extra,
    }
    problem = experiment.problem()
    if problem is not None:
        results["problem"] = problem
    succeeded = experiment.succeeded(entries)
    if succeeded is not None:
        results["success"] = succeeded
        results["success_raw"] = experiment.succeeded(raw_entries)
    results.update(measures)
    write_json(out_dir / "results.json", results)
    plot_errors([results], out_dir / "extrapolation.png")
    if not config.infra.quiet:
        print(format_table(results))
        print(f"Wrote {out_dir / 'results.json'}")
    return results


def run_seeds(config, out_dir=None, experiment=None, train=None):
    """Runs seeds `seed ... seed + seeds - 1` and writes `summary.json`.

    Seed `K` runs `config.replace(seed=K)` into `OUT/seed_<K>/` (with
    `experiment`, as `run`); a seed whose `results.json` exists is kept
    (without `--force`), so a sweep stopped part-way resumes.

    Args:
        config: The `RunConfig`, with `--seeds`.
        out_dir: The output folder. Defaults to `config.run.out`.
        experiment: The `tasks.experiment.Experiment` class of the runs
            (a probe's subclass), or `None` for the task family's own.
            Defaults to `None`.
        train: Callable taking the list of seeds left to train and
            returning `{seed: results}`, that trains them together
            (`runner.vectorize.run_seeds` passes its own), or `None` to
            `run` each in turn. Defaults to `None`.

    Returns:
        The dict written to `summary.json`.

    Raises:
        VectorizeError: for a `--vectorize` configuration without `train`
            (`runner.vectorize.run_seeds` trains those).
    """
    out_dir = Path(out_dir or config.run.out)
    force, quiet = config.run.force, config.infra.quiet
    if config.infra.vectorize and train is None:
        raise VectorizeError(
            "--vectorize trains the seeds together: run it with "
            "runner.vectorize.run_seeds"
        )
    if (out_dir / "summary.json").exists() and not force:
        raise OutputExistsError(
            f"{out_dir} already holds a finished run (summary.json); pass "
            "--force to overwrite it or choose another --out"
        )
    results = {}
    first = config.run.seed
    for seed in range(first, first + config.run.seeds):
        seed_dir = out_dir / f"seed_{seed}"
        finished = seed_dir / "results.json"
        if finished.exists() and not force:
            if not quiet:
                print(f"Seed {seed} already finished in {seed_dir}; keeping it")
            results[seed] = json.loads(finished.read_text())
        elif train is None:
            results[seed] = run(config.replace(seed=seed), seed_dir, experiment)
    if train is not None:
        seeds = range(first, first + config.run.seeds)
        results.update(train([seed for seed in seeds if seed not in results]))
    all_results = [results[seed] for seed in sorted(results)]
    summary = summarize(all_results)
    write_json(out_dir / "summary.json", summary)
    plot_errors(all_results, out_dir / "extrapolation.png")
    if not quiet:
        print(format_summary(summary))
        print(f"Wrote {out_dir / 'summary.json'}")
    return summary


def check_vectorize(experiment=None):
    """Raises `VectorizeError` where `--vectorize` cannot hold, once Keras
    is loaded: on a backend other than JAX, or for a probe's `experiment`
    class. (What the configuration alone refuses, `RunConfig` does.)"""
    backend = keras.backend.backend()
    if backend != "jax":
        raise VectorizeError(
            f"--vectorize trains the seeds as one JAX program (jax.vmap); "
            f"this is the {backend} backend: run with KERAS_BACKEND=jax, or "
            "leave out --vectorize"
        )
    if experiment is not None:
        raise VectorizeError(
            "--vectorize trains the task family's own experiment; a probe's "
            f"experiment ({experiment.__name__}) trains one seed at a time: "
            "leave out --vectorize"
        )
