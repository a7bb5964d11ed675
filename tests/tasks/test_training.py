"""Training steps every experiment shares (`tasks.training`): compiling,
the regularisers' schedule, and the solved-step monitor."""

import json

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.callbacks import (
    GateSnap,
    LossGatedRegularization,
    SparsityWarmup,
    WeightSnap,
)
from runner.cli import main
from runner.config import ConfigError, RunConfig
from tasks.registry import make_experiment
from tasks.training import (
    BestInterpolation,
    SolvedStepMonitor,
    TrainingSchedule,
    compile_model,
    whole_batches,
)
from tests.support.arrays import assert_allclose
from tests.support.exact_models import exact_static_model
from tests.support.mnist_files import default_mnist_dir


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.layers[0].kernel.assign([[0.9], [0.1]])
    return model


def test_compile_model_decays_the_rate_only_when_asked():
    config = RunConfig.from_values({"learning_rate": 0.5, "clipnorm": 1.0})
    model = _model()
    compile_model(model, config.optim)
    assert float(model.optimizer.learning_rate) == 0.5
    assert model.optimizer.clipnorm == 1.0
    assert model.optimizer.clipvalue is None
    compile_model(model, RunConfig.from_values({"clipvalue": 0.1}).optim)
    assert model.optimizer.clipvalue == 0.1
    compile_model(model, RunConfig.from_values({"global_clipnorm": 1.0}).optim)
    assert model.optimizer.global_clipnorm == 1.0
    assert model.optimizer.clipnorm is None
    # Adam's epsilon: Keras's unless given, then on every Adam of ours.
    assert model.optimizer.epsilon == keras.optimizers.Adam().epsilon
    for name in ("adam", "common_mode_adam", "spike_clipped_adam"):
        values = {"adam_epsilon": 1e-8, "optimizer": name}
        compile_model(model, RunConfig.from_values(values).optim)
        assert model.optimizer.epsilon == 1e-8, name
    compile_model(model, config.optim, decay_steps=10, final_fraction=0.05)
    schedule = model.optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["alpha"] == 0.05
    assert schedule["config"]["decay_steps"] == 10


def test_no_saturation_penalty_at_zero_strength_or_for_baselines():
    schedule = TrainingSchedule(RunConfig(), arithmetic=True)
    assert schedule.saturation is None
    switches = [
        c for c in schedule.callbacks(10) if isinstance(c, LossGatedRegularization)
    ]
    assert switches == []
    config = RunConfig.from_values({"saturation": 0.05})
    baseline = TrainingSchedule(config, arithmetic=False)
    assert baseline.saturation is None
    # Nothing at all is scheduled for a cell without arithmetic units.
    assert baseline.callbacks(10) == []


def _penalty(model):
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))


@pytest.mark.parametrize("static", [False, True])
def test_saturation_penalty_reaches_every_raw_inalu_kernel_and_gate(static):
    config = RunConfig.for_task("add", cell="inalu", saturation=0.05, static=static)
    # The sparsity pull starts at 0 too, so the penalty is the saturation's.
    experiment = make_experiment(config)
    model = experiment.build_model()
    dim = experiment.task.input_dim
    model(np.ones((1, dim) if static else (1, 3, dim), "float32"))
    regularizer = experiment.training_schedule.saturation
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
    experiment = make_experiment(config)
    (switch,) = [
        c
        for c in experiment.callbacks(epochs=3)
        if isinstance(c, LossGatedRegularization)
    ]
    assert switch.regularizer is experiment.training_schedule.saturation
    assert (switch.strength, switch.threshold, switch.start_step) == (0.2, 1.0, 300)


def _pulls(experiment, epochs):
    return {
        c.regularizer: c
        for c in experiment.callbacks(epochs)
        if isinstance(c, SparsityWarmup)
    }


