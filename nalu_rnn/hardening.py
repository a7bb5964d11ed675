"""Weight hardening: snap near-discrete arithmetic weights to exact values.

The snapping itself belongs to each unit (`ArithmeticUnit.
snap_arithmetic_weights`), as do the values it snaps to
(`ArithmeticUnit.discrete_values`); `harden` applies it to every unit of a
model, and `largest_discrete_distance` measures how far a model still is
from them.
"""

import dataclasses

import keras
import numpy as np

from nalu_rnn._validation import validate_tolerance
from nalu_rnn.discrete import (
    INTEGERS,
    distance_to_discrete,
    is_discrete,
    nearest_discrete,
)
from nalu_rnn.keras_internals import flatten_layers
from nalu_rnn.units import ArithmeticUnit
from nalu_rnn.units.base import SnappedWeight
from nalu_rnn.units.cell import ArithmeticCell

__all__ = [
    "HardeningStep",
    "SnappedWeight",
    "arithmetic_units",
    "distance_to_discrete",
    "fold_linear_readout",
    "gate_decisions",
    "harden",
    "harden_cells",
    "harden_with_rollback",
    "largest_discrete_distance",
    "restore_weights",
    "snap_kernel",
    "snap_unit_gates",
    "weights_snapshot",
]


def arithmetic_units(model):
    """Every `ArithmeticUnit` inside `model` (layers, cells, nested models)."""
    if isinstance(model, ArithmeticUnit):
        return [model]
    layers = flatten_layers(model)
    return [layer for layer in layers if isinstance(layer, ArithmeticUnit)]


def largest_discrete_distance(model):
    """The largest distance of any arithmetic weight of `model` to its values.

    Every effective weight (`ArithmeticUnit.arithmetic_weights`: the gated
    `tanh(W_hat) * sigmoid(M_hat)` of NAC-style units, the weight itself of
    NAU, NMU and NPU) is measured, in float64, to the nearest of the values
    its unit declares for it (`ArithmeticUnit.discrete_values`), so 0 means
    every weight is exactly discrete. Where every unit's values are
    {-1, 0, 1} (NAC, NALU, iNALU, NAU) this is `max min(|w|, |1 - |w||)`
    over all weights; an NMU weight is measured to {0, 1}, an NPU exponent
    to the nearest integer (a RealNPU's to the nearest multiple of 1/2) and
    its imaginary part to 0.

    Args:
        model: A Keras model, layer or cell.

    Returns:
        A float, or `None` when `model` holds no arithmetic weight.
    """
    largest = None
    for unit in arithmetic_units(model):
        values = unit.discrete_values()
        for label, weight in unit.arithmetic_weights().items():
            distance = distance_to_discrete(
                keras.ops.convert_to_numpy(weight), values[label]
            )
            value = float(np.max(distance))
            largest = value if largest is None else max(largest, value)
    return largest


