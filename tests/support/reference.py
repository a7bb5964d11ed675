"""NumPy references of the arithmetic units, written from the equations."""

import numpy as np

from tests.support.arrays import as_numpy


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free sigmoid


def gated(w_hat, m_hat):
    return np.tanh(w_hat) * sigmoid(m_hat)


def weights_of(layer):
    """The layer's (or cell's) weights as a dict of float64 arrays by name."""
    return {w.name: as_numpy(w.numpy(), dtype=np.float64) for w in layer.weights}


def nac(x, w):
    return x @ gated(w["W_hat"], w["M_hat"])


def nalu(x, w, epsilon=1e-7, max_exp=None, sign_correction=False):
    w_add = gated(w["W_hat"], w["M_hat"])
    w_mul = gated(w["W_hat_m"], w["M_hat_m"]) if "W_hat_m" in w else w_add
    a = x @ w_add
    exponent = np.log(np.abs(x) + epsilon) @ w_mul
    m = np.exp(exponent if max_exp is None else np.minimum(exponent, max_exp))
    if sign_correction:
        # The iNALU's sign retrieval, an input of 0 counted as positive.
        m = m * selected_product(np.where(x < 0, -1.0, 1.0), np.abs(w_mul))
    # A unit gate (one entry per output) does not read the input.
    g = sigmoid(w["G"]) if w["G"].ndim == 1 else sigmoid(x @ w["G"])
    return g * a + (1 - g) * m


def unit_function(layer):
    """Returns a NumPy function computing what `layer` (a unit) computes."""
    w = weights_of(layer)
    name = type(layer).__name__
    if name == "NAC":
        return lambda x: nac(x, w)
    if name == "NALU":
        return lambda x: nalu(x, w, layer.epsilon, layer.max_exp, layer.sign_correction)
    if name in EXTRA_UNITS:
        return lambda x: EXTRA_UNITS[name](x, w, layer)
    raise NotImplementedError(name)


def run_cell(cell, x, h0=None, mask=None):
    """Runs `cell` step by step over x (batch, time, features) in NumPy.

    Returns every step's output, shape (batch, time, units). Masked steps
    (mask False) carry the previous state, as `keras.layers.RNN` does.
    """
    step = unit_function(cell.unit)
    x = as_numpy(x, dtype=np.float64)
    batch, time, _ = x.shape
    h = (
        np.full((batch, cell.units), cell.initial_state_value)
        if h0 is None
        else as_numpy(h0, dtype=np.float64)
    )
    outputs = []
    for t in range(time):
        new_h = step(np.concatenate([x[:, t], h], axis=-1))
        if mask is not None:
            keep = as_numpy(mask[:, t], dtype=bool)[:, None]
            new_h = np.where(keep, new_h, h)
        h = new_h
        outputs.append(h)
    return np.stack(outputs, axis=1)


# --- Later units (NAU, NMU, iNALU, RealNPU, NPU) -----------------------------


def nau(x, w):
    return x @ w["W"]


def selected_product(x, w):
    """prod_i (w_ij * x_i + 1 - w_ij), written as a loop over the inputs."""
    out = np.ones(x.shape[:-1] + (w.shape[1],))
    for i in range(w.shape[0]):
        out = out * (x[..., i : i + 1] * w[i] + 1.0 - w[i])
    return out


def nmu(x, w):
    return selected_product(x, w["W"])


def inalu(x, w, omega=1e-7, max_exp=20.0):
    w_a = gated(w["W_hat"], w["M_hat"])
    w_m = gated(w["W_hat_m"], w["M_hat_m"])
    a = x @ w_a
    m = np.exp(np.minimum(np.log(np.maximum(np.abs(x), omega)) @ w_m, max_exp))
    s = selected_product(np.sign(x), np.abs(w_m))
    g = sigmoid(w["G"])
    return g * a + (1 - g) * m * s


def npu(x, w, epsilon=1e-7):
    """Real part of prod_i x_i ** (W + i W_im) with the relevance gate, by
    complex arithmetic (not the real-arithmetic formula the layer uses)."""
    g = np.clip(w["g"], 0.0, 1.0)
    r = g * (np.abs(x) + epsilon) + (1 - g)
    k = g * np.pi * (x < 0)
    log_z = np.log(r) + 1j * k  # log of the gated input in polar form
    exponent = w["W"] + 1j * w.get("W_im", np.zeros_like(w["W"]))
    return np.real(np.exp(log_z @ exponent))


def nmru(x, w, epsilon=1e-7):
    """prod x_i ** W_i * (1 / x_i) ** W_r,i, NMU-style, with the sign of the
    selected inputs: the product over the concatenation [|x|, 1 / |x|], then
    cos(pi * (number of selected negative inputs))."""
    magnitude = np.abs(x)
    stacked = np.concatenate([magnitude, 1.0 / np.maximum(magnitude, epsilon)], -1)
    product = selected_product(stacked, np.concatenate([w["W"], w["W_r"]], 0))
    return product * np.cos(np.pi * ((x < 0) @ (w["W"] + w["W_r"])))


EXTRA_UNITS = {
    "NAU": lambda x, w, layer: nau(x, w),
    "NMU": lambda x, w, layer: nmu(x, w),
    "INALU": lambda x, w, layer: inalu(x, w, layer.omega, layer.max_exp),
    "RealNPU": lambda x, w, layer: npu(x, w, layer.epsilon),
    "NPU": lambda x, w, layer: npu(x, w, layer.epsilon),
    "NMRU": lambda x, w, layer: nmru(x, w, layer.epsilon),
}