def test_the_readout_pull_starts_on_its_own_schedule():
    # The NALU recipe: the cell's pull ramped in from 50% of training to 80%,
    # the read-out's from 70%, over as many steps, rising until the run's end.
    experiment = make_experiment(RunConfig.for_task("div", cell="nalu", steps=1000))
    pulls = _pulls(experiment, epochs=1)
    assert len(pulls) == 2
    schedule = experiment.training_schedule
    cell, readout = pulls[schedule.sparsity], pulls[schedule.readout_sparsity]
    assert (cell.start_step, cell.end_step, cell.stop_step) == (500, 800, None)
    assert (readout.start_step, readout.end_step) == (700, 1000)
    assert cell.strength == readout.strength == 5.0
    # Without a ramp, each at full strength from its first epoch.
    config = RunConfig.for_task("mul", cell="nac", readout_sparsity_start=0.6)
    experiment = make_experiment(config)
    pulls = _pulls(experiment, epochs=30)
    schedule = experiment.training_schedule
    cell, readout = pulls[schedule.sparsity], pulls[schedule.readout_sparsity]
    assert (cell.start_epoch, readout.start_epoch) == (9, 18)
    # With Madsen & Johansen's ramp, the read-out ramps and stops as much later.
    config = RunConfig.for_task(
        "mul",
        cell="nalu",
        steps=1000,
        sparsity_start=0.3,
        sparsity_end=0.5,
        sparsity_stop=0.7,
        readout_sparsity_start=0.6,
    )
    experiment = make_experiment(config)
    pulls = _pulls(experiment, epochs=1)
    schedule = experiment.training_schedule
    cell, readout = pulls[schedule.sparsity], pulls[schedule.readout_sparsity]
    assert (cell.start_step, cell.end_step, cell.stop_step) == (300, 500, 700)
    assert (readout.start_step, readout.end_step, readout.stop_step) == (600, 800, 1000)
    # Without it, one regulariser and one schedule for every layer.
    shared = make_experiment(RunConfig.for_task("mul", cell="nac"))
    assert shared.training_schedule.readout_sparsity is None
    assert list(_pulls(shared, epochs=10)) == [shared.training_schedule.sparsity]


def test_the_readout_regulariser_reaches_the_readout_only():
    dim = make_experiment(RunConfig.for_task("div")).task.input_dim
    x = np.ones((1, 3, dim), "float32")

    def penalty(config, cell_strength, readout_strength):
        experiment = make_experiment(config)
        keras.utils.set_random_seed(0)
        model = experiment.build_model()
        model(x)
        schedule = experiment.training_schedule
        schedule.sparsity.strength = cell_strength
        if schedule.readout_sparsity is not None:
            schedule.readout_sparsity.strength = readout_strength
        return _penalty(model)

    staged = RunConfig.for_task("div", cell="nalu")
    cell_only = penalty(staged, 0.05, 0.0)
    readout_only = penalty(staged, 0.0, 0.05)
    assert cell_only > 0 and readout_only > 0
    assert_allclose(penalty(staged, 0.05, 0.05), cell_only + readout_only, rtol=1e-5)
    # Shared, one strength pulls both layers.
    shared = staged.replace(readout_sparsity_start=None)
    assert_allclose(penalty(shared, 0.05, None), cell_only + readout_only, rtol=1e-5)


def test_gate_snap_follows_the_config_and_is_recorded(tmp_path):
    config = RunConfig.for_task("add", cell="nalu", gate_snap=0.5, steps=1000)
    (snap,) = [
        c
        for c in make_experiment(config).callbacks(epochs=1)
        if isinstance(c, GateSnap)
    ]
    assert (snap.step, snap.tolerance) == (500, config.regularization.harden_tolerance)
    # A cell without learnt gates: the configuration refuses the snap, and a
    # schedule never makes one for it.
    with pytest.raises(ConfigError, match="learnt gates"):
        RunConfig.for_task("add", cell="lstm", gate_snap=0.5)
    lstm = RunConfig.for_task("add", cell="lstm").replace(gate_snap=0.5)
    assert make_experiment(lstm).training_schedule.gate_snap is None


