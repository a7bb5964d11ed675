"""Recipes: the defaults a task family, a cell or a task sets, with why.

`runner.config.RunConfig.for_task` starts from its field defaults and
applies, later winning: the family's recipe, the cell's recipe in that
family (or the family's baseline recipe for a cell without arithmetic
units), the `--static` recipe of the cell, the task's own recipe, then the
flags given; with `--single-layer`, the family's single-layer recipe and
the cell's take the place of the cell's and the `--static` ones. The
measurements behind each recipe are in docs/recipes.md.
"""

import dataclasses
from collections.abc import Mapping

from tasks.cells import get_cell_spec


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Defaults a task family, cell or task sets, with the reason they were chosen.

    Args:
        reason: One line on why these values.
        values: `RunConfig` field names (the flags' names) to values. An
            `eval_lengths` value may be a function of the run's
            `train_length`.
        docs: The section of docs/recipes.md that holds the measurements
            behind the values. Defaults to `""`.
    """

    reason: str
    values: Mapping
    docs: str = ""


def lengths_from_train_length(*lengths):
    """An `eval_lengths` recipe: the training length, then the longer of these.

    `lengths_from_train_length(10, 100, 1000)` gives `(10, 100, 1000)` at
    `train_length=10` and `(20, 100, 1000)` at 20: the first entry is the
    interpolation set, the longer ones extrapolate.
    """

    def resolve(train_length):
        return (train_length, *(n for n in lengths if n > train_length))

    return resolve


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
        single_layer: The `Recipe` of every cell with `single_layer=True`
            (a protocol of its own, in place of the cell's recipe and its
            `--static` one), or `None`. Defaults to `None`.
        single_layer_cells: Cell name to the `Recipe` of that cell with
            `single_layer=True`, applied after `single_layer`. Defaults to
            none.
    """

    task: Recipe
    cells: Mapping = dataclasses.field(default_factory=dict)
    fallback_cell: str | None = None
    baseline: Recipe | None = None
    static: Mapping = dataclasses.field(default_factory=dict)
    single_layer: Recipe | None = None
    single_layer_cells: Mapping = dataclasses.field(default_factory=dict)

    def recipes(self, cell, static, single_layer=False):
        """The recipes a run with `cell` (and `static`, `single_layer`)
        applies, in order, later winning."""
        chosen = [self.task]
        if single_layer:
            chosen += [self.single_layer, self.single_layer_cells.get(cell)]
            return [recipe for recipe in chosen if recipe is not None]
        if get_cell_spec(cell).arithmetic:
            recipe = self.cells.get(cell, self.cells.get(self.fallback_cell))
        else:
            recipe = self.baseline
        chosen += [recipe] if recipe is not None else []
        if static and cell in self.static:
            chosen.append(self.static[cell])
        return chosen
