"""Sample units, weights and inputs shared by the unit tests."""

import keras
import numpy as np
import pytest
from keras import ops

import nalu_rnn

# The units that came after the NALU, and their cells.
LAYERS = [
    nalu_rnn.NAU,
    nalu_rnn.NMU,
    nalu_rnn.INALU,
    nalu_rnn.RealNPU,
    nalu_rnn.NPU,
    nalu_rnn.NMRU,
]
CELLS = [
    nalu_rnn.NAUCell,
    nalu_rnn.NMUCell,
    nalu_rnn.INALUCell,
    nalu_rnn.RealNPUCell,
    nalu_rnn.NPUCell,
    nalu_rnn.NMRUCell,
]
WEIGHT_NAMES = {
    "NAU": ["W"],
    "NMU": ["W"],
    "INALU": ["W_hat", "M_hat", "W_hat_m", "M_hat_m", "G"],
    "RealNPU": ["W", "g"],
    "NPU": ["W", "W_im", "g"],
    "NMRU": ["W", "W_r"],
}


def random_value(unit_name, weight, rng):
    """A random value in the range the weight lives in."""
    shape = tuple(weight.shape)
    if weight.name == "W" and unit_name == "NAU":
        return rng.uniform(-1, 1, shape)
    if weight.name in ("W", "W_r") and unit_name in ("NMU", "NMRU"):
        return rng.uniform(0, 1, shape)
    if weight.name == "W":  # NPU exponents
        return rng.normal(scale=0.6, size=shape)
    if weight.name == "W_im":
        return rng.normal(scale=0.3, size=shape)
    if weight.name == "g":  # relevance, clipped to [0, 1] in the layer
        return rng.uniform(-0.2, 1.2, shape)
    return rng.normal(scale=0.7, size=shape)


def randomise(layer, seed=0):
    unit = getattr(layer, "unit", layer)
    rng = np.random.default_rng(seed)
    for w in unit.weights:
        w.assign(random_value(type(unit).__name__, w, rng).astype("float32"))


def signed_inputs(shape, seed=1):
    """Values of both signs, none near 0 (where the log paths are steep)."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(0.5, 1.5, size=shape)
    return (magnitude * rng.choice([-1.0, 1.0], size=shape)).astype("float32")


def set_random_weights(layer, rng, scale=1.0):
    for w in layer.weights:
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def gradients(layer, x):
    """d sum(layer(x)) / d each trainable variable, on any backend."""
    values = [ops.convert_to_tensor(v.value) for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    def loss(*trainable):
        y, _ = layer.stateless_call(list(trainable), fixed, x)
        return ops.sum(y)

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        grads = jax.grad(loss, argnums=tuple(range(len(values))))(*values)
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(values)
            total = loss(*values)
        grads = tape.gradient(total, values)
    elif backend == "torch":
        import torch

        values = [v.detach().clone().requires_grad_(True) for v in values]
        grads = torch.autograd.grad(loss(*values), values)
    else:
        pytest.skip(f"no gradient helper for {backend}")
    names = [v.path.split("/")[-1] for v in layer.trainable_variables]
    return {n: ops.convert_to_numpy(g) for n, g in zip(names, grads, strict=True)}
