"""Argument checks shared by every layer and cell.

Each check raises `ValueError` naming the argument and the value received, so
that a mistake is reported where the user made it rather than deep inside a
backend.
"""

import math
import numbers


def validate_units(units, owner):
    return validate_positive_int(units, "units", owner)


def validate_positive_int(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"`{name}` of {owner} must be a positive integer; received {name}={value!r}"
        )
    return int(value)


def _validated_float(value, name, owner, kind, accept):
    """`float(value)` if it is a finite real number that `accept`s, else a
    `ValueError` that says it must be a `kind` number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` of {owner} must be a {kind} number; received {name}={value!r}"
        )
    if not math.isfinite(value) or not accept(value):
        raise ValueError(
            f"`{name}` of {owner} must be a {kind} finite number; "
            f"received {name}={value!r}"
        )
    return float(value)


def validate_positive_float(value, name, owner):
    return _validated_float(value, name, owner, "positive", lambda v: v > 0)


def validate_non_negative_float(value, name, owner):
    return _validated_float(value, name, owner, "non-negative", lambda v: v >= 0)


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


def validate_tolerance(value, name, owner, high=0.5):
    """A number in `[0, high]`; NaN, infinities and non-numbers are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 <= value <= high
    ):
        raise ValueError(
            f"`{name}` of {owner} must be a number in [0, {high}]; "
            f"received {name}={value!r}"
        )
    return float(value)


def _dtype_name(dtype):
    # `standardize_dtype` maps numpy, backend and string dtypes to one name;
    # it raises on what is no dtype at all, which is reported as received.
    import keras

    try:
        return keras.backend.standardize_dtype(dtype)
    except (ValueError, TypeError, AttributeError):
        return str(getattr(dtype, "name", dtype))


def _is_float_dtype(dtype):
    import keras

    name = _dtype_name(dtype)
    try:
        return keras.backend.is_float_dtype(name)
    except (ValueError, TypeError):
        return False


def validate_float_dtype_policy(layer, owner):
    """The layer computes and stores its weights in a floating-point type.

    A `dtype="int32"` layer would build integer weights that cannot be
    trained, and fail later inside a backend op with no hint why.
    """
    for kind, dtype in (
        ("compute", layer.compute_dtype),
        ("variable", layer.variable_dtype),
    ):
        if not _is_float_dtype(dtype):
            raise ValueError(
                f"`dtype` of {owner} must be a floating-point type (or policy); "
                f"received dtype={layer.dtype_policy.name!r} "
                f"({kind} dtype {dtype})"
            )


def validate_float_inputs(inputs, owner, name="inputs"):
    """`inputs` (anything with a dtype) holds floating-point values.

    A Python-level check of the static dtype: run once per trace, never a
    tensor op, so it costs nothing inside a compiled RNN loop. Objects
    without a dtype (lists, nested structures) are left to Keras.
    """
    dtype = getattr(inputs, "dtype", None)
    if dtype is None or _is_float_dtype(dtype):
        return
    raise ValueError(
        f"{owner} expects floating-point `{name}`; received {name} of dtype "
        f"{_dtype_name(dtype)}. Cast first, e.g. keras.ops.cast({name}, "
        '"float32")'
    )


def validate_array(value, name, owner, rank, kind, shape_hint):
    """Converts `value` to a NumPy array of `rank` whose dtype is of `kind`
    ("float", "integer" or "numeric"); returns it.

    For NumPy-level helpers (evaluation, encoding), where a wrong rank or
    dtype would otherwise surface as an IndexError or a backend traceback.
    """
    import numpy as np

    array = np.asarray(value)
    dtype_ok = {
        "float": np.issubdtype(array.dtype, np.floating),
        "integer": np.issubdtype(array.dtype, np.integer),
        "numeric": np.issubdtype(array.dtype, np.number),
    }[kind]
    if array.ndim != rank or not dtype_ok:
        raise ValueError(
            f"`{name}` of {owner} must be {'an' if kind == 'integer' else 'a'} "
            f"{kind} array of rank {rank} "
            f"{shape_hint}; received {name} of shape {array.shape} and dtype "
            f"{array.dtype}"
        )
    if kind != "integer" and array.size and not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{name}` of {owner} must hold finite values; received {name} "
            "with NaN or infinite entries"
        )
    return array
