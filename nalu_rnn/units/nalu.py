"""The Neural Arithmetic Logic Unit (NALU)."""

import keras
import numpy as np
from keras import ops

from nalu_rnn._validation import validate_positive_float
from nalu_rnn.regularizers import GatePenalty
from nalu_rnn.units import rendering
from nalu_rnn.units.base import ArithmeticUnit, gated_weight
from nalu_rnn.units.cell import ArithmeticCell

GATES = ("input", "unit")


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NALU(ArithmeticUnit):
    """Neural Arithmetic Logic Unit: a gated mix of addition and multiplication.

    With `W = tanh(W_hat) * sigmoid(M_hat)` the layer computes

    ```
    a = x @ W                              # additive path (a NAC)
    m = exp(log(|x| + epsilon) @ W_m)      # multiplicative path, in log space
    g = sigmoid(x @ G)                     # one gate per output unit
    y = g * a + (1 - g) * m
    ```

    With `gate="unit"` the gate no longer reads the input: `g = sigmoid(G)`,
    one learnt `G` per output unit (the iNALU's gate). A gate that reads its
    input changes its mind when the input range changes, and in a recurrent
    cell its input includes the growing state; a unit gate chooses its
    operation once, for every input and every step. Given an
    `arithmetic_regularizer`, a unit gate is also pulled towards 0 or 1
    with the same schedule (`nalu_rnn.regularizers.GatePenalty`), and
    `nalu_rnn.harden` snaps a gate near 0 or 1 to exactly that. A gate of
    exactly 1 (0) returns the additive (multiplicative) path exactly,
    whatever the size of the other one.

    With `shared_weights=True` (the paper's "two NACs with tied weights")
    `W_m = W`; with `shared_weights=False` the multiplicative path has its
    own `W_hat_m` and `M_hat_m`. The multiplicative path loses the sign of
    its inputs (`m > 0`) and is unstable for `|x|` near 0: a negative
    weight on a small input makes the exponent large, and past about 88
    `exp` overflows float32, so the output and gradients become Inf and
    NaN. `max_exp` caps the exponent, as the iNALU does
    (`m = exp(min(log(|x| + epsilon) @ W_m, max_exp))`): below the cap the
    unit is unchanged, above it `m` stays finite and its gradient is 0.

    With `sign_correction=True` the multiplicative path gets its sign back,
    as the iNALU's sign retrieval does:

    ```
    s_j = prod_i (1 - 2 |W_m,ij| [x_i < 0])
    y   = g * a + (1 - g) * m * s
    ```

    Each selected negative input (`|W_m,ij| = 1`) flips the sign, so a
    product or quotient of signed inputs is exact; for `x_i != 0` each
    factor is the iNALU's `sign(x_i) |W_m,ij| + 1 - |W_m,ij|`, and an input
    of 0 counts as positive. On inputs that are all non-negative every
    factor is exactly 1 and its gradient exactly 0, so the unit computes,
    and trains, bit for bit as without it.

    Args:
        units: Positive integer, dimensionality of the output space.
        epsilon: Positive float added to `|x|` before the logarithm.
            Defaults to `1e-7`.
        shared_weights: Boolean, whether the additive and multiplicative
            paths share `W`. Defaults to `True`.
        max_exp: Positive float or `None`, the largest exponent of the
            multiplicative path; `None` leaves it uncapped, as in the paper.
            Defaults to `None`.
        gate: `"input"` (the paper's `g = sigmoid(x @ G)`) or `"unit"` (one
            input-independent gate per output unit, `g = sigmoid(G)`).
            Defaults to `"input"`.
        sign_correction: Boolean, whether the multiplicative path restores
            the sign of its negative inputs (see above). Defaults to `False`
            (the paper's NALU, whose products are positive).
        kernel_initializer: Initializer for the `W_hat` and `M_hat` matrices
            (and `W_hat_m`, `M_hat_m`). Defaults to `"glorot_uniform"`.
        gate_initializer: Initializer for the gate weights `G`.
            Defaults to `"glorot_uniform"`.
        kernel_regularizer: Regularizer applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_regularizer: Regularizer applied to `G`. Defaults to `None`.
        kernel_constraint: Constraint applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_constraint: Constraint applied to `G`. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weights
            `W` (and `W_m`), such as `nalu_rnn.SparsityRegularizer`.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(1, 2, size=(32, 10)).astype("float32")
    nalu = nalu_rnn.NALU(4, shared_weights=False)
    y = nalu(x)  # shape (32, 4)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508)
    """

    def __init__(
        self,
        units,
        epsilon=1e-7,
        shared_weights=True,
        max_exp=None,
        gate="input",
        sign_correction=False,
        kernel_initializer="glorot_uniform",
        gate_initializer="glorot_uniform",
        kernel_regularizer=None,
        gate_regularizer=None,
        kernel_constraint=None,
        gate_constraint=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            units,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
            arithmetic_regularizer=arithmetic_regularizer,
            **kwargs,
        )
        self.epsilon = validate_positive_float(epsilon, "epsilon", "NALU")
        if not isinstance(shared_weights, bool):
            raise ValueError(
                "`shared_weights` of NALU must be True or False; "
                f"received shared_weights={shared_weights!r}"
            )
        self.shared_weights = shared_weights
        if max_exp is not None:
            max_exp = validate_positive_float(max_exp, "max_exp", "NALU")
        self.max_exp = max_exp
        if gate not in GATES:
            raise ValueError(
                f"`gate` of NALU must be one of {GATES}; received gate={gate!r}"
            )
        self.gate = gate
        if not isinstance(sign_correction, bool):
            raise ValueError(
                "`sign_correction` of NALU must be True or False; "
                f"received sign_correction={sign_correction!r}"
            )
        self.sign_correction = sign_correction
        self._set_gate_arguments(gate_initializer, gate_regularizer, gate_constraint)

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W_hat, self.M_hat = self._add_gated_kernel(input_dim)
        if self.gate == "unit":
            self.G = self._add_gate("G", (self.units,))
            if self.arithmetic_regularizer is not None:
                self.G.regularizer = GatePenalty(
                    self.arithmetic_regularizer,
                    gate_regularizer=self.gate_regularizer,
                )
        else:
            self.G = self._add_gate("G", (input_dim, self.units))
        if self.shared_weights:
            self.W_hat_m = None
            self.M_hat_m = None
        else:
            self.W_hat_m, self.M_hat_m = self._add_gated_kernel(input_dim, "_m")

    def derived_weights(self):
        w = gated_weight(self.W_hat, self.M_hat)
        # A unit gate is a weight like the others: derived once per sequence.
        g = ops.sigmoid(self.G) if self.gate == "unit" else self.G
        if self.shared_weights:
            return w, w, g
        return w, gated_weight(self.W_hat_m, self.M_hat_m), g

    def call_with(self, inputs, weights):
        w, w_m, g = weights
        additive = ops.matmul(inputs, w)
        log_magnitude = ops.log(ops.abs(inputs) + self.epsilon)
        exponent = ops.matmul(log_magnitude, w_m)
        if self.max_exp is not None:
            exponent = ops.minimum(exponent, self.max_exp)
        multiplicative = ops.exp(exponent)
        if self.sign_correction:
            multiplicative = multiplicative * negative_sign(inputs, w_m)
        gate = g if self.gate == "unit" else ops.sigmoid(ops.matmul(inputs, g))
        return exact_mix(gate, additive, multiplicative)

    def formula_lines(self, weights, input_names, style):
        """`g * (additive) + (1 - g) * (multiplicative), g = sigmoid(...)`.

        The multiplicative path is written over `|x|` (`|x[0]| / |x[1]|`),
        or with `sign_correction` over `x` where its exponents are discrete
        (`x[0] / x[1]`); with a zero gate matrix, `0.5 * (...) + 0.5 * (...)`.
        """
        w, gates = weights["W"], weights["G"]
        w_m = weights.get("W_m", w)
        if self.gate == "unit":
            return rendering.unit_gated_paths(
                w, w_m, gates, input_names, style, signed=self.sign_correction
            )
        lines = []
        for j in range(w.shape[1]):
            additive = rendering.linear(w[:, j], input_names, style)
            multiplicative = rendering.log_path(
                w_m[:, j], input_names, style, signed=self.sign_correction
            )
            gate = rendering.linear(gates[:, j], input_names, style)
            if gate == "0":
                lines.append(f"0.5 * ({additive}) + 0.5 * ({multiplicative})")
            else:
                lines.append(
                    f"g * ({additive}) + (1 - g) * ({multiplicative}), "
                    f"g = sigmoid({gate})"
                )
        return lines

    def unit_gate(self):
        return self.G if self.gate == "unit" else None

    def exact_linear_weight(self):
        # Only unit gates can be exactly 1 for every input.
        if self.gate != "unit":
            return None
        w, _, g = self.derived_weights()
        if not np.all(ops.convert_to_numpy(g) == 1.0):
            return None
        return np.asarray(ops.convert_to_numpy(w), np.float64)

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "shared_weights": self.shared_weights,
            "max_exp": self.max_exp,
            "gate": self.gate,
            "sign_correction": self.sign_correction,
            **self._gate_config(),
        }


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NALUCell(ArithmeticCell):
    """Recurrent NALU cell: a gated running sum or running product.

    Computes `h_t = NALU(concat([x_t, h_{t-1}]))`. With the gate open the cell
    behaves like a `NACCell`; with the gate closed onto the multiplicative
    path and `initial_state_value=1.0` it can keep a running product.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state; use `1.0`
            for running products. Defaults to `0.0`.
        epsilon: Positive float added to `|x|` before the logarithm.
            Defaults to `1e-7`.
        shared_weights: Boolean, whether the additive and multiplicative
            paths share `W`. Defaults to `True`.
        max_exp: Positive float or `None`, the cap on the exponent of the
            multiplicative path (see `nalu_rnn.NALU`); `None` leaves it
            uncapped. Defaults to `None`.
        gate: `"input"` (the paper's gate, which reads the input and the
            state) or `"unit"` (one learnt gate per state unit, the same at
            every step; see `nalu_rnn.NALU`). Defaults to `"input"`.
        sign_correction: Boolean, whether the multiplicative path restores
            the sign of negative inputs and states (see `nalu_rnn.NALU`).
            Defaults to `False`.
        kernel_initializer: Initializer for the `W_hat`/`M_hat` matrices.
            Defaults to `"glorot_uniform"`.
        gate_initializer: Initializer for the gate weights `G`.
            Defaults to `"glorot_uniform"`.
        kernel_regularizer: Regularizer applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_regularizer: Regularizer applied to `G`. Defaults to `None`.
        kernel_constraint: Constraint applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_constraint: Constraint applied to `G`. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weights
            `W` (and `W_m`), such as `nalu_rnn.SparsityRegularizer`.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(1, 2, size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.NALUCell(8, initial_state_value=1.0))
    h = rnn(x)  # shape (32, 8)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508)
    """

    unit_class = NALU

    def __init__(
        self,
        units,
        initial_state_value=0.0,
        epsilon=1e-7,
        shared_weights=True,
        max_exp=None,
        gate="input",
        sign_correction=False,
        kernel_initializer="glorot_uniform",
        gate_initializer="glorot_uniform",
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
                "epsilon": epsilon,
                "shared_weights": shared_weights,
                "max_exp": max_exp,
                "gate": gate,
                "sign_correction": sign_correction,
                "kernel_initializer": kernel_initializer,
                "gate_initializer": gate_initializer,
                "kernel_regularizer": kernel_regularizer,
                "gate_regularizer": gate_regularizer,
                "kernel_constraint": kernel_constraint,
                "gate_constraint": gate_constraint,
                "arithmetic_regularizer": arithmetic_regularizer,
            },
            **kwargs,
        )


