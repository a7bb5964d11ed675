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
)


def check_problem(config):
    """Raises `ValueError` when `config`'s problem cannot be drawn (subsets
    larger than the input), before anything is built."""
    data = config.data
    input_size = data.input_size or (100 if data.static else 10)
    check_subsets(input_size, data.subset_ratio, data.overlap_ratio)


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
