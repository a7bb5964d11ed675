"""Argument checks shared by every layer and cell.

Each check raises `ValueError` naming the argument and the value received, so
that a mistake is reported where the user made it rather than deep inside a
backend.
"""

import math
import numbers


def validate_units(units, owner):
    if isinstance(units, bool) or not isinstance(units, numbers.Integral):
        raise ValueError(
            f"`units` of {owner} must be a positive integer; received units={units!r}"
        )
    if units <= 0:
        raise ValueError(
            f"`units` of {owner} must be a positive integer; received units={units!r}"
        )
    return int(units)


def validate_positive_float(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` of {owner} must be a positive number; received {name}={value!r}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`{name}` of {owner} must be a positive finite number; "
            f"received {name}={value!r}"
        )
    return float(value)


def validate_finite_float(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` of {owner} must be a finite number; received {name}={value!r}"
        )
    if not math.isfinite(value):
        raise ValueError(
            f"`{name}` of {owner} must be a finite number; received {name}={value!r}"
        )
    return float(value)


def validate_input_shape(input_shape, owner, exact_rank=None):
    """Checks a layer's input shape and returns its (known) last dimension."""
    shape = tuple(input_shape)
    rank_ok = len(shape) == exact_rank if exact_rank else len(shape) >= 2
    if not rank_ok:
        if exact_rank:
            expected = (
                f"one time step of rank {exact_rank} (batch, features), that is "
                "keras.layers.RNN inputs of rank 3 (batch, time, features)"
            )
        else:
            expected = "inputs of rank >= 2 (batch, ..., features)"
        raise ValueError(
            f"{owner} expects {expected}; received input_shape={shape} "
            f"(rank {len(shape)})"
        )
    if shape[-1] is None:
        raise ValueError(
            f"{owner} needs a known last (feature) dimension; "
            f"received input_shape={shape}"
        )
    return int(shape[-1])
