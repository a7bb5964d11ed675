"""Tests of `runner.config`: defaults, recipes and their precedence."""

import dataclasses

import pytest

import train
from runner.config import (
    ARITHMETIC_CELL_RECIPES,
    BASELINE_RECIPE,
    FIELD_DEFAULTS,
    MNIST_BASELINE_RECIPE,
    MNIST_PRODUCT_RECIPE,
    MNIST_RECIPE,
    STATIC_RECIPES,
    RunConfig,
)


def test_field_defaults_are_the_task_independent_defaults():
    config = RunConfig("add")
    assert config.cell == "nac" and config.seed == 0 and config.seeds is None
    assert config.sparsity == 0.05 and config.sparsity_start == 0.3
    assert config.optimizer == "adam" and config.lr_decay is False
    assert config.check_every == 100 and config.harden_tolerance == 0.2


def test_arithmetic_recipe_by_cell():
    nac = RunConfig.for_task("add")
    assert (nac.steps, nac.batch_size, nac.units) == (10000, 64, 2)
    assert nac.learning_rate == ARITHMETIC_CELL_RECIPES["nac"].values["learning_rate"]
    assert nac.eval_lengths == (10, 100, 1000) and nac.out == "runs/add-nac"
    # The NALU (unit gates) trains at the NAC's rate; the later arithmetic
    # cells at the rate they were measured with.
    nalu = RunConfig.for_task("mul", cell="nalu")
    assert (nalu.learning_rate, nalu.steps, nalu.batch_size) == (0.1, 30000, 512)
    # Gradient spikes clipped; the read-out's pull after the cell's (0.3).
    assert nalu.optimizer == "spike_clipped_adam"
    assert (nalu.sparsity_start, nalu.readout_sparsity_start) == (0.3, 0.6)
    assert RunConfig.for_task("mul", cell="nac").readout_sparsity_start is None
    npu = RunConfig.for_task("mul", cell="npu")
    later = ARITHMETIC_CELL_RECIPES["later_units"].values["learning_rate"]
    assert npu.learning_rate == later == 0.03
    lstm = RunConfig.for_task("add", cell="lstm")
    assert lstm.units == BASELINE_RECIPE.values["units"] == 32
    assert lstm.learning_rate == 1e-3
    # The interpolation set is at the training length.
    longer = RunConfig.for_task("add", train_length=20)
    assert longer.eval_lengths == (20, 100, 1000)


def test_static_recipe_then_overrides_win():
    config = RunConfig.for_task("mul", cell="nmu", static=True)
    for key, value in STATIC_RECIPES["nmu"].values.items():
        assert getattr(config, key) == value
    assert config.out == "runs/mul-static-nmu"
    config = RunConfig.for_task("add", cell="nau", static=True, steps=7, sparsity=0)
    assert config.steps == 7 and config.sparsity == 0
    assert config.batch_size == STATIC_RECIPES["nau"].values["batch_size"]
    # Without --static the NAU keeps the arithmetic recipe.
    assert RunConfig.for_task("add", cell="nau").sparsity_end is None


def test_mnist_recipe():
    config = RunConfig.for_task("mnist_count", cell="nac")
    for key, value in MNIST_RECIPE.values.items():
        assert getattr(config, key) == value
    assert config.supervision == "final" and config.units is None
    assert config.encoder == "classes" and config.curriculum
    # The baselines' recipe wins over the family's where it sets a value.
    config = RunConfig.for_task("mnist_count", cell="lstm")
    for key, value in MNIST_RECIPE.values.items():
        expected = MNIST_BASELINE_RECIPE.values.get(key, value)
        assert getattr(config, key) == expected
    assert config.encoder == "linear" and config.scale_targets
    # A task's own recipe wins over the cell's: the product's budget.
    product = RunConfig.for_task("mnist_product", cell="lstm")
    assert product.steps == MNIST_PRODUCT_RECIPE.values["steps"]
    assert product.train_length == 2 and product.scale_targets
    for flag in ("encoder", "supervision"):
        with pytest.raises(ValueError, match="MNIST tasks only"):
            RunConfig.for_task("add", **{flag: "linear"})
    with pytest.raises(ValueError, match="arithmetic tasks only"):
        RunConfig.for_task("mnist_add", static=True)
    with pytest.raises(ValueError, match="arithmetic tasks only"):
        RunConfig.for_task("mnist_add", readout_sparsity_start=0.5)


def test_cli_builds_the_same_config_and_flags_win():
    assert train.parse_args(["--task", "add"]) == RunConfig.for_task("add")
    config = train.parse_args(
        ["--task", "mul", "--static", "--cell", "nmu", "--optimizer", "adam"]
    )
    assert config == RunConfig.for_task(
        "mul", cell="nmu", static=True, optimizer="adam"
    )
    evaluated = train.parse_args(["--task", "add", "--evaluate", __file__])
    assert evaluated.out.endswith("evaluation")


def test_every_parser_default_is_a_field_default_or_the_recipes():
    parser = train.build_parser()
    for action in parser._actions:
        if action.dest in ("help", "task"):
            continue
        assert action.default is None or action.default == FIELD_DEFAULTS[action.dest]


def test_a_config_is_frozen_and_seeds_are_replaced_copies():
    config = RunConfig.for_task("add", seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4
    seed_4 = dataclasses.replace(config, seed=4)
    assert seed_4.seed == 4 and config.seed == 3
    assert dataclasses.replace(seed_4, seed=3) == config


def test_every_recipe_gives_a_reason_and_known_fields():
    recipes = [MNIST_RECIPE, MNIST_PRODUCT_RECIPE, BASELINE_RECIPE]
    recipes += ARITHMETIC_CELL_RECIPES.values()
    for recipe in recipes + list(STATIC_RECIPES.values()):
        assert recipe.reason
        assert set(recipe.values) <= set(FIELD_DEFAULTS)


@pytest.mark.parametrize(
    "task, static, cell",
    [("add", False, "nac"), ("add", True, "nac"), ("mul", False, "nalu"),
     ("mul", True, "nmu"), ("square", False, "nalu"), ("sqrt", False, "realnpu"),
     ("div", False, "nalu"), ("div", True, "realnpu"), ("mnist_count", False, "nac"),
     ("mnist_product", False, "nmu")],
)  # fmt: skip
def test_a_run_without_cell_gets_the_tasks_default_cell(task, static, cell):
    argv = ["--task", task] + (["--static"] if static else [])
    assert train.parse_args(argv).cell == cell
    assert RunConfig.for_task(task, static=static).cell == cell
    # The cell's own recipe comes with it (the NALU's batches of 512).
    assert RunConfig.for_task(task, static=static) == RunConfig.for_task(
        task, cell=cell, static=static
    )
