"""Readable formulas of trained arithmetic layers, cells and models.

`formula(obj)` writes what a unit computes with its current weights, e.g.
`h_t = h_{t-1} + x_t[3] + x_t[7]` for a NAU cell that learnt a running sum,
or `y = h[0] * h[1]` for an NMU read-out that multiplies. Weights within
`tolerance` of a discrete value are written as that value (a weight 1 as
the bare name, -1 as a minus sign, 0 not at all); the others are written
with their value rounded to `precision` decimals.

Names are positional. A layer reads `x` and writes `y`; a cell reads
`x_t` and its previous state `h_{t-1}` and writes `h_t`. In a model the
first arithmetic layer reads `x`, each later one reads what the one before
wrote (`h`, or `h1`, `h2`, ... when there are several), and the last
(unless it is a cell) writes `y`. An index is written only for vectors of
more than one entry: `x[3]`, but `h` for a one-unit state.
"""

import numbers

import keras
import numpy as np

from nalu_rnn.keras_internals import flatten_layers
from nalu_rnn.units import ArithmeticCell, ArithmeticUnit, rendering

# Weights without a discrete meaning that the formulas still need.
_GATES = ("G", "g")


def _numpy_weights(unit):
    """The effective arithmetic matrices, then the gates, as float64 arrays."""
    weights = dict(unit.arithmetic_weights())
    weights.update({w.name: w for w in unit.weights if w.name in _GATES})
    return {
        label: np.asarray(keras.ops.convert_to_numpy(value), np.float64)
        for label, value in weights.items()
    }


def _unit_lines(unit, input_name, output_name, style):
    weights = _numpy_weights(unit)
    if not weights:
        raise ValueError(f"{unit.name} is not built yet; call it on data first")
    rows, units = next(iter(weights.values())).shape
    names = rendering.names(input_name, rows)
    outputs = rendering.names(output_name, units)
    expressions = unit.formula_lines(weights, names, style)
    return [f"{o} = {e}" for o, e in zip(outputs, expressions, strict=True)]


def _cell_lines(cell, input_name, state_name, style):
    weights = _numpy_weights(cell.unit)
    if not weights:
        raise ValueError(f"{cell.name} is not built yet; call it on data first")
    rows, units = next(iter(weights.values())).shape
    input_dim = rows - units
    names = rendering.names(input_name, input_dim, "_t")
    names += rendering.names(state_name, units, "_{t-1}")
    # State rows first in the written formula: `h_t = h_{t-1} + x_t[3]`.
    # Every array with one row per input (kernels, NALU's G, NPU's g)
    # follows; iNALU's G has one entry per unit and stays.
    order = list(range(input_dim, rows)) + list(range(input_dim))
    ordered = {
        label: w[order] if w.shape[0] == rows else w for label, w in weights.items()
    }
    ordered_names = [names[i] for i in order]
    expressions = cell.unit.formula_lines(ordered, ordered_names, style)
    outputs = rendering.names(state_name, units, "_t")
    return [f"{o} = {e}" for o, e in zip(outputs, expressions, strict=True)]


def _items(model):
    """The arithmetic cells and the units outside cells, in layer order."""
    layers = flatten_layers(model)
    cells = [layer for layer in layers if isinstance(layer, ArithmeticCell)]
    inside = {id(cell.unit) for cell in cells}
    return [
        layer
        for layer in layers
        if isinstance(layer, ArithmeticCell)
        or (isinstance(layer, ArithmeticUnit) and id(layer) not in inside)
    ]


