"""The configuration of one `train.py` run, and every default it starts from.

`RunConfig` holds every option of a run, frozen: the CLI builds it once
(`runner.cli.parse_args`), the runner derives each seed's copy with
`dataclasses.replace`, and nothing changes it afterwards. Its field defaults
are the task-independent defaults; a `Recipe` declares what a task family,
a cell or the `--static` variant changes, each with the reason it was
chosen. `RunConfig.for_task` resolves them, in this order, later winning:

1. the field defaults of `RunConfig`;
2. the recipe of the task's family (`TASK_RECIPES`, named by the task's
   registry entry, `tasks.base.TaskSpec.recipe`), then the task's own
   recipe in that family where it has one (`mnist_product`'s lengths);
3. the cell's recipe in that family (for the arithmetic tasks: its
   learning rate, `ARITHMETIC_CELL_RECIPES`, or the `BASELINE_RECIPE` of a
   cell without arithmetic units);
4. with `static=True`, the cell's `STATIC_RECIPES` entry;
5. the overrides: the flags given on the command line, or the keywords a
   test passes.

The cell itself, when none is given, is the task's registered
`default_cell` (`tasks.base.register_task`), else `DEFAULT_CELL`.
"""

import dataclasses
import os
from collections.abc import Mapping

DEFAULT_CELL = "nac"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Defaults a task family or cell sets, with the reason they were chosen.

    Args:
        reason: One line on why these values.
        values: `RunConfig` field names to values. An `eval_lengths` value
            may be a function of the run's `train_length`.
        notes: The measurements behind the values, where one line is too
            short. Defaults to `""`.
    """

    reason: str
    values: Mapping
    notes: str = ""


def lengths_from_train_length(*lengths):
    """An `eval_lengths` recipe: the training length, then the longer of these.

    `lengths_from_train_length(10, 100, 1000)` gives `(10, 100, 1000)` at
    `train_length=10` and `(20, 100, 1000)` at 20: the first entry is the
    interpolation set, the longer ones extrapolate.
    """

    def resolve(train_length):
        return (train_length, *(n for n in lengths if n > train_length))

    return resolve


ARITHMETIC_RECIPE = Recipe(
    "Trask et al.'s recurrent task (README, Table 1): 10^4 steps of 64 fresh "
    "sequences; two state units, one running sum for a, one for b.",
    {
        "steps": 10000,
        "batch_size": 64,
        "units": 2,
        "eval_lengths": lengths_from_train_length(10, 100, 1000),
    },
)

ARITHMETIC_CELL_RECIPES = {
    "nac": Recipe(
        "The NAC's rate in the README's Table 1 recipe.",
        {"learning_rate": 0.1},
    ),
    "nalu": Recipe(
        "The NAC's rate, and 3 * 10^4 steps of 512 sequences (about 48 s on "
        "one core): the read-out's product needs the cell's two sums apart, "
        "and the larger batch moves a stray input out of a sum within the "
        "budget where batches of 64 sometimes leave it half-found; gradient "
        "spikes clipped, and the read-out's pull started after the cell's, "
        "so that neither a rare batch nor the pull's start throws a "
        "near-solution onto a constant (docs/nalu.md, the recipe and its "
        "measurements).",
        {
            "learning_rate": 0.1,
            "steps": 30000,
            "batch_size": 512,
            "optimizer": "spike_clipped_adam",
            "readout_sparsity_start": 0.6,
        },
        notes="""\
