"""Recipes (`tasks.recipes`) and the families' own (`tasks.arithmetic.recipes`,
`tasks.mnist.recipes`): the defaults a family, a cell or a task sets, with
why. How `RunConfig.for_task` applies them is tested in tests/runner."""

import dataclasses

from runner.config import FIELD_DEFAULTS, RunConfig
from tasks.arithmetic import recipes as arithmetic
from tasks.mnist import recipes as mnist
from tasks.recipes import Recipe, TaskRecipes, lengths_from_train_length

ALL_RECIPES = [
    arithmetic.ARITHMETIC_RECIPE,
    arithmetic.BASELINE_RECIPE,
    *arithmetic.ARITHMETIC_CELL_RECIPES.values(),
    *arithmetic.STATIC_RECIPES.values(),
    arithmetic.SINGLE_LAYER_RECIPE,
    *arithmetic.SINGLE_LAYER_CELL_RECIPES.values(),
    mnist.MNIST_RECIPE,
    mnist.MNIST_SUM_RECIPE,
    mnist.MNIST_PRODUCT_RECIPE,
    mnist.MNIST_BASELINE_RECIPE,
    *mnist.MNIST_CELL_RECIPES.values(),
]


def test_every_recipe_gives_a_reason_and_known_fields():
    for recipe in ALL_RECIPES:
        assert recipe.reason and recipe.docs
        assert set(recipe.values) <= set(FIELD_DEFAULTS)


def test_defaults_are_complete():
    assert set(mnist.MNIST_RECIPE.values) >= {
        "steps",
        "batch_size",
        "learning_rate",
        "eval_lengths",
        "supervision",
    }
    assert mnist.MNIST_RECIPE.values["eval_lengths"] == (1, 10, 100, 1000)
    # The state size is left to the experiment: the target's size (10 counts
    # or 1 sum) for an arithmetic head, its baseline width otherwise.
    assert FIELD_DEFAULTS["units"] is None
    assert RunConfig.for_task("mnist_count").model.units is None


def test_eval_lengths_start_at_the_training_length():
    resolve = lengths_from_train_length(10, 100, 1000)
    assert resolve(10) == (10, 100, 1000)
    assert resolve(20) == (20, 100, 1000)
    assert resolve(500) == (500, 1000)


def test_recipes_of_a_cell_in_order_later_winning():
    family = Recipe("family", {"steps": 1})
    nac, fallback = Recipe("nac", {"steps": 2}), Recipe("other", {"steps": 3})
    baseline, static = Recipe("baseline", {"units": 32}), Recipe("static", {})
    recipes = TaskRecipes(
        family,
        cells={"nac": nac, "later": fallback},
        fallback_cell="later",
        baseline=baseline,
        static={"nac": static},
    )
    assert recipes.recipes("nac", static=False) == [family, nac]
    assert recipes.recipes("nac", static=True) == [family, nac, static]
    # An arithmetic cell without its own recipe takes the fallback's.
    assert recipes.recipes("nau", static=True) == [family, fallback]
    assert recipes.recipes("lstm", static=False) == [family, baseline]
    assert TaskRecipes(family).recipes("lstm", static=False) == [family]
    # A single layer: its own recipes in place of the cell's and static's.
    single, single_nac = Recipe("single", {}), Recipe("single nac", {})
    recipes = dataclasses.replace(
        recipes, single_layer=single, single_layer_cells={"nac": single_nac}
    )
    assert recipes.recipes("nac", True, single_layer=True) == [
        family,
        single,
        single_nac,
    ]
    assert recipes.recipes("nau", True, single_layer=True) == [family, single]
    assert TaskRecipes(family).recipes("nac", True, True) == [family]
