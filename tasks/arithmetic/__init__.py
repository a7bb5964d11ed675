"""The arithmetic tasks: learn `op(a, b)` where `a` and `b` are sums of
subsets of the input, over a sequence (recurrent) or one vector (static).

`data` draws the problems and their sets, `batches` the training stream,
`model` builds the network, `experiment` trains and judges it, `recipes`
holds the family's defaults and default cells.
"""

from tasks.arithmetic.data import (
    OPS,
    ArithmeticTask,
    apply_op,
    check_subsets,
    mse,
    subsets,
)
from tasks.arithmetic.recipes import DEFAULT_CELLS, RECIPES, STATIC_DEFAULT_CELLS
from tasks.spec import Family, deferred

# The `RunConfig` fields only the arithmetic tasks read.
FLAGS = (
    "readout_sparsity_start",
    "input_size",
    "subset_ratio",
    "overlap_ratio",
    "subset_seed",
    "train_range",
    "extrapolation_range",
    "select",
    "validate_every",
    "single_layer",
    "pair_pull",
)


def check_problem(config):
    """Raises `ValueError` when `config`'s problem cannot be drawn or posed,
    before anything is built: subsets larger than the input, a single layer
    without `--static`, or the square root of values that can be negative
    (its target is not real)."""
    data = config.data
    if config.model.single_layer and not data.static:
        raise ValueError(
            "--single-layer is a model without a time axis: it needs --static"
        )
    # An arithmetic task is registered under the name of its op.
    task = ArithmeticTask(
        config.run.task,
        static=data.static,
        input_dim=data.input_size,
        train_range=data.train_range,
        extrapolation_range=data.extrapolation_range,
        subset_ratio=data.subset_ratio,
        overlap_ratio=data.overlap_ratio,
    )
    if task.op == "sqrt" and task.signed:
        low = min(low for low, _ in task.value_ranges)
        raise ValueError(
            f"--task sqrt draws values from {low:g}: the square root of a "
            "negative sum is not real; give --train-range and "
            "--extrapolation-range of values >= 0"
        )


FAMILY = Family(
    "arithmetic",
    experiment=deferred("tasks.arithmetic.experiment:ArithmeticExperiment"),
    recipes=RECIPES,
    flags=FLAGS,
    check=check_problem,
    vectorizes=True,
)

__all__ = [
    "DEFAULT_CELLS",
    "FAMILY",
    "FLAGS",
    "OPS",
    "RECIPES",
    "STATIC_DEFAULT_CELLS",
    "ArithmeticTask",
    "apply_op",
    "check_problem",
    "check_subsets",
    "mse",
    "subsets",
]
