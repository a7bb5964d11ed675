"""Distance of arithmetic weights to the discrete values they should reach.

One definition serves the sparsity regulariser (on tensors, inside the
training step), the weight monitor, weight hardening and the formulas (on
NumPy arrays). A unit declares the values of each of its weights
(`ArithmeticUnit.discrete_values`); `None` stands for "any integer", the
exponents of an NPU, and `Multiples(0.5)` for any multiple of 1/2, the
exponents of a RealNPU (roots included).
"""

import dataclasses
import numbers

import numpy as np
from keras import ops

# The values of gated weights, NAU weights and the sparsity regulariser.
SIGNED_UNIT_VALUES = (-1.0, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Multiples:
    """Every integer multiple of `step`, as discrete values of a weight.

    Args:
        step: The positive spacing of the values; `Multiples(1.0)` is the
            integers (as `None`), `Multiples(0.5)` adds the halves.
    """

    step: float

    def __post_init__(self):
        if not (isinstance(self.step, numbers.Real) and self.step > 0):
            raise ValueError(
                f"`step` must be a positive number; received {self.step!r}"
            )


# What `values=None` stands for: any integer.
INTEGERS = Multiples(1.0)


def _is_host_value(weights):
    return isinstance(weights, (np.ndarray, np.generic, numbers.Number, list, tuple))


def distance_to_discrete(weights, values=SIGNED_UNIT_VALUES):
    """Elementwise distance of `weights` to the nearest entry of `values`.

    NumPy arrays (and lists, numbers) are measured in float64 with NumPy and
    give a NumPy array; tensors and variables are measured with `keras.ops`
    in their own dtype and give a tensor, so the result can be a loss.

    For `values = (-1, 0, 1)` the distance is written
    `min(|w|, |1 - |w||)`: the same number as the distance to each of the
    three, one comparison fewer, and the form the sparsity regulariser has
    always differentiated.

    Args:
        weights: Array-like, tensor or variable of any shape.
        values: Sequence of the discrete values, `None` for any integer, or
            `Multiples(step)`. Defaults to `(-1.0, 0.0, 1.0)`.

    Returns:
        The distances, of the shape of `weights`.
    """
    if _is_host_value(weights):
        xp = np
        weights = np.asarray(weights, np.float64)
    else:
        xp = ops
    values = INTEGERS if values is None else values
    if isinstance(values, Multiples):
        return xp.abs(weights - xp.round(weights / values.step) * values.step)
    values = tuple(float(v) for v in values)
    if values == SIGNED_UNIT_VALUES:
        magnitude = xp.abs(weights)
        return xp.minimum(magnitude, xp.abs(1.0 - magnitude))
    distance = None
    for value in values:
        gap = xp.abs(weights - value)
        distance = gap if distance is None else xp.minimum(distance, gap)
    return distance


def nearest_discrete(weights, values=SIGNED_UNIT_VALUES):
    """The entry of `values` nearest to each weight (float64 NumPy).

    Ties go to the entry listed first. `values=None` rounds to the nearest
    integer, `Multiples(step)` to the nearest multiple of `step`.
    """
    weights = np.asarray(weights, np.float64)
    values = INTEGERS if values is None else values
    if isinstance(values, Multiples):
        return np.round(weights / values.step) * values.step
    allowed = np.asarray(values, dtype=np.float64)
    index = np.argmin(np.abs(weights[..., None] - allowed), axis=-1)
    return allowed[index]


def is_discrete(weights, values=SIGNED_UNIT_VALUES):
    """Whether every entry of `weights` is exactly one of `values` (as for
    `nearest_discrete`)."""
    weights = np.asarray(weights, np.float64)
    return bool(np.array_equal(nearest_discrete(weights, values), weights))
