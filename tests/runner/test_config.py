"""Tests of `runner.config`: the grouped `RunConfig`, its defaults, the
recipes and their precedence, and the options that do not go together."""

import dataclasses

import pytest

from runner.cli import parse_args
from runner.config import (
    FIELD_DEFAULTS,
    FIELD_GROUPS,
    GROUPS,
    ConfigError,
    Flag,
    RunConfig,
)
from tasks.arithmetic.recipes import (
    ARITHMETIC_CELL_RECIPES,
    BASELINE_RECIPE,
    SINGLE_LAYER_CELL_RECIPES,
    SINGLE_LAYER_RECIPE,
    STATIC_RECIPES,
)
from tasks.cells import DEFAULT_CELL
from tasks.mnist.recipes import (
    MNIST_BASELINE_RECIPE,
    MNIST_PRODUCT_RECIPE,
    MNIST_RECIPE,
    MNIST_SUM_RECIPE,
)
from tasks.registry import get_task


def test_field_defaults_are_the_task_independent_defaults():
    config = RunConfig()
    # No cell by default: the task's registered one, else DEFAULT_CELL.
    assert config.run.cell is None and DEFAULT_CELL == "nac"
    assert config.run.seed == 0 and config.run.seeds is None
    r = config.regularization
    assert r.sparsity == 0.05 and r.sparsity_start == 0.3
    assert config.optim.optimizer == "adam" and config.optim.lr_decay is False
    assert config.evaluation.check_every == 100 and r.harden_tolerance == 0.2
    # A task without a registered cell (mnist_count) runs DEFAULT_CELL.
    assert RunConfig.for_task("mnist_count").run.cell == "nac"


def test_groups_hold_every_field_once_by_its_flag_name():
    assert [attribute for attribute, _, _ in GROUPS] == [
        "run",
        "data",
        "model",
        "optim",
        "regularization",
        "evaluation",
        "infra",
    ]
    names = [f.name for _, group, _ in GROUPS for f in dataclasses.fields(group)]
    assert len(names) == len(set(names)) == len(FIELD_DEFAULTS) == len(FIELD_GROUPS)
    config = RunConfig()
    for name, attribute in FIELD_GROUPS.items():
        assert getattr(getattr(config, attribute), name) == FIELD_DEFAULTS[name]
    assert config.values() == FIELD_DEFAULTS
    expected = {"run": "task", "data": "train_length", "model": "units"}
    expected.update(optim="steps", regularization="sparsity", evaluation="eval_lengths")
    expected.update(infra="strategy")
    for attribute, name in expected.items():
        assert FIELD_GROUPS[name] == attribute


def test_values_and_from_values_round_trip():
    config = RunConfig.for_task("mul", cell="nalu", steps=7)
    assert RunConfig.from_values(config.values()) == config
    assert config.values()["steps"] == 7 and config.optim.steps == 7
    grouped = config.as_dict()
    assert grouped["optim"]["steps"] == 7
    assert grouped["evaluation"]["eval_lengths"] == [10, 100, 1000]
    with pytest.raises(TypeError, match="unknown RunConfig fields: stpes"):
        RunConfig.from_values({"stpes": 7})
    with pytest.raises(TypeError, match="unknown RunConfig fields: stpes"):
        config.replace(stpes=7)