def formula(obj, precision=3, tolerance=None):
    """Writes what an arithmetic layer, cell or model computes, as text.

    A layer gives one line per output unit (`y = x[0] + x[1]`); a cell one
    line per state unit (`h_t = h_{t-1} + x_t[3] + x_t[7]`); a model a
    block per arithmetic layer or cell, headed by its name and class. Each
    unit is written in its own terms (`ArithmeticUnit.formula_lines`):

    * NAC, NAU: a linear combination, `y = x[0] - 0.5*x[2]`;
    * NMU: a product of the selected inputs, `y = x[0] * x[1]`, with
      `(w*x + 1-w)` for a weight `w` strictly between 0 and 1;
    * NALU: `g * (additive) + (1 - g) * (multiplicative)` with
      `g = sigmoid(...)`, the multiplicative path over `|x|`
      (`|x[0]| / |x[1]|`); with a zero gate matrix, `0.5 * ... + 0.5 * ...`;
    * iNALU: the path its gate selects (`y = x[0] * x[1]`: signs are
      restored), or both paths weighted by the gate;
    * RealNPU, NPU: a product of powers, `y = x[0] / x[1]`, `x[0]^2`;
      a complex exponent is written `x[0]^(1+0.5i)` (the real part of the
      power is meant), an input with relevance gate `g` strictly between 0
      and 1 as `rel(x[0], g)` (i.e. `g*|x[0]| + 1 - g` with a fraction `g`
      of its sign), and an input whose gate is 0 not at all.

    Non-discrete weights of the multiplicative paths of NALU and iNALU are
    written as powers of `|x|`; the sign factor of the iNALU is then left
    out. A unit that writes no formula of its own gets the default of
    `ArithmeticUnit.formula_lines`: a linear combination per weight matrix.

    Args:
        obj: A built `ArithmeticUnit`, `ArithmeticCell`, or any Keras layer
            or model holding them (e.g. `keras.layers.RNN(NAUCell(2))`).
        precision: Non-negative integer, decimals of the printed weights.
            Defaults to `3`.
        tolerance: Largest distance to a discrete value (-1, 0, 1; 0 and 1
            for NMU weights and gates; any integer for NPU exponents) at
            which a weight is written as that value, in [0, 0.5]. Defaults
            to `None`, meaning half a unit of the last printed decimal
            (`0.0005` for `precision=3`): a weight is written as an integer
            exactly when it would print as one.

    Returns:
        A string, lines separated by `"\\n"`.

    Example:

    ```python
    rnn = keras.layers.RNN(nalu_rnn.NAUCell(1))
    rnn(np.ones((1, 5, 10), "float32"))
    print(nalu_rnn.formula(rnn))  # e.g. "h_t = 0.41*h_{t-1} + ..."
    ```
    """
    if (
        isinstance(precision, bool)
        or not isinstance(precision, numbers.Integral)
        or precision < 0
    ):
        raise ValueError(
            "`precision` of nalu_rnn.formula must be an integer >= 0; "
            f"received precision={precision!r}"
        )
    if tolerance is None:
        tolerance = 0.5 * 10.0 ** (-precision)
    elif (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, numbers.Real)
        or not 0 <= tolerance <= 0.5
    ):
        raise ValueError(
            "`tolerance` of nalu_rnn.formula must be a number in [0, 0.5]; "
            f"received tolerance={tolerance!r}"
        )
    style = rendering.FormulaStyle(int(precision), float(tolerance))
    if isinstance(obj, ArithmeticCell):
        return "\n".join(_cell_lines(obj, "x", "h", style))
    if isinstance(obj, ArithmeticUnit):
        return "\n".join(_unit_lines(obj, "x", "y", style))
    if not isinstance(obj, keras.layers.Layer):
        raise ValueError(
            "nalu_rnn.formula expects a Keras layer, cell or model; "
            f"received {type(obj).__name__}"
        )
    items = _items(obj)
    if not items:
        raise ValueError(f"{obj.name} holds no arithmetic layers or cells")
    last_is_output = not isinstance(items[-1], ArithmeticCell)
    hidden = len(items) - 1 if last_is_output else len(items)
    # A cell is headed by the name of the RNN layer that runs it.
    rnn_names = {
        id(layer.cell): layer.name
        for layer in flatten_layers(obj)
        if isinstance(getattr(layer, "cell", None), ArithmeticCell)
    }
    blocks = []
    source = "x"
    for k, item in enumerate(items):
        if last_is_output and k == len(items) - 1:
            target = "y"
        else:
            target = "h" if hidden == 1 else f"h{k + 1}"
        if isinstance(item, ArithmeticCell):
            lines = _cell_lines(item, source, target, style)
            if len(items) == 1:
                return "\n".join(lines)
        else:
            lines = _unit_lines(item, source, target, style)
        name = rnn_names.get(id(item), item.name)
        blocks.append(f"{name} ({type(item).__name__}):")
        blocks.extend("  " + line for line in lines)
        source = target
    return "\n".join(blocks)
