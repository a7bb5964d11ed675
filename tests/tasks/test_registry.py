"""The task registry (`tasks.registry`) and its entries (`tasks.spec`)."""

import pytest

from runner.cli import parse_args
from runner.config import RunConfig
from tasks import arithmetic, mnist, registry
from tasks.experiment import Experiment
from tasks.recipes import Recipe, TaskRecipes
from tasks.spec import Family, TaskSpec, deferred


class _Toy(Experiment):
    pass


TOY = Family("toy", experiment=_Toy, recipes=TaskRecipes(Recipe("no values", {})))


def test_unknown_task_error_lists_the_registry():
    with pytest.raises(ValueError, match="unknown task 'nope'") as info:
        registry.get_task("nope")
    for name in ("add", "sqrt", "mnist_count", "mnist_add"):
        assert name in str(info.value)


def test_registered_task_is_a_task_choice(monkeypatch, capsys):
    # A registry of its own for this test, restored afterwards.
    monkeypatch.setattr(registry, "TASKS", dict(registry.TASKS))
    spec = TaskSpec("toy", TOY)
    assert registry.register_task(spec) is spec
    assert "toy" in registry.task_names() and TOY in registry.families()
    config = parse_args(["--task", "toy", "--steps", "3"])
    # No recipe values: RunConfig's own defaults, then the flags.
    assert config == RunConfig.from_values(
        {"task": "toy", "cell": "nac", "steps": 3, "out": "runs/toy-nac"}
    )
    experiment = registry.make_experiment(config)
    assert isinstance(experiment, _Toy) and experiment.spec is spec
    assert experiment.config is config

    # A probe's subclass is made in place of the family's experiment.
    class Probe(_Toy):
        pass

    assert isinstance(registry.make_experiment(config, Probe), Probe)
    del registry.TASKS["toy"]
    with pytest.raises(SystemExit):
        parse_args(["--task", "toy"])
    assert "invalid choice: 'toy'" in capsys.readouterr().err


def test_register_task_takes_a_task_spec_only():
    with pytest.raises(TypeError, match="TaskSpec"):
        registry.register_task("toy")


def test_builtin_tasks_register_their_families():
    add = registry.get_task("add")
    assert add.family is arithmetic.FAMILY and add.family.name == "arithmetic"
    assert add.static and add.variant == "add"
    mnist_add = registry.get_task("mnist_add")
    assert mnist_add.family is mnist.FAMILY and mnist_add.family.name == "mnist"
    assert not mnist_add.static and mnist_add.variant is mnist.SUM
    assert registry.families() == (arithmetic.FAMILY, mnist.FAMILY)
    # Each arithmetic op once, then the MNIST tasks, in registration order.
    assert registry.task_names() == (*arithmetic.OPS, *mnist.TASKS)


def test_default_cells_by_task_and_variant():
    assert registry.get_task("mul").cell_for(static=False) == "nalu"
    assert registry.get_task("mul").cell_for(static=True) == "snmu"
    assert registry.get_task("add").cell_for(static=True) == "nau"
    # No static default of its own: the recurrent one.
    assert registry.get_task("square").cell_for(static=True) == "nalu"
    assert registry.get_task("add").cell_for(static=False) == "nau"
    # No default of its own: the run falls back to tasks.cells.DEFAULT_CELL.
    assert registry.get_task("mnist_count").cell_for(static=False) is None
    assert registry.get_task("mnist_add").cell_for(static=False) == "nau"
    assert registry.get_task("mnist_product").cell_for(static=False) == "nmu"


def test_deferred_imports_on_first_call_and_compares_by_path():
    make = deferred("tasks.arithmetic.data:apply_op")
    assert make("mul", 3.0, 4.0) == 12.0
    assert make == deferred("tasks.arithmetic.data:apply_op")
    assert hash(make) == hash(deferred("tasks.arithmetic.data:apply_op"))
    assert make != deferred("tasks.arithmetic.data:subsets")
    assert repr(make) == "deferred('tasks.arithmetic.data:apply_op')"
    for path in ("tasks.arithmetic.data", ":apply_op", "tasks.arithmetic.data:"):
        with pytest.raises(ValueError, match="package.module:attribute"):
            deferred(path)