def test_arithmetic_recipe_by_cell():
    nac = RunConfig.for_task("add", cell="nac")
    assert (nac.optim.steps, nac.optim.batch_size, nac.model.units) == (10000, 64, 2)
    nac_rate = ARITHMETIC_CELL_RECIPES["nac"].values["learning_rate"]
    assert nac.optim.learning_rate == nac_rate
    assert nac.evaluation.eval_lengths == (10, 100, 1000)
    assert nac.run.out == "runs/add-nac"
    # The NALU (unit gates) trains at the NAC's rate; the later arithmetic
    # cells at the rate they were measured with.
    nalu = RunConfig.for_task("mul", cell="nalu")
    optim = nalu.optim
    assert (optim.learning_rate, optim.steps, optim.batch_size) == (0.1, 30000, 512)
    # Gradient spikes clipped; the read-out's pull after the cell's.
    assert nalu.optim.optimizer == "spike_clipped_adam"
    r = nalu.regularization
    assert (r.sparsity_start, r.readout_sparsity_start) == (0.5, 0.7)
    # A pull strong enough to hold a product's two state units at one scale,
    # ramped in late, to 80%, and kept.
    assert (r.sparsity, r.sparsity_end, r.sparsity_stop) == (5.0, 0.8, None)
    mul_nac = RunConfig.for_task("mul", cell="nac")
    assert mul_nac.regularization.readout_sparsity_start is None
    npu = RunConfig.for_task("mul", cell="npu")
    later = ARITHMETIC_CELL_RECIPES["later_units"].values["learning_rate"]
    assert npu.optim.learning_rate == later == 0.03
    # The NAU (add's and sub's default): a decaying rate and a kept pull.
    nau = RunConfig.for_task("add")
    assert nau.run.cell == "nau" and nau.run.out == "runs/add-nau"
    for key, value in ARITHMETIC_CELL_RECIPES["nau"].values.items():
        assert nau.values()[key] == value, key
    assert nau.optim.lr_decay and nau.regularization.sparsity_stop is None
    lstm = RunConfig.for_task("add", cell="lstm")
    assert lstm.model.units == BASELINE_RECIPE.values["units"] == 32
    assert lstm.optim.learning_rate == 1e-3
    # The interpolation set is at the training length.
    longer = RunConfig.for_task("add", train_length=20)
    assert longer.evaluation.eval_lengths == (20, 100, 1000)


def test_static_recipe_then_overrides_win():
    config = RunConfig.for_task("mul", cell="nmu", static=True)
    values = config.values()
    for key, value in STATIC_RECIPES["nmu"].values.items():
        assert values[key] == value
    assert config.run.out == "runs/mul-static-nmu"
    config = RunConfig.for_task("add", cell="nau", static=True, steps=7, sparsity=0)
    assert config.optim.steps == 7 and config.regularization.sparsity == 0
    assert config.optim.batch_size == STATIC_RECIPES["nau"].values["batch_size"]
    # Without --static the NAU keeps its arithmetic recipe.
    nau = RunConfig.for_task("add", cell="nau")
    assert (
        nau.regularization.sparsity_end
        == ARITHMETIC_CELL_RECIPES["nau"].values["sparsity_end"]
    )
    assert nau.regularization.sparsity_stop is None


def test_single_layer_recipes_replace_the_cell_and_static_ones():
    config = RunConfig.for_task("mul", cell="nmu", static=True, single_layer=True)
    values = config.values()
    merged = {**SINGLE_LAYER_RECIPE.values, **SINGLE_LAYER_CELL_RECIPES["nmu"].values}
    for key, value in merged.items():
        assert values[key] == value, key
    assert config.regularization.sparsity == 10.0
    # Not the static NMU's common-mode Adam, nor the NALU's recurrent recipe.
    assert config.optim.optimizer == "adam" and not config.optim.lr_decay
    nalu = RunConfig.for_task("mul", cell="nalu", static=True, single_layer=True)
    assert nalu.optim.learning_rate == 1e-3 and nalu.optim.batch_size == 128
    assert nalu.regularization.readout_sparsity_start is None
    assert nalu.regularization.sparsity == 0.0
    inalu = RunConfig.for_task("add", cell="inalu", static=True, single_layer=True)
    assert inalu.optim.clipvalue == 0.1
    flags = RunConfig.for_task(
        "add", cell="nau", static=True, single_layer=True, steps=7, harden=True
    )
    assert flags.optim.steps == 7 and flags.regularization.harden
    assert flags.regularization.sparsity == 0.01


