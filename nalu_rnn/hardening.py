"""Weight hardening: snap near-discrete arithmetic weights to exact values.

The snapping itself belongs to each unit (`ArithmeticUnit.
snap_arithmetic_weights`); `harden` applies it to every unit of a model.
"""

import numpy as np

from nalu_rnn._validation import validate_tolerance
from nalu_rnn.units import ArithmeticUnit
from nalu_rnn.units.base import SnappedWeight

__all__ = [
    "SnappedWeight",
    "arithmetic_units",
    "harden",
    "restore_weights",
    "weights_snapshot",
]


def arithmetic_units(model):
    """Every `ArithmeticUnit` inside `model` (layers, cells, nested models)."""
    if isinstance(model, ArithmeticUnit):
        return [model]
    # _flatten_layers walks tracked sublayers: RNN -> cell -> unit.
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [layer for layer in layers if isinstance(layer, ArithmeticUnit)]


def harden(model, tolerance=0.1):
    """Snaps every effective arithmetic weight within `tolerance` of a
    discrete value to exactly that value, in place.

    A NAC weight `tanh(W_hat) * sigmoid(M_hat)` only approaches 1, and
    0.9999 compounds to a 10% loss over 1000 recurrent steps; once training
    has brought a weight close, snapping it makes the arithmetic exact.
    Each unit knows its discrete values (NAC, NALU, iNALU and NAU: -1, 0,
    1; NMU: 0, 1; NPU: integers, and 0 for its imaginary part; see
    `ArithmeticUnit.snap_arithmetic_weights`). Gates (NALU's and iNALU's
    `G`) and NPU relevances are left alone.

    Args:
        model: A Keras model, layer or cell holding arithmetic units.
        tolerance: Largest distance to a discrete value that is snapped, in
            [0, 0.5]. Defaults to `0.1`.

    Returns:
        A list of `SnappedWeight`, one per effective weight matrix.
    """
    tolerance = validate_tolerance(tolerance, "tolerance", "nalu_rnn.harden")
    report = []
    for unit in arithmetic_units(model):
        report.extend(unit.snap_arithmetic_weights(tolerance))
    return report


def weights_snapshot(model):
    """Copies of all weights, to undo a `harden` with `restore_weights`."""
    return [np.array(w.numpy()) for w in model.weights]


def restore_weights(model, snapshot):
    for w, value in zip(model.weights, snapshot, strict=True):
        w.assign(value)
