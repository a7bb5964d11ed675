"""The `train.py` command line: a parser generated from `RunConfig`, and `main`.

Every flag is a `runner.config.RunConfig` field; its help, parser and
default come from the field (`runner.config.Flag`), and the flags appear in
the field's group. `parse_args` turns the flags given into one frozen
`RunConfig` (flags given win over the task's and cell's recipes); `main`
runs it with `runner.run.run` or `runner.run.run_seeds` and turns the
user's errors into one line and exit status 2.

Building the parser and parsing import neither Keras nor TensorFlow, so
`train.py --help` answers at once; `main` imports them after the flags are
read (and after the quiet start has hidden their start-up notices).
"""

import argparse
import dataclasses
import importlib.util
import os
import sys

from runner.config import (
    FIELD_DEFAULTS,
    GROUPS,
    ConfigError,
    RunConfig,
    name_list,  # noqa: F401 - the scripts' comma-separated lists
)
from runner.model_record import read_record
from runner.quiet import quiet_start
from tasks.cells import CELLS
from tasks.registry import families, get_task, task_names

DESCRIPTION = (
    "Train and evaluate a neural arithmetic model: `python train.py --task TASK`."
)
EPILOG = (
    "Defaults: a field's own, then what the recipes set (by task family, "
    "cell or task); `train.py --task TASK [--cell CELL] --help` shows the "
    "values that run takes."
)


# ------------------------------------------------------------ the parser


def _format(value):
    """A default as `--help` shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if callable(value):  # an `eval_lengths` recipe of the training length
        return _format(value(FIELD_DEFAULTS["train_length"]))
    return str(value)


def recipe_values(name):
    """`[(where, value)]` of every recipe that sets field `name`."""
    found = []
    for family in families():
        recipes = family.recipes
        labelled = [(family.name, recipes.task)]
        labelled += [
            (
                f"{family.name} {cell}"
                if cell != recipes.fallback_cell
                else f"other {family.name} cells",
                recipe,
            )
            for cell, recipe in recipes.cells.items()
        ]
        if recipes.baseline is not None:
            labelled.append((f"{family.name} baselines", recipes.baseline))
        labelled += [
            (f"{family.name} --static {cell}", recipe)
            for cell, recipe in recipes.static.items()
        ]
        if recipes.single_layer is not None:
            labelled.append((f"{family.name} --single-layer", recipes.single_layer))
        labelled += [
            (f"{family.name} --single-layer {cell}", recipe)
            for cell, recipe in recipes.single_layer_cells.items()
        ]
        found += [
            (where, recipe.values[name])
            for where, recipe in labelled
            if name in recipe.values
        ]
    found += [
        (spec.name, spec.recipe.values[name])
        for spec in map(get_task, task_names())
        if spec.recipe is not None and name in spec.recipe.values
    ]
    return found


def _default_help(field, resolved, context):
    """The `(default: ...)` of one flag's help."""
    flag = field.metadata["flag"]
    if resolved is not None:
        value = resolved.values()[field.name]
        shown = flag.unset if value is None else _format(value)
        return f"(default for {context}: {shown})"
    value = field.default
    shown = flag.unset if value is None else _format(value)
    recipes = recipe_values(field.name)
    if recipes:
        shown += "; " + ", ".join(
            f"{where}: {flag.unset if v is None else _format(v)}"
            for where, v in recipes
        )
    return f"(default: {shown})"


