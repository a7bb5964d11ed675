"""Tests of `tasks.base`: the `Experiment` protocol and the task registry."""

import pytest

import train
from runner.config import RunConfig
from tasks import base


class _Toy(base.Experiment):
    pass


def test_unknown_task_error_lists_the_registry():
    with pytest.raises(ValueError, match="unknown task 'nope'") as info:
        base.get_task("nope")
    for name in ("add", "sqrt", "mnist_count", "mnist_add"):
        assert name in str(info.value)


def test_registered_task_is_a_task_choice(monkeypatch, capsys):
    monkeypatch.setitem(base.TASKS, "toy", base.TaskSpec("toy", _Toy))
    assert "toy" in base.task_names()
    config = train.parse_args(["--task", "toy", "--steps", "3"])
    # No recipe: RunConfig's own defaults, then the flags.
    assert config == RunConfig("toy", steps=3, out="runs/toy-nac")
    assert isinstance(base.make_experiment(config), _Toy)
    monkeypatch.delitem(base.TASKS, "toy")
    with pytest.raises(SystemExit):
        train.parse_args(["--task", "toy"])
    assert "invalid choice: 'toy'" in capsys.readouterr().err


def test_experiment_hooks_have_defaults_or_raise():
    experiment = _Toy(RunConfig("toy"))
    assert experiment.succeeded([]) is None
    assert experiment.success_measures(None, [], 0) == {}
    assert experiment.after_training(None) == {}
    assert experiment.callbacks(1) == []
    assert experiment.shuffle_batches is False
    for hook, args in [
        (experiment.build_model, ()),
        (experiment.compile, (None,)),
        (experiment.training_data, ()),
        (experiment.evaluate, (None,)),
    ]:
        with pytest.raises(NotImplementedError, match="_Toy must define"):
            hook(*args)


def test_builtin_tasks_register_their_recipes():
    assert base.get_task("add").recipe == "arithmetic"
    assert base.get_task("add").static
    assert base.get_task("mnist_add").recipe == "mnist"
    assert not base.get_task("mnist_add").static
