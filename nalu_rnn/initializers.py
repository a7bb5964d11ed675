"""Initializers for arithmetic cells."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nalu_rnn")
class StateIdentity(keras.initializers.Initializer):
    """Starts a cell kernel with its state-to-state block at `value * I`.

    A cell kernel has shape `(input_dim + units, units)`: input rows first,
    state rows last. This initializer draws the whole kernel from `base`,
    then sets the last `units` rows to `value` on the diagonal and `-value`
    off it. Used for both `W_hat` and `M_hat` it makes the state-to-state
    weights `tanh(value) * sigmoid(value)` (close to 1 for `value >= 3`) on
    the diagonal and close to 0 elsewhere: the cell starts as a running
    memory of its state, as an identity-initialised RNN does, and only has
    to learn what to add to it. Random starts leave that block near 0, where
    the state is forgotten after a few steps and length-10 sums are learnt
    slowly and extrapolate badly.

    Args:
        value: Float magnitude of the diagonal. Defaults to `3.0`.
        base: Initializer for the other entries. Defaults to
            `"glorot_uniform"`.

    Example:

    ```python
    cell = nalu_rnn.NACCell(2, kernel_initializer=nalu_rnn.StateIdentity(3.0))
    ```
    """

    def __init__(self, value=3.0, base="glorot_uniform"):
        self.value = float(value)
        self.base = keras.initializers.get(base)

    def __call__(self, shape, dtype=None):
        rows, units = shape
        if rows < units:
            raise ValueError(
                "StateIdentity needs a cell kernel of shape (input_dim + units, "
                f"units); received shape={tuple(shape)}"
            )
        kernel = self.base(shape, dtype=dtype)
        eye = ops.eye(units, dtype=dtype)
        block = self.value * (2.0 * eye - 1.0)
        return ops.concatenate([kernel[: rows - units], block], axis=0)

    def get_config(self):
        return {"value": self.value, "base": keras.initializers.serialize(self.base)}
