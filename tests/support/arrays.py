"""NumPy copies of backend tensors, for comparisons on every backend."""

import numpy as np
from keras import ops


def as_numpy(value, dtype=None):
    """`np.asarray(value, dtype)` that also takes a torch tensor with a grad.

    Torch refuses `np.asarray` of a tensor that is part of an autograd graph,
    which every eager layer call returns; `keras.ops.convert_to_numpy`
    detaches it first, and passes NumPy arrays and other backends' tensors
    through.
    """
    return np.asarray(ops.convert_to_numpy(value), dtype)


def assert_allclose(actual, desired, *args, **kwargs):
    """`np.testing.assert_allclose` of `as_numpy(actual)`, `as_numpy(desired)`."""
    np.testing.assert_allclose(as_numpy(actual), as_numpy(desired), *args, **kwargs)


def assert_array_equal(actual, desired, *args, **kwargs):
    """`np.testing.assert_array_equal` of the two as NumPy arrays."""
    np.testing.assert_array_equal(as_numpy(actual), as_numpy(desired), *args, **kwargs)