@pytest.mark.needs_mnist
def test_gate_snap_0_switches_off_the_snap_a_recipe_sets(tmp_path):
    # The MNIST NALU head's recipe snaps its gates at half of training.
    data = str(default_mnist_dir())
    nalu = RunConfig.for_task("mnist_add", cell="nalu", data_dir=data)
    assert nalu.regularization.gate_snap == 0.5
    assert make_experiment(nalu).training_schedule.gate_snap.step == 1000
    off = RunConfig.for_task("mnist_add", cell="nalu", gate_snap=0.0, data_dir=data)
    assert make_experiment(off).training_schedule.gate_snap is None

    out = tmp_path / "run"
    argv = ["--task", "add", "--cell", "nalu", "--steps", "40", "--gate-snap",
            "0.5", "--eval-sequences", "20", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["gate_snap"]["step"] == 20
    # Both NALUs have a unit gate, so both are in the record.
    assert len(results["gate_snap"]["snapped"]) == 2


def test_weight_snap_follows_the_config_and_is_recorded(tmp_path):
    config = RunConfig.for_task("add", cell="nau", weight_snap=0.8, steps=1000)
    (snap,) = [
        c
        for c in make_experiment(config).callbacks(epochs=1)
        if isinstance(c, WeightSnap)
    ]
    assert (snap.step, snap.tolerance) == (800, config.regularization.harden_tolerance)
    # 0 is off: no snap at all, not one before the first step.
    off = config.replace(weight_snap=0.0)
    assert not [
        c for c in make_experiment(off).callbacks(epochs=1) if isinstance(c, WeightSnap)
    ]
    out = tmp_path / "run"
    argv = ["--task", "div", "--static", "--single-layer", "--steps", "40",
            "--weight-snap", "0.5", "--pair-pull", "2", "--eval-sequences",
            "20", "--validate-every", "10", "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["weight_snap"]["step"] == 20
    assert [r["path"] for r in results["weight_snap"]["snapped"]] == [
        "nmru/W",
        "nmru/W_r",
    ]
    assert "gate_snap" not in results
    assert results["run_config"]["regularization"]["pair_pull"] == 2.0


def _monitor_fit(model, task, every, steps):
    rng = np.random.default_rng(0)
    x, y = task.sample(64, 1, task.extrapolation_range, rng)
    monitor = SolvedStepMonitor([(x, y, task.perturbed_solution_mse(x))], every=every)
    # A zero learning rate keeps the weights, so the answer is known.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    xt, yt = task.sample(steps * 8, 1, task.train_range, rng)
    model.fit(xt, yt, batch_size=8, epochs=1, callbacks=[monitor], verbose=0)
    return monitor


def test_solved_step_monitor_records_the_first_check_that_passes():
    task, model = exact_static_model("sub")
    monitor = _monitor_fit(model, task, every=3, steps=10)
    assert monitor.step == 10
    assert monitor.solved_step == 3


def test_solved_step_monitor_leaves_an_unsolved_run_at_none():
    task, model = exact_static_model("add", offset=0.01)
    monitor = _monitor_fit(model, task, every=3, steps=10)
    assert monitor.solved_step is None


def test_whole_batches_is_a_no_op_without_a_distribution():
    assert keras.distribution.distribution() is None
    with whole_batches():
        assert keras.distribution.distribution() is None
    assert keras.distribution.distribution() is None


def _trained_weights(task, cell, steps, **flags):
    """The weights after `steps` of training `task`, through the experiment's
    own data and callbacks (what `runner.run.fit` gives `model.fit`)."""
    keras.utils.set_random_seed(0)
    config = RunConfig.for_task(task, cell=cell, steps=steps, **flags)
    experiment = make_experiment(config)
    model = experiment.build_model()
    experiment.compile(model)
    data, epochs, steps_per_epoch = experiment.training_data()
    model.fit(
        data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=experiment.callbacks(epochs),
        shuffle=experiment.shuffle_batches,
        verbose=0,
    )
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def _assert_ramp_and_stop_change_training(task, cell, steps, **flags):
    # In one epoch a pull from 20% never starts without a ramp (it starts
    # at an epoch), starts at step 20% with one, and stops at 70% with both.
    flags = {"sparsity": 1.0, "sparsity_start": 0.2, **flags}
    plain = _trained_weights(task, cell, steps, **flags)
    ramp = _trained_weights(task, cell, steps, sparsity_end=0.5, **flags)
    stopped = _trained_weights(
        task, cell, steps, sparsity_end=0.5, sparsity_stop=0.7, **flags
    )
    assert not np.array_equal(plain, ramp)
    assert not np.array_equal(ramp, stopped)
    again = _trained_weights(task, cell, steps, sparsity_end=0.5, **flags)
    assert_allclose(ramp, again)


def test_sparsity_end_and_stop_change_arithmetic_training():
    _assert_ramp_and_stop_change_training("add", "nac", 40)


@pytest.mark.slow
@pytest.mark.needs_mnist
def test_sparsity_end_and_stop_change_mnist_training(mnist_dir):
    # The recipe holds the head from its snap (half of training) on, where
    # a pull's stop at 70% would have nothing left to change.
    _assert_ramp_and_stop_change_training(
        "mnist_count",
        "nac",
        12,
        data_dir=mnist_dir,
        curriculum=False,
        head_rate_after_stop=1.0,
    )


def _rates(optimizer, steps):
    """The optimizer's learning rate at each of `steps` (its schedule's)."""
    rates = []
    for step in steps:
        optimizer.iterations.assign(step)
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    return rates


def test_warmup_rises_linearly_then_holds_or_decays():
    model = _model()
    held = RunConfig.from_values({"learning_rate": 0.5, "warmup": 0.1}).optim
    compile_model(model, held, warmup_steps=10)
    model.optimizer.build(model.trainable_variables)
    rates = _rates(model.optimizer, (0, 5, 10, 50))
    assert_allclose(rates, [0.0, 0.25, 0.5, 0.5], atol=1e-6)
    compile_model(model, held, decay_steps=110, final_fraction=0.05, warmup_steps=10)
    model.optimizer.build(model.trainable_variables)
    rates = _rates(model.optimizer, (5, 10, 110))
    assert_allclose(rates, [0.25, 0.5, 0.025], rtol=1e-4)


def test_the_head_rate_multiplies_the_head_layers_only():
    config = RunConfig.for_task(
        "mnist_add", cell="nau", encoder="classes", head_learning_rate=0.03
    )
    experiment = make_experiment(config)
    model = experiment.build_model()
    experiment.compile(model)
    optimizer = model.optimizer
    assert isinstance(optimizer, nalu_rnn.optimizers.MultiRateAdam)
    assert optimizer.rate_multipliers == {
        "recurrent": pytest.approx(30.0),
        "readout": pytest.approx(30.0),
        "digit_value": pytest.approx(30.0),
    }
    optimizer.build(model.trainable_variables)
    multiplied = {
        v.path.split("/")[0]
        for v in model.trainable_variables
        if optimizer.variable_rate(v, 1.0) != 1.0
    }
    assert multiplied == {"recurrent", "digit_value"}


class _Drift(keras.callbacks.Callback):
    """Moves the weight of `_model()` along `path`, one value per step."""

    def __init__(self, path):
        super().__init__()
        self.path = list(path)
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        kernel = self.model.layers[0].kernel
        kernel.assign([[self.path[self.step]], [0.0]])
        self.step += 1


def _fit_with(callbacks, steps):
    model = _model()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    x = np.ones((8, 2), "float32")
    model.fit(x, x[:, :1], batch_size=1, epochs=1, steps_per_epoch=steps,
              callbacks=callbacks, verbose=0)  # fmt: skip
    return model


def test_best_interpolation_keeps_the_weights_with_the_lowest_error(tmp_path):
    # y = x0 on the validation set: the weight 1.0 (step 4) is exact.
    x = np.stack([np.linspace(1, 2, 8), np.zeros(8)], 1).astype("float32")
    selection = BestInterpolation(x, x[:, :1], every=2, state_path=None)
    path = [0.1, 0.5, 0.9, 1.0, 1.2, 3.0]
    model = _fit_with([_Drift(path), selection], steps=6)
    assert selection.best_step == 4 and selection.best_mse < 1e-10
    assert_allclose(model.layers[0].kernel.numpy()[0, 0], 1.0)
    assert selection.record()["rule"] == "best-interpolation"


def test_best_interpolation_keeps_its_selection_across_a_resume(tmp_path):
    x = np.stack([np.linspace(1, 2, 8), np.zeros(8)], 1).astype("float32")
    state = str(tmp_path / "selection.npz")
    first = BestInterpolation(x, x[:, :1], every=1, state_path=state)
    _fit_with([_Drift([1.0, 2.0]), first], steps=2)
    resumed = BestInterpolation(x, x[:, :1], every=1, state_path=state)
    model = _fit_with([_Drift([5.0, 6.0]), resumed], steps=2)
    assert (resumed.best_step, resumed.step) == (1, 4)
    assert_allclose(model.layers[0].kernel.numpy()[0, 0], 1.0)