def harden(model, tolerance=0.1):
    """Snaps every effective arithmetic weight within `tolerance` of a
    discrete value to exactly that value, in place.

    A NAC weight `tanh(W_hat) * sigmoid(M_hat)` only approaches 1, and
    0.9999 compounds to a 10% loss over 1000 recurrent steps; once training
    has brought a weight close, snapping it makes the arithmetic exact.
    Each unit knows its discrete values (NAC, NALU, iNALU and NAU: -1, 0,
    1; NMU: 0, 1; NPU: integers, and 0 for its imaginary part; RealNPU:
    multiples of 1/2; see `ArithmeticUnit.discrete_values`), and the NPUs'
    relevances within `tolerance` of 0 or 1 become exactly that. Gates
    (NALU's and iNALU's `G`) are left to `snap_unit_gate`.

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


def harden_cells(model, tolerance=0.2, rows="state"):
    """Snaps a subset of the kernel rows of recurrent arithmetic cells.

    Like `nalu_rnn.harden`, effective weights within `tolerance` of one of
    their unit's discrete values (-1, 0 or 1 for a NAC) are set to exactly
    that value (`ArithmeticUnit.snap_arithmetic_weights`), but only in the
    rows chosen by `rows` of each `ArithmeticCell` kernel (input rows first,
    state rows last); other arithmetic layers are left alone. The state
    block should be exact, since any error compounds over 1000 steps, while
    an input block may hold small learnt off-diagonal values that cancel an
    encoder's leakage between classes, which snapping would undo; deciding
    per block (against validation error) keeps the one without the other.

    Args:
        model: A Keras model or layer holding arithmetic cells.
        tolerance: Largest distance to a discrete value that is snapped,
            in [0, 0.5]. Defaults to `0.2`.
        rows: `"state"` (default) for the state-to-state rows, `"input"` for
            the input rows, `"all"` for both.

    Returns:
        A list of `nalu_rnn.hardening.SnappedWeight`, one per effective
        weight matrix.

    Example:

    ```python
    report = nalu_rnn.hardening.harden_cells(model, 0.2, rows="state")
    ```
    """
    tolerance = validate_tolerance(tolerance, "tolerance", "harden_cells")
    if rows not in ("state", "input", "all"):
        raise ValueError(
            f"`rows` must be 'state', 'input' or 'all'; received rows={rows!r}"
        )
    cells = [
        layer for layer in flatten_layers(model) if isinstance(layer, ArithmeticCell)
    ]
    report = []
    for cell in cells:
        rows_total = cell.unit.weights[0].shape[0]
        is_state = np.arange(rows_total) >= rows_total - cell.units
        mask = {"state": is_state, "input": ~is_state, "all": None}[rows]
        report.extend(cell.unit.snap_arithmetic_weights(tolerance, row_mask=mask))
    return report


def snap_kernel(layer, tolerance=0.2, values=INTEGERS):
    """Snaps the entries of a plain layer's `kernel` near a discrete value.

    `harden` and `harden_cells` snap the weights of arithmetic units; this
    does the same for a layer outside them whose weights feed one, such as
    a `Dense` read-out of class values in front of a summing head: entries
    within `tolerance` of one of `values` are set to it, the rest are left
    as they are.

    Args:
        layer: A built layer with a `kernel` variable (`keras.layers.Dense`).
        tolerance: Largest distance to a discrete value that is snapped,
            in [0, 0.5]. Defaults to `0.2`.
        values: The discrete values, as `nalu_rnn.discrete.distance_to_discrete`
            takes them. Defaults to the integers.

    Returns:
        A list with one `nalu_rnn.hardening.SnappedWeight`.

    Example:

    ```python
    layer = keras.layers.Dense(1, use_bias=False)
    layer.build((None, 3))
    layer.kernel.assign([[0.1], [1.9], [3.4]])
    nalu_rnn.hardening.snap_kernel(layer, 0.2)  # [[0.], [2.], [3.4]]
    ```
    """
    tolerance = validate_tolerance(tolerance, "tolerance", "snap_kernel")
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        raise ValueError(
            f"`snap_kernel` needs a layer with a `kernel`; received {layer.name!r}"
        )
    current = np.asarray(kernel.numpy(), np.float64)
    near = distance_to_discrete(current, values) <= tolerance
    snapped = np.where(near, nearest_discrete(current, values), current)
    kernel.assign(snapped.astype(kernel.dtype))
    return [
        SnappedWeight(
            path=kernel.path,
            snapped=int(near.sum()),
            total=int(near.size),
            max_change=float(np.max(np.abs(snapped - current), initial=0.0)),
        )
    ]


def weights_snapshot(model):
    """Copies of all weights, to undo a `harden` with `restore_weights`."""
    return [np.array(w.numpy()) for w in model.weights]


def restore_weights(model, snapshot):
    for w, value in zip(model.weights, snapshot, strict=True):
        w.assign(value)


def snap_unit_gates(model, tolerance=0.1):
    """Snaps every decided input-independent gate of `model` to exactly 0 or 1.

    Only the unit gates (`NALU(gate="unit")`, `INALU`); weights are left as
    they are, so training can go on with each decided unit computing exactly
    one path (`nalu_rnn.callbacks.GateSnap`).

    Args:
        model: A Keras model, layer or cell.
        tolerance: Largest distance of a gate to 0 or 1 that is snapped.
            Defaults to `0.1`.

    Returns:
        A list of `SnappedWeight`, one per unit with a unit gate.
    """
    tolerance = validate_tolerance(tolerance, "tolerance", "snap_unit_gates")
    records = [unit.snap_unit_gate(tolerance) for unit in arithmetic_units(model)]
    return [record for record in records if record is not None]


def gate_decisions(model):
    """The input-independent gates of `model`'s units and what each chose.

    Units with one gate per output unit (`NALU(gate="unit")`, `INALU`)
    choose their operation once; this reads `sigmoid(G)` of each.

    Args:
        model: A Keras model, layer or cell.

    Returns:
        A dict from each such unit's path to a list with one entry per
        output unit: `{"gate": g, "path": "additive" | "multiplicative" |
        "mixed"}`, a path named only for a gate of exactly 1 or 0. Empty when
        the model has no unit gate.
    """
    decisions = {}
    for unit in arithmetic_units(model):
        raw = unit.unit_gate()
        if raw is None:
            continue
        raw = np.asarray(keras.ops.convert_to_numpy(raw), np.float64)
        gates = 0.5 * (1.0 + np.tanh(0.5 * raw))  # sigmoid without overflow
        decisions[unit.path] = [
            {
                "gate": float(g),
                "path": {1.0: "additive", 0.0: "multiplicative"}.get(float(g), "mixed"),
            }
            for g in gates
        ]
    return decisions


def fold_linear_readout(cell, readout):
    """Folds a linear read-out into the running sums of a linear cell, in place.

    After a cell `h_t = x_t @ W_x + h_{t-1} @ W_h` (started at 0), a linear
    read-out `y = h_T @ C` whose columns `W_h` keeps (`W_h @ C == C`) is
    the running sum `s_t = s_{t-1} + x_t @ (W_x @ C)`, `y = s_T`: the same
    function, but in floating point a different one. Two running sums that
    the read-out subtracts (`a - b` as `h[0] - h[1]`, each of the order of
    the sequence length) round as their size, while their difference, summed
    directly, rounds as its own, far smaller size; at length 1000 in float32
    only the latter meets Madsen & Johansen's success threshold for `sub`.
    The fold writes the first `k` state units as those sums (`k` outputs),
    the others as zeros, and the read-out as the identity on them; it is
    done only when every weight involved is exact: both units compute their
    additive path alone (`exact_linear_weight`), `W_h @ C == C` exactly,
    and every entry of `W_x @ C` is one of the cell's discrete values.

    Args:
        cell: A `nalu_rnn.units.cell.ArithmeticCell` whose initial state is 0.
        readout: The `ArithmeticUnit` that reads the cell's last state.

    Returns:
        Whether the weights were changed (False when a condition fails or the
        weights are folded already).
    """
    if not isinstance(cell, ArithmeticCell) or not isinstance(readout, ArithmeticUnit):
        return False
    if cell.initial_state_value != 0.0:
        return False
    kernel = cell.unit.exact_linear_weight()
    read = readout.exact_linear_weight()
    if kernel is None or read is None:
        return False
    units, outputs = cell.units, read.shape[1]
    if read.shape[0] != units or outputs > units:
        return False
    inputs = kernel.shape[0] - units
    state_kernel = kernel[inputs:]
    if not np.array_equal(state_kernel @ read, read):
        return False
    sums = kernel[:inputs] @ read
    if not is_discrete(sums, cell.unit.discrete_values()["W"]):
        return False
    identity = np.eye(units, outputs)
    folded = np.zeros_like(kernel)
    folded[:inputs, :outputs] = sums
    folded[inputs:, :outputs] = identity
    if np.array_equal(folded, kernel) and np.array_equal(identity, read):
        return False
    cell.unit.assign_discrete_weight("W", folded)
    readout.assign_discrete_weight("W", identity)
    return True


@dataclasses.dataclass(frozen=True)
class HardeningStep:
    """What `harden_with_rollback` did.

    Args:
        applied: Whether the hardened weights were kept.
        error_before: Validation error before hardening.
        error_after: Validation error of the hardened weights (kept or not).
        snapped: The snapped weights, as dicts of `SnappedWeight`.
    """

    applied: bool
    error_before: float
    error_after: float
    snapped: list


def harden_with_rollback(model, harden, validation_error, error_before=None):
    """Hardens `model` and keeps it only if validation error does not rise.

    Args:
        model: The trained Keras model, changed in place.
        harden: Callable `harden(model)` that snaps weights and returns the
            list of snapped weights (the report of `nalu_rnn.harden` or
            `harden_cells`).
        validation_error: Callable `validation_error(model)`, a float (a
            non-finite error after hardening rolls it back).
        error_before: The error of the model as it is, when the caller
            measured it already. Defaults to `None` (measured here).

    Returns:
        A `HardeningStep`.

    Example:

    ```python
    step = nalu_rnn.hardening.harden_with_rollback(
        model, lambda m: nalu_rnn.harden(m, 0.2), lambda m: m.evaluate(x, y)
    )
    ```
    """
    if error_before is None:
        error_before = validation_error(model)
    snapshot = weights_snapshot(model)
    report = harden(model)
    error_after = validation_error(model)
    applied = error_after <= error_before
    if not applied:
        restore_weights(model, snapshot)
    return HardeningStep(
        applied=bool(applied),
        error_before=error_before,
        error_after=error_after,
        snapped=[dataclasses.asdict(r) for r in report],
    )