Recurrent div, the four seeds (0, 3, 5, 9) of ten that failed, traced: seeds
3 and 9 collapse onto a constant after one batch whose loss is thousands of
times the running mean (steps 3631 and 8273); seed 0 collapses when the pull
starts at 30%, sending the read-out's exponents (below 1/2 over the cell's
mixed sums) to 0. Spike clipping alone (SpikeClippedAdam, factor 5) solved
seed 9; the read-out's pull at 60% alone solved seed 0; both solved 0, 3
and 9 (solved steps 24900, 20600, 18800), not 5 (it stays near the affine
fit of a / b). Also tried on seeds 0 and 9, each failing: no pull, a pull of
0.005, ramps to 60% and 100%, the pull from 50%, cosine decay, clipnorm 0.1,
rate 0.03, no gate pull; and no read-out pull at all (solved 0 only).
Ten seeds with both (experiments/success_rate.py --units nalu): div 9/10 on
0-9 but 5/10 on 10-19, where the recipe before them solved 6/10, then 8/10
on 20-29 and 5/10 on 30-39 (27/40; every failure on 10-39 keeps the sums'
difference in a cell unit: the affine fit of a / b); mul and square 10/10
on 0-9, 10-19 and 20-29 (before: seeds 19 and 23 failed both). Tried
against that trap, each solving some failed seeds of 10-19 and losing
solved ones on the next block: four state units (7/10, then 4/10 on 20-29
where this recipe solves 8/10), eight (1 of 4 failed seeds), a short-length
curriculum (4/10), non-negative starting input weights in the cell (7/10,
then 3/6 on 20-25 where this recipe solves 4/6); experiments/div_probes.py.

Recurrent mul, the two seeds (1, 4) of ten that failed at 3 * 10^4 steps of
64 sequences with every gate started additive (scaled error at length 1000:
7.5, 5.4; their cells each hold an input of the other sum at 0.2-0.9 and
move it out slowly), one change at a time: 6 * 10^4 steps solved both (the
former recipe, median solved step 41650 over ten seeds); cosine decay of
the rate (--lr-decay) 4167, 4299; the sparsity pull from 60% of training
5.7, 6.1; rate 0.2 8.5, 7e6; batch 128 solved seed 1, not 4 (5e5); batch
256 solved seed 1, seed 4 overflowed (with --lr-decay: 1.5e5); four state
units 2e7, 2e6; CommonModeAdam 531, 23; batch 512 solved both (solved
steps 22300, 26300). A step of 512 sequences costs about twice one of 64
on one core.""",
    ),
    "inalu": Recipe(
        "Schlör et al.'s iNALU training aids: gradients clipped per entry and "
        "their saturation penalty on the raw weights once the loss is below 1; "
        "the later units' rate.",
        {"learning_rate": 0.03, "clipvalue": 1.0, "saturation": 0.05},
        notes="""\
Recurrent add/sub/mul, seeds 0-3, 10^4 steps (JAX; docs/beyond-nalu.md):
their clip of 0.1 with our rate 0.03 solved add 1/4, sub 1/4 (at rate 0.1:
0/4, 3/4), while a clip of 1.0 solved add 3/4, sub 3/4; the saturation
penalty alone add 3/4, sub 2/4. No variant solved mul (0/4). Their clip was
set for their rate (1e-3) and loss scale; at ours it flattens Adam's steps
into sign steps on the long sequences' large gradients.""",
    ),
    "realnpu": Recipe(
        "The later units' rate and 3 * 10^4 steps: the relevances of the "
        "inputs the root does not use need the time to settle at 0 or 1.",
        {"learning_rate": 0.03, "steps": 30000},
        notes="""\
Recurrent sqrt and div, seeds 0-9, exponents hardened to multiples of 1/2
(experiments/success_rate.py --units realnpu --ops sqrt,div): at 10^4 steps
sqrt 6/10, div 0/10; at 3 * 10^4 steps sqrt 8/10 (seeds 2 and 7 fail:
`y = rel(h[0], 0.255)^0.874`), div 0/10 (a near-constant read-out). Seeds
10-39 of sqrt: 7, 6, 7 of 10 (28/40 in all); every failure ends at a
fractional relevance near 0.3, whose 1 - g is a free constant. Probes, not
kept: relevances started at 1 instead of 0.5, 28/40 again (it solved 2, 7,
12, 13, 15 and lost 5, 6, 8, 18, 19); the relevance gate removed (every
relevance 1), 3 of the 10 seeds either start failed.""",
    ),
    "later_units": Recipe(
        "The rate of the NALU before its unit gates, which the later "
        "arithmetic units (NAU, NMU, iNALU, NPUs) were measured with.",
        {"learning_rate": 0.03},
    ),
}

BASELINE_RECIPE = Recipe(
    "The baselines of Table 1 (LSTM, GRU, plain RNNs): 32 state units and "
    "Adam's usual rate.",
    {"units": 32, "learning_rate": 1e-3},
)

