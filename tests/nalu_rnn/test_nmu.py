"""The NMU and its cell (`nalu_rnn.units.nmu`)."""

import keras
import numpy as np
import pytest
from keras import ops

import nalu_rnn
from nalu_rnn.units.nmu import selected_product
from tests.support import samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal


def test_nmu_multiplies_selected_inputs_with_signs():
    nmu = nalu_rnn.NMU(2)
    nmu.build((None, 3))
    nmu.W.assign(np.array([[1, 1], [1, 0], [0, 1]], "float32"))
    x = np.array([[3.0, -4.0, 10.0], [-1.5, -2.0, 0.0]], "float32")
    assert_array_equal(as_numpy(nmu(x)), [[-12.0, 30.0], [3.0, -0.0]])


def test_nmu_cell_running_product():
    cell = nalu_rnn.NMUCell(1, kernel_initializer="ones")
    x = samples.signed_inputs((3, 8, 1), seed=5)
    products = as_numpy(keras.layers.RNN(cell, return_sequences=True)(x))[..., 0]
    assert_allclose(products, np.cumprod(x[..., 0], axis=1), rtol=1e-6)


def test_harden_snaps_nmu_weights_to_0_and_1():
    layer = nalu_rnn.NMU(1)
    layer.build((None, 3))
    layer.W.assign(np.array([[0.96], [0.03], [0.5]], "float32"))
    nalu_rnn.harden(layer, tolerance=0.1)
    assert_array_equal(layer.W.numpy()[:, 0], [1.0, 0.0, 0.5])


def test_snmu_noise_vanishes_at_discrete_weights():
    # In training each input is scaled by its own draw from U[1, 5] and the
    # product divided by the noise's: exact wherever every weight is 0 or 1.
    snmu = nalu_rnn.NMU(2, noise_range=(1.0, 5.0), seed=3)
    snmu.build((None, 3))
    snmu.W.assign(np.array([[1, 1], [1, 0], [0, 1]], "float32"))
    x = samples.signed_inputs((64, 3), seed=4)
    expected = np.stack([x[:, 0] * x[:, 1], x[:, 0] * x[:, 2]], axis=-1)
    assert_allclose(as_numpy(snmu(x, training=True)), expected, rtol=1e-5)
    assert_allclose(as_numpy(snmu(x)), expected, rtol=1e-6)


def test_snmu_training_output_is_the_noisy_quotient():
    snmu = nalu_rnn.NMU(1, noise_range=(1.0, 5.0), seed=3)
    snmu.build((None, 2))
    w = np.array([[0.3], [0.8]], "float32")
    snmu.W.assign(w)
    x = samples.signed_inputs((256, 2), seed=6)
    plain = np.prod(w[:, 0] * x + 1 - w[:, 0], axis=-1, dtype=np.float64)
    # Inference is the plain NMU.
    assert_allclose(as_numpy(snmu(x))[:, 0], plain, rtol=1e-5)
    noisy = as_numpy(snmu(x, training=True))[:, 0]
    assert not np.allclose(noisy, plain)
    # Each sample's noise n lies in [1, 5]: recover it for one input at a
    # time (the other weight 0), and check the quotient's form.
    snmu.W.assign(np.array([[0.5], [0.0]], "float32"))
    y = as_numpy(snmu(x, training=True))[:, 0]
    # y = (0.5 x n + 0.5) / (0.5 n + 0.5)  =>  n = (1 - y) / (y - x)
    n = (1.0 - y) / (y - x[:, 0])
    assert np.all((n > 1.0 - 1e-3) & (n < 5.0 + 1e-3))
    assert n.std() > 0.5


