"""NumPy references of the arithmetic units, written from the equations."""

import numpy as np


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free sigmoid


def gated(w_hat, m_hat):
    return np.tanh(w_hat) * sigmoid(m_hat)


def weights_of(layer):
    """The layer's (or cell's) weights as a dict of float64 arrays by name."""
    return {w.name: np.asarray(w.numpy(), dtype=np.float64) for w in layer.weights}


def nac(x, w):
    return x @ gated(w["W_hat"], w["M_hat"])


def nalu(x, w, epsilon=1e-7):
    w_add = gated(w["W_hat"], w["M_hat"])
    w_mul = gated(w["W_hat_m"], w["M_hat_m"]) if "W_hat_m" in w else w_add
    a = x @ w_add
    m = np.exp(np.log(np.abs(x) + epsilon) @ w_mul)
    g = sigmoid(x @ w["G"])
    return g * a + (1 - g) * m


def unit_function(layer):
    """Returns a NumPy function computing what `layer` (a unit) computes."""
    w = weights_of(layer)
    name = type(layer).__name__
    if name == "NAC":
        return lambda x: nac(x, w)
    if name == "NALU":
        return lambda x: nalu(x, w, layer.epsilon)
    raise NotImplementedError(name)


def run_cell(cell, x, h0=None, mask=None):
    """Runs `cell` step by step over x (batch, time, features) in NumPy.

    Returns every step's output, shape (batch, time, units). Masked steps
    (mask False) carry the previous state, as `keras.layers.RNN` does.
    """
    step = unit_function(cell.unit)
    x = np.asarray(x, dtype=np.float64)
    batch, time, _ = x.shape
    h = (
        np.full((batch, cell.units), cell.initial_state_value)
        if h0 is None
        else np.asarray(h0, dtype=np.float64)
    )
    outputs = []
    for t in range(time):
        new_h = step(np.concatenate([x[:, t], h], axis=-1))
        if mask is not None:
            keep = np.asarray(mask[:, t], dtype=bool)[:, None]
            new_h = np.where(keep, new_h, h)
        h = new_h
        outputs.append(h)
    return np.stack(outputs, axis=1)