COMPRESSED_RAMP = Recipe(
    "Madsen & Johansen's static add/sub (NAU -> NAU) in a CPU budget: a high, "
    "decaying rate and their sparsity ramp compressed into 10^4 steps.",
    {
        "steps": 10000,
        "batch_size": 128,
        "learning_rate": 0.03,
        "lr_decay": True,
        "sparsity": 1.0,
        "sparsity_start": 0.1,
        "sparsity_end": 0.5,
        "sparsity_stop": 0.8,
    },
    notes="""\
10^4 steps at batch 128 against their 5 * 10^6, so a higher rate (0.03
against 1e-3, cosine-decayed to 1% so the weights settle to the precision of
the success criterion) and their sparsity ramp compressed: 0 for the first
10% of steps, rising linearly to full strength at 50%, and off again for the
last 20%, so that the weights the pull could not make discrete (an add/sub
weight split between the two hidden units) settle on the exact fit instead
of the biased one it holds them at. Hardening then snaps what is discrete if
that keeps validation error.""",
)

COMMON_MODE_RAMP = Recipe(
    "Madsen & Johansen's static mul (NAU -> NMU): CommonModeAdam breaks the "
    "NAU's tie fast, then their sparsity pull (strength 10), ramped in late.",
    {
        "steps": 30000,
        "batch_size": 512,
        "learning_rate": 0.01,
        "lr_decay": True,
        "optimizer": "common_mode_adam",
        "sparsity": 10.0,
        "sparsity_start": 0.4,
        "sparsity_end": 0.7,
        "sparsity_stop": None,
    },
    notes="""\
With plain Adam the NAU's weights crawl (about 10^6 steps) out of a tie in
which both hidden units hold (a + b) / 2, because the inputs' shared mean
(U[1, 2]) dominates every gradient entry. CommonModeAdam gives that mean its
own coordinate, so the tie is reached within a few thousand steps; Madsen &
Johansen's sparsity pull (strength 10, as theirs), ramped in from 40% to 70%
of training, then breaks it. 3 * 10^4 steps at batch 512.""",
)

# `--static`, by the cell the static model ends in (its NAU -> NAU or
# NAU -> NMU); other cells keep the arithmetic recipe.
STATIC_RECIPES = {"nau": COMPRESSED_RAMP, "nmu": COMMON_MODE_RAMP}

MNIST_RECIPE = Recipe(
    "The budget the README's Table 2 was measured with (3 seeds, every target "
    "met): 2000 steps of 64 x 10 images, 140-200 s on one core; longer budgets "
    "are untested.",
    {
        "steps": 2000,
        "batch_size": 64,
        "learning_rate": 1e-3,
        # `None`: the experiment's k (10 counts, 1 sum) or its baseline width.
        "units": None,
        "eval_lengths": (1, 10, 100, 1000),
        # The paper's: the final target only, so training never sees a
        # per-image label (every-step targets reveal each digit as the
        # difference of two consecutive ones); as good with the class-vector
        # encoder (2000-step probes, length 1000: counting MAE 0.91 vs 0.96,
        # addition relative error 0.26% vs 0.29%).
        "supervision": "final",
        # The better of the two encoders (README, Table 2); its prior is
        # named in MNIST_ENCODERS.
        "encoder": "classes",
        # Lengths 1, 2, 5 over the first 20% of the steps: the encoder first
        # learns from nearly single-image targets.
        "curriculum": True,
    },
)

MNIST_PRODUCT_RECIPE = Recipe(
    "Madsen & Johansen's sequential MNIST product: trained on pairs of "
    "digits, evaluated at every length 1 to 20 (9^20 still fits float32); "
    "5000 steps, the best of four one-seed probes, 2-4 min on one thread.",
    {
        "train_length": 2,
        "eval_lengths": tuple(range(1, 21)),
        "steps": 5000,
    },
    notes="""\
Probes on seed 0, one thread each, the rest of the MNIST recipe (batch 64,
Adam 1e-3 with cosine decay, final-target supervision); test accuracy at
lengths 1 / 2 and MSE at length 20:
2000 steps: 0.969 / 0.805, 2.4e26 (84 s of training);
5000 steps: 0.983 / 0.882, 2.1e26 (132 s);
5000 steps at rate 3e-3: 0.882 / 0.614, 8.1e26;
5000 steps with every-step supervision (theirs): 0.979 / 0.871, 1.7e26.
A sixth, 6000 steps, ran out of its 5-minute cap beside the test suite.
The MSE at length 20 is dominated by the few sequences without a zero digit
(their products reach 1e19) and by a zero image's small leak times the
product of the rest, so it varies a lot between runs; the short lengths show
the encoder's accuracy, which the longer budget improved.""",
)

