"""The Neural Multiplication Unit (NMU)."""

import keras
from keras import ops

from nalu_rnn.units import rendering
from nalu_rnn.units.base import ArithmeticUnit
from nalu_rnn.units.cell import ArithmeticCell


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

    def formula_lines(self, weights, input_names, style):
        """A product of the selected inputs, `x[0] * x[1]`, with
        `(w*x + 1-w)` for a weight `w` strictly between 0 and 1."""
        w = weights["W"]
        lines = []
        for j in range(w.shape[1]):
            factors = []
            for weight, name in zip(w[:, j], input_names, strict=True):
                value = style.snap(weight, (0.0, 1.0))
                if value == 1:
                    factors.append((name, False))
                elif value != 0:
                    factor = (
                        f"({style.number(value)}*{name} + {style.number(1 - value)})"
                    )
                    factors.append((factor, False))
            lines.append(rendering.product(factors))
        return lines


def selected_product(x, w):
    """`prod_i (w_ij * x_i + 1 - w_ij)` over the last axis of `x`.

    `x` has shape `(..., in)` and `w` `(in, units)`; the result has shape
    `(..., units)`.
    """
    factors = ops.expand_dims(x, -1) * w + (1.0 - w)
    return ops.prod(factors, axis=-2)


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NMUCell(ArithmeticCell):
    """Recurrent NMU cell: a running product of selected inputs.

    Computes `h_t = NMU(concat([x_t, h_{t-1}]))`, i.e.
    `h_t[j] = prod_i (W_ij * z_i + 1 - W_ij)` over `z = concat([x_t,
    h_{t-1}])` with `W` clipped to [0, 1]. With the state rows at the
    identity and the input rows selecting inputs it keeps their running
    product. The initial state defaults to `1.0`, the neutral element of a
    product (with `0.0` every state that multiplies itself stays 0).

    A product over time is not a product of sums: for `(sum a) * (sum b)` a
    `NAUCell` followed by an `NMU` read-out is the right model (the
    registry's `nmu` entry, `nalu_rnn.models.CELLS["nmu"]`).

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `1.0`.
        kernel_initializer: Initializer for `W`, of shape
            `(input_dim + units, units)`; `None` means
            `keras.initializers.RandomUniform(0.25, 0.75)`. Defaults to
            `None`.
        kernel_regularizer: Regularizer applied to `W`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W` before the clipping to
            [0, 1]. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`, such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(0.5, 1.5, size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.NMUCell(2))
    h = rnn(x)  # shape (32, 2)
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
    """

    unit_class = NMU

    def __init__(
        self,
        units,
        initial_state_value=1.0,
        kernel_initializer=None,
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
