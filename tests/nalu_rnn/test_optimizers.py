import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.optimizers import CommonModeAdam, SpikeClippedAdam, get_optimizer
from tasks.arithmetic import ArithmeticTask
from tests.support.arrays import as_numpy, assert_allclose


def _reflection(n):
    u = np.full((n, 1), -1.0 / np.sqrt(n))
    u[0, 0] += 1.0
    u /= np.linalg.norm(u)
    return np.eye(n) - 2.0 * u @ u.T


def _reference_steps(w, gradients, lr, fan_in, beta_1=0.9, beta_2=0.999, eps=1e-7):
    """NumPy CommonModeAdam: Adam on H @ g, its step (common mode times
    sqrt(n)) reflected back by H."""
    shape = w.shape
    h = _reflection(fan_in)
    w = w.reshape(fan_in, -1).astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(gradients, start=1):
        g = h @ g.reshape(fan_in, -1)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        step = alpha * m / (np.sqrt(v) + eps)
        step[0] *= np.sqrt(fan_in)
        w = w - h @ step
    return w.reshape(shape)


def _apply(optimizer, initial, gradients):
    variables = [keras.Variable(value) for value in initial]
    optimizer.build(variables)
    for step in gradients:
        # As `fit` passes them: torch's Adam updates with torch ops only.
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in step], variables)
    return [as_numpy(v.numpy()) for v in variables]


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
def test_matches_the_numpy_reference(shape):
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, shape).astype("float32")
    gradients = [rng.normal(size=shape).astype("float32") for _ in range(4)]
    (result,) = _apply(CommonModeAdam(0.01), [w], [[g] for g in gradients])
    fan_in = int(np.prod(shape[:-1]))
    expected = _reference_steps(w, gradients, 0.01, fan_in)
    assert_allclose(result, expected, atol=1e-6)


def test_rank_one_and_small_fan_in_variables_get_plain_adam():
    rng = np.random.default_rng(1)
    initial = [
        rng.normal(size=(3,)).astype("float32"),
        rng.normal(size=(1, 4)).astype("float32"),
        rng.normal(size=(3, 2)).astype("float32"),
    ]
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in initial]]
    gradients *= 3
    ours = _apply(CommonModeAdam(0.01, min_fan_in=4), initial, gradients)
    adam = _apply(keras.optimizers.Adam(0.01), initial, gradients)
    for a, b in zip(ours, adam, strict=True):
        assert_allclose(a, b, atol=1e-7)


def test_a_shared_gradient_moves_every_entry_like_adam():
    # A gradient equal on all inputs is the common-mode coordinate alone: its
    # step moves every entry by the rate, as Adam's does, and the contrast
    # coordinates (exact zeros, not float32 residues) move nothing.
    w = np.zeros((16, 2), "float32")
    g = np.ones((16, 2), "float32") * np.array([3.0, -0.5], "float32")
    (result,) = _apply(CommonModeAdam(0.1), [w], [[g]])
    (adam,) = _apply(keras.optimizers.Adam(0.1), [w], [[g]])
    assert_allclose(result, adam, rtol=1e-4)
    assert_allclose(result[:, 0], -0.1, rtol=1e-4)


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (CommonModeAdam, {"min_fan_in": 3}),
        (SpikeClippedAdam, {"spike_factor": 3.0, "norm_momentum": 0.9}),
    ],
)
def test_config_round_trip_and_serialization(cls, kwargs):
    optimizer = cls(0.02, beta_1=0.8, clipnorm=1.0, **kwargs)
    config = optimizer.get_config()
    assert config["beta_1"] == 0.8
    assert {k: config[k] for k in kwargs} == kwargs
    clone = cls.from_config(config)
    assert clone.get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, cls)
    assert restored.get_config() == config


@pytest.mark.parametrize("cls", [CommonModeAdam, SpikeClippedAdam])
def test_saved_model_keeps_the_optimizer(tmp_path, cls):
    model = keras.Sequential([keras.Input((4,)), nalu_rnn.NAU(2), nalu_rnn.NMU(1)])
    model.compile(cls(0.01), "mse")
    x = np.random.default_rng(2).uniform(1, 2, (32, 4)).astype("float32")
    model.fit(x, x[:, :1] * x[:, 1:2], epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, cls)
    expected = model.predict(x, verbose=0)
    assert_allclose(loaded.predict(x, verbose=0), expected)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"min_fan_in": 1}, ValueError, "must be >= 2"),
        ({"min_fan_in": 2.0}, TypeError, "must be an integer"),
        ({"min_fan_in": True}, TypeError, "must be an integer"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        CommonModeAdam(**kwargs)


def _spike_clipped_reference(weights, gradients, lr, factor, momentum):
    """NumPy SpikeClippedAdam: the gradient's global norm clipped to `factor`
    times the running mean of the clipped norms (the first norm starts it),
    then Adam."""
    weights = [w.astype(np.float64) for w in weights]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    mean = None
    for t, step in enumerate(gradients, start=1):
        norm = np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in step))
        scale = 1.0 if mean is None else min(1.0, factor * mean / norm)
        mean = norm if mean is None else momentum * mean + (1 - momentum) * norm * scale
        alpha = lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for i, g in enumerate(step):
            g = g * scale
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            weights[i] = weights[i] - alpha * m[i] / (np.sqrt(v[i]) + 1e-7)
    return weights, mean


