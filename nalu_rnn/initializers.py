"""Initializers for arithmetic cells."""

import keras
from keras import ops

from nalu_rnn._validation import validate_finite_float
from nalu_rnn.units.nau import NAUInitializer


def _cell_kernel(initializer, shape, input_block, state_block):
    """Stacks `input_block(rows, units)` over `state_block(units)`.

    A cell kernel has shape `(input_dim + units, units)`: input rows first,
    state rows last; what the three initializers here differ in is only
    what they put in each block.
    """
    rows, units = shape
    if rows < units:
        raise ValueError(
            f"{type(initializer).__name__} needs a cell kernel of shape "
            f"(input_dim + units, units); received shape={tuple(shape)}"
        )
    return ops.concatenate(
        [input_block(rows - units, units), state_block(units)], axis=0
    )


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
        return _cell_kernel(
            self,
            shape,
            # Drawn at the full shape, so the input rows keep the fan-in and
            # fan-out scaling of the whole kernel.
            lambda rows, units: self.base(shape, dtype=dtype)[:rows],
            lambda units: self.value * (2.0 * ops.eye(units, dtype=dtype) - 1.0),
        )

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
        return _cell_kernel(
            self,
            shape,
            lambda rows, units: self.value * ops.eye(rows, units, dtype=dtype),
            lambda units: self.value * ops.eye(units, dtype=dtype),
        )

    def get_config(self):
        return {"value": self.value}


@keras.saving.register_keras_serializable(package="nalu_rnn")
class StateBlockIdentity(keras.initializers.Initializer):
    """Starts a cell kernel used as it is with its state block at `value * I`.

    For cells whose kernel is the weight itself (`NAUCell`, `NMUCell`,
    `RealNPUCell`, ...), unlike `nalu_rnn.StateIdentity` which drives the
    gated `W_hat`/`M_hat` of NAC-style cells. The kernel has shape
    `(input_dim + units, units)`, input rows first: the input rows are drawn
    from `base`, the last `units` rows are `value` on the diagonal and
    exactly 0 off it. With `value = 1` a NAU cell starts as the running sum
    `h_t = h_{t-1} + x_t @ W_x` (and an NMU or NPU cell as a running
    product), so training only has to learn what to add.

    Args:
        value: Float value of the state block's diagonal. Defaults to `1.0`.
        base: Initializer for the input rows. Defaults to
            `nalu_rnn.units.NAUInitializer()`.

    Example:

    ```python
    init = nalu_rnn.initializers.StateBlockIdentity(1.0)
    cell = nalu_rnn.NAUCell(2, kernel_initializer=init)
    ```
    """

    def __init__(self, value=1.0, base=None):
        self.value = validate_finite_float(value, "value", "StateBlockIdentity")
        self.base = keras.initializers.get(base or NAUInitializer())

    def __call__(self, shape, dtype=None):
        return _cell_kernel(
            self,
            shape,
            lambda rows, units: self.base((rows, units), dtype=dtype),
            lambda units: self.value * ops.eye(units, dtype=dtype),
        )

    def get_config(self):
        return {"value": self.value, "base": keras.initializers.serialize(self.base)}
