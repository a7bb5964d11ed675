"""Text pieces the units' `formula_lines` are written with.

`nalu_rnn.formula` prepares the weights and the names of the inputs and
hands them to the unit; these helpers write numbers, sums, products and
powers the same way for every unit.
"""

import numpy as np

from nalu_rnn.discrete import SIGNED_UNIT_VALUES, nearest_discrete


class FormulaStyle:
    """Number formatting and snapping shared by the units' formulas.

    Args:
        precision: Non-negative integer, decimals of the printed weights.
        tolerance: Largest distance to a discrete value at which a weight is
            written as that value.
    """

    def __init__(self, precision, tolerance):
        self.precision = precision
        self.tolerance = tolerance

    def snap(self, value, allowed=SIGNED_UNIT_VALUES):
        """`value` replaced by the nearest allowed value (None: any integer)
        when within tolerance."""
        target = float(nearest_discrete(value, allowed))
        return target if abs(value - target) <= self.tolerance else value

    def number(self, value):
        text = f"{value:.{self.precision}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text


def names(base, size, suffix=""):
    """`["x[0]", "x[1]", ...]`, or `["x"]` for a single entry."""
    if size == 1:
        return [base + suffix]
    return [f"{base}{suffix}[{i}]" for i in range(size)]


def linear(column, input_names, style, allowed=SIGNED_UNIT_VALUES):
    """`x[0] - 0.5*x[2]`: a linear combination, `0` when empty."""
    text = ""
    for weight, name in zip(column, input_names, strict=True):
        coefficient = style.snap(weight, allowed)
        if coefficient == 0:
            continue
        magnitude = abs(coefficient)
        term = name if magnitude == 1 else f"{style.number(magnitude)}*{name}"
        if not text:
            text = term if coefficient > 0 else "-" + term
        else:
            text += (" + " if coefficient > 0 else " - ") + term
    return text or "0"


def product(factors):
    """`a * b / c / d` from `(text, is_denominator)` pairs; `1` when empty."""
    numerator = [text for text, below in factors if not below]
    denominator = [text for text, below in factors if below]
    text = " * ".join(numerator) or "1"
    for below in denominator:
        text += " / " + below
    return text


def power(base, exponent, style):
    """`(text, is_denominator)` of `base ** exponent` for a non-zero exponent."""
    magnitude = abs(exponent)
    text = base if magnitude == 1 else f"{base}^{style.number(magnitude)}"
    return text, exponent < 0


def log_path(column, input_names, style, signed):
    """`prod x_i ** w_i` with exponents in {-1, 0, 1} where snapped.

    `signed=False` (NALU) writes `|x|`; `signed=True` (iNALU) writes `x` for
    snapped exponents, whose sign the sign retrieval restores, and `|x|`
    for the others.
    """
    factors = []
    for weight, name in zip(column, input_names, strict=True):
        exponent = style.snap(weight)
        if exponent == 0:
            continue
        exact = exponent in (-1.0, 1.0)
        base = name if signed and exact else f"|{name}|"
        factors.append(power(base, exponent, style))
    return product(factors)


def unit_gated_paths(w, w_m, raw_gates, input_names, style, signed):
    """Formulas of units with one input-independent gate per output unit.

    A gate that snaps to 1 (0) writes the additive (multiplicative) path
    alone; any other gate writes both paths weighted by it. `signed` is as
    for `log_path`.
    """
    # sigmoid without overflow: a snapped gate's raw value is +-1000.
    gates = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(raw_gates, np.float64)))
    lines = []
    for j in range(w.shape[1]):
        additive = linear(w[:, j], input_names, style)
        multiplicative = log_path(w_m[:, j], input_names, style, signed=signed)
        gate = style.snap(float(gates[j]), (0.0, 1.0))
        if gate == 1:
            lines.append(additive)
        elif gate == 0:
            lines.append(multiplicative)
        else:
            lines.append(
                f"{style.number(gate)} * ({additive}) + "
                f"{style.number(1 - gate)} * ({multiplicative})"
            )
    return lines