def test_spike_is_scaled_to_the_factor_times_the_running_norm():
    rng = np.random.default_rng(3)
    initial = [rng.normal(size=(4, 2)).astype("float32"), np.zeros(2, "float32")]
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in initial]]
    gradients += [[1000.0 * g for g in gradients[0]]]  # a spike
    gradients += [[rng.normal(size=w.shape).astype("float32") for w in initial]]
    optimizer = SpikeClippedAdam(0.1, 4.0, 0.5)
    result = _apply(optimizer, initial, gradients)
    expected, mean = _spike_clipped_reference(initial, gradients, 0.1, 4.0, 0.5)
    for got, want in zip(result, expected, strict=True):
        assert_allclose(got, want, atol=1e-5)
    (running,) = [v for v in optimizer.variables if "gradient_norm_mean" in v.path]
    assert_allclose(running.numpy(), mean, rtol=1e-5)
    # Unclipped, the spike would have moved the weights differently.
    plain = _apply(keras.optimizers.Adam(0.1), initial, gradients)
    assert not np.allclose(plain[0], result[0], atol=1e-3)


def test_without_a_spike_it_is_adam():
    rng = np.random.default_rng(4)
    initial = [rng.normal(size=(3, 3)).astype("float32")]
    # Norms within a factor of 2 of each other: nothing is clipped.
    gradients = [[rng.uniform(1, 2) * np.ones((3, 3), "float32")] for _ in range(5)]
    result = _apply(SpikeClippedAdam(0.05, spike_factor=2.0), initial, gradients)
    adam = _apply(keras.optimizers.Adam(0.05), initial, gradients)
    assert_allclose(result[0], adam[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"spike_factor": 1.0}, ValueError, "must be > 1"),
        ({"spike_factor": float("inf")}, ValueError, "finite number"),
        ({"spike_factor": "5"}, ValueError, "finite number"),
        ({"norm_momentum": 1.0}, ValueError, r"must be in \[0, 1\)"),
        ({"norm_momentum": -0.1}, ValueError, r"must be in \[0, 1\)"),
    ],
)
def test_spike_clipped_adam_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        SpikeClippedAdam(**kwargs)


def test_get_optimizer_builds_by_name_and_names_the_valid_ones():
    assert isinstance(get_optimizer("common_mode_adam", 0.1), CommonModeAdam)
    assert isinstance(get_optimizer("spike_clipped_adam", 0.1), SpikeClippedAdam)
    adam = get_optimizer("adam", 0.1, clipnorm=2.0)
    # Not a subclass of Adam's (CommonModeAdam is one); on torch, Keras
    # builds its own subclass, torch_adam.Adam.
    assert isinstance(adam, keras.optimizers.Adam) and adam.clipnorm == 2.0
    assert not isinstance(adam, CommonModeAdam)
    valid = "valid names are: adam, common_mode_adam, spike_clipped_adam"
    with pytest.raises(ValueError, match=valid):
        get_optimizer("sgd")


@pytest.mark.slow
def test_static_mul_reaches_the_tie_that_plain_adam_crawls_towards():
    # Madsen & Johansen's static task (inputs U[1, 2]): within 2048 steps the
    # rotated Adam fits NAU(2) -> NMU(1) to the loss of the symmetric
    # solution (both hidden units (a + b) / 2, MSE about 0.6), while plain
    # Adam at the same rate is still hundreds of times above it.
    task = ArithmeticTask("mul", static=True)
    x, y = task.sample(4096, 1, task.train_range, np.random.default_rng(0))
    losses = {}
    for name in ("common_mode_adam", "adam"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((100,)), nalu_rnn.NAU(2), nalu_rnn.NMU(1)]
        )
        model.compile(get_optimizer(name, 0.01), "mse")
        model.fit(x, y, batch_size=128, epochs=64, verbose=0)
        losses[name] = model.evaluate(x, y, verbose=0)
    assert losses["common_mode_adam"] < 1.0
    assert losses["adam"] > 50.0


