"""Weight hardening: snap near-discrete arithmetic weights to exactly -1, 0, 1."""

import dataclasses

import numpy as np

from nalu_rnn.units import ArithmeticUnit

# tanh(20) and sigmoid(20) are exactly 1.0 in float32, so these raw values
# give an effective weight of exactly +-1; W_hat = 0 gives exactly 0.
_SATURATION = 20.0


@dataclasses.dataclass
class SnappedWeight:
    """What `harden` changed in one effective weight matrix."""

    path: str
    snapped: int
    total: int
    max_change: float


def arithmetic_units(model):
    """Every `ArithmeticUnit` inside `model` (layers, cells, nested models)."""
    if isinstance(model, ArithmeticUnit):
        return [model]
    # _flatten_layers walks tracked sublayers: RNN -> cell -> unit.
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [layer for layer in layers if isinstance(layer, ArithmeticUnit)]


def harden(model, tolerance=0.1):
    """Snaps every effective arithmetic weight within `tolerance` of -1, 0
    or 1 to exactly that value, in place.

    A NAC weight `tanh(W_hat) * sigmoid(M_hat)` only approaches 1, and
    0.9999 compounds to a 10% loss over 1000 recurrent steps; once training
    has brought a weight close, snapping it makes the arithmetic exact.
    Gates (NALU's `G`) are left alone.

    Args:
        model: A Keras model, layer or cell holding arithmetic units.
        tolerance: Largest distance to -1, 0 or 1 that is snapped.
            Defaults to `0.1`.

    Returns:
        A list of `SnappedWeight`, one per effective weight matrix.
    """
    if not 0 <= tolerance <= 0.5:
        raise ValueError(
            f"`tolerance` must be in [0, 0.5]; received tolerance={tolerance!r}"
        )
    report = []
    for unit in arithmetic_units(model):
        for label, w_hat, m_hat in unit.gated_pairs():
            w = np.tanh(np.asarray(w_hat.numpy(), np.float64)) / (
                1.0 + np.exp(-np.asarray(m_hat.numpy(), np.float64))
            )
            target = np.round(w)
            snap = np.abs(w - target) <= tolerance
            new_w_hat = np.where(snap, _SATURATION * target, w_hat.numpy())
            new_m_hat = np.where(
                snap,
                np.where(target == 0, -_SATURATION, _SATURATION),
                m_hat.numpy(),
            )
            w_hat.assign(new_w_hat.astype(w_hat.dtype))
            m_hat.assign(new_m_hat.astype(m_hat.dtype))
            change = np.abs(w - target)[snap]
            report.append(
                SnappedWeight(
                    path=f"{unit.path}/{label}",
                    snapped=int(snap.sum()),
                    total=int(snap.size),
                    max_change=float(change.max()) if change.size else 0.0,
                )
            )
    return report


def weights_snapshot(model):
    """Copies of all weights, to undo a `harden` with `restore_weights`."""
    return [np.array(w.numpy()) for w in model.weights]


def restore_weights(model, snapshot):
    for w, value in zip(model.weights, snapshot, strict=True):
        w.assign(value)
