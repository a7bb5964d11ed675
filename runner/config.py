"""The configuration of one `train.py` run, in groups, each field with its help.

`RunConfig` holds every option of a run, frozen, in seven groups: `run`
(what runs and where it writes), `data`, `model`, `optim` (the optimiser
and its budget), `regularization`, `evaluation` and `infra`
(infrastructure). Each field carries its flag's help and parser; the
`train.py` parser is generated from them (`runner.cli`). Build one with
`RunConfig.for_task`, which resolves, later winning:

1. the field defaults below;
2. the task family's recipe, the cell's recipe in that family, the
   `--static` recipe of the cell, then the task's own recipe
   (`tasks.recipes`);
3. the overrides: the flags given, or the keywords a test passes, by
   their flag names (`steps=500`).

The cell itself, when none is given, is the task's registered default cell,
else `tasks.cells.DEFAULT_CELL`. Nothing here imports Keras.
"""

import argparse
import dataclasses
import math
import os

from tasks.cells import CELLS, DEFAULT_CELL, get_cell_spec
from tasks.registry import families, get_task, task_names

# `--optimizer`: the names `nalu_rnn.optimizers.get_optimizer` takes (a
# test keeps the two equal; importing the library here would import Keras).
OPTIMIZER_NAMES = ("adam", "common_mode_adam", "spike_clipped_adam")
# `--strategy` (runner.distribution).
STRATEGIES = ("none", "mirrored", "multiworker")


# ------------------------------------------------------------ flag values


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


