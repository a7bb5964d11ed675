"""The Neural Multiplicative Reciprocal Unit (NMRU)."""

import math
import random

import keras
import numpy as np
from keras import ops

from nalu_rnn._validation import (
    validate_non_negative_float,
    validate_positive_float,
)
from nalu_rnn.regularizers import StackedPenalty
from nalu_rnn.units import rendering
from nalu_rnn.units.base import ArithmeticUnit, _reseeded
from nalu_rnn.units.cell import ArithmeticCell
from nalu_rnn.units.nmu import (
    denoised_product,
    noise_config,
    selected_product,
    set_training_noise,
)

# The values both weights snap to, and the range they are clipped to.
_SELECT = (0.0, 1.0)


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NMRU(ArithmeticUnit):
    """Neural Multiplicative Reciprocal Unit: products and quotients, signed.

    An NMU over the inputs and their reciprocals, with the sign restored as
    the RealNPU does. With `W` (on the inputs) and `W_r` (on their
    reciprocals) used as they are and kept in [0, 1]:

    ```
    r_i = 1 / max(|x_i|, epsilon)                     # |1 / x_i|
    m_j = prod_i (W_ij |x_i| + 1 - W_ij) * (W_r,ij r_i + 1 - W_r,ij)
    s_j = cos(pi * sum_i [x_i < 0] (W_ij + W_r,ij))   # sign retrieval
    y_j = m_j * s_j
    ```

    A weight of 1 in `W` multiplies by `x_i`, in `W_r` divides by it, and 0
    leaves the neutral 1, so `W = (1, 0)`, `W_r = (0, 1)` computes
    `x_0 / x_1`, with its sign (each selected negative input turns the
    cosine by `pi`). The paper's single weight over the concatenation
    `[x, 1 / x]` is `W` stacked on `W_r`; split in two, each has one row per
    input, as every other unit's kernel. Both are clipped to [0, 1] after
    every optimizer update, and Madsen & Johansen's sparsity regulariser
    (`nalu_rnn.SparsityRegularizer` as `arithmetic_regularizer`) pulls them
    to exactly 0 or 1. `|x|` below `epsilon` is raised to it before the
    reciprocal is taken, so that an input of 0 gives a large finite factor
    instead of an infinite one (the paper adds its `epsilon` to `x` during
    training only).

    With `noise_range=(low, high)`, each of `|x_i|` and `r_i` is scaled in
    training by its own draw from U[low, high] and `m_j` divided by the
    noise's own product (the sNMU's reversible noise, `nalu_rnn.NMU`),
    which leaves `m_j` exact wherever the weights are 0 or 1.

    With `pair_pull > 0`, the arithmetic regularizer also pulls each
    input's difference `W_ij - W_r,ij` to -1, 0 or 1, at `pair_pull` times
    its strength, so that an input's two weights round together: an input
    that is not used is exact at `(0, 0)` and at `(1, 1)` (`|x| / |x|`,
    sign turned twice), but a pull on each weight alone can split a pair
    that sits near `(0.5, 0.5)` into `(0, 1)`, a stray divisor, where the
    data barely tells the four corners apart (inputs near 1 in size).

    Args:
        units: Positive integer, dimensionality of the output space.
        epsilon: Positive float, the smallest `|x|` whose reciprocal is
            taken. Defaults to `1e-7`.
        noise_range: `None`, or a pair `(low, high)` with `0 < low <= high`,
            the range of the training noise. Defaults to `None`.
        seed: Integer seed of the training noise, or `None`. Defaults to
            `None`.
        pair_pull: Non-negative float, the weight of the pull on each
            input's `W - W_r` relative to `arithmetic_regularizer` (see
            above; 0: none, the paper's). Defaults to `0.0`.
        kernel_initializer: Initializer for `W`; `W_r` is drawn from the
            same initializer with a seed of its own. Defaults to
            `keras.initializers.RandomUniform(0.25, 0.75)` (the paper's).
        kernel_regularizer: Regularizer applied to `W` and `W_r`. Defaults
            to `None`.
        kernel_constraint: Constraint applied to `W` and `W_r` after every
            update, before the clipping to [0, 1]. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied once to `W` and `W_r`
            stacked (the paper's single weight), such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of rank >= 2 with shape `(batch, ..., input_dim)`.
        training: Python boolean; with `noise_range`, whether to draw the
            training noise.

    Example:

    ```python
    x = np.random.uniform(-2, 2, size=(32, 10)).astype("float32")
    nmru = nalu_rnn.NMRU(
        1, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
    )
    y = nmru(x)  # shape (32, 1)
    ```

    Reference:
        - [Mistry, Farrahi & Hare, 2022, "Learning Division with Neural
          Arithmetic Logic Modules"](https://arxiv.org/abs/2110.05177)
    """

    def __init__(
        self,
        units,
        epsilon=1e-7,
        noise_range=None,
        seed=None,
        pair_pull=0.0,
        kernel_initializer=None,
        kernel_regularizer=None,
        kernel_constraint=None,
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
        self.epsilon = validate_positive_float(epsilon, "epsilon", "NMRU")
        self.pair_pull = validate_non_negative_float(pair_pull, "pair_pull", "NMRU")
        set_training_noise(self, noise_range, seed)

    # As the NMU's: the training noise is a layer option, not a cell's.
    layer_only_arguments = ("noise_range", "seed")

    @classmethod
    def default_kernel_initializer(cls):
        return keras.initializers.RandomUniform(0.25, 0.75)

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W = self._add_direct_kernel(
            "W", input_dim, snap_values=_SELECT, clip=_SELECT, arithmetic=False
        )
        # A Keras initializer returns the same values at every call: without
        # a seed of its own, W_r would start equal to W.
        rng = np.random.default_rng(random.randint(0, 2**31 - 1))
        config = _reseeded(keras.initializers.serialize(self.kernel_initializer), rng)
        self.W_r = self._add_direct_kernel(
            "W_r",
            input_dim,
            snap_values=_SELECT,
            clip=_SELECT,
            initializer=keras.initializers.deserialize(config),
            arithmetic=False,
        )
        if self.arithmetic_regularizer is not None:
            # The paper's sparsity pull is one mean over [W; W_r].
            self.W.regularizer = StackedPenalty(
                self.arithmetic_regularizer,
                self.W_r,
                self.kernel_regularizer,
                difference_weight=self.pair_pull,
            )

    def derived_weights(self):
        # One product over the inputs and their reciprocals (a single tree),
        # and the weight each input's sign flag turns the cosine by.
        return ops.concatenate([self.W, self.W_r], axis=0), self.W + self.W_r

    def call(self, inputs, training=False):
        return self.call_with(
            inputs,
            self.derived_weights(),
            noisy=training and self.noise_range is not None,
        )

    def call_with(self, inputs, weights, noisy=False):
        stacked, sign_weight = weights
        magnitude = ops.abs(inputs)
        reciprocal = 1.0 / ops.maximum(magnitude, self.epsilon)
        magnitudes = ops.concatenate([magnitude, reciprocal], axis=-1)
        if noisy:
            product = denoised_product(self, magnitudes, stacked)
        else:
            product = selected_product(magnitudes, stacked)
        negative = ops.cast(ops.less(inputs, 0.0), self.compute_dtype)
        return product * ops.cos(math.pi * ops.matmul(negative, sign_weight))

    def formula_lines(self, weights, input_names, style):
        """A product and quotient of the selected inputs, `x[0] / x[1]`.

        A weight `w` strictly between 0 and 1 is written as its factor,
        `(w*|x[0]| + 1-w)` or `(w/|x[0]| + 1-w)`, over `|x|`: the sign
        factor, a cosine of such weights, is then left out.
        """
        w, w_r = weights["W"], weights["W_r"]
        lines = []
        for j in range(w.shape[1]):
            factors = []
            for column, below in ((w, False), (w_r, True)):
                for weight, name in zip(column[:, j], input_names, strict=True):
                    value = style.snap(weight, _SELECT)
                    if value == 1:
                        factors.append((name, below))
                    elif value != 0:
                        scaled = f"/|{name}|" if below else f"*|{name}|"
                        factor = (
                            f"({style.number(value)}{scaled} + "
                            f"{style.number(1 - value)})"
                        )
                        factors.append((factor, False))
            lines.append(rendering.product(factors))
        return lines

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "pair_pull": self.pair_pull,
            **noise_config(self),
        }


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NMRUCell(ArithmeticCell):
    """Recurrent NMRU cell: a running product and quotient of selected inputs.

    Computes `h_t = NMRU(concat([x_t, h_{t-1}]))`: with the state rows of
    `W` at the identity (and of `W_r` at 0) and the input rows selecting
    inputs it keeps `h_t = h_{t-1} * prod x_t[i] / prod x_t[k]`, signs
    included. The initial state defaults to `1.0`, the neutral element of
    a product.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `1.0`.
        epsilon: Positive float, the smallest `|z|` whose reciprocal is
            taken. Defaults to `1e-7`.
        pair_pull: Non-negative float, the weight of the pull on each
            input's `W - W_r` relative to `arithmetic_regularizer`
            (`nalu_rnn.NMRU`). Defaults to `0.0`.
        kernel_initializer: Initializer for `W` (and, with a seed of its
            own, `W_r`), of shape `(input_dim + units, units)`; `None` means
            `keras.initializers.RandomUniform(0.25, 0.75)`. Defaults to
            `None`.
        kernel_regularizer: Regularizer applied to `W` and `W_r`. Defaults
            to `None`.
        kernel_constraint: Constraint applied to `W` and `W_r` before the
            clipping to [0, 1]. Defaults to `None`.
        arithmetic_regularizer: Regularizer applied once to `W` and `W_r`
            stacked (the paper's single weight), such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, input_dim)`, one time step.
        states: A list holding the previous state, shape `(batch, units)`.
        training: Python boolean; the cell behaves the same either way.

    Example:

    ```python
    x = np.random.uniform(-1.5, 1.5, size=(32, 10, 3)).astype("float32")
    rnn = keras.layers.RNN(nalu_rnn.NMRUCell(2))
    h = rnn(x)  # shape (32, 2)
    ```

    Reference:
        - [Mistry, Farrahi & Hare, 2022, "Learning Division with Neural
          Arithmetic Logic Modules"](https://arxiv.org/abs/2110.05177)
    """

    unit_class = NMRU

    def __init__(
        self,
        units,
        initial_state_value=1.0,
        epsilon=1e-7,
        pair_pull=0.0,
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
                "epsilon": epsilon,
                "pair_pull": pair_pull,
                "kernel_initializer": kernel_initializer,
                "kernel_regularizer": kernel_regularizer,
                "kernel_constraint": kernel_constraint,
                "arithmetic_regularizer": arithmetic_regularizer,
            },
            **kwargs,
        )