MNIST_BASELINE_RECIPE = Recipe(
    "The recurrent baselines (LSTM, GRU, plain RNNs) fitted at the training "
    "length, so that their failure beyond it is the paper's point: the "
    "paper's linear encoder, a read-out at the training targets' scale, no "
    "short-length curriculum, 5000 steps (about 12 min on one busy core).",
    {
        "encoder": "linear",
        "scale_targets": True,
        "curriculum": False,
        "steps": 5000,
    },
    notes="""\
LSTM, seed 0, one thread, test set at length 10 (counting exact-match
accuracy / addition relative error), 2000 steps unless said:
the MNIST recipe as it is (classes encoder, curriculum): 0.003 / 17.2%
  (Table 2, 3 seeds; addition predicts about the mean);
linear encoder: 0.900 / 29.2%;
linear + scaled read-out: 0.681 / 17.1%;
  + forget-gate bias 3, rate 3e-3 or clipnorm 1: addition 17.1-17.2%;
linear + scaled read-out, no curriculum: 0.871 / 2.17%;
the same at 4000 steps: 0.909 / 1.68% (580 s of training beside another
run). 5000 steps for some margin over 0.9 and 2%, still within 15 minutes.
At 5000 steps, seeds 0-2 (experiments/mnist_table.py --rows lstm): counting
0.914, 0.923, 0.877; addition 1.51%, 1.41%, 1.71% (635-744 s each, beside
another run). Seed 2's counting: 0.879 at 6000 steps, 0.905 with 64 units.
On JAX (a lent H200, NumPy pipeline), seeds 0-2: 32 units counted 0.909,
0.922, 0.907; 64 units 0.918, 0.931, 0.897 and added 1.62%, 1.53%, 1.68%:
no margin bought, so 32 units. GRU, seeds 0-2 on JAX: 0.912, 0.915, 0.906;
1.64%, 1.37%, 1.61%.
With the curriculum the addition encoder ran away: its 10 outputs reached a
spread of about 60 (saturating every LSTM gate) and 75% of the ConvNet's
hidden units were dead. The short stages' targets (length 1: about 4.5) lie
far from the read-out's training-length scale (45 +- 9), or, unscaled, the
read-out must grow to 45 at Adam's pace; either way every step pushes the
state the same way, and the unbounded linear embedding gets there first.
The classes encoder's softmax cannot run away, but the LSTM did not learn
to count through it (accuracy 0.003).""",
)

# The digit encoders of the MNIST tasks (`--encoder`), with the prior each
# gives the head.
MNIST_ENCODERS = {
    "classes": "a softmax over 10 classes (the model is told there are ten "
    "symbols), then for addition a Dense(1) started at the digit values 0..9",
    "linear": "the paper's: a linear read-out of the ConvNet's 500 units, "
    "no class structure and no digit-value start",
}

# Flags that only the arithmetic tasks read; given for an MNIST task they exit 2.
ARITHMETIC_ONLY_FIELDS = ("readout_sparsity_start",)

# Flags that only the MNIST tasks read; given for another task they exit 2.
MNIST_ONLY_FIELDS = (
    "encoder",
    "supervision",
    "solved_head",
    "scale_targets",
    "curriculum",
)


