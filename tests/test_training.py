"""Tests of `runner.training`: compile and harden-with-rollback."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import nalu_rnn
import train
from runner.config import RunConfig
from runner.training import SaturationPenalty, compile_model, harden_with_rollback
from tasks.arithmetic_experiment import ArithmeticExperiment
from tests.arrays import assert_allclose, assert_array_equal


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
    assert_array_equal(model.layers[0].kernel.numpy(), [[1.0], [0.0]])


def test_hardening_is_rolled_back_when_the_error_rises():
    model = _model()
    errors = iter([1.0, 2.0])
    step = harden_with_rollback(model, _snap, lambda m: next(errors))
    assert not step.applied
    assert (step.error_before, step.error_after) == (1.0, 2.0)
    assert_allclose(model.layers[0].kernel.numpy(), [[0.9], [0.1]])
    # A non-finite error after hardening rolls it back too.
    step = harden_with_rollback(model, _snap, lambda m: np.nan, error_before=1.0)
    assert not step.applied


def test_compile_model_decays_the_rate_only_when_asked():
    config = RunConfig("add", learning_rate=0.5, clipnorm=1.0)
    model = _model()
    compile_model(model, config)
    assert float(model.optimizer.learning_rate) == 0.5
    assert model.optimizer.clipnorm == 1.0
    assert model.optimizer.clipvalue is None
    compile_model(model, RunConfig("add", clipvalue=0.1))
    assert model.optimizer.clipvalue == 0.1
    compile_model(model, config, decay_steps=10, final_fraction=0.05)
    schedule = model.optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["alpha"] == 0.05
    assert schedule["config"]["decay_steps"] == 10


def test_no_saturation_penalty_at_zero_strength_or_for_baselines():
    assert SaturationPenalty.of(RunConfig("add"), arithmetic=True).callbacks() == []
    config = RunConfig("add", saturation=0.05)
    assert SaturationPenalty.of(config, arithmetic=False).regularizer is None


def _penalty(model):
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))


@pytest.mark.parametrize("static", [False, True])
def test_saturation_penalty_reaches_every_raw_inalu_kernel_and_gate(static):
    config = RunConfig.for_task("add", cell="inalu", saturation=0.05, static=static)
    # The sparsity pull starts at 0 too, so the penalty is the saturation's.
    experiment = ArithmeticExperiment(config)
    model = experiment.build_model()
    dim = experiment.task.input_dim
    model(np.ones((1, dim) if static else (1, 3, dim), "float32"))
    regularizer = experiment.saturation.regularizer
    assert isinstance(regularizer, nalu_rnn.regularizers.SaturationRegularizer)
    # Every weight of an iNALU is a raw kernel (W_hat, M_hat and their
    # separate multiplicative copies) or its gate: 5 per layer.
    raw = model.trainable_variables
    assert len(raw) == 10 and all(v.regularizer is not None for v in raw)
    # Off until the switch raises it; then every raw weight below 20 counts.
    assert _penalty(model) == 0.0
    regularizer.strength = 0.05
    expected = sum(0.05 * np.mean(np.maximum(20 - np.abs(v.numpy()), 0)) for v in raw)
    assert_allclose(_penalty(model), expected, rtol=1e-5)


def test_saturation_switch_follows_the_config():
    config = RunConfig.for_task("add", cell="inalu", saturation=0.2, steps=3000)
    experiment = ArithmeticExperiment(config)
    (switch,) = [
        c
        for c in experiment.callbacks(epochs=3)
        if isinstance(c, nalu_rnn.callbacks.LossGatedRegularization)
    ]
    assert switch.regularizer is experiment.saturation.regularizer
    assert (switch.strength, switch.threshold, switch.start_step) == (0.2, 1.0, 300)


def _pulls(experiment, epochs):
    return {
        c.regularizer: c
        for c in experiment.callbacks(epochs)
        if isinstance(c, nalu_rnn.callbacks.SparsityWarmup)
    }


def test_the_readout_pull_starts_on_its_own_schedule():
    # The NALU recipe: the cell's pull from 30% of training, the read-out's
    # from 60%, each at full strength from its first epoch.
    experiment = ArithmeticExperiment(RunConfig.for_task("div", cell="nalu"))
    pulls = _pulls(experiment, epochs=30)
    assert len(pulls) == 2
    cell, readout = pulls[experiment.sparsity], pulls[experiment.readout_sparsity]
    assert (cell.start_epoch, readout.start_epoch) == (9, 18)
    assert cell.strength == readout.strength == 0.05
    # With Madsen & Johansen's ramp, the read-out ramps and stops as much later.
    config = RunConfig.for_task(
        "mul", cell="nalu", steps=1000, sparsity_end=0.5, sparsity_stop=0.7
    )
    experiment = ArithmeticExperiment(config)
    pulls = _pulls(experiment, epochs=1)
    cell, readout = pulls[experiment.sparsity], pulls[experiment.readout_sparsity]
    assert (cell.start_step, cell.end_step, cell.stop_step) == (300, 500, 700)
    assert (readout.start_step, readout.end_step, readout.stop_step) == (600, 800, 1000)
    # Without it, one regulariser and one schedule for every layer.
    shared = ArithmeticExperiment(RunConfig.for_task("mul", cell="nac"))
    assert shared.readout_sparsity is None
    assert list(_pulls(shared, epochs=10)) == [shared.sparsity]


def test_the_readout_regulariser_reaches_the_readout_only():
    dim = ArithmeticExperiment(RunConfig.for_task("div")).task.input_dim
    x = np.ones((1, 3, dim), "float32")

    def penalty(config, cell_strength, readout_strength):
        experiment = ArithmeticExperiment(config)
        keras.utils.set_random_seed(0)
        model = experiment.build_model()
        model(x)
        experiment.sparsity.strength = cell_strength
        if experiment.readout_sparsity is not None:
            experiment.readout_sparsity.strength = readout_strength
        return _penalty(model)

    staged = RunConfig.for_task("div", cell="nalu")
    cell_only = penalty(staged, 0.05, 0.0)
    readout_only = penalty(staged, 0.0, 0.05)
    assert cell_only > 0 and readout_only > 0
    assert_allclose(penalty(staged, 0.05, 0.05), cell_only + readout_only, rtol=1e-5)
    # Shared, one strength pulls both layers.
    shared = dataclasses.replace(staged, readout_sparsity_start=None)
    assert_allclose(penalty(shared, 0.05, None), cell_only + readout_only, rtol=1e-5)


def test_gate_snap_follows_the_config_and_is_recorded(tmp_path):
    config = RunConfig.for_task("add", cell="nalu", gate_snap=0.5, steps=1000)
    (snap,) = [
        c
        for c in ArithmeticExperiment(config).callbacks(epochs=1)
        if isinstance(c, nalu_rnn.callbacks.GateSnap)
    ]
    assert (snap.step, snap.tolerance) == (500, config.harden_tolerance)
    lstm = RunConfig.for_task("add", cell="lstm", gate_snap=0.5)
    assert ArithmeticExperiment(lstm).gate_snap is None

    out = tmp_path / "run"
    argv = ["--task", "add", "--cell", "nalu", "--steps", "40", "--gate-snap",
            "0.5", "--eval-sequences", "20", "--quiet", "--out", str(out)]  # fmt: skip
    assert train.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["gate_snap"]["step"] == 20
    # Both NALUs have a unit gate, so both are in the record.
    assert len(results["gate_snap"]["snapped"]) == 2
