"""What every arithmetic unit shares: argument checks, the gated kernel, config."""

import keras
from keras import ops

from nalu_rnn._validation import validate_input_shape, validate_units
from nalu_rnn.regularizers import GatedWeightPenalty


def gated_weight(w_hat, m_hat):
    """Returns `tanh(w_hat) * sigmoid(m_hat)`, the NAC weight in [-1, 1].

    Its gradient vanishes near -1, 0 and 1, which pushes trained weights
    towards exactly those values.
    """
    return ops.tanh(w_hat) * ops.sigmoid(m_hat)


class ArithmeticUnit(keras.layers.Layer):
    """Base class of the arithmetic layers (`NAC`, `NALU`, ...).

    It holds the arguments every unit has and creates the NAC-style kernels
    (`W_hat`, `M_hat`). Subclasses create their weights in `build()` and
    compute their output in `call()`.

    Args:
        units: Positive integer, dimensionality of the output space.
        kernel_initializer: Initializer for the `W_hat` and `M_hat` matrices.
            Defaults to `"glorot_uniform"`.
        kernel_regularizer: Regularizer applied to `W_hat` and `M_hat`.
            Defaults to `None`.
        kernel_constraint: Constraint applied to `W_hat` and `M_hat`.
            Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weight
            `W = tanh(W_hat) * sigmoid(M_hat)`, such as
            `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.
    """

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = validate_units(units, type(self).__name__)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.arithmetic_regularizer = keras.regularizers.get(arithmetic_regularizer)

    def _input_dim(self, input_shape):
        input_dim = validate_input_shape(input_shape, type(self).__name__)
        # Set only now: an InputSpec checked before build() would pre-empt
        # our message, which names the shape received.
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        return input_dim

    def _add_kernel(self, name, input_dim):
        return self.add_weight(
            name=name,
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def _add_gated_kernel(self, input_dim, suffix=""):
        """Creates `W_hat{suffix}` and `M_hat{suffix}`; returns both.

        The pair is recorded (by attribute name) so that `arithmetic_weights`
        and `nalu_rnn.harden` find every gated weight of every unit.
        """
        w_hat = self._add_kernel("W_hat" + suffix, input_dim)
        m_hat = self._add_kernel("M_hat" + suffix, input_dim)
        if self.arithmetic_regularizer is not None:
            w_hat.regularizer = GatedWeightPenalty(
                self.arithmetic_regularizer, m_hat, self.kernel_regularizer
            )
        if not hasattr(self, "_gated_pairs"):
            self._gated_pairs = []
        self._gated_pairs.append(("W" + suffix, "W_hat" + suffix, "M_hat" + suffix))
        return w_hat, m_hat

    def gated_pairs(self):
        """Returns `[(label, W_hat variable, M_hat variable), ...]`."""
        return [
            (label, getattr(self, w), getattr(self, m))
            for label, w, m in getattr(self, "_gated_pairs", [])
        ]

    def arithmetic_weights(self):
        """Returns the effective arithmetic matrices as a dict of tensors.

        These are the matrices whose entries a trained unit should hold near
        {-1, 0, 1}, keyed `W` (and `W_m` for a separate multiplicative path);
        weight hardening and formula printing read them.
        """
        return {label: gated_weight(w, m) for label, w, m in self.gated_pairs()}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "arithmetic_regularizer": keras.regularizers.serialize(
                self.arithmetic_regularizer
            ),
        }