@dataclasses.dataclass(frozen=True)
class TaskRecipes:
    """The recipes of one task family, for `RunConfig.for_task`.

    Args:
        task: The family's `Recipe`.
        cells: Cell name to the `Recipe` of that arithmetic cell. Defaults
            to none.
        fallback_cell: The entry of `cells` an arithmetic cell not listed
            there uses. Defaults to `None` (no cell recipe).
        baseline: The `Recipe` of a cell without arithmetic units (an LSTM).
            Defaults to `None`.
        static: Cell name to the `Recipe` of that cell with `static=True`.
            Defaults to none.
        tasks: Task name to the `Recipe` of that one task of the family,
            applied after the family's and the cell's. Defaults to none.
    """

    task: Recipe
    cells: Mapping = dataclasses.field(default_factory=dict)
    fallback_cell: str | None = None
    baseline: Recipe | None = None
    static: Mapping = dataclasses.field(default_factory=dict)
    tasks: Mapping = dataclasses.field(default_factory=dict)

    def recipes(self, task, cell, static):
        """The recipes `task` with `cell` (and `static`) apply, in order,
        later winning."""
        from nalu_rnn.models import get_cell_spec

        chosen = [self.task]
        if get_cell_spec(cell).arithmetic:
            recipe = self.cells.get(cell, self.cells.get(self.fallback_cell))
        else:
            recipe = self.baseline
        chosen += [recipe] if recipe is not None else []
        # A task's own lengths and budget hold for every cell.
        if task in self.tasks:
            chosen.append(self.tasks[task])
        if static and cell in self.static:
            chosen.append(self.static[cell])
        return chosen


MNIST_CELL_RECIPES = {
    "nalu": Recipe(
        "The NALU head's unit gates, decided early, are snapped exact at half "
        "of training, so the encoder learns under the head it is evaluated "
        "with (docs/nalu.md).",
        {"gate_snap": 0.5},
        notes="""\
mnist_add, seed 0, 2000 steps: without the snap the cell's gate stayed at
0.995 and the encoder fitted the 0.5% multiplicative share it let through;
hardening then made the head exact but left a 7% bias in the digit values
(relative error 6.83% at length 1000). Snapped at step 1000 (gate 0.9947 ->
1): 0.29% at length 1000.""",
    ),
}

