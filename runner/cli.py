"""The `train.py` command line: flags, their validation, and `main`.

`parse_args` turns the flags into one frozen `runner.config.RunConfig`
(flags given win over the task's and cell's recipes); `main` runs it with
`runner.run.run` or `runner.run.run_seeds` and turns the user's errors into
one line and exit status 2.
"""

import argparse
import dataclasses
import importlib.util
import os
import sys

from runner import distribution
from runner.config import FIELD_DEFAULTS, MNIST_ENCODERS, RunConfig
from runner.model_record import read_record
from tasks.base import task_names

DESCRIPTION = (
    "Train and evaluate a neural arithmetic model: `python train.py --task TASK`."
)


def _number_type(cast, accept, expectation):
    """An argparse `type` that casts, then checks `accept(value)`."""

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expectation}, got {text!r}")
        return value

    return parse


_INF = float("inf")
positive_int = _number_type(int, lambda v: v > 0, "a positive integer")
non_negative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(float, lambda v: 0 < v < _INF, "a positive number")
non_negative_float = _number_type(float, lambda v: 0 <= v < _INF, "a number >= 0")
fraction = _number_type(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
snap_tolerance = _number_type(float, lambda v: 0 <= v <= 0.5, "a number in [0, 0.5]")


def name_list(text):
    """The non-empty, stripped items of a comma-separated flag value."""
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _lengths(text):
    return [int(v) for v in name_list(text)] or None


length_list = _number_type(
    _lengths,
    lambda values: all(v > 0 for v in values),
    "comma-separated positive integers",
)


def _default_cells():
    """`task: cell` for every task registered with its own default cell."""
    from tasks.base import get_task

    named = []
    for name in task_names():
        spec = get_task(name)
        if spec.default_cell:
            named.append(f"{name}: {spec.default_cell}")
        if spec.static_default_cell:
            named.append(f"{name} --static: {spec.static_default_cell}")
    return ", ".join(named) or "none"


def build_parser():
    """The `train.py` argument parser; `--task` choices are the registry's."""
    from nalu_rnn.models import CELLS
    from nalu_rnn.optimizers import OPTIMIZERS as OPTIMIZER_NAMES

    parser = argparse.ArgumentParser(
        prog="train.py",
        description=DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--task",
        choices=task_names(),
        default=None,
        help="required, except with --evaluate PATH of a model that records "
        "its task: then that task",
    )
    parser.add_argument(
        "--cell",
        default=None,
        choices=sorted(CELLS),
        help="recurrent cell (registry: nalu_rnn.models.CELLS); default the "
        f"task's registered default cell ({_default_cells()}), else "
        f"{FIELD_DEFAULTS['cell']}; with --evaluate the model's",
    )
    parser.add_argument("--seed", type=non_negative_int, default=FIELD_DEFAULTS["seed"])
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        help="run seeds SEED..SEED+N-1 into OUT/seed_<K>/ and write OUT/summary.json",
    )
    parser.add_argument(
        "--train-length",
        type=positive_int,
        default=None,
        help=f"default {FIELD_DEFAULTS['train_length']}, or the task's recipe "
        "(mnist_product: 2)",
    )
    parser.add_argument(
        "--eval-lengths",
        type=length_list,
        default=None,
        help="comma-separated; default 10,100,1000 (arithmetic), 1,10,100,1000 "
        "(MNIST), 1,2,...,20 (mnist_product)",
    )
    parser.add_argument(
        "--eval-sequences",
        type=positive_int,
        default=FIELD_DEFAULTS["eval_sequences"],
    )
    parser.add_argument("--steps", type=positive_int, default=None)
    parser.add_argument("--batch-size", type=positive_int, default=None)
    parser.add_argument("--learning-rate", type=positive_float, default=None)
    parser.add_argument(
        "--clipnorm", type=positive_float, default=None, help="gradient clipping"
    )
    parser.add_argument(
        "--clipvalue",
        type=positive_float,
        default=None,
        help="clip each gradient entry to [-v, v] (the iNALU authors' 0.1); "
        "default off, or the cell's recipe",
    )
    parser.add_argument(
        "--optimizer",
        default=None,
        choices=sorted(OPTIMIZER_NAMES),
        help="adam, or common_mode_adam (nalu_rnn.optimizers.CommonModeAdam: Adam "
        "with each kernel's fan-in mean as its own coordinate); default adam, or "
        "the --static recipe of the cell",
    )
    parser.add_argument(
        "--units",
        type=positive_int,
        default=None,
        help="recurrent state size; default 2 for arithmetic cells, 32 for baselines",
    )
    parser.add_argument(
        "--static",
        action="store_true",
        default=None,
        help="arithmetic without a time axis",
    )
    parser.add_argument(
        "--sparsity",
        type=non_negative_float,
        default=None,
        help="strength of the sparsity regulariser on arithmetic weights (0: off); "
        "default 0.05, or the --static recipe of the cell "
        "(runner.config.STATIC_RECIPES)",
    )
    parser.add_argument(
        "--saturation",
        type=non_negative_float,
        default=None,
        help="strength of the iNALU authors' saturation penalty on the raw "
        "kernels and gates of the arithmetic layers, "
        "mean(max(20 - |w|, 0)), switched on once the training loss is below 1 "
        "(0: off); for units that squash their raw weights (NAC, NALU, iNALU); "
        "default 0, or the cell's recipe",
    )
    parser.add_argument(
        "--sparsity-start",
        type=fraction,
        default=None,
        help="fraction of training before the sparsity regulariser starts; "
        "default 0.3, or the --static recipe of the cell",
    )
    parser.add_argument(
        "--sparsity-end",
        type=fraction,
        default=None,
        help="fraction of training at which the regulariser reaches full strength, "
        "rising linearly from --sparsity-start (Madsen & Johansen's schedule); "
        "default: full strength at once, one epoch after the start",
    )
    parser.add_argument(
        "--sparsity-stop",
        type=fraction,
        default=None,
        help="fraction of training from which the regulariser is off again "
        "(needs --sparsity-end); default: on to the end",
    )
    parser.add_argument(
        "--readout-sparsity-start",
        type=fraction,
        default=None,
        help="arithmetic tasks: fraction of training before the read-out's pull "
        "(its weights and gate) starts, later than the cell's so that the cell's "
        "sums are discrete first; default: with the cell's (--sparsity-start), "
        "or the cell's recipe (nalu: 0.6)",
    )
    parser.add_argument(
        "--gate-snap",
        type=fraction,
        default=None,
        help="fraction of training after which the unit gates (NALU, iNALU) "
        "within --harden-tolerance of 0 or 1 are snapped exact, so the rest of "
        "the model learns under the decided head; default off, or the cell's "
        "recipe",
    )
    parser.add_argument(
        "--lr-decay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cosine-decay the learning rate to 1%% of --learning-rate (arithmetic)",
    )
    parser.add_argument(
        "--check-every",
        type=positive_int,
        default=FIELD_DEFAULTS["check_every"],
        help="arithmetic: steps between checks of the success criterion, which "
        "give results.json's solved_step",
    )
    parser.add_argument(
        "--harden",
        action=argparse.BooleanOptionalAction,
        default=FIELD_DEFAULTS["harden"],
        help="snap arithmetic weights to -1/0/1 after training if validation "
        "error does not rise",
    )
    parser.add_argument(
        "--harden-tolerance",
        type=snap_tolerance,
        default=FIELD_DEFAULTS["harden_tolerance"],
        help="largest distance to -1/0/1 that hardening snaps, at most 0.5",
    )
    parser.add_argument(
        "--supervision",
        choices=("final", "every_step"),
        default=None,
        help="MNIST: supervise the final target only (the paper) or the running "
        "target at every step (Madsen & Johansen)",
    )
    parser.add_argument(
        "--encoder",
        choices=sorted(MNIST_ENCODERS),
        default=None,
        help="MNIST: the digit encoder's output; "
        + "; ".join(f"{name}: {prior}" for name, prior in MNIST_ENCODERS.items())
        + " (default classes)",
    )
    parser.add_argument(
        "--solved-head",
        action="store_true",
        default=None,
        help="MNIST: fix the arithmetic head at the exact running sum (product "
        "for mnist_product) and train only the encoder: Madsen & Johansen's "
        "reference for the success thresholds (experiments/mnist_reference.py)",
    )
    parser.add_argument(
        "--scale-targets",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="MNIST, cells without arithmetic units: the read-out's output is "
        "multiplied by the standard deviation and shifted by the mean of the "
        "training targets (measured on training sequences), so it starts at "
        "their scale (default on for the baselines)",
    )
    parser.add_argument(
        "--curriculum",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="MNIST: train on a few shorter lengths first (1, 2, 5 for length "
        "10) over the first 20%% of the steps (default on, off for the baselines)",
    )
    parser.add_argument("--out", default=None, help="default runs/<task>-<cell>")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder of MNIST IDX files; default $NALU_MNIST_DIR, else "
        "tensorflow-datasets' mnist (see --tfds-dir)",
    )
    parser.add_argument(
        "--tfds-dir",
        default=None,
        metavar="DIR",
        help="tensorflow-datasets data folder that MNIST is read from, or "
        "downloaded into once, without --data-dir; default $TFDS_DATA_DIR, "
        "else ~/tensorflow_datasets",
    )
    parser.add_argument(
        "--evaluate", default=None, metavar="PATH", help="evaluate a saved model"
    )
    parser.add_argument(
        "--strategy",
        choices=distribution.STRATEGIES,
        default=FIELD_DEFAULTS["strategy"],
        help="data-parallel training: mirrored over this machine's GPUs "
        "(TensorFlow's MirroredStrategy, or keras.distribution.DataParallel "
        "on JAX), or multiworker over the machines in TF_CONFIG (TensorFlow "
        "only); --batch-size is the global batch, split across replicas",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress or table")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="keep TensorFlow's start-up notices (oneDNN, absl), which are "
        "hidden by default unless TF_CPP_MIN_LOG_LEVEL is set",
    )
    parser.add_argument(
        "--tensorboard",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="write TensorBoard logs (losses, distance of the arithmetic weights "
        "to -1/0/1, per-length eval metrics) to DIR; without DIR to "
        "OUT/tensorboard (with --seeds: DIR/seed_<K> or OUT/seed_<K>/tensorboard)",
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="also export the model for serving as a TensorFlow SavedModel in "
        "OUT/serving (see docs/serving.md)",
    )
    parser.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=FIELD_DEFAULTS["deterministic"],
        help="TensorFlow backend: deterministic ops, so that a seed reproduces "
        "a run exactly",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite a finished run in --out (an interrupted one resumes)",
    )
    return parser


