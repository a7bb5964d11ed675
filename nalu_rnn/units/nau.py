"""The Neural Addition Unit (NAU)."""

import math

import keras
from keras import ops

from nalu_rnn.units.base import ArithmeticUnit
from nalu_rnn.units.cell import ArithmeticCell


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NAUInitializer(keras.initializers.RandomUniform):
    """Madsen & Johansen's NAU initialisation: uniform, Glorot variance, capped.

    Draws from `U[-r, r]` with `r = min(cap, sqrt(3) * sigma)` and
    `sigma = sqrt(2 / (fan_in + fan_out))`: the Glorot variance for a
    linear layer, except that the range never exceeds `cap`. With `cap = 0.5`
    (the paper's) every weight starts at most halfway to -1 or 1, so none is
    pushed to a discrete value before the gradient says which.

    Args:
        cap: Positive float, the largest `r`. Defaults to `0.5`.
        seed: Integer seed or `keras.random.SeedGenerator`, as for
            `keras.initializers.RandomUniform`. Defaults to `None`.

    Example:

    ```python
    init = nalu_rnn.units.NAUInitializer(cap=0.5)
    nau = nalu_rnn.NAU(4, kernel_initializer=init)
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016),
          section 2.5 and appendix C.
    """

    def __init__(self, cap=0.5, seed=None):
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0:
            raise ValueError(
                "`cap` of NAUInitializer must be a positive number; "
                f"received cap={cap!r}"
            )
        self.cap = float(cap)
        super().__init__(minval=-self.cap, maxval=self.cap, seed=seed)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = shape[-2], shape[-1]
        limit = min(self.cap, math.sqrt(3.0) * math.sqrt(2.0 / (fan_in + fan_out)))
        return keras.random.uniform(
            shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed
        )

    def get_config(self):
        return {"cap": self.cap, "seed": super().get_config()["seed"]}


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NAU(ArithmeticUnit):
    """Neural Addition Unit: a linear layer whose weight is kept in [-1, 1].

    The layer computes

    ```
    y = x @ W                 # no bias; W used as it is, shape (in, units)
    ```

    and clips `W` to [-1, 1] after every optimizer update. Unlike the NAC's
    `tanh(W_hat) * sigmoid(M_hat)`, whose gradient fades wherever the tanh
    or the sigmoid saturates, the NAU has the plain gradient of a linear
    layer; discreteness comes from the clipping and from Madsen &
    Johansen's sparsity regulariser (`nalu_rnn.SparsityRegularizer` as
    `arithmetic_regularizer`, raised by `nalu_rnn.callbacks.SparsityWarmup`),
    which pulls each weight to exactly -1, 0 or 1.

    Args:
        units: Positive integer, dimensionality of the output space.
        kernel_initializer: Initializer for `W`. Defaults to
            `nalu_rnn.units.NAUInitializer()` (uniform with Glorot variance,
            range capped at 0.5, the paper's).
        kernel_regularizer: Regularizer applied to `W`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W` after every update,
            before the clipping to [-1, 1]. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`, such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(size=(32, 10)).astype("float32")
    nau = nalu_rnn.NAU(
        4, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
    )
    y = nau(x)  # shape (32, 4)
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
    """

    linear = True

    @classmethod
    def default_kernel_initializer(cls):
        return NAUInitializer()

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W = self._add_direct_kernel(
            "W", input_dim, snap_values=(-1.0, 0.0, 1.0), clip=(-1.0, 1.0)
        )

    def derived_weights(self):
        return (self.W,)

    def call_with(self, inputs, weights):
        return ops.matmul(inputs, weights[0])


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NAUCell(ArithmeticCell):
    """Recurrent NAU cell: an exact running sum when its weights are 0 or 1.

    Computes `h_t = NAU(concat([x_t, h_{t-1}]))`, i.e.
    `h_t = x_t @ W_x + h_{t-1} @ W_h` with `W` clipped to [-1, 1]. With
    `W_h = I` and `W_x` selecting inputs it keeps their running sum (or
    difference), exactly, over any length; it is Madsen & Johansen's
    recurrent unit for sums.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state, the
            neutral start of a sum by default. Defaults to `0.0`.
        kernel_initializer: Initializer for `W`, of shape
            `(input_dim + units, units)`; `None` means
            `nalu_rnn.units.NAUInitializer()`. Defaults to `None`.
        kernel_regularizer: Regularizer applied to `W`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W` before the clipping to
            [-1, 1]. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`, such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.NAUCell(2), return_sequences=True)
    h = rnn(x)  # shape (32, 10, 2)
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
    """

    unit_class = NAU

    def __init__(
        self,
        units,
        initial_state_value=0.0,
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
