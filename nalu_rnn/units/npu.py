"""The Neural Power Units (RealNPU, NPU)."""

import math

import keras
import numpy as np
from keras import ops

from nalu_rnn._validation import validate_positive_float
from nalu_rnn.discrete import Multiples
from nalu_rnn.units import rendering
from nalu_rnn.units.base import ArithmeticUnit
from nalu_rnn.units.cell import ArithmeticCell

# The spacing of the values a RealNPU's exponents harden to.
EXPONENT_STEP = 0.5


class _PowerUnit(ArithmeticUnit):
    """What `RealNPU` and `NPU` share: the relevance gate and the polar input."""

    def __init__(
        self,
        units,
        epsilon=1e-7,
        kernel_initializer="glorot_uniform",
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
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
            arithmetic_regularizer=arithmetic_regularizer,
            **kwargs,
        )
        self.epsilon = validate_positive_float(epsilon, "epsilon", type(self).__name__)
        if gate_initializer is None:
            gate_initializer = keras.initializers.Constant(0.5)
        self._set_gate_arguments(gate_initializer, gate_regularizer, gate_constraint)

    def snap_arithmetic_weights(self, tolerance, row_mask=None):
        """Snaps the exponents (see `ArithmeticUnit`) and then the relevance
        gate: a gate within `tolerance` of 0 or 1 becomes exactly that, so an
        input is used whole or not at all (a relevance of 0.995 raises it to
        a power of 0.995 of itself, up to a constant, which drifts with its
        size)."""
        report = super().snap_arithmetic_weights(tolerance, row_mask)
        g = np.asarray(self.g.numpy(), np.float64)
        clipped = np.clip(g, 0.0, 1.0)
        target, snap = self._snap_plan(clipped, (0.0, 1.0), tolerance, row_mask)
        self.g.assign(np.where(snap, target, g).astype(self.g.dtype))
        return [*report, self._snap_record("g", clipped, target, snap)]

    def _clipped_gate(self):
        # Clipped in the forward pass, straight-through in the backward pass
        # (as the NPU's reference implementation): `ops.clip` alone has zero
        # gradient outside [0, 1], so a gate that stepped out never came
        # back. `g - stop_gradient(g)` is exactly 0, so the value is exact.
        g = self.g
        return ops.stop_gradient(ops.clip(g, 0.0, 1.0)) + (g - ops.stop_gradient(g))

    def _polar_inputs(self, inputs, gate):
        """`(log r, k)`: gated log-magnitude and pi times the gated sign flag."""
        magnitude = gate * (ops.abs(inputs) + self.epsilon) + (1.0 - gate)
        negative = ops.cast(ops.less(inputs, 0.0), self.compute_dtype)
        return ops.log(magnitude), math.pi * gate * negative

    def formula_lines(self, weights, input_names, style):
        """A product of powers, `x[0] / x[1]`, `x[0]^2`.

        A complex exponent is written `x[0]^(1+0.5i)` (the real part of the
        power is meant), an input with relevance `g` strictly between 0 and
        1 as `rel(x[0], g)`, and an input whose relevance is 0 not at all.
        """
        w = weights["W"]
        w_im = weights.get("W_im", np.zeros_like(w))
        relevance = np.clip(weights["g"], 0.0, 1.0)
        exponents = self.discrete_values()["W"]
        lines = []
        for j in range(w.shape[1]):
            factors = []
            for i, name in enumerate(input_names):
                gate = style.snap(float(relevance[i]), (0.0, 1.0))
                real = style.snap(w[i, j], exponents)
                imaginary = style.snap(w_im[i, j], (0.0,))
                if gate == 0 or (real == 0 and imaginary == 0):
                    continue
                base = name if gate == 1 else f"rel({name}, {style.number(gate)})"
                if imaginary == 0:
                    factors.append(rendering.power(base, real, style))
                else:
                    sign = "+" if imaginary > 0 else "-"
                    exponent = (
                        f"{style.number(real)}{sign}{style.number(abs(imaginary))}i"
                    )
                    factors.append((f"{base}^({exponent})", False))
            lines.append(rendering.product(factors))
        return lines

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            **self._gate_config(),
        }


