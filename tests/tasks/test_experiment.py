"""What a task gives the runner (`tasks.experiment`): the `Experiment` hooks
and `ModelSignature`."""

import keras
import pytest

from runner.config import RunConfig
from tasks.experiment import Experiment, ModelSignature
from tasks.recipes import Recipe, TaskRecipes
from tasks.spec import Family, TaskSpec


class _Toy(Experiment):
    pass


TOY = TaskSpec(
    "toy",
    Family("toy", experiment=_Toy, recipes=TaskRecipes(Recipe("none", {}))),
    variant="what sets it apart",
)


def test_experiment_hooks_have_defaults_or_raise():
    experiment = _Toy(RunConfig(), TOY)
    assert experiment.spec is TOY and experiment.spec.variant == "what sets it apart"
    assert experiment.succeeded([]) is None
    assert experiment.success_measures(None, [], 0) == {}
    assert experiment.after_training(None) == {}
    assert experiment.callbacks(1) == []
    assert experiment.shuffle_batches is False
    assert experiment.evaluation_bytes() == 0
    assert experiment.model_signature() is None
    for hook, args in [
        (experiment.build_model, ()),
        (experiment.compile, (None,)),
        (experiment.training_data, ()),
        (experiment.evaluate, (None,)),
    ]:
        with pytest.raises(NotImplementedError, match="_Toy must define"):
            hook(*args)


@pytest.mark.parametrize(
    "steps, expected", [(30, (1, 30)), (1000, (1, 1000)), (2500, (3, 1000))]
)
def test_schedule_covers_the_steps_in_epochs_of_at_most_the_longest(steps, expected):
    experiment = _Toy(RunConfig.from_values({"steps": steps}), TOY)
    assert experiment.schedule() == expected


def test_model_signature_accepts_any_size_where_none_is_fixed():
    recurrent = ModelSignature((None, 10), 1)
    assert recurrent.accepts(ModelSignature((None, 10), 1))
    assert recurrent.accepts(ModelSignature((7, 10), 1))
    assert not recurrent.accepts(ModelSignature((None, 9), 1))
    assert not recurrent.accepts(ModelSignature((10,), 1))
    assert not recurrent.accepts(ModelSignature((None, 10), 10))
    assert recurrent.describe() == "inputs of shape (any, 10) and 1 output"
    assert (
        ModelSignature((100,), 10).describe() == "inputs of shape (100) and 10 outputs"
    )
    assert recurrent.to_json() == {"input_shape": [None, 10], "output_size": 1}
    model = keras.Sequential([keras.Input((None, 10)), keras.layers.Dense(3)])
    assert ModelSignature.of_model(model) == ModelSignature((None, 10), 3)
