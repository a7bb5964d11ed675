"""The Neural Multiplication Unit (NMU)."""

import keras
from keras import ops

from nalu_rnn.units.base import ArithmeticUnit


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NMU(ArithmeticUnit):
    """Neural Multiplication Unit: multiplies a learnt subset of its inputs.

    With `W` used as it is and kept in [0, 1], the layer computes

    ```
    y_j = prod_i (W_ij * x_i + 1 - W_ij)
    ```

    Each factor is `x_i` when `W_ij = 1` and the neutral `1` when
    `W_ij = 0`, so a trained NMU multiplies exactly the inputs it selected,
    with their signs, also near and below zero (where the NALU's log path
    fails). `W` is clipped to [0, 1] after every optimizer update; Madsen &
    Johansen's sparsity regulariser (`nalu_rnn.SparsityRegularizer` as
    `arithmetic_regularizer`) pulls each weight to exactly 0 or 1. The NMU
    cannot divide.

    Args:
        units: Positive integer, dimensionality of the output space.
        kernel_initializer: Initializer for `W`. Defaults to
            `keras.initializers.RandomUniform(0.25, 0.75)` (mean 1/2, small
            variance: the paper's `U[1/2 - 1/4, 1/2 + 1/4]`).
        kernel_regularizer: Regularizer applied to `W`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W` after every update,
            before the clipping to [0, 1]. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`, such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(-2, 2, size=(32, 10)).astype("float32")
    nmu = nalu_rnn.NMU(
        4, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
    )
    y = nmu(x)  # shape (32, 4)
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
    """

    @classmethod
    def default_kernel_initializer(cls):
        return keras.initializers.RandomUniform(0.25, 0.75)

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W = self._add_direct_kernel(
            "W", input_dim, snap_values=(0.0, 1.0), clip=(0.0, 1.0)
        )

    def derived_weights(self):
        return (self.W,)

    def call_with(self, inputs, weights):
        return selected_product(inputs, weights[0])


def selected_product(x, w):
    """`prod_i (w_ij * x_i + 1 - w_ij)` over the last axis of `x`.

    `x` has shape `(..., in)` and `w` `(in, units)`; the result has shape
    `(..., units)`.
    """
    factors = ops.expand_dims(x, -1) * w + (1.0 - w)
    return ops.prod(factors, axis=-2)