def test_snmu_config_round_trip_and_bad_ranges():
    snmu = nalu_rnn.NMU(2, noise_range=(1.0, 5.0), seed=7)
    config = snmu.get_config()
    assert config["noise_range"] == [1.0, 5.0] and config["seed"] == 7
    assert nalu_rnn.NMU.from_config(config).noise_range == (1.0, 5.0)
    assert nalu_rnn.NMU(2).get_config()["noise_range"] is None
    # The plain NMU keeps no generator state among its variables.
    plain = nalu_rnn.NMU(2)
    plain.build((None, 3))
    assert len(plain.weights) == 1
    for bad in [(0.0, 5.0), (5.0, 1.0), (1.0,), "1,5", (1.0, float("inf"))]:
        with pytest.raises(ValueError, match="noise_range"):
            nalu_rnn.NMU(2, noise_range=bad)


# `selected_product`, the NMU's product, against its plain definition.
#
# The fast product (a tree of multiplies with its own gradient, compiled with
# XLA on TensorFlow) must give the values and first derivatives of
# `ops.prod(x[..., None] * w + 1 - w, axis=-2)`, the former implementation,
# also where factors are exactly 0 or negative and where the product
# underflows. Float64 NumPy gives the reference.

BACKEND = keras.backend.backend()
pytestmark = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax", "torch"),
    reason="the gradients are taken with TensorFlow's, JAX's or torch's autodiff",
)


def plain_product(x, w):
    return ops.prod(ops.expand_dims(x, -1) * w + (1.0 - w), axis=-2)


def reference(x, w, upstream):
    """Float64 value and gradients; each factor's gradient is the product
    of the others, taken without division."""
    x, w, upstream = (as_numpy(a, np.float64) for a in (x, w, upstream))
    factors = x[..., :, None] * w + (1.0 - w)
    others = np.stack(
        [np.prod(np.delete(factors, i, axis=-2), axis=-2) for i in range(len(w))],
        axis=-2,
    )
    d_factors = upstream[..., None, :] * others
    d_x = np.sum(d_factors * w, axis=-1)
    d_w = np.sum(d_factors * (x[..., :, None] - 1.0), axis=tuple(range(x.ndim - 1)))
    return np.prod(factors, axis=-2), d_x, d_w


