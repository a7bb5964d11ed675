"""The arithmetic tasks: learn `op(a, b)` where `a` and `b` are sums of
subsets of the input, over a sequence (recurrent) or one vector (static).

`data` draws the problems and their sets, `batches` the training stream,
`model` builds the network, `experiment` trains and judges it, `recipes`
holds the family's defaults and default cells.
"""

from tasks.arithmetic.data import OPS, ArithmeticTask, apply_op, mse, subsets
from tasks.arithmetic.recipes import DEFAULT_CELLS, RECIPES, STATIC_DEFAULT_CELLS
from tasks.spec import Family, deferred

# The `RunConfig` fields only the arithmetic tasks read.
FLAGS = ("readout_sparsity_start",)

FAMILY = Family(
    "arithmetic",
    experiment=deferred("tasks.arithmetic.experiment:ArithmeticExperiment"),
    recipes=RECIPES,
    flags=FLAGS,
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
    "mse",
    "subsets",
]