@keras.saving.register_keras_serializable(package="nalu_rnn")
class RealNPU(_PowerUnit):
    """Real Neural Power Unit: learnt powers and products, signs included.

    Each input is written in polar form, `x = r * exp(i * k)` with `r = |x|`
    and `k = pi` for negative inputs (0 otherwise), and the layer computes
    the real part of `prod_i x_i ** W_ij`:

    ```
    g = clip(g_raw, 0, 1)                   # relevance gate, shape (in,)
    r = g * (|x| + epsilon) + (1 - g)       # irrelevant inputs become 1
    k = g * pi * [x < 0]
    y = exp(log(r) @ W) * cos(k @ W)
    ```

    With integer `W` this is exact arithmetic with signs: `W = (1, 1)`
    multiplies, `(1, -1)` divides (also negative inputs), `2` squares;
    fractional `W` gives roots. The relevance gate lets training switch an
    input off (`g = 0` turns it into the neutral 1) without having to drive
    its exponents to exactly 0. `W` is unbounded.

    Args:
        units: Positive integer, dimensionality of the output space.
        epsilon: Positive float added to `|x|` before the logarithm.
            Defaults to `1e-7`.
        kernel_initializer: Initializer for `W`. Defaults to
            `"glorot_uniform"` (the paper's).
        gate_initializer: Initializer for the relevance gate `g`. Defaults
            to `keras.initializers.Constant(0.5)` (the paper's).
        kernel_regularizer: Regularizer applied to `W`. Defaults to `None`.
        gate_regularizer: Regularizer applied to `g`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W`. Defaults to `None`.
        gate_constraint: Constraint applied to `g` (it is clipped to [0, 1]
            in the forward pass regardless). Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`. Defaults to
            `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(-2, 2, size=(32, 10)).astype("float32")
    npu = nalu_rnn.RealNPU(4)
    y = npu(x)  # shape (32, 4)
    ```

    Reference:
        - [Heim, Pevný & Šmídl, 2020](https://arxiv.org/abs/2006.01681)
    """

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        # Halves as well as integers: exponent 1/2 makes square roots exact.
        self.W = self._add_direct_kernel(
            "W", input_dim, snap_values=Multiples(EXPONENT_STEP)
        )
        self.g = self._add_gate("g", (input_dim,))

    def derived_weights(self):
        return self._clipped_gate(), self.W

    def call_with(self, inputs, weights):
        gate, w = weights
        log_magnitude, angle = self._polar_inputs(inputs, gate)
        return ops.exp(ops.matmul(log_magnitude, w)) * ops.cos(ops.matmul(angle, w))


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NPU(_PowerUnit):
    """Neural Power Unit with complex weights, in real arithmetic.

    The real part of `prod_i x_i ** (W_ij + i * W_im,ij)` for inputs in polar
    form (`r = |x|`, `k = pi` for negative inputs, as in `RealNPU`):

    ```
    g = clip(g_raw, 0, 1)                   # relevance gate, shape (in,)
    r = g * (|x| + epsilon) + (1 - g)
    k = g * pi * [x < 0]
    y = exp(log(r) @ W - k @ W_im) * cos(log(r) @ W_im + k @ W)
    ```

    The imaginary part `W_im` starts at 0, where the unit is a `RealNPU`;
    it gives the optimisation a smoother path between the signs of the
    cosine. A trained unit should hold `W_im` at 0 and `W` at the exponents.

    Args:
        units: Positive integer, dimensionality of the output space.
        epsilon: Positive float added to `|x|` before the logarithm.
            Defaults to `1e-7`.
        kernel_initializer: Initializer for the real part `W`. Defaults to
            `"glorot_uniform"` (the paper's).
        imaginary_initializer: Initializer for the imaginary part `W_im`.
            Defaults to `"zeros"` (the paper's).
        gate_initializer: Initializer for the relevance gate `g`. Defaults
            to `keras.initializers.Constant(0.5)` (the paper's).
        kernel_regularizer: Regularizer applied to `W` and `W_im`.
            Defaults to `None`.
        gate_regularizer: Regularizer applied to `g`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W` and `W_im`.
            Defaults to `None`.
        gate_constraint: Constraint applied to `g` (it is clipped to [0, 1]
            in the forward pass regardless). Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the real part `W`.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.

    Example:

    ```python
    x = np.random.uniform(-2, 2, size=(32, 10)).astype("float32")
    npu = nalu_rnn.NPU(4)
    y = npu(x)  # shape (32, 4)
    ```

    Reference:
        - [Heim, Pevný & Šmídl, 2020](https://arxiv.org/abs/2006.01681)
    """

    def __init__(
        self,
        units,
        epsilon=1e-7,
        kernel_initializer="glorot_uniform",
        imaginary_initializer="zeros",
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
            epsilon,
            kernel_initializer,
            gate_initializer,
            kernel_regularizer,
            gate_regularizer,
            kernel_constraint,
            gate_constraint,
            arithmetic_regularizer,
            **kwargs,
        )
        self.imaginary_initializer = keras.initializers.get(imaginary_initializer)

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W = self._add_direct_kernel("W", input_dim, snap_values=None)
        self.W_im = self._add_direct_kernel(
            "W_im",
            input_dim,
            snap_values=(0.0,),
            initializer=self.imaginary_initializer,
            arithmetic=False,
        )
        self.g = self._add_gate("g", (input_dim,))

    def derived_weights(self):
        return self._clipped_gate(), self.W, self.W_im

    def call_with(self, inputs, weights):
        gate, w, w_im = weights
        log_magnitude, angle = self._polar_inputs(inputs, gate)
        magnitude = ops.matmul(log_magnitude, w) - ops.matmul(angle, w_im)
        phase = ops.matmul(log_magnitude, w_im) + ops.matmul(angle, w)
        return ops.exp(magnitude) * ops.cos(phase)

    def get_config(self):
        return {
            **super().get_config(),
            "imaginary_initializer": keras.initializers.serialize(
                self.imaginary_initializer
            ),
        }