positive_int = _number_type(int, lambda v: v > 0, "a positive integer")
non_negative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(float, lambda v: 0 < v < math.inf, "a positive number")
non_negative_float = _number_type(float, lambda v: 0 <= v < math.inf, "a number >= 0")
fraction = _number_type(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
snap_tolerance = _number_type(float, lambda v: 0 <= v <= 0.5, "a number in [0, 0.5]")


def name_list(text):
    """The non-empty, stripped items of a comma-separated flag value."""
    return tuple(v.strip() for v in text.split(",") if v.strip())


def value_range(text):
    """`LOW,HIGH` as a pair of floats with `LOW < HIGH`, for argparse."""
    values = name_list(text)
    try:
        low, high = (float(v) for v in values)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH (two numbers), got {text!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH with finite LOW < HIGH, got {text!r}"
        )
    return low, high


unit_ratio = _number_type(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def _lengths(text):
    return tuple(int(v) for v in name_list(text)) or None


length_list = _number_type(
    _lengths,
    lambda values: all(v > 0 for v in values),
    "comma-separated positive integers",
)


# ------------------------------------------------------------ fields


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one `RunConfig` field is given on the command line.

    Args:
        help: What the field does, without its default (the parser adds it).
        kind: `"value"` (`--flag VALUE`), `"switch"` (`--flag` sets it),
            `"toggle"` (`--flag` / `--no-flag`), `"optional"` (`--flag`
            alone gives `const`, `--flag VALUE` the value) or `"repeat"`
            (`--flag VALUE` as often as wanted, a tuple of the values).
            Defaults to `"value"`.
        type: The argparse `type` of a value. Defaults to `None` (text).
        choices: The values accepted, or a callable returning them (read
            when the parser is built). Defaults to `None`.
        metavar: The value's name in `--help`. Defaults to `None`.
        unset: What the default `None` means, for `--help`. Defaults to
            `"off"`.
        needs: `"arithmetic"` when only a cell with arithmetic units uses
            the field, `"gated"` when only one whose units have learnt
            gates does, `"reciprocal"` when only one with weights on the
            inputs' reciprocals does; given for another cell it exits with
            status 2.
            Defaults to `None` (every cell).
        const: The value of an `"optional"` flag given alone. Defaults to
            `None`.
    """

    help: str
    kind: str = "value"
    type: object = None
    choices: object = None
    metavar: str | None = None
    unset: str = "off"
    needs: str | None = None
    const: object = None


def option(default, help, **flag):
    """A `RunConfig` field with its `Flag` (see there for `flag`'s keys)."""
    return dataclasses.field(
        default=default, metadata={"flag": Flag(help=help, **flag)}
    )


def _cell_names():
    return sorted(CELLS)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What runs, and where its outputs go."""

    task: str | None = option(
        None,
        "the task (required, except with --evaluate PATH of a model that "
        "records its task)",
        choices=task_names,
        unset="required",
    )
    cell: str | None = option(
        None,
        "the recurrent cell (registry: tasks.cells.CELLS)",
        choices=_cell_names,
        unset="the task's registered default cell, else nac; with --evaluate "
        "the model's",
    )
    seed: int = option(0, "the seed of data, weights and order", type=non_negative_int)
    seeds: int | None = option(
        None,
        "run seeds SEED..SEED+N-1 into OUT/seed_<K>/ and write OUT/summary.json",
        type=positive_int,
        metavar="N",
        unset="one seed",
    )
    out: str | None = option(
        None, "the output folder", metavar="DIR", unset="runs/<task>-<cell>"
    )
    evaluate: str | None = option(
        None,
        "evaluate a saved model instead of training one",
        metavar="PATH",
        unset="train",
    )
    force: bool = option(
        False,
        "overwrite a finished run in --out (an interrupted one resumes)",
        kind="switch",
    )


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """What the model learns from."""

    train_length: int = option(
        10, "length of the training sequences", type=positive_int
    )
    static: bool = option(
        False,
        "arithmetic without a time axis (one vector per example)",
        kind="switch",
    )
    input_size: int | None = option(
        None,
        "arithmetic: the number of inputs (per step)",
        type=positive_int,
        unset="10, or 100 with --static",
    )
    subset_ratio: float = option(
        0.25,
        "arithmetic: the fraction of the inputs summed into each of a and b",
        type=unit_ratio,
    )
    overlap_ratio: float = option(
        0.5,
        "arithmetic: the fraction of a subset that a and b share",
        type=fraction,
    )
    subset_seed: int | None = option(
        None,
        "arithmetic: pins the problem instance (which inputs make a and b) "
        "to this seed",
        type=non_negative_int,
        unset="the run's --seed: a problem of its own per seed",
    )
    train_range: tuple | None = option(
        None,
        "arithmetic: the range of the training (and interpolation) values; "
        "write --train-range=LOW,HIGH for negative values",
        type=value_range,
        metavar="LOW,HIGH",
        unset="0,1, or 1,2 with --static",
    )
    extrapolation_range: tuple | None = option(
        None,
        "arithmetic: the range of the extrapolation values; repeat it for a "
        "union of ranges (each value uniform over the union)",
        kind="repeat",
        type=value_range,
        metavar="LOW,HIGH",
        unset="2,6 with --static; the training range otherwise (the "
        "recurrent task extrapolates in length)",
    )
    supervision: str | None = option(
        None,
        "MNIST: supervise the final target only (the paper) or the running "
        "target at every step (Madsen & Johansen)",
        choices=("final", "every_step"),
        unset="none (an arithmetic task)",
    )
    curriculum: bool = option(
        False,
        "MNIST: train on a few shorter lengths first (1, 2, 5 for length 10) "
        "over the first 20%% of the steps",
        kind="toggle",
    )
    data_dir: str | None = option(
        None,
        "MNIST: folder of the four MNIST IDX files",
        metavar="DIR",
        unset="$NALU_MNIST_DIR, else tensorflow-datasets' mnist (--tfds-dir)",
    )
    tfds_dir: str | None = option(
        None,
        "MNIST: tensorflow-datasets folder MNIST is read from, or downloaded "
        "into once, without --data-dir",
        metavar="DIR",
        unset="$TFDS_DATA_DIR, else ~/tensorflow_datasets",
    )


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """The network."""

    units: int | None = option(
        None,
        "recurrent state size",
        type=positive_int,
        unset="MNIST: the head's output size (10 counts or 1 sum), 32 for "
        "the baselines",
    )
    single_layer: bool = option(
        False,
        "arithmetic, with --static: no hidden layer, one unit from the inputs "
        "to the output (the cell's read-out; --units is unused): the NALM "
        "benchmark's single-layer model, with its protocol as the recipe",
        kind="switch",
    )
    encoder: str | None = option(
        None,
        "MNIST: the digit encoder's output; classes: a softmax over 10 "
        "classes, then for addition a Dense(1), the value of each class, "
        "learnt (started at the digit values 0..9 only by --head-init "
        "exact); linear: the paper's linear read-out of the ConvNet's 500 "
        "units, no class structure",
        choices=("classes", "linear"),
        unset="none (an arithmetic task)",
    )
    solved_head: bool = option(
        False,
        "MNIST: fix the arithmetic head at the exact running sum (product "
        "for mnist_product) and train only the encoder: Madsen & Johansen's "
        "reference for the success thresholds",
        kind="switch",
    )
    head_init: str | None = option(
        None,
        "MNIST: how the arithmetic head starts: random, from the unit's own "
        "initializer (the state block a memory of the state, see "
        "--state-memory, and a digit-value read-out from its own random "
        "start); exact, at the task's solution (the running sum or product "
        "and the digit values 0..9), a warm start that knows the answer",
        choices=("random", "exact"),
        unset="none (an arithmetic task)",
    )
    state_memory: bool = option(
        True,
        "a recurrent arithmetic cell starts as a memory of its state: its "
        "state-to-state block at the identity, its input block random (the "
        "one prior both task families share)",
        kind="toggle",
        needs="arithmetic",
    )
    scale_targets: bool = option(
        False,
        "MNIST, cells without arithmetic units: the read-out's output is "
        "scaled by the standard deviation and shifted by the mean of the "
        "training targets, so that it starts at their scale",
        kind="toggle",
    )


@dataclasses.dataclass(frozen=True)
class OptimizerOptions:
    """The optimiser and its budget."""

    steps: int = option(10000, "training steps", type=positive_int)
    batch_size: int = option(
        64,
        "sequences per step (the global batch under --strategy)",
        type=positive_int,
    )
    learning_rate: float = option(1e-3, "the learning rate", type=positive_float)
    warmup: float = option(
        0.0,
        "fraction of training over which the learning rate rises linearly "
        "from 0 (0: off)",
        type=fraction,
    )
    head_learning_rate: float | None = option(
        None,
        "MNIST: the learning rate of the recurrent head, its read-out and the "
        "digit-value read-out, where the encoder takes --learning-rate",
        type=positive_float,
        unset="the --learning-rate",
    )
    head_rate_stop: float | None = option(
        None,
        "MNIST: fraction of training after which the layers of "
        "--head-learning-rate learn at --learning-rate; their own rate is "
        "there to carry the head's weights to whole values, and once "
        "--weight-snap has made them exact it only shakes them off again "
        "(1: the head's rate to the end)",
        type=fraction,
        unset="the head's rate lasts the whole run",
    )
    head_rate_after_stop: float | None = option(
        None,
        "MNIST: the rate of the layers of --head-learning-rate after "
        "--head-rate-stop, as a multiple of --learning-rate (0: they are "
        "frozen where the snap left them, so that no weight the loss does "
        "not saturate drifts off its whole value)",
        type=non_negative_float,
        unset="1, the --learning-rate",
    )
    lr_decay: bool = option(
        False,
        "cosine-decay the learning rate over training (to 1%% of it on the "
        "arithmetic tasks, 5%% on MNIST)",
        kind="toggle",
    )
    optimizer: str = option(
        "adam",
        "adam; common_mode_adam (Adam with each kernel's fan-in mean as its "
        "own coordinate); spike_clipped_adam (a gradient whose norm exceeds "
        "5x its running mean is scaled down to it)",
        choices=OPTIMIZER_NAMES,
    )
    adam_epsilon: float | None = option(
        None,
        "the epsilon of Adam (and of the optimisers built on it) in the "
        "denominator of its step; PyTorch's default, which stable-nalu and "
        "the NALM benchmark train with, is 1e-8",
        type=positive_float,
        unset="Keras's 1e-7",
    )
    clipnorm: float | None = option(
        None, "clip each gradient to this norm", type=positive_float
    )
    global_clipnorm: float | None = option(
        None,
        "scale all gradients together so that their joint norm is at most "
        "this (PyTorch's clip_grad_norm_, as stable-nalu clips)",
        type=positive_float,
    )
    clipvalue: float | None = option(
        None,
        "clip each gradient entry to [-v, v] (the iNALU authors' 0.1)",
        type=positive_float,
    )


@dataclasses.dataclass(frozen=True)
class RegularizationOptions:
    """The pulls towards discrete weights, and hardening after training."""

    sparsity: float = option(
        0.05,
        "strength of the sparsity regulariser on arithmetic weights (0: off)",
        type=non_negative_float,
        needs="arithmetic",
    )
    sparsity_start: float = option(
        0.3,
        "fraction of training before the sparsity regulariser starts",
        type=fraction,
        needs="arithmetic",
    )
    sparsity_end: float | None = option(
        None,
        "fraction of training at which the regulariser reaches full strength, "
        "rising linearly from --sparsity-start (Madsen & Johansen's schedule)",
        type=fraction,
        needs="arithmetic",
        unset="full strength at once, from the first epoch at the start",
    )
    sparsity_stop: float | None = option(
        None,
        "fraction of training from which the regulariser is off again (needs "
        "--sparsity-end)",
        type=fraction,
        needs="arithmetic",
        unset="on to the end",
    )
    readout_sparsity_start: float | None = option(
        None,
        "arithmetic tasks: fraction of training before the read-out's pull "
        "(its weights and gate) starts, later than the cell's so that the "
        "cell's sums are discrete first",
        type=fraction,
        needs="arithmetic",
        unset="with the cell's (--sparsity-start)",
    )
    saturation: float = option(
        0.0,
        "strength of the iNALU authors' saturation penalty on the raw kernels "
        "and gates, mean(max(20 - |w|, 0)), switched on once the training "
        "loss is below 1 (0: off)",
        type=non_negative_float,
        needs="arithmetic",
    )
    class_balance: float = option(
        0.0,
        "MNIST, --encoder classes: strength of a penalty on the encoder's "
        "class use over each batch, log(10) minus the entropy of the batch's "
        "mean class probabilities, so that no class is left unused (a "
        "softmax whose value read-out starts at random otherwise sends every "
        "image to one class); it sees no label and no digit value (0: off)",
        type=non_negative_float,
    )
    class_confidence: float = option(
        0.0,
        "MNIST, --encoder classes: strength of a penalty on each image's "
        "undecided class, the mean entropy of the images' class "
        "probabilities, so that a head cannot count a digit as halves of two "
        "classes; with --class-balance, the mutual information of images and "
        "classes; it sees no label and no digit value (0: off)",
        type=non_negative_float,
    )
    class_aids_stop: float | None = option(
        None,
        "MNIST: fraction of training after which --class-balance and "
        "--class-confidence are 0; they are there to find the head, and once "
        "it is snapped exact (--weight-snap) they only pull the encoder "
        "towards equal class use",
        type=fraction,
        unset="they last the whole run",
    )
    gate_snap: float | None = option(
        None,
        "fraction of training after which the unit gates (NALU, iNALU) within "
        "--harden-tolerance of 0 or 1 are snapped exact (0: off, also where "
        "the cell's recipe snaps them)",
        type=fraction,
        needs="gated",
    )
    weight_snap: float = option(
        0.0,
        "fraction of training after which every arithmetic weight (and unit "
        "gate) within --harden-tolerance of a discrete value is snapped "
        "exact, once; training goes on from the snapped weights, and what is "
        "judged is still the trained model, no hardening implied (0: off)",
        type=fraction,
        needs="arithmetic",
    )
    pair_pull: float = option(
        0.0,
        "NMRU, sNMRU: the sparsity pull also acts on each input's W - W_r "
        "(its weight on x less its weight on 1/x), towards -1, 0 or 1, at "
        "this many times the pull's strength, so that an unused input's two "
        "weights round together (0: off, the paper's)",
        type=non_negative_float,
        needs="reciprocal",
    )
    harden: bool = option(
        True,
        "snap arithmetic weights to their discrete values after training if "
        "validation error does not rise",
        kind="toggle",
        needs="arithmetic",
    )
    harden_tolerance: float = option(
        0.2,
        "largest distance to a discrete value that hardening snaps",
        type=snap_tolerance,
        needs="arithmetic",
    )


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """What the trained model is measured on."""

    eval_lengths: tuple = option(
        (10, 100, 1000),
        "comma-separated evaluation lengths",
        type=length_list,
        metavar="L,L,...",
    )
    eval_sequences: int = option(
        1000, "sequences per evaluation set", type=positive_int
    )
    select: str = option(
        "last",
        "arithmetic: the weights judged: last, those at the end of training; "
        "best-interpolation, those with the lowest MSE on a fixed "
        "interpolation set (--eval-sequences samples of the training range), "
        "checked every --validate-every steps (Madsen & Johansen's and the "
        "NALM benchmark's rule)",
        choices=("last", "best-interpolation"),
    )
    validate_every: int = option(
        1000,
        "arithmetic, --select best-interpolation: steps between validations",
        type=positive_int,
    )
    check_every: int = option(
        100,
        "steps between checks of the success criterion (arithmetic: the "
        "solved step) and of the saturation penalty's loss gate",
        type=positive_int,
    )


@dataclasses.dataclass(frozen=True)
class InfrastructureOptions:
    """Where and how the run executes, and what it reports."""

    strategy: str = option(
        "none",
        "data-parallel training: mirrored over this machine's GPUs "
        "(TensorFlow's MirroredStrategy, or keras.distribution.DataParallel "
        "on JAX), or multiworker over the machines in TF_CONFIG (TensorFlow "
        "only)",
        choices=STRATEGIES,
    )
    deterministic: bool = option(
        True,
        "TensorFlow backend: deterministic ops, so that a seed reproduces a "
        "run exactly",
        kind="toggle",
    )
    quiet: bool = option(False, "no progress bar or table", kind="switch")
    verbose: bool = option(
        False,
        "keep TensorFlow's start-up notices, hidden unless TF_CPP_MIN_LOG_LEVEL is set",
        kind="switch",
    )
    tensorboard: str | None = option(
        None,
        "write TensorBoard logs (losses, the arithmetic weights' distance to "
        "their discrete values, per-length metrics) to DIR; without DIR to "
        "OUT/tensorboard (with --seeds: DIR/seed_<K> or OUT/seed_<K>/tensorboard)",
        kind="optional",
        const="",
        metavar="DIR",
    )
    export: bool = option(
        False,
        "also export the model for serving as a TensorFlow SavedModel in OUT/serving",
        kind="switch",
    )
    vectorize: bool = option(
        False,
        "with --seeds N: train the N seeds as one vectorised model on one "
        "device (JAX only; arithmetic tasks); each seed keeps its own data, "
        "weights, optimiser state, schedules and NaN guard, and ends as it "
        "would alone, into the same OUT/seed_<K>/",
        kind="switch",
    )


# The groups of `RunConfig`, in `--help` order: attribute, class, title.
GROUPS = (
    ("run", RunOptions, "run"),
    ("data", DataOptions, "data"),
    ("model", ModelOptions, "model"),
    ("optim", OptimizerOptions, "optimiser"),
    ("regularization", RegularizationOptions, "regularisation"),
    ("evaluation", EvaluationOptions, "evaluation"),
    ("infra", InfrastructureOptions, "infrastructure"),
)


def flag_fields():
    """`(group attribute, dataclasses.Field)` of every field, in order."""
    return [
        (attribute, field)
        for attribute, group, _ in GROUPS
        for field in dataclasses.fields(group)
    ]


# Field name -> group attribute; every name is unique across the groups.
FIELD_GROUPS = {field.name: attribute for attribute, field in flag_fields()}
# The default of every field, by its name.
FIELD_DEFAULTS = {field.name: field.default for _, field in flag_fields()}
# The MNIST options that act on the classes encoder's softmax.
CLASS_AIDS = ("class_balance", "class_confidence", "class_aids_stop")


def _listed(value):
    return [_listed(v) for v in value] if isinstance(value, tuple) else value


class ConfigError(ValueError):
    """Options that do not go together: one line for the user, exit 2."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every option of one run, in groups; `train.py --help` describes each.

    Build one with `RunConfig.for_task` (defaults, recipes, then overrides)
    or `runner.cli.parse_args` (the same from command-line flags).

    Example:

    ```python
    config = runner.config.RunConfig.for_task("add", cell="nalu", steps=500)
    config.optim.steps  # 500
    seed_3 = config.replace(seed=3)
    ```
    """

    run: RunOptions = dataclasses.field(default_factory=RunOptions)
    data: DataOptions = dataclasses.field(default_factory=DataOptions)
    model: ModelOptions = dataclasses.field(default_factory=ModelOptions)
    optim: OptimizerOptions = dataclasses.field(default_factory=OptimizerOptions)
    regularization: RegularizationOptions = dataclasses.field(
        default_factory=RegularizationOptions
    )
    evaluation: EvaluationOptions = dataclasses.field(default_factory=EvaluationOptions)
    infra: InfrastructureOptions = dataclasses.field(
        default_factory=InfrastructureOptions
    )

    @classmethod
    def from_values(cls, values):
        """A `RunConfig` from `{field name: value}`; missing fields default."""
        unknown = set(values) - set(FIELD_GROUPS)
        if unknown:
            raise TypeError(f"unknown RunConfig fields: {', '.join(sorted(unknown))}")
        groups = {}
        for attribute, group, _ in GROUPS:
            names = {f.name for f in dataclasses.fields(group)}
            groups[attribute] = group(**{k: v for k, v in values.items() if k in names})
        return cls(**groups)

    def values(self):
        """`{field name: value}` of every field (the flags' names)."""
        return {
            field.name: getattr(getattr(self, attribute), field.name)
            for attribute, field in flag_fields()
        }

    def as_dict(self):
        """`{group: {field: value}}`, JSON-ready (tuples as lists)."""
        return {
            attribute: {
                k: _listed(v)
                for k, v in dataclasses.asdict(getattr(self, attribute)).items()
            }
            for attribute, _, _ in GROUPS
        }

    @classmethod
    def from_record(cls, record):
        """The `RunConfig` of `as_dict()`'s output, as results.json's
        `run_config` holds it (lists back to tuples)."""
        values = {k: v for group in record.values() for k, v in group.items()}
        for name in ("eval_lengths", "train_range"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        if values.get("extrapolation_range") is not None:
            values["extrapolation_range"] = tuple(
                tuple(r) for r in values["extrapolation_range"]
            )
        return cls.from_values(values)

    def replace(self, **changes):
        """A copy with the fields named (by their flag names) changed."""
        return RunConfig.from_values({**self.values(), **changes})

    @classmethod
    def for_task(cls, task, cell=None, **overrides):
        """The configuration of `task` with `cell`: recipes, then `overrides`.

        Args:
            task: A registered task name (`tasks.registry`).
            cell: A registered cell name (`tasks.cells.CELLS`), or `None`
                for the task's registered default cell, else
                `tasks.cells.DEFAULT_CELL`. Defaults to `None`.
            **overrides: Fields by name, winning over every recipe. A field
                given is checked against the task and cell: one that they
                cannot use raises `ConfigError`.

        Raises:
            ValueError: for an unknown task or cell (naming the registered
                ones); `ConfigError` for a field this task or cell cannot
                use, or options that do not go together.
        """
        spec = get_task(task)
        static = bool(overrides.get("static"))
        single_layer = bool(overrides.get("single_layer"))
        if cell is None:
            cell = spec.cell_for(static) or DEFAULT_CELL
        cell_spec = get_cell_spec(cell)
        given = {k for k, v in overrides.items() if v is not None}
        _check_applies(spec, cell_spec, static, given)
        values = {}
        for recipe in spec.family.recipes.recipes(cell, static, single_layer):
            values.update(recipe.values)
        if spec.recipe is not None:
            values.update(spec.recipe.values)
        train_length = overrides.get(
            "train_length", values.get("train_length", FIELD_DEFAULTS["train_length"])
        )
        if callable(values.get("eval_lengths")):
            values["eval_lengths"] = values["eval_lengths"](train_length)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("encoder") == "linear":
            # A recipe's class aids act on the classes encoder's softmax;
            # the linear encoder has none (given as flags, they are refused).
            for name in CLASS_AIDS:
                if name not in given:
                    values[name] = FIELD_DEFAULTS[name]
        values["eval_lengths"] = tuple(
            values.get("eval_lengths", FIELD_DEFAULTS["eval_lengths"])
        )
        if values.get("extrapolation_range") is not None:
            ranges = values["extrapolation_range"]
            if not isinstance(ranges[0], list | tuple):
                ranges = (ranges,)  # one (low, high)
            values["extrapolation_range"] = tuple(tuple(r) for r in ranges)
        if values.get("train_range") is not None:
            values["train_range"] = tuple(values["train_range"])
        values["task"], values["cell"] = task, cell
        if values.get("out") is None:
            values["out"] = default_out(task, cell, static, values.get("evaluate"))
        config = cls.from_values(values)
        _check_combinations(config, spec, cell_spec)
        if spec.family.check is not None:
            try:
                spec.family.check(config)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        return config


# What a field's `Flag.needs` asks of the cell, for its refusal.
NEEDS = {
    "arithmetic": "arithmetic units",
    "gated": "units with learnt gates (nalu, inalu)",
    "reciprocal": "units with weights on the inputs' reciprocals (nmru, snmru)",
}


def _check_applies(spec, cell_spec, static, given):
    """Raises `ConfigError` for a field given that this task or cell ignores."""
    if static and not spec.static:
        raise ConfigError(
            "--static applies to the arithmetic tasks only (those registered "
            f"with static=True); task {spec.name!r} has no static variant"
        )
    others = {
        name: family
        for family in families()
        if family is not spec.family
        for name in family.flags
        if name not in spec.family.flags
    }
    foreign = [name for name in given if name in others]
    if foreign:
        family = others[foreign[0]]
        flags = ", ".join(_flag(name) for name in foreign)
        raise ConfigError(
            f"{flags} applies to the {family.title} tasks only; task "
            f"{spec.name!r} is one of the {spec.family.title} tasks"
        )
    for _, field in flag_fields():
        needs = field.metadata["flag"].needs
        if field.name not in given or needs is None:
            continue
        # A `needs` is the name of the `CellSpec` attribute that says it.
        if not getattr(cell_spec, needs):
            raise ConfigError(
                f"{_flag(field.name)} acts on {NEEDS[needs]}; cell "
                f"{cell_spec.name!r} has none"
            )


def vectorize_refusal(config):
    """Why `--vectorize` cannot train `config`'s seeds, or `None` if it can.

    Only what the configuration says: the backend (JAX only) and a probe's
    experiment class are `runner.run.run_seeds`' to check, once Keras is
    loaded.

    Args:
        config: A resolved `RunConfig`.

    Returns:
        One line for the user, or `None`.
    """
    spec = get_task(config.run.task)
    infra = config.infra
    if not config.run.seeds:
        return "--vectorize trains the seeds of --seeds N as one model; give --seeds N"
    if not spec.family.vectorizes:
        return (
            f"--vectorize trains the seeds of the arithmetic tasks only; task "
            f"{spec.name!r} is one of the {spec.family.title} tasks"
        )
    refused = (
        (config.run.evaluate, "--evaluate (it trains nothing)"),
        (infra.strategy != "none", "--strategy (it trains on one device)"),
        (infra.tensorboard is not None, "--tensorboard (it writes no logs)"),
        (infra.export, "--export"),
    )
    for given, what in refused:
        if given:
            return f"--vectorize does not go with {what}; leave one of them out"
    return None


def _check_combinations(config, spec, cell_spec):
    """Raises `ConfigError` for options that do not go together."""
    model, regularization, optim = config.model, config.regularization, config.optim
    if config.infra.vectorize:
        refusal = vectorize_refusal(config)
        if refusal is not None:
            raise ConfigError(refusal)
    if regularization.sparsity_stop is not None and regularization.sparsity_end is None:
        raise ConfigError("--sparsity-stop needs --sparsity-end (a ramp to stop)")
    for flag in ("class_balance", "class_confidence"):
        if getattr(regularization, flag) > 0 and model.encoder == "linear":
            raise ConfigError(
                f"{_flag(flag)} acts on the classes encoder's "
                "softmax; --encoder linear has none"
            )
    if optim.head_rate_stop is not None and optim.head_learning_rate is None:
        raise ConfigError(
            "--head-rate-stop ends --head-learning-rate; give --head-learning-rate"
        )
    if optim.head_rate_after_stop is not None and optim.head_rate_stop is None:
        raise ConfigError(
            "--head-rate-after-stop is the head's rate after --head-rate-stop; "
            "give --head-rate-stop"
        )
    aids = regularization.class_balance > 0 or regularization.class_confidence > 0
    if regularization.class_aids_stop is not None and not aids:
        raise ConfigError(
            "--class-aids-stop stops --class-balance and --class-confidence; "
            "give one of them"
        )
    if model.scale_targets and cell_spec.arithmetic:
        raise ConfigError(
            "--scale-targets rescales the read-out of a cell without arithmetic "
            "units (lstm, gru, rnn_tanh, rnn_relu); an arithmetic head's state "
            f"is its output (cell {cell_spec.name!r})"
        )
    if model.solved_head:
        if not cell_spec.arithmetic or model.units is not None:
            raise ConfigError(
                "--solved-head sets an arithmetic head whose state is the "
                "output to the exact running sum (or product): it needs an "
                f"arithmetic cell and no --units (cell {cell_spec.name!r})"
            )
        if spec.variant.multiplicative and cell_spec.make_product_cell is None:
            raise ConfigError(
                f"--solved-head for {spec.name} needs a cell whose head "
                f"multiplies over time (nmu); cell {cell_spec.name!r} can only sum"
            )


def _flag(name):
    return "--" + name.replace("_", "-")


def default_out(task, cell, static, evaluate=None):
    """`runs/<task>[-static]-<cell>`, or `evaluation/` beside an evaluated model.

    Beside the model, never over the results of its training run.
    """
    if evaluate is not None:
        return os.path.join(os.path.dirname(evaluate), "evaluation")
    suffix = "-static" if static else ""
    return os.path.join("runs", f"{task}{suffix}-{cell}")


def _check_family_flags():
    # A family's flag that names no field would never be refused.
    for family in families():
        missing = [name for name in family.flags if name not in FIELD_GROUPS]
        if missing:
            raise TypeError(
                f"the {family.name} family declares flags RunConfig lacks: {missing}"
            )


_check_family_flags()