def test_static_recipe_fills_defaults_and_flags_win():
    options = parse_args(["--task", "mul", "--static", "--cell", "nmu"])
    recipe = STATIC_RECIPES["nmu"]
    values = options.values()
    for key, value in recipe.values.items():
        assert values[key] == value
    assert options.optim.optimizer == "common_mode_adam"
    options = parse_args(
        ["--task", "mul", "--static", "--cell", "nmu", "--optimizer", "adam"]
    )
    assert options.optim.optimizer == "adam"
    options = parse_args(
        ["--task", "add", "--static", "--cell", "nau", "--steps", "7", "--no-lr-decay"]
    )
    assert options.optim.steps == 7 and options.optim.lr_decay is False
    sparsity = STATIC_RECIPES["nau"].values["sparsity"]
    assert options.regularization.sparsity == sparsity
    # The recurrent NAC keeps the general defaults.
    options = parse_args(["--task", "add", "--cell", "nac"])
    r = options.regularization
    assert r.sparsity == 0.05 and r.sparsity_end is None
    assert options.optim.lr_decay is False and options.optim.optimizer == "adam"


def test_mnist_recipe():
    config = RunConfig.for_task("mnist_count", cell="nac")
    values = config.values()
    for key, value in MNIST_RECIPE.values.items():
        assert values[key] == value
    assert config.data.supervision == "final" and config.model.units is None
    assert config.model.encoder == "classes" and not config.data.curriculum
    # The head learns from a random start, with the class aids until the snap.
    r = config.regularization
    assert config.model.head_init == "random" and config.optim.head_learning_rate
    assert r.class_balance > 0 and r.class_aids_stop == r.weight_snap
    # The head's own rate ends with the snap that makes it exact.
    assert config.optim.head_rate_stop == r.weight_snap
    # The linear encoder has no softmax: the recipe's class aids are off.
    linear = RunConfig.for_task("mnist_count", cell="nac", encoder="linear")
    assert linear.regularization.class_balance == 0.0
    assert linear.regularization.class_confidence == 0.0
    assert linear.regularization.class_aids_stop is None
    assert linear.regularization.weight_snap == r.weight_snap
    # The learning-rate decay is the recipe's, so a flag can turn it off.
    assert config.optim.lr_decay is True
    assert not RunConfig.for_task("mnist_count", lr_decay=False).optim.lr_decay
    # The baselines' recipe wins over the family's where it sets a value.
    config = RunConfig.for_task("mnist_count", cell="lstm")
    values = config.values()
    for key, value in MNIST_RECIPE.values.items():
        expected = MNIST_BASELINE_RECIPE.values.get(key, value)
        assert values[key] == expected
    assert config.model.encoder == "linear" and config.model.scale_targets
    # A baseline has no arithmetic head to find.
    assert config.optim.head_learning_rate is None
    assert config.regularization.class_balance == config.regularization.weight_snap == 0
    # A task's own recipe wins over the cell's: the product's budget.
    product = RunConfig.for_task("mnist_product", cell="lstm")
    assert product.optim.steps == MNIST_PRODUCT_RECIPE.values["steps"]
    assert product.data.train_length == 2 and product.model.scale_targets
    for flag in ("encoder", "supervision"):
        with pytest.raises(ValueError, match="MNIST tasks only"):
            RunConfig.for_task("add", **{flag: "linear"})
    with pytest.raises(ValueError, match="arithmetic tasks only"):
        RunConfig.for_task("mnist_add", static=True)
    with pytest.raises(ValueError, match="arithmetic tasks only"):
        RunConfig.for_task("mnist_add", readout_sparsity_start=0.5)


