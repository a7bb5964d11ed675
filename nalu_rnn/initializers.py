"""Initializers for arithmetic cells."""

import keras
from keras import ops

from nalu_rnn._validation import validate_finite_float


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
        self.value = validate_finite_float(value, "value", "StateIdentity")
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


@keras.saving.register_keras_serializable(package="nalu_rnn")
class BlockIdentity(keras.initializers.Initializer):
    """Starts a cell kernel at `value` on the diagonals of both blocks, 0 elsewhere.

    A cell kernel has shape `(input_dim + units, units)`: input rows first,
    state rows last. This initializer puts `value` on the diagonal of the
    input block (the leading `min(input_dim, units)` diagonal entries) and
    of the state block, and 0 everywhere else. Used for both `W_hat` and
    `M_hat` it makes the effective weight `tanh(value) * sigmoid(value)`
    (0.99995 for `value = 10`) on both diagonals and exactly 0 elsewhere:
    the cell starts as the running sum `h_t = h_{t-1} + x_t`. An upstream
    encoder then only has to learn what to feed that sum, which is how a
    ConvNet + `NACCell` head learns MNIST counting and addition at all
    within minutes; random starts learn nothing in that time. The
    off-diagonal zeros still get gradient (`sigmoid(0) = 0.5`), so
    cross-talk can be learnt where it helps.

    Args:
        value: Float value of both diagonals. Defaults to `10.0`.

    Example:

    ```python
    init = nalu_rnn.initializers.BlockIdentity(10.0)
    cell = nalu_rnn.NACCell(10, kernel_initializer=init)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508), MNIST
          counting and addition (section 4.2).
    """

    def __init__(self, value=10.0):
        self.value = validate_finite_float(value, "value", "BlockIdentity")

    def __call__(self, shape, dtype=None):
        rows, units = shape
        if rows < units:
            raise ValueError(
                "BlockIdentity needs a cell kernel of shape (input_dim + units, "
                f"units); received shape={tuple(shape)}"
            )
        input_block = self.value * ops.eye(rows - units, units, dtype=dtype)
        state_block = self.value * ops.eye(units, dtype=dtype)
        return ops.concatenate([input_block, state_block], axis=0)

    def get_config(self):
        return {"value": self.value}
