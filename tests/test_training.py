"""Tests of `runner.training`: compile and harden-with-rollback."""

import keras
import numpy as np

from runner.config import RunConfig
from runner.training import compile_model, harden_with_rollback


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.layers[0].kernel.assign([[0.9], [0.1]])
    return model


def _snap(model):
    model.layers[0].kernel.assign(np.round(model.layers[0].kernel.numpy()))
    return []


def test_hardening_is_kept_when_the_error_does_not_rise():
    model = _model()
    step = harden_with_rollback(model, _snap, lambda m: 0.0)
    assert step.applied and step.snapped == []
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), [[1.0], [0.0]])


def test_hardening_is_rolled_back_when_the_error_rises():
    model = _model()
    errors = iter([1.0, 2.0])
    step = harden_with_rollback(model, _snap, lambda m: next(errors))
    assert not step.applied
    assert (step.error_before, step.error_after) == (1.0, 2.0)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), [[0.9], [0.1]])
    # A non-finite error after hardening rolls it back too.
    step = harden_with_rollback(model, _snap, lambda m: np.nan, error_before=1.0)
    assert not step.applied


def test_compile_model_decays_the_rate_only_when_asked():
    config = RunConfig("add", learning_rate=0.5, clipnorm=1.0)
    model = _model()
    compile_model(model, config)
    assert float(model.optimizer.learning_rate) == 0.5
    assert model.optimizer.clipnorm == 1.0
    compile_model(model, config, decay_steps=10, final_fraction=0.05)
    schedule = model.optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["alpha"] == 0.05
    assert schedule["config"]["decay_steps"] == 10