def parse_args(argv=None):
    """Parses `train.py` flags into a `RunConfig`.

    A flag left out (its parser default `None`) takes the value of the
    task's and cell's recipes, or `RunConfig`'s default
    (`RunConfig.for_task`); a flag given always wins.
    """
    from nalu_rnn.models import CELLS

    parser = build_parser()
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
        given.setdefault("static", bool(record.get("static")))
        if record.get("cell") in CELLS:
            given.setdefault("cell", record["cell"])
    # None: the task's default cell (`RunConfig.for_task`).
    cell = given.pop("cell", None)
    try:
        config = RunConfig.for_task(given.pop("task"), cell, **given)
    except ValueError as error:
        parser.error(str(error))
    tensorboard_missing = importlib.util.find_spec("tensorboard") is None
    if config.tensorboard is not None and tensorboard_missing:
        parser.error(
            "--tensorboard needs the tensorboard package (pip install tensorboard)"
        )
    return config


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


def main(argv=None):
    """`python train.py ARGV`; returns the exit status (0, 1 on NaN, 2)."""
    config = parse_args(argv)
    _silence_retracing_warnings()
    set_determinism(config.deterministic)
    from nalu_rnn.callbacks import NonFiniteError
    from runner import run
    from tasks.mnist import MNISTDataError, MNISTNotFoundError

    if config.export and _export_unavailable():
        # Refused before training, not after it.
        print(
            "train.py: error: --export writes a TensorFlow SavedModel, which "
            "Keras makes from a torch model only through torch_xla (not "
            "installed); train with KERAS_BACKEND=tensorflow or jax to export",
            file=sys.stderr,
        )
        return 2
    try:
        # Before anything else runs on TensorFlow: multi-worker collectives
        # are set up once, at start-up.
        distribution.get_strategy(config.strategy)
        distribution.check_batch_split(config.strategy, config.batch_size)
        config = dataclasses.replace(
            config, out=distribution.output_dir(config.out, config.strategy)
        )
        if config.seeds:
            run.run_seeds(config)
        else:
            run.run(config)
    except (
        MNISTNotFoundError,
        MNISTDataError,
        run.ModelFileError,
        run.OutputExistsError,
        run.OutputDirError,
        run.EvaluationTooLargeError,
        distribution.StrategyError,
    ) as error:
        # The user's data, file or folder is at fault: one line, no traceback.
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteError as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 1
    return 0