def _resolved_for_help(argv):
    """The `RunConfig` a `--task`/`--cell` in `argv` would get, for `--help`."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--task")
    peek.add_argument("--cell")
    peek.add_argument("--static", action="store_true", default=None)
    peek.add_argument("--single-layer", action="store_true", default=None)
    known, _ = peek.parse_known_args(argv)
    if known.task is None:
        return None, ""
    context = f"--task {known.task}"
    context += f" --cell {known.cell}" if known.cell else ""
    context += " --static" if known.static else ""
    context += " --single-layer" if known.single_layer else ""
    try:
        config = RunConfig.for_task(
            known.task,
            known.cell,
            static=known.static,
            single_layer=known.single_layer,
        )
    except ValueError:
        return None, ""
    return config, context


def build_parser(argv=None):
    """The `train.py` parser, generated from `RunConfig`'s fields in groups.

    Args:
        argv: The arguments about to be parsed; when they name `--task` (and
            `--cell`), `--help` shows that run's defaults. Defaults to
            `None`.
    """
    resolved, context = _resolved_for_help(argv or [])
    parser = argparse.ArgumentParser(
        prog="train.py", description=DESCRIPTION, epilog=EPILOG
    )
    for _, group_class, title in GROUPS:
        group = parser.add_argument_group(title, group_class.__doc__)
        for field in dataclasses.fields(group_class):
            flag = field.metadata["flag"]
            help_text = flag.help
            if field.default is not None or flag.unset != "required":
                help_text += " " + _default_help(field, resolved, context)
            name = "--" + field.name.replace("_", "-")
            kwargs = {"default": None, "help": help_text, "dest": field.name}
            if flag.kind == "switch":
                kwargs["action"] = "store_true"
            elif flag.kind == "toggle":
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                if flag.kind == "repeat":
                    kwargs["action"] = "append"
                if flag.kind == "optional":
                    kwargs.update(nargs="?", const=flag.const)
                choices = flag.choices() if callable(flag.choices) else flag.choices
                kwargs.update(type=flag.type, choices=choices, metavar=flag.metavar)
            group.add_argument(name, **kwargs)
    return parser


def parse_args(argv=None):
    """Parses `train.py` flags into a `RunConfig`.

    A flag left out takes the value of the task's and cell's recipes, or the
    field's default (`RunConfig.for_task`); a flag given always wins. A flag
    the task or cell cannot use, or an impossible combination, is a usage
    error: one line, exit status 2.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    if "evaluate" in given:
        path = given["evaluate"]
        if os.path.isdir(path):
            parser.error(f"--evaluate {path}: is a folder, not a .keras model file")
        if not os.path.isfile(path):
            parser.error(f"--evaluate: no such file: {path}")
    if "task" not in given:
        if "evaluate" not in given:
            parser.error("the following arguments are required: --task")
        record = read_record(given["evaluate"])
        if record is None:
            parser.error(
                f"--task is required: {given['evaluate']} does not record the "
                "task it was trained for (saved before nalu_rnn recorded it)"
            )
        given["task"] = record["task"]
        if record.get("static"):
            given.setdefault("static", True)
        if record.get("single_layer"):
            given.setdefault("single_layer", True)
        if record.get("cell") in CELLS:
            given.setdefault("cell", record["cell"])
    # None: the task's default cell (`RunConfig.for_task`).
    cell = given.pop("cell", None)
    try:
        config = RunConfig.for_task(given.pop("task"), cell, **given)
    except (ConfigError, ValueError) as error:
        parser.error(str(error))
    tensorboard_missing = importlib.util.find_spec("tensorboard") is None
    if config.infra.tensorboard is not None and tensorboard_missing:
        parser.error(
            "--tensorboard needs the tensorboard package (pip install tensorboard)"
        )
    return config


# ------------------------------------------------------------ the run


def _export_unavailable():
    # Keras's torch backend traces the model with torch_xla to write a
    # SavedModel; without it `model.export` fails after training.
    import keras

    return (
        keras.backend.backend() == "torch"
        and importlib.util.find_spec("torch_xla") is None
    )


def _silence_retracing_warnings():
    # Evaluating one model at several lengths retraces its predict function
    # once per length, by design; TensorFlow warns about each retrace.
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")


def set_determinism(enabled):
    # `--seed` fixes the data, the initial weights and Keras's shuffling
    # (`keras.utils.set_random_seed` in `runner.run.run`); on
    # TensorFlow, some kernels (parallel reductions, tf.data's parallel
    # map) may still reorder float additions between runs unless op
    # determinism is on. JAX on CPU is deterministic already.
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if enabled:
            tf.config.experimental.enable_op_determinism()
        else:
            # The setting is per process: a second run in it (tests,
            # notebooks) gets what its own flag says.
            tf.config.experimental.disable_op_determinism()


def main(argv=None, experiment=None):
    """`python train.py ARGV`; returns the exit status (0, 1 on NaN, 2).

    Args:
        argv: The arguments; `None` for `sys.argv[1:]`.
        experiment: The `tasks.experiment.Experiment` class of the run (a
            probe's subclass), or `None` for the task family's own.
            Defaults to `None`.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    config = parse_args(argv)
    # Keras and TensorFlow load here, once the flags are read: `--help` and
    # a usage error never pay for them, and their notices are hidden first.
    quiet_start(argv)
    _silence_retracing_warnings()
    set_determinism(config.infra.deterministic)
    from nalu_rnn.callbacks import NonFiniteError
    from runner import distribution, run
    from tasks.mnist import MNISTDataError, MNISTNotFoundError

    if config.infra.export and _export_unavailable():
        # Refused before training, not after it.
        print(
            "train.py: error: --export writes a TensorFlow SavedModel, which "
            "Keras makes from a torch model only through torch_xla (not "
            "installed); train with KERAS_BACKEND=tensorflow or jax to export",
            file=sys.stderr,
        )
        return 2
    strategy = config.infra.strategy
    try:
        # Before anything else runs on TensorFlow: multi-worker collectives
        # are set up once, at start-up.
        distribution.get_strategy(strategy)
        distribution.check_batch_split(strategy, config.optim.batch_size)
        config = config.replace(out=distribution.output_dir(config.run.out, strategy))
        if config.infra.vectorize:
            run.check_vectorize(experiment)
            # Imported only here: it needs JAX, which other backends may lack.
            from runner import vectorize

            vectorize.run_seeds(config)
        elif config.run.seeds:
            run.run_seeds(config, experiment=experiment)
        else:
            run.run(config, experiment=experiment)
    except (
        MNISTNotFoundError,
        MNISTDataError,
        run.ModelFileError,
        run.OutputExistsError,
        run.OutputDirError,
        run.EvaluationTooLargeError,
        run.VectorizeError,
        distribution.StrategyError,
    ) as error:
        # The user's data, file or folder is at fault: one line, no traceback.
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteError as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 1
    return 0