def test_default_cell_and_recipe_of_the_product():
    task = "mnist_product"
    assert get_task(task).default_cell == "nmu"
    assert get_task("mnist_add").default_cell == "nau"
    assert get_task("mnist_count").default_cell is None
    config = RunConfig.for_task(task)
    assert config.run.cell == "nmu" and config.run.out == "runs/mnist_product-nmu"
    assert config.data.train_length == 2
    assert config.evaluation.eval_lengths == tuple(range(1, 21))
    values = config.values()
    for key, value in MNIST_PRODUCT_RECIPE.values.items():
        assert values[key] == value
    assert MNIST_PRODUCT_RECIPE.reason
    assert get_task(task).recipe is MNIST_PRODUCT_RECIPE
    # The family's recipe still applies beneath the task's own, whose one
    # value per image has no softmax for the class aids to act on.
    assert config.data.supervision == "final" and config.model.encoder == "linear"
    assert config.optim.head_learning_rate == MNIST_RECIPE.values["head_learning_rate"]
    assert config.regularization.weight_snap == MNIST_RECIPE.values["weight_snap"]
    assert config.regularization.class_balance == 0.0
    assert config.regularization.class_aids_stop is None
    assert parse_args(["--task", task]) == config
    # Addition has its own head (Madsen & Johansen's) and the family's
    # lengths; counting keeps the package default cell.
    assert parse_args(["--task", "mnist_add"]).run.cell == "nau"
    assert parse_args(["--task", "mnist_count"]).run.cell == "nac"
    assert RunConfig.for_task("mnist_add").data.train_length == 10
    # Flags win over the task's defaults.
    given = parse_args(["--task", task, "--cell", "lstm", "--train-length", "3"])
    assert (given.run.cell, given.data.train_length) == ("lstm", 3)


def test_recipe_of_the_sum():
    assert get_task("mnist_add").recipe is MNIST_SUM_RECIPE
    config = RunConfig.for_task("mnist_add")
    assert config.model.encoder == "linear" and MNIST_SUM_RECIPE.reason
    assert config.model.head_init == "random" and config.optim.head_learning_rate
    assert config.regularization.class_balance == 0.0
    # The class encoder stays a flag away, with the family's class aids.
    classes = RunConfig.for_task("mnist_add", encoder="classes")
    for name in ("class_balance", "class_confidence", "class_aids_stop"):
        assert getattr(classes.regularization, name) == MNIST_RECIPE.values[name]
    assert RunConfig.for_task("mnist_count").model.encoder == "classes"


def test_cli_builds_the_same_config_and_flags_win():
    assert parse_args(["--task", "add"]) == RunConfig.for_task("add")
    config = parse_args(
        ["--task", "mul", "--static", "--cell", "nmu", "--optimizer", "adam"]
    )
    assert config == RunConfig.for_task(
        "mul", cell="nmu", static=True, optimizer="adam"
    )
    evaluated = parse_args(["--task", "add", "--evaluate", __file__])
    assert evaluated.run.out.endswith("evaluation")