@keras.saving.register_keras_serializable(package="nalu_rnn")
class RealNPUCell(ArithmeticCell):
    """Recurrent real NPU cell: a running product of powers, signs included.

    Computes `h_t = RealNPU(concat([x_t, h_{t-1}]))`: with the state rows of
    `W` at the identity it keeps `h_t = h_{t-1} * prod_i x_t[i] ** W_i`,
    e.g. a running product or quotient of signed inputs. The initial state
    defaults to `1.0`, the neutral element of a product.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `1.0`.
        epsilon: Positive float added to `|z|` before the logarithm.
            Defaults to `1e-7`.
        kernel_initializer: Initializer for `W`, of shape
            `(input_dim + units, units)`. Defaults to `"glorot_uniform"`.
        gate_initializer: Initializer for the relevance gate `g`, of shape
            `(input_dim + units,)`; `None` means
            `keras.initializers.Constant(0.5)`. Defaults to `None`.
        kernel_regularizer: Regularizer applied to `W`. Defaults to `None`.
        gate_regularizer: Regularizer applied to `g`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W`. Defaults to `None`.
        gate_constraint: Constraint applied to `g`. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`. Defaults to
            `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(-1.5, 1.5, size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.RealNPUCell(2))
    h = rnn(x)  # shape (32, 2)
    ```

    Reference:
        - [Heim, Pevný & Šmídl, 2020](https://arxiv.org/abs/2006.01681)
    """

    unit_class = RealNPU

    def __init__(
        self,
        units,
        initial_state_value=1.0,
        epsilon=1e-7,
        kernel_initializer="glorot_uniform",
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
                "epsilon": epsilon,
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


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NPUCell(ArithmeticCell):
    """Recurrent NPU cell (complex weights): a running product of powers.

    Computes `h_t = NPU(concat([x_t, h_{t-1}]))`; see `nalu_rnn.NPU` and
    `nalu_rnn.RealNPUCell`. The initial state defaults to `1.0`, the neutral
    element of a product.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `1.0`.
        epsilon: Positive float added to `|z|` before the logarithm.
            Defaults to `1e-7`.
        kernel_initializer: Initializer for the real part `W`, of shape
            `(input_dim + units, units)`. Defaults to `"glorot_uniform"`.
        imaginary_initializer: Initializer for the imaginary part `W_im`.
            Defaults to `"zeros"`.
        gate_initializer: Initializer for the relevance gate `g`, of shape
            `(input_dim + units,)`; `None` means
            `keras.initializers.Constant(0.5)`. Defaults to `None`.
        kernel_regularizer: Regularizer applied to `W` and `W_im`.
            Defaults to `None`.
        gate_regularizer: Regularizer applied to `g`. Defaults to `None`.
        kernel_constraint: Constraint applied to `W` and `W_im`.
            Defaults to `None`.
        gate_constraint: Constraint applied to `g`. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to `W`. Defaults to
            `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(-1.5, 1.5, size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.NPUCell(2))
    h = rnn(x)  # shape (32, 2)
    ```

    Reference:
        - [Heim, Pevný & Šmídl, 2020](https://arxiv.org/abs/2006.01681)
    """

    unit_class = NPU

    def __init__(
        self,
        units,
        initial_state_value=1.0,
        epsilon=1e-7,
        kernel_initializer="glorot_uniform",
        imaginary_initializer="zeros",
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
                "epsilon": epsilon,
                "kernel_initializer": kernel_initializer,
                "imaginary_initializer": imaginary_initializer,
                "gate_initializer": gate_initializer,
                "kernel_regularizer": kernel_regularizer,
                "gate_regularizer": gate_regularizer,
                "kernel_constraint": kernel_constraint,
                "gate_constraint": gate_constraint,
                "arithmetic_regularizer": arithmetic_regularizer,
            },
            **kwargs,
        )
