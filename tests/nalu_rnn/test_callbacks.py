"""Training callbacks (`nalu_rnn.callbacks`)."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.callbacks import (
    ArithmeticWeightMonitor,
    LossGatedRegularization,
    distance_to_nearest,
)
from nalu_rnn.keras_internals import sync_training_state
from nalu_rnn.regularizers import SaturationRegularizer
from tests.support import samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal
from tests.support.events import scalars


def test_sparsity_warmup_step_schedule():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    callback = nalu_rnn.callbacks.SparsityWarmup(
        reg, 0.2, start_step=2, end_step=6, update_every=1
    )
    values = [callback.strength_at_step(t) for t in range(8)]
    assert_allclose(values, [0, 0, 0, 0.05, 0.1, 0.15, 0.2, 0.2])
    model = keras.Sequential(
        [keras.Input((3,)), nalu_rnn.NAU(1, arithmetic_regularizer=reg)]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 3), "float32")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(reg.strength)
    )
    # 2 epochs of 4 batches: steps 0..7, the strength follows across epochs.
    model.fit(
        x, x[:, :1], batch_size=2, epochs=2, callbacks=[callback, record], verbose=0
    )
    assert_allclose(seen, values)


def test_sparsity_warmup_step_schedule_takes_effect_in_the_loss():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    layer = nalu_rnn.NAU(
        1,
        kernel_initializer=keras.initializers.Constant(0.5),
        arithmetic_regularizer=reg,
    )
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.zeros((4, 2), "float32")
    callback = nalu_rnn.callbacks.SparsityWarmup(
        reg, 1.0, start_step=0, end_step=1, update_every=1
    )
    history = model.fit(
        x, x[:, :1], batch_size=4, epochs=2, callbacks=[callback], verbose=0
    )
    # Epoch 1 (step 0): strength 0; epoch 2 (step 1): 1.0 * min(0.5, 0.5).
    assert_allclose(history.history["loss"], [0.0, 0.5], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"start_step": 5}, "given together"),
        ({"start_step": 5, "end_step": 5}, "start_step < end_step"),
        ({"start_step": 0, "end_step": 5, "update_every": 0}, "update_every"),
    ],
)
def test_sparsity_warmup_bad_steps(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nalu_rnn.callbacks.SparsityWarmup(nalu_rnn.SparsityRegularizer(), **kwargs)


def test_inalu_reinitialization_rule():
    callback = nalu_rnn.callbacks.INALUReinitialization(
        check_every=4, threshold=1.0, min_history=4
    )
    callback.history = [5.0, 5.0, 4.9, 5.0]  # flat and high: stalled
    assert callback.stalled()
    callback.history = [9.0, 8.0, 3.0, 2.0]  # still improving
    assert not callback.stalled()
    callback.history = [0.5, 0.5, 0.5, 0.5]  # flat but good
    assert not callback.stalled()
    callback.history = [5.0, 5.0, float("nan"), 5.0]  # diverged
    assert callback.stalled()
    callback.history = [5.0, 5.0, 5.0]  # too short to judge
    assert not callback.stalled()
    with pytest.raises(ValueError, match="min_history.*received min_history=1"):
        nalu_rnn.callbacks.INALUReinitialization(min_history=1)
    with pytest.raises(ValueError, match="check_every.*received check_every=0"):
        nalu_rnn.callbacks.INALUReinitialization(check_every=0)


def test_inalu_reinitialization_redraws_a_stalled_unit():
    inalu = nalu_rnn.INALU(1)
    nau = nalu_rnn.NAU(1)
    model = keras.Sequential([keras.Input((2,)), inalu, nau])
    # A learning rate of 0: the loss cannot improve, the run has stalled.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = samples.signed_inputs((8, 2))
    before = [w.numpy().copy() for w in model.weights]
    callback = nalu_rnn.callbacks.INALUReinitialization(
        check_every=2, threshold=0.0, min_history=2, seed=0
    )
    model.fit(x, 100.0 + x[:, :1], epochs=3, callbacks=[callback], verbose=0)
    assert callback.restarts == [1]
    assert callback.history and len(callback.history) == 1
    for w, b in zip(model.weights[:5], before[:5], strict=True):
        assert not np.allclose(w.numpy(), b), w.name  # every iNALU weight
    assert_array_equal(nau.W.numpy(), before[5])  # not an iNALU


def test_sparsity_warmup_schedule():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    callback = nalu_rnn.callbacks.SparsityWarmup(reg, 0.2, start_epoch=2, ramp_epochs=2)
    assert [callback.strength_at(e) for e in range(5)] == [0.0, 0.0, 0.1, 0.2, 0.2]
    model = keras.Sequential(
        [keras.Input((3,)), nalu_rnn.NAC(1, arithmetic_regularizer=reg)]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), "float32")
    model.fit(x, x[:, :1], epochs=4, callbacks=[callback], verbose=0)
    assert reg.strength == pytest.approx(0.2)


def test_non_finite_guard_names_the_step():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), "float32")
    y = np.full((8, 1), np.nan, "float32")
    guard = nalu_rnn.callbacks.NonFiniteGuard(check_every=2, hint="Try --clipnorm.")
    with pytest.raises(nalu_rnn.callbacks.NonFiniteError, match=r"step 2 .*clipnorm"):
        model.fit(x, y, batch_size=2, epochs=1, callbacks=[guard], verbose=0)
    with pytest.raises(ValueError, match="check_every"):
        nalu_rnn.callbacks.NonFiniteGuard(check_every=0)


def test_non_finite_guard_checks_weights_at_epoch_end():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    poison = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: model.layers[0].bias.assign([np.inf])
    )
    guard = nalu_rnn.callbacks.NonFiniteGuard(check_every=1000)
    x = np.ones((4, 2), "float32")
    with pytest.raises(nalu_rnn.callbacks.NonFiniteError, match="bias is not finite"):
        model.fit(x, x[:, :1], epochs=1, callbacks=[poison, guard], verbose=0)


# The switch that turns a regulariser on once the loss is low.


def _fit(threshold, steps=40):
    keras.utils.set_random_seed(0)
    reg = SaturationRegularizer(0.0)
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer=reg)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x = np.random.default_rng(0).uniform(-1, 1, (64 * steps, 2)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    switch = LossGatedRegularization(reg, 0.05, threshold, check_every=5)
    model.fit(x, y, batch_size=64, epochs=1, callbacks=[switch], verbose=0)
    return reg, switch


def test_switch_turns_the_regulariser_on_once_the_loss_is_low():
    reg, switch = _fit(threshold=1.0)
    assert reg.strength == 0.05
    assert switch.switched_at is not None and switch.switched_at % 5 == 0


def test_switch_stays_off_while_the_loss_is_high():
    reg, switch = _fit(threshold=1e-12)
    assert reg.strength == 0.0 and switch.switched_at is None


@pytest.mark.parametrize(
    "kwargs",
    [{"strength": -1.0}, {"threshold": 0.0}, {"check_every": 0}, {"start_step": -1}],
)
def test_switch_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        LossGatedRegularization(SaturationRegularizer(0.0), **kwargs)


class _BatchLog(keras.callbacks.Callback):
    """Records `read()`, a NumPy array, after every batch."""

    def __init__(self, read):
        super().__init__()
        self.read, self.values = read, []

    def on_train_batch_end(self, batch, logs=None):
        sync_training_state(self.model)
        self.values.append(self.read())


def _gates(unit):
    raw = keras.ops.convert_to_numpy(unit.unit_gate()).astype(np.float64)
    return 1.0 / (1.0 + np.exp(-raw))


def test_gate_snap_makes_decided_gates_exact_once_at_its_step():
    unit = nalu_rnn.NALU(3, gate="unit")
    model = keras.Sequential([keras.Input((2,)), unit])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    # Gates 0.95 and 0.018 are decided (within 0.2), 0.5 is not.
    unit.G.assign(np.array([3.0, -4.0, 0.0], "float32"))
    snap = nalu_rnn.callbacks.GateSnap(step=2, tolerance=0.2)
    log = _BatchLog(lambda: _gates(unit))
    x = np.ones((4, 2), "float32")
    model.fit(x, np.ones((4, 3)), batch_size=1, callbacks=[snap, log], verbose=0)
    assert_allclose(log.values[0], [0.9525741, 0.0179862, 0.5], rtol=1e-5)
    for gates in log.values[1:]:
        assert_array_equal(gates, [1.0, 0.0, 0.5])
    (record,) = snap.report
    assert record.snapped == 2 and record.total == 3


def test_rate_multiplier_change_ends_a_layers_own_rate_once_at_its_step():
    head = keras.layers.Dense(3, use_bias=False, name="head")
    # A functional model: its variables' paths start at the layer's name.
    inputs = keras.Input((2,))
    model = keras.Model(inputs, head(inputs))
    optimizer = nalu_rnn.optimizers.MultiRateAdam(
        0.01, rate_multipliers={"head": 100.0}
    )
    model.compile(optimizer, "mse")
    change = nalu_rnn.callbacks.RateMultiplierChange(step=2)
    log = _BatchLog(lambda: as_numpy(head.kernel.numpy()).copy())
    start = as_numpy(head.kernel.numpy()).copy()
    x = np.ones((4, 2), "float32")
    # Targets far away: every step of Adam is about its rate.
    y = np.full((4, 3), 100.0, "float32")
    model.fit(x, y, batch_size=1, shuffle=False, callbacks=[change, log], verbose=0)
    steps = np.abs(np.diff(np.stack([start, *log.values]), axis=0)).max(axis=(1, 2))
    assert steps[0] == pytest.approx(1.0, rel=1e-3)
    assert steps[1] > 0.5
    assert np.all(steps[2:] < 0.02)
    assert change.changed_at == 2 and optimizer.rate_multipliers == {}
    # A run resumed past the step changes the rates before its first batch.
    model.compile(
        nalu_rnn.optimizers.MultiRateAdam(0.01, rate_multipliers={"head": 100.0}),
        "mse",
    )
    resumed = nalu_rnn.callbacks.RateMultiplierChange(step=3)
    model.fit(x, y, batch_size=1, epochs=2, initial_epoch=1, callbacks=[resumed])
    assert resumed.changed_at == 4


def test_rate_multiplier_change_needs_a_multi_rate_optimizer():
    for step in (-1, 1.5):
        with pytest.raises(ValueError, match="step"):
            nalu_rnn.callbacks.RateMultiplierChange(step=step)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(), "mse")
    change = nalu_rnn.callbacks.RateMultiplierChange(step=1)
    x = np.ones((2, 2), "float32")
    with pytest.raises(TypeError, match="MultiRateAdam"):
        model.fit(x, np.ones((2, 1)), callbacks=[change], verbose=0)


def test_gate_snap_rejects_bad_arguments():
    with pytest.raises(ValueError, match="step"):
        nalu_rnn.callbacks.GateSnap(step=-1)
    with pytest.raises(ValueError, match="tolerance"):
        nalu_rnn.callbacks.GateSnap(step=1, tolerance=0.7)


def test_weight_snap_makes_decided_weights_exact_once_at_its_step():
    unit = nalu_rnn.NAU(1)
    model = keras.Sequential([keras.Input((3,)), unit])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    # 0.9 and -0.15 are within 0.2 of 1 and 0; 0.5 is not.
    unit.W.assign(np.array([[0.9], [-0.15], [0.5]], "float32"))
    snap = nalu_rnn.callbacks.WeightSnap(step=2, tolerance=0.2)
    log = _BatchLog(lambda: keras.ops.convert_to_numpy(unit.W).copy())
    x = np.ones((4, 3), "float32")
    model.fit(x, np.ones((4, 1)), batch_size=1, callbacks=[snap, log], verbose=0)
    assert_allclose(log.values[0].ravel(), [0.9, -0.15, 0.5], rtol=1e-6)
    for values in log.values[1:]:
        assert_array_equal(values.ravel(), [1.0, 0.0, 0.5])
    (record,) = snap.report
    assert (record.snapped, record.total) == (2, 3)
    assert record.max_change == pytest.approx(0.15, rel=1e-5)
    with pytest.raises(ValueError, match="`tolerance` of WeightSnap"):
        nalu_rnn.callbacks.WeightSnap(step=1, tolerance=0.7)


def test_weight_snap_snaps_named_kernels_to_integers_with_the_units():
    values = keras.layers.Dense(1, use_bias=False, name="values")
    unit = nalu_rnn.NAU(1)
    model = keras.Sequential([keras.Input((3,)), values, unit])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    values.kernel.assign(np.float32([[0.1], [2.9], [4.5]]))
    unit.W.assign(np.float32([[0.95]]))
    snap = nalu_rnn.callbacks.WeightSnap(step=1, tolerance=0.2, kernels=["values"])
    x = np.ones((2, 3), "float32")
    model.fit(x, np.ones((2, 1)), batch_size=1, callbacks=[snap], verbose=0)
    assert_allclose(values.kernel.numpy().ravel(), [0.0, 3.0, 4.5], rtol=1e-6)
    assert_array_equal(keras.ops.convert_to_numpy(unit.W).ravel(), [1.0])
    assert [(r.snapped, r.total) for r in snap.report] == [(1, 1), (2, 3)]
    missing = nalu_rnn.callbacks.WeightSnap(step=1, kernels=["absent"])
    with pytest.raises(ValueError, match="no layer named 'absent'"):
        model.fit(x, np.ones((2, 1)), batch_size=1, callbacks=[missing], verbose=0)


def test_sparsity_warmup_stop_step_switches_the_pull_off():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    callback = nalu_rnn.callbacks.SparsityWarmup(
        reg, 1.0, start_step=0, end_step=2, stop_step=3
    )
    values = [callback.strength_at_step(t) for t in range(5)]
    assert_allclose(values, [0.0, 0.5, 1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="stop_step"):
        nalu_rnn.callbacks.SparsityWarmup(
            reg, 1.0, start_step=0, end_step=4, stop_step=2
        )


# The arithmetic-weight monitor (`--tensorboard`'s weights log).


def _nac_model(w):
    """A NAC whose effective weight is `w` (entries in (-1, 1))."""
    model = keras.Sequential([keras.Input((len(w),)), nalu_rnn.NAC(len(w[0]))])
    unit = model.layers[0]
    # tanh(W_hat) * sigmoid(20) == tanh(W_hat) in float32.
    unit.W_hat.assign(np.arctanh(as_numpy(w, "float32")))
    unit.M_hat.assign(np.full_like(as_numpy(w, "float32"), 20.0))
    return model


def test_weight_monitor_measures_distance_to_minus_one_zero_one(tmp_path):
    model = _nac_model([[0.9, 0.0], [-0.5, 0.2]])
    monitor = ArithmeticWeightMonitor()
    monitor.set_model(model)
    distances = monitor.distances()
    tag = f"arithmetic_weights/{model.layers[0].path}/W"
    assert distances[f"{tag}/max_distance"] == pytest.approx(0.5, abs=1e-6)
    assert distances[f"{tag}/mean_distance"] == pytest.approx(0.8 / 4, abs=1e-6)


def test_weight_monitor_records_during_fit_and_writes_events(tmp_path):
    model = _nac_model([[0.9], [0.2]])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.ones((8, 2), "float32")
    monitor = ArithmeticWeightMonitor(tmp_path / "weights", update_freq=2)
    model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, callbacks=[monitor])
    assert [step for step, _ in monitor.history] == [2, 4, 6, 8]
    written = scalars(tmp_path / "weights")
    tag = f"arithmetic_weights/{model.layers[0].path}/W/max_distance"
    assert sorted(written[tag]) == [2, 4, 6, 8]
    assert written[tag][8] == pytest.approx(monitor.history[-1][1][tag], rel=1e-6)


def test_weight_monitor_config_and_bad_arguments():
    monitor = ArithmeticWeightMonitor("logs", update_freq=5, values=(0, 1))
    again = ArithmeticWeightMonitor.from_config(monitor.get_config())
    assert again.get_config() == {
        "log_dir": "logs",
        "update_freq": 5,
        "values": [0.0, 1.0],
    }
    with pytest.raises(ValueError, match="update_freq=0"):
        ArithmeticWeightMonitor(update_freq=0)
    with pytest.raises(ValueError, match="update_freq='batch'"):
        ArithmeticWeightMonitor(update_freq="batch")
    with pytest.raises(ValueError, match="values"):
        ArithmeticWeightMonitor(values=(0.0, float("nan")))
    assert_allclose(distance_to_nearest([-2.0, -0.4, 0.6, 1.25]), [1.0, 0.4, 0.4, 0.25])