def negative_sign(inputs, w_m):
    """`prod_i (1 - 2 |w_m,ij| [x_i < 0])`, the NALU's sign correction.

    Written with the negative flags rather than `sign(x)`, so that a factor
    of a non-negative input is exactly 1 (and its gradient exactly 0).
    """
    negative = ops.cast(ops.less(inputs, 0.0), w_m.dtype)
    factors = 1.0 - 2.0 * ops.expand_dims(negative, -1) * ops.abs(w_m)
    return ops.prod(factors, axis=-2)


def exact_mix(gate, additive, multiplicative):
    """`gate * additive + (1 - gate) * multiplicative`, exact at both ends.

    A saturated gate must return its path bit for bit, whatever the size of
    the other one: a recurrent head's state grows with the sequence, and
    the cheaper `m + g * (a - m)` rounds `a` away once `m` dwarfs it (with
    `m = e^20` and `a = 3` it returned 0). The two products below are exact
    at `g = 1` and `g = 0` unless the unused path is infinite (an uncapped
    exponent), where `0 * inf` would be NaN; the `where`s cover that case.
    """
    mixed = gate * additive + (1.0 - gate) * multiplicative
    mixed = ops.where(ops.equal(gate, 0.0), multiplicative, mixed)
    return ops.where(ops.equal(gate, 1.0), additive, mixed)