def value_and_gradients(product, x, w, upstream, jit):
    """`product(x, w)` and its vector-Jacobian product with `upstream`."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def run(x, w, upstream):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = product(x, w)
            return (y, *tape.gradient(y, [x, w], output_gradients=upstream))

        if jit:
            run = tf.function(run, jit_compile=True)
        outputs = run(*(tf.constant(a) for a in (x, w, upstream)))
    elif BACKEND == "torch":
        # Torch has `ops.prod` alone (no tree, nothing compiled): its
        # gradient is checked eagerly, once.
        if jit:
            pytest.skip("no compiled variant on torch; the eager case checks it")
        import torch

        x, w = (torch.tensor(a, requires_grad=True) for a in (x, w))
        y = product(x, w)
        gradients = torch.autograd.grad(y, [x, w], grad_outputs=torch.tensor(upstream))
        outputs = (y, *gradients)
    else:
        import jax

        def run(x, w, upstream):
            y, vjp = jax.vjp(product, x, w)
            return (y, *vjp(upstream))

        if jit:
            run = jax.jit(run)
        outputs = run(x, w, upstream)
    return [ops.convert_to_numpy(o) for o in outputs]


def safe_inputs(rng, batch_shape, inputs, units):
    """Factors at least 1/4 away from 0, some negative: where `w` is 1 the
    factor is `x`, with `1/2 <= |x| <= 2`; elsewhere `w <= 1/4`, so the
    factor `1 + w (x - 1)` lies in [1/4, 5/4]."""
    x = rng.uniform(0.5, 2.0, size=batch_shape + (inputs,))
    x *= rng.choice([-1.0, 1.0], size=x.shape)
    w = rng.uniform(0.0, 0.25, size=(inputs, units))
    w[rng.uniform(size=w.shape) < 0.3] = 1.0
    upstream = rng.normal(size=batch_shape + (units,))
    return [a.astype("float32") for a in (x, w, upstream)]


def with_zero_factors(x, w):
    """Exact 0 factors: `x_i = 0` where `w_ij = 1`; columns get 0, 1 or 2."""
    x, w = x.copy(), w.copy()
    x[::2, 0] = 0.0
    x[::3, 1] = 0.0
    w[0, ::2] = 1.0
    w[1, ::3] = 1.0
    return x, w


def check(x, w, upstream, jit, rtol=1e-5):
    y, d_x, d_w = value_and_gradients(selected_product, x, w, upstream, jit)
    plain = value_and_gradients(plain_product, x, w, upstream, jit)
    expected = reference(x, w, upstream)
    for got, former, want in zip((y, d_x, d_w), plain, expected, strict=True):
        # XLA flushes subnormal results to 0.
        atol = max(1e-6 * np.max(np.abs(want)), np.finfo(np.float32).tiny)
        assert_allclose(got, want, rtol=rtol, atol=atol)
        assert_allclose(got, former, rtol=rtol, atol=atol)
    return y, d_x, d_w


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("inputs,units", [(1, 1), (2, 3), (7, 5), (80, 64)])
def test_matches_plain_product_and_reference(jit, inputs, units):
    x, w, upstream = safe_inputs(np.random.default_rng(inputs), (16,), inputs, units)
    y, _, _ = check(x, w, upstream, jit)
    assert y.shape == (16, units)


@pytest.mark.parametrize("jit", [False, True])
def test_forward_is_the_plain_product_to_rounding(jit):
    x, w, upstream = safe_inputs(np.random.default_rng(0), (64,), 80, 64)
    y = value_and_gradients(selected_product, x, w, upstream, jit)[0]
    former = value_and_gradients(plain_product, x, w, upstream, jit)[0]
    # Each of the two is itself within 1.7e-6 of float64 at 80 factors.
    assert_allclose(y, former, rtol=3e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_exact_zero_and_negative_factors(jit):
    x, w, upstream = safe_inputs(np.random.default_rng(1), (12,), 9, 6)
    x, w = with_zero_factors(x, w)
    factors = x[:, :, None] * w + 1.0 - w
    zeros = np.sum(factors == 0.0, axis=1)
    assert {0, 1, 2} <= set(zeros.ravel().tolist())
    assert np.any(factors < 0.0)
    y, d_x, d_w = check(x, w, upstream, jit)
    assert np.all(y[zeros > 0] == 0.0)
    assert np.all(np.isfinite(d_x)) and np.all(np.isfinite(d_w))
    # A lone zero factor still passes on the product of the others.
    assert np.any(d_x[:, 0] != 0.0)


@pytest.mark.parametrize("jit", [False, True])
def test_underflowing_product_keeps_exact_gradients(jit):
    # Two factors of 1e-20 multiply to below float32's smallest normal
    # number, while each one's product of the others is 1e-20 times more.
    x, w, upstream = safe_inputs(np.random.default_rng(2), (8,), 6, 4)
    x[:, :2] = 1e-20
    w[:2] = 1.0
    # Torch's `prod` gradient divides the product by each factor: a
    # subnormal product keeps only about 4 significant digits in that
    # gradient (measured: within 8e-5 of float64), still far from 0.
    rtol = 2e-4 if BACKEND == "torch" else 1e-5
    _, d_x, _ = check(x, w, upstream, jit, rtol=rtol)
    assert np.all(np.abs(d_x[:, :2]) > 0.0)


@pytest.mark.parametrize("jit", [False, True])
def test_rank_3_inputs(jit):
    x, w, upstream = safe_inputs(np.random.default_rng(3), (4, 5), 7, 3)
    x, w = with_zero_factors(x.reshape(20, 7), w)
    x = x.reshape(4, 5, 7)
    y, d_x, d_w = check(x, w, upstream, jit)
    assert y.shape == (4, 5, 3) and d_x.shape == x.shape and d_w.shape == w.shape