def _adam_reference(w, gradients, lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    m = np.zeros_like(w, dtype=np.float64)
    v = np.zeros_like(w, dtype=np.float64)
    w = w.astype(np.float64)
    for t, g in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def test_multi_rate_adam_steps_each_layer_at_its_rate():
    rng = np.random.default_rng(0)
    layers = {
        "head": keras.layers.Dense(2, name="head"),
        "head_extra": keras.layers.Dense(2, name="head_extra"),
        "encoder": keras.layers.Dense(2, name="encoder"),
    }
    for layer in layers.values():
        layer.build((None, 3))
    variables = [layer.kernel for layer in layers.values()]
    initial = [np.asarray(as_numpy(v.numpy())) for v in variables]
    gradients = [
        [rng.normal(size=v.shape).astype("float32") for v in variables]
        for _ in range(4)
    ]
    optimizer = nalu_rnn.optimizers.MultiRateAdam(
        0.01, rate_multipliers={"head": 30.0, "head_extra": 2.0}
    )
    optimizer.build(variables)
    for step in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in step], variables)
    # A key names a layer: "head" does not reach "head_extra", whose own
    # key is longer; the encoder steps at the rate itself.
    # float32 steps of up to 0.3 on weights near 1: each backend's Adam
    # rounds in its own order, a few 1e-6 apart after four steps.
    for i, rate in enumerate((0.3, 0.02, 0.01)):
        expected = _adam_reference(initial[i], [g[i] for g in gradients], rate)
        assert_allclose(as_numpy(variables[i].numpy()), expected, rtol=1e-4, atol=2e-5)


def test_set_rate_multipliers_changes_the_rates_of_the_steps_to_come():
    rng = np.random.default_rng(1)
    head = keras.layers.Dense(2, name="head")
    head.build((None, 3))
    initial = np.asarray(as_numpy(head.kernel.numpy()))
    gradients = [rng.normal(size=(3, 2)).astype("float32") for _ in range(4)]
    optimizer = nalu_rnn.optimizers.MultiRateAdam(0.01, rate_multipliers={"head": 30.0})
    optimizer.build([head.kernel])
    for i, gradient in enumerate(gradients):
        if i == 2:
            optimizer.set_rate_multipliers({})
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [head.kernel])
    # Adam's moments carry on; only the rate of the last two steps changes.
    m = v = 0.0
    w = initial.astype(np.float64)
    rates = (0.3, 0.3, 0.01, 0.01)
    for t, (g, rate) in enumerate(zip(gradients, rates, strict=True), start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - rate * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-7)
    assert_allclose(as_numpy(head.kernel.numpy()), w, rtol=1e-4, atol=2e-5)
    assert optimizer.rate_multipliers == {}
    with pytest.raises(ValueError, match="rate_multipliers"):
        optimizer.set_rate_multipliers({"head": -1.0})
    # A multiplier of 0 holds the layer where it is.
    optimizer.set_rate_multipliers({"head": 0.0})
    held = as_numpy(head.kernel.numpy()).copy()
    optimizer.apply([keras.ops.convert_to_tensor(gradients[0])], [head.kernel])
    assert_allclose(as_numpy(head.kernel.numpy()), held, rtol=0, atol=0)


def test_multipliers_reach_the_other_optimizers_and_round_trip():
    multipliers = {"recurrent": 30.0}
    for name in ("adam", "common_mode_adam", "spike_clipped_adam"):
        optimizer = get_optimizer(name, 1e-3, rate_multipliers=multipliers)
        assert isinstance(optimizer, nalu_rnn.optimizers.MultiRateAdam)
        config = optimizer.get_config()
        assert config["rate_multipliers"] == multipliers
        restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        assert restored.get_config() == config
    # Without multipliers "adam" stays Keras's own (torch's is a subclass).
    plain = get_optimizer("adam", 1e-3)
    assert isinstance(plain, keras.optimizers.Adam)
    assert not isinstance(plain, nalu_rnn.optimizers.MultiRateAdam)


@pytest.mark.parametrize("multipliers", [{"": 2.0}, {"head": -1.0}, {"head": "x"}])
def test_multipliers_must_name_a_layer_and_not_be_negative(multipliers):
    with pytest.raises(ValueError, match="rate_multipliers"):
        nalu_rnn.optimizers.MultiRateAdam(rate_multipliers=multipliers)
