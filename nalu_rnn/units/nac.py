"""The Neural Accumulator (NAC)."""

import keras
from keras import ops

from nalu_rnn.units.base import ArithmeticUnit, gated_weight
from nalu_rnn.units.cell import ArithmeticCell


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NAC(ArithmeticUnit):
    """Neural Accumulator: a linear layer whose weights are pushed to {-1, 0, 1}.

    The layer computes `a = x @ W` with no bias, where
    `W = tanh(W_hat) * sigmoid(M_hat)`. Every entry of `W` lies in [-1, 1] and
    the gradient vanishes at -1, 0 and 1, so a trained NAC adds and subtracts
    its inputs exactly and keeps doing so far outside the training range.

    Args:
        units: Positive integer, dimensionality of the output space.
        kernel_initializer: Initializer for the `W_hat` and `M_hat` matrices.
            Defaults to `"glorot_uniform"`.
        kernel_regularizer: Regularizer applied to `W_hat` and `M_hat`.
            Defaults to `None`.
        kernel_constraint: Constraint applied to `W_hat` and `M_hat`.
            Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weight
            `W`, such as `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(size=(32, 10)).astype("float32")
    nac = nalu_rnn.NAC(4)
    y = nac(x)  # shape (32, 4)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508)
    """

    linear = True

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W_hat, self.M_hat = self._add_gated_kernel(input_dim)

    def derived_weights(self):
        return (gated_weight(self.W_hat, self.M_hat),)

    def call_with(self, inputs, weights):
        return ops.matmul(inputs, weights[0])


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NACCell(ArithmeticCell):
    """Recurrent NAC cell: an exact running sum when its weights are 1.

    Computes `h_t = NAC(concat([x_t, h_{t-1}]))`. With the state rows of `W`
    at the identity and the input rows selecting some inputs, it keeps a
    running sum of them; the weights are pushed towards {-1, 0, 1}, so the sum
    stays exact over sequences far longer than those seen in training.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `0.0`.
        kernel_initializer: Initializer for `W_hat` and `M_hat`, each of shape
            `(input_dim + units, units)`. Defaults to `"glorot_uniform"`.
        kernel_regularizer: Regularizer applied to `W_hat` and `M_hat`.
            Defaults to `None`.
        kernel_constraint: Constraint applied to `W_hat` and `M_hat`.
            Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weight
            `W`, such as `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.NACCell(2), return_sequences=True)
    h = rnn(x)  # shape (32, 10, 2)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508)
    """

    unit_class = NAC

    def __init__(
        self,
        units,
        initial_state_value=0.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            units,
            initial_state_value,
            {
                "kernel_initializer": kernel_initializer,
                "kernel_regularizer": kernel_regularizer,
                "kernel_constraint": kernel_constraint,
                "arithmetic_regularizer": arithmetic_regularizer,
            },
            **kwargs,
        )