# By task family, the name a task registers with (`tasks.base.register_task`).
TASK_RECIPES = {
    "arithmetic": TaskRecipes(
        ARITHMETIC_RECIPE,
        cells=ARITHMETIC_CELL_RECIPES,
        fallback_cell="later_units",
        baseline=BASELINE_RECIPE,
        static=STATIC_RECIPES,
    ),
    "mnist": TaskRecipes(
        MNIST_RECIPE,
        cells=MNIST_CELL_RECIPES,
        baseline=MNIST_BASELINE_RECIPE,
        tasks={"mnist_product": MNIST_PRODUCT_RECIPE},
    ),
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every option of one run; `train.py --help` describes each flag.

    Build one with `RunConfig.for_task` (defaults and recipes applied) or
    `runner.cli.parse_args` (the same from command-line flags). Fields are
    those of the flags, `--eval-lengths` as a tuple of ints.

    Example:

    ```python
    config = runner.config.RunConfig.for_task("add", cell="nalu", steps=500)
    seed_3 = dataclasses.replace(config, seed=3)
    ```
    """

    task: str
    cell: str = DEFAULT_CELL
    seed: int = 0
    seeds: int | None = None
    train_length: int = 10
    eval_lengths: tuple = (10, 100, 1000)
    eval_sequences: int = 1000
    steps: int = 10000
    batch_size: int = 64
    learning_rate: float = 1e-3
    clipnorm: float | None = None
    clipvalue: float | None = None
    optimizer: str = "adam"
    units: int | None = None
    static: bool = False
    sparsity: float = 0.05
    saturation: float = 0.0
    sparsity_start: float = 0.3
    sparsity_end: float | None = None
    sparsity_stop: float | None = None
    readout_sparsity_start: float | None = None
    lr_decay: bool = False
    gate_snap: float | None = None
    check_every: int = 100
    harden: bool = True
    harden_tolerance: float = 0.2
    supervision: str | None = None
    encoder: str | None = None
    solved_head: bool = False
    scale_targets: bool = False
    curriculum: bool = False
    out: str | None = None
    data_dir: str | None = None
    tfds_dir: str | None = None
    evaluate: str | None = None
    strategy: str = "none"
    quiet: bool = False
    verbose: bool = False
    tensorboard: str | None = None
    export: bool = False
    deterministic: bool = True
    force: bool = False

    @classmethod
    def for_task(cls, task, cell=None, **overrides):
        """The configuration of `task` with `cell`: recipes, then `overrides`.

        Args:
            task: A registered task name (`tasks.base.TASKS`).
            cell: A registered cell name (`nalu_rnn.models.CELLS`), or `None`
                for the task's registered default cell (`TaskSpec.cell_for`:
                `"nmu"` for `mnist_product`, `"nalu"` for recurrent `mul`),
                else `DEFAULT_CELL` (`"nac"`). Defaults to `None`.
            **overrides: `RunConfig` fields, winning over every recipe.

        Raises:
            ValueError: for an unknown task (naming the registered ones), or
                `static=True` for a task without a static variant.
        """
        from tasks.base import get_task

        spec = get_task(task)
        static = overrides.get("static", False)
        if cell is None:
            cell = spec.cell_for(static) or DEFAULT_CELL
        if static and not spec.static:
            raise ValueError(
                "--static applies to the arithmetic tasks only (those "
                f"registered with static=True); task {task!r} has no static variant"
            )
        if spec.recipe == "mnist":
            family, fields = "arithmetic", ARITHMETIC_ONLY_FIELDS
            lacks = "no read-out after its recurrent head"
        else:
            family, fields = "MNIST", MNIST_ONLY_FIELDS
            lacks = "no digit encoder or per-step targets"
        # Not given: None, or False for a switch (a fraction of 0.0 is given).
        given = [
            f
            for f in fields
            if overrides.get(f) is not None and overrides.get(f) is not False
        ]
        if given:
            flags = ", ".join("--" + f.replace("_", "-") for f in given)
            raise ValueError(
                f"{flags} applies to the {family} tasks only; task {task!r} has {lacks}"
            )
        from nalu_rnn.models import get_cell_spec

        if overrides.get("scale_targets"):
            if get_cell_spec(cell).arithmetic:
                raise ValueError(
                    "--scale-targets rescales the read-out of a cell without "
                    "arithmetic units (lstm, gru, rnn_tanh, rnn_relu); an "
                    f"arithmetic head's state is its output (cell {cell!r})"
                )
        if overrides.get("solved_head"):
            if not get_cell_spec(cell).arithmetic or overrides.get("units"):
                raise ValueError(
                    "--solved-head sets an arithmetic head whose state is the "
                    "output to the exact running sum (or product): it needs an "
                    f"arithmetic cell and no --units (cell {cell!r})"
                )
            from tasks.mnist import PRODUCT_TASKS

            if task in PRODUCT_TASKS and get_cell_spec(cell).make_product_cell is None:
                raise ValueError(
                    f"--solved-head for {task} needs a cell whose head multiplies "
                    f"over time (nmu); cell {cell!r} can only sum"
                )
        values = {}
        if spec.recipe is not None:
            for recipe in TASK_RECIPES[spec.recipe].recipes(task, cell, static):
                values.update(recipe.values)
        train_length = overrides.get(
            "train_length", values.get("train_length", cls.train_length)
        )
        if callable(values.get("eval_lengths")):
            values["eval_lengths"] = values["eval_lengths"](train_length)
        values.update(overrides)
        values["eval_lengths"] = tuple(values.get("eval_lengths", cls.eval_lengths))
        if values.get("out") is None:
            values["out"] = default_out(task, cell, static, values.get("evaluate"))
        return cls(task=task, cell=cell, **values)


def default_out(task, cell, static, evaluate=None):
    """`runs/<task>[-static]-<cell>`, or `evaluation/` beside an evaluated model.

    Beside the model, never over the results of its training run.
    """
    if evaluate is not None:
        return os.path.join(os.path.dirname(evaluate), "evaluation")
    suffix = "-static" if static else ""
    return os.path.join("runs", f"{task}{suffix}-{cell}")


# The default of every field, for the flags whose default is not a recipe's.
FIELD_DEFAULTS = {
    field.name: field.default
    for field in dataclasses.fields(RunConfig)
    if field.default is not dataclasses.MISSING
}