def test_a_config_is_frozen_and_seeds_are_replaced_copies():
    config = RunConfig.for_task("add", seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.run.seed = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.run = config.run
    seed_4 = config.replace(seed=4)
    assert seed_4.run.seed == 4 and config.run.seed == 3
    assert seed_4.replace(seed=3) == config


@pytest.mark.parametrize(
    "task, static, cell",
    [("add", False, "nau"), ("add", True, "nau"), ("sub", False, "nau"),
     ("sub", True, "nau"),
     ("mul", False, "nalu"), ("mul", True, "snmu"), ("square", False, "nalu"),
     ("sqrt", False, "realnpu"),
     ("div", False, "nalu"), ("div", True, "nmru"), ("mnist_count", False, "nac"),
     ("mnist_product", False, "nmu")],
)  # fmt: skip
def test_a_run_without_cell_gets_the_tasks_default_cell(task, static, cell):
    argv = ["--task", task] + (["--static"] if static else [])
    assert parse_args(argv).run.cell == cell
    assert RunConfig.for_task(task, static=static).run.cell == cell
    # The cell's own recipe comes with it (the NALU's batches of 512).
    assert RunConfig.for_task(task, static=static) == RunConfig.for_task(
        task, cell=cell, static=static
    )


def test_every_field_carries_its_flag():
    for _, group, _ in GROUPS:
        for field in dataclasses.fields(group):
            flag = field.metadata["flag"]
            assert isinstance(flag, Flag) and flag.help, field.name
            assert flag.kind in ("value", "switch", "toggle", "optional", "repeat"), (
                field.name
            )
            assert flag.needs in (None, "arithmetic", "gated", "reciprocal"), field.name
            if flag.kind in ("switch", "toggle"):
                assert isinstance(field.default, bool), field.name


# Options that do not go together raise `ConfigError`, a `ValueError` the
# CLI turns into one line and exit status 2 (tests/runner/test_cli.py).


@pytest.mark.parametrize(
    "task, flags, message",
    [
        ("add", {"data_dir": "/mnist"}, "--data-dir applies to the MNIST tasks only"),
        ("add", {"tfds_dir": "/tfds"}, "--tfds-dir applies to the MNIST tasks only"),
        ("sub", {"encoder": "linear"}, "--encoder applies to the MNIST tasks only"),
        ("add", {"curriculum": False}, "--curriculum applies to the MNIST tasks only"),
        ("add", {"solved_head": True}, "--solved-head applies to the MNIST tasks"),
        (
            "mnist_add",
            {"readout_sparsity_start": 0.0},
            "--readout-sparsity-start applies to the arithmetic tasks only",
        ),
    ],
)
def test_a_flag_of_another_family_is_refused(task, flags, message):
    with pytest.raises(ConfigError, match=message) as info:
        RunConfig.for_task(task, **flags)
    assert isinstance(info.value, ValueError)
    assert f"task {task!r}" in str(info.value)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize(
    "field, value",
    [
        ("sparsity", 0.0),
        ("sparsity_start", 0.5),
        ("sparsity_end", 0.5),
        ("sparsity_stop", 0.7),
        ("readout_sparsity_start", 0.6),
        ("saturation", 0.05),
        ("harden", False),
        ("harden", True),
        ("harden_tolerance", 0.1),
    ],
)
def test_a_flag_for_arithmetic_units_is_refused_for_a_baseline(cell, field, value):
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ConfigError, match=f"{flag} acts on arithmetic units") as info:
        RunConfig.for_task("add", cell=cell, **{field: value})
    assert f"cell {cell!r} has none" in str(info.value)


@pytest.mark.parametrize("cell", ["nac", "nau", "nmu", "realnpu", "npu", "lstm"])
def test_gate_snap_needs_learnt_gates(cell):
    with pytest.raises(ConfigError, match="--gate-snap acts on units with learnt"):
        RunConfig.for_task("add", cell=cell, gate_snap=0.5)


@pytest.mark.parametrize("cell", ["nalu", "inalu"])
def test_gate_snap_is_taken_by_the_gated_cells(cell):
    config = RunConfig.for_task("add", cell=cell, gate_snap=0.5)
    assert config.regularization.gate_snap == 0.5


@pytest.mark.parametrize("cell", ["nac", "nau", "nmu", "nalu", "realnpu"])
def test_pair_pull_needs_weights_on_reciprocals(cell):
    with pytest.raises(ConfigError, match="--pair-pull acts on units with weights"):
        RunConfig.for_task("div", cell=cell, pair_pull=1.0)


@pytest.mark.parametrize("cell", ["nmru", "snmru"])
def test_pair_pull_is_taken_by_the_reciprocal_cells(cell):
    config = RunConfig.for_task("div", cell=cell, pair_pull=2.0)
    assert config.regularization.pair_pull == 2.0


def test_pair_pull_is_refused_for_mnist_and_weight_snap_for_a_baseline():
    with pytest.raises(ConfigError, match="--pair-pull applies to the"):
        RunConfig.for_task("mnist_add", cell="nmru", pair_pull=1.0)
    with pytest.raises(ConfigError, match="--weight-snap acts on arithmetic"):
        RunConfig.for_task("add", cell="lstm", weight_snap=0.5)


