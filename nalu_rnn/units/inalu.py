"""The improved Neural Arithmetic Logic Unit (iNALU)."""

import keras
from keras import ops

from nalu_rnn._validation import validate_positive_float
from nalu_rnn.units import rendering
from nalu_rnn.units.base import ArithmeticUnit, gated_weight
from nalu_rnn.units.cell import ArithmeticCell
from nalu_rnn.units.nmu import selected_product


@keras.saving.register_keras_serializable(package="nalu_rnn")
class INALU(ArithmeticUnit):
    """Improved NALU: separate paths, sign retrieval, clipped log and exp.

    With gated weights `W_a = tanh(W_hat) * sigmoid(M_hat)` and
    `W_m = tanh(W_hat_m) * sigmoid(M_hat_m)` (separate for the two paths)
    and one input-independent gate per output unit, the layer computes

    ```
    a   = x @ W_a                                          # summative path
    m   = exp(min(log(max(|x|, omega)) @ W_m, max_exp))    # multiplicative
    s_j = prod_i (sign(x_i) * |W_m,ij| + 1 - |W_m,ij|)     # sign retrieval
    g   = sigmoid(G)                                       # shape (units,)
    y   = g * a + (1 - g) * m * s
    ```

    Against the NALU: the sign factor `s` gives products and quotients of
    negative inputs their sign; clipping `|x|` at `omega` and the exponent
    at `max_exp` keeps the multiplicative path and its gradient finite; the
    gate no longer depends on the input, so it does not flip between paths
    when the input range changes. The paper's weight reinitialisation on
    stalled training is the callback
    `nalu_rnn.callbacks.INALUReinitialization`.

    Args:
        units: Positive integer, dimensionality of the output space.
        omega: Positive float, the smallest `|x|` that enters the logarithm.
            Defaults to `1e-7`.
        max_exp: Positive float, the largest exponent of the multiplicative
            path. Defaults to `20.0`.
        kernel_initializer: Initializer for `W_hat` and `W_hat_m`. Defaults
            to `keras.initializers.RandomNormal(0.88, 0.2)` (the authors').
        mask_initializer: Initializer for `M_hat` and `M_hat_m`. Defaults to
            `keras.initializers.RandomNormal(0.5, 0.2)` (the authors').
        gate_initializer: Initializer for the gate vector `G`. Defaults to
            `keras.initializers.RandomNormal(0.0, 0.2)` (the authors').
        kernel_regularizer: Regularizer applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_regularizer: Regularizer applied to `G`. Defaults to `None`.
        kernel_constraint: Constraint applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_constraint: Constraint applied to `G`. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weights
            `W_a` and `W_m`, such as `nalu_rnn.SparsityRegularizer`.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(-2, 2, size=(32, 10)).astype("float32")
    inalu = nalu_rnn.INALU(4)
    y = inalu(x)  # shape (32, 4)
    ```

    Reference:
        - [Schlör, Ring & Hotho, 2020](https://arxiv.org/abs/2003.07629)
    """

    def __init__(
        self,
        units,
        omega=1e-7,
        max_exp=20.0,
        kernel_initializer=None,
        mask_initializer=None,
        gate_initializer=None,
        kernel_regularizer=None,
        gate_regularizer=None,
        kernel_constraint=None,
        gate_constraint=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        if mask_initializer is None:
            mask_initializer = keras.initializers.RandomNormal(0.5, 0.2)
        if gate_initializer is None:
            gate_initializer = keras.initializers.RandomNormal(0.0, 0.2)
        super().__init__(
            units,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
            arithmetic_regularizer=arithmetic_regularizer,
            **kwargs,
        )
        self.omega = validate_positive_float(omega, "omega", "INALU")
        self.max_exp = validate_positive_float(max_exp, "max_exp", "INALU")
        self.mask_initializer = keras.initializers.get(mask_initializer)
        self._set_gate_arguments(gate_initializer, gate_regularizer, gate_constraint)

    @classmethod
    def default_kernel_initializer(cls):
        return keras.initializers.RandomNormal(0.88, 0.2)

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W_hat, self.M_hat = self._add_gated_kernel(
            input_dim, mask_initializer=self.mask_initializer
        )
        self.W_hat_m, self.M_hat_m = self._add_gated_kernel(
            input_dim, "_m", mask_initializer=self.mask_initializer
        )
        self.G = self._add_gate("G", (self.units,))

    def derived_weights(self):
        w_m = gated_weight(self.W_hat_m, self.M_hat_m)
        return (
            gated_weight(self.W_hat, self.M_hat),
            w_m,
            ops.abs(w_m),
            ops.sigmoid(self.G),
        )

    def call_with(self, inputs, weights):
        w_a, w_m, sign_weight, gate = weights
        additive = ops.matmul(inputs, w_a)
        log_magnitude = ops.log(ops.maximum(ops.abs(inputs), self.omega))
        exponent = ops.minimum(ops.matmul(log_magnitude, w_m), self.max_exp)
        sign = selected_product(ops.sign(inputs), sign_weight)
        return gate * additive + (1.0 - gate) * ops.exp(exponent) * sign

    def formula_lines(self, weights, input_names, style):
        """The path the gate selects, or both paths weighted by the gate.

        Snapped exponents of the multiplicative path are written over `x`
        (`x[0] * x[1]`: the sign retrieval restores signs), the others as
        powers of `|x|`, the sign factor then left out.
        """
        return rendering.unit_gated_paths(
            weights["W"], weights["W_m"], weights["G"], input_names, style, signed=True
        )

    def unit_gate(self):
        return self.G

    def get_config(self):
        return {
            **super().get_config(),
            "omega": self.omega,
            "max_exp": self.max_exp,
            "mask_initializer": keras.initializers.serialize(self.mask_initializer),
            **self._gate_config(),
        }


@keras.saving.register_keras_serializable(package="nalu_rnn")
class INALUCell(ArithmeticCell):
    """Recurrent iNALU cell: a gated running sum or signed running product.

    Computes `h_t = INALU(concat([x_t, h_{t-1}]))`. With the gate open
    (`sigmoid(G) = 1`) it behaves like a `NACCell`; with it closed and
    `initial_state_value=1.0` it keeps a running product that, unlike the
    `NALUCell`'s, carries the sign of negative inputs.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state; use `1.0`
            for running products. Defaults to `0.0`.
        omega: Positive float, the smallest `|z|` that enters the logarithm.
            Defaults to `1e-7`.
        max_exp: Positive float, the largest exponent of the multiplicative
            path. Defaults to `20.0`.
        kernel_initializer: Initializer for `W_hat` and `W_hat_m`; `None`
            means `keras.initializers.RandomNormal(0.88, 0.2)`. Defaults to
            `None`.
        mask_initializer: Initializer for `M_hat` and `M_hat_m`; `None`
            means `keras.initializers.RandomNormal(0.5, 0.2)`. Defaults to
            `None`.
        gate_initializer: Initializer for the gate vector `G`; `None` means
            `keras.initializers.RandomNormal(0.0, 0.2)`. Defaults to `None`.
        kernel_regularizer: Regularizer applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_regularizer: Regularizer applied to `G`. Defaults to `None`.
        kernel_constraint: Constraint applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_constraint: Constraint applied to `G`. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weights,
            such as `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(-1, 1, size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.INALUCell(4))
    h = rnn(x)  # shape (32, 4)
    ```

    Reference:
        - [Schlör, Ring & Hotho, 2020](https://arxiv.org/abs/2003.07629)
    """

    unit_class = INALU

    def __init__(
        self,
        units,
        initial_state_value=0.0,
        omega=1e-7,
        max_exp=20.0,
        kernel_initializer=None,
        mask_initializer=None,
        gate_initializer=None,
        kernel_regularizer=None,
        gate_regularizer=None,
        kernel_constraint=None,
        gate_constraint=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            units,
            initial_state_value,
            {
                "omega": omega,
                "max_exp": max_exp,
                "kernel_initializer": kernel_initializer,
                "mask_initializer": mask_initializer,
                "gate_initializer": gate_initializer,
                "kernel_regularizer": kernel_regularizer,
                "gate_regularizer": gate_regularizer,
                "kernel_constraint": kernel_constraint,
                "gate_constraint": gate_constraint,
                "arithmetic_regularizer": arithmetic_regularizer,
            },
            **kwargs,
        )