def test_sparsity_stop_needs_sparsity_end():
    with pytest.raises(ConfigError, match="--sparsity-stop needs --sparsity-end"):
        RunConfig.for_task("add", cell="nac", sparsity_stop=0.8)
    config = RunConfig.for_task("add", cell="nac", sparsity_end=0.5, sparsity_stop=0.8)
    assert config.regularization.sparsity_stop == 0.8
    # The static NAU's recipe ramps and stops: a stop of its own is fine.
    nau = RunConfig.for_task("add", cell="nau", static=True, sparsity_stop=0.9)
    assert (
        nau.regularization.sparsity_end == STATIC_RECIPES["nau"].values["sparsity_end"]
    )


def test_a_value_left_out_is_not_given():
    # None means "not given" (the parser's default for every flag); any
    # other value, False included, counts as given.
    config = RunConfig.for_task("add", cell="lstm", sparsity=None, harden=None)
    assert config.regularization.sparsity == FIELD_DEFAULTS["sparsity"]
    assert config.regularization.harden is True
    with pytest.raises(ConfigError):
        RunConfig.for_task("add", cell="lstm", harden=False)


def test_class_balance_needs_the_classes_encoder():
    with pytest.raises(ConfigError, match="--class-balance acts on the classes"):
        RunConfig.for_task("mnist_add", encoder="linear", class_balance=1.0)
    config = RunConfig.for_task("mnist_count", class_balance=10.0)
    assert config.regularization.class_balance == 10.0
    with pytest.raises(ConfigError, match="--class-balance applies to the MNIST"):
        RunConfig.for_task("add", class_balance=1.0)
    with pytest.raises(ConfigError, match="--class-confidence acts on the classes"):
        RunConfig.for_task("mnist_count", encoder="linear", class_confidence=1.0)
    with pytest.raises(ConfigError, match="--class-confidence applies to the MNIST"):
        RunConfig.for_task("add", class_confidence=1.0)
    config = RunConfig.for_task("mnist_add", encoder="classes", class_confidence=1.0)
    assert config.regularization.class_confidence == 1.0
    # Addition's own encoder is the linear one.
    with pytest.raises(ConfigError, match="--class-confidence acts on the classes"):
        RunConfig.for_task("mnist_add", class_confidence=1.0)


def test_head_rate_stop_needs_a_head_rate():
    # The baselines' recipe has no head rate to end.
    with pytest.raises(ConfigError, match="--head-rate-stop ends"):
        RunConfig.for_task("mnist_add", cell="lstm", head_rate_stop=0.5)
    with pytest.raises(ConfigError, match="--head-rate-stop applies to the MNIST"):
        RunConfig.for_task("add", head_rate_stop=0.5)
    # The baselines have neither.
    config = RunConfig.for_task("mnist_add", cell="lstm")
    assert config.optim.head_learning_rate is None
    assert config.optim.head_rate_stop is None
    config = parse_args(["--task", "mnist_add", "--head-rate-stop", "0.8"])
    assert config.optim.head_rate_stop == 0.8
    # The rate after the stop needs a stop.
    with pytest.raises(ConfigError, match="--head-rate-after-stop is the head"):
        RunConfig.for_task("mnist_add", cell="lstm", head_rate_after_stop=0)
    with pytest.raises(ConfigError, match="--head-rate-after-stop applies to the"):
        RunConfig.for_task("add", head_rate_after_stop=0)
    config = parse_args(["--task", "mnist_count", "--head-rate-after-stop", "0"])
    assert config.optim.head_rate_after_stop == 0.0


def test_class_aids_stop_needs_a_class_aid():
    with pytest.raises(ConfigError, match="--class-aids-stop stops"):
        RunConfig.for_task(
            "mnist_count", class_balance=0.0, class_confidence=0.0, class_aids_stop=0.5
        )
    with pytest.raises(ConfigError, match="--class-aids-stop applies to the MNIST"):
        RunConfig.for_task("add", class_aids_stop=0.5)
    config = RunConfig.for_task(
        "mnist_add", encoder="classes", class_balance=1.0, class_aids_stop=0.5
    )
    assert config.regularization.class_aids_stop == 0.5
