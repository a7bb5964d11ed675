"""The one mechanism that turns an arithmetic unit into a recurrent cell."""

import inspect

import keras
from keras import ops

from nalu_rnn._validation import validate_finite_float, validate_input_shape
from nalu_rnn.units import NAC, NALU


def _unit_arguments(unit_class):
    """Names of the constructor arguments that belong to `unit_class`."""
    parameters = inspect.signature(unit_class.__init__).parameters
    return [
        name
        for name, p in parameters.items()
        if name not in ("self", "units") and p.kind is p.POSITIONAL_OR_KEYWORD
    ]


class ArithmeticCell(keras.layers.Layer):
    """Base class that makes any arithmetic unit a `keras.layers.RNN` cell.

    At every step the cell applies its unit to the input concatenated with
    the previous state, `h_t = unit(concat([x_t, h_{t-1}]))`, and emits `h_t`.
    The unit's kernels therefore have shape `(input_dim + units, units)`:
    input rows first, state rows after.

    A subclass only names its unit: `class NACCell(ArithmeticCell):
    unit_class = NAC`. Every constructor argument of the unit is accepted
    by the cell, stored under the same name and written to the config.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the state returned by
            `get_initial_state`. Defaults to `0.0`; `1.0` is the neutral
            start of a running product.
        **kwargs: The unit's own arguments (see the unit class), then base
            layer keyword arguments, such as `name` and `dtype`.
    """

    unit_class = None

    def __init__(self, units, initial_state_value=0.0, **kwargs):
        if self.unit_class is None:
            raise TypeError(
                "ArithmeticCell is a base class; use a subclass that sets "
                "`unit_class`, such as nalu_rnn.NACCell"
            )
        owner = type(self).__name__
        unit_names = _unit_arguments(self.unit_class)
        unit_kwargs = {k: kwargs.pop(k) for k in unit_names if k in kwargs}
        super().__init__(**kwargs)
        self.unit = self.unit_class(
            units, name=self.unit_class.__name__.lower(), **unit_kwargs
        )
        self.units = self.unit.units
        self._unit_argument_names = unit_names
        for name in unit_names:
            setattr(self, name, getattr(self.unit, name))
        self.initial_state_value = validate_finite_float(
            initial_state_value, "initial_state_value", owner
        )
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = validate_input_shape(input_shape, type(self).__name__, exact_rank=2)
        self.unit.build((None, input_dim + self.units))

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        state = self.unit(ops.concatenate([inputs, previous], axis=-1))
        return state, [state]

    def get_initial_state(self, batch_size=None):
        return [
            ops.full(
                (batch_size, self.units),
                self.initial_state_value,
                dtype=self.compute_dtype,
            )
        ]

    def arithmetic_weights(self):
        """Returns the unit's effective arithmetic matrices (see the unit)."""
        return self.unit.arithmetic_weights()

    def get_config(self):
        unit_config = self.unit.get_config()
        return {
            **super().get_config(),
            "units": self.units,
            "initial_state_value": self.initial_state_value,
            **{name: unit_config[name] for name in self._unit_argument_names},
        }


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


@keras.saving.register_keras_serializable(package="nalu_rnn")
class NALUCell(ArithmeticCell):
    """Recurrent NALU cell: a gated running sum or running product.

    Computes `h_t = NALU(concat([x_t, h_{t-1}]))`. With the gate open the cell
    behaves like a `NACCell`; with the gate closed onto the multiplicative
    path and `initial_state_value=1.0` it can keep a running product.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `0.0`; use `1.0` for running products.
        epsilon: Positive float added to `|x|` before the logarithm.
            Defaults to `1e-7`.
        shared_weights: Boolean, whether the additive and multiplicative
            paths share `W`. Defaults to `True`.
        kernel_initializer: Initializer for the `W_hat`/`M_hat` matrices.
            Defaults to `"glorot_uniform"`.
        gate_initializer: Initializer for the gate matrix `G`.
            Defaults to `"glorot_uniform"`.
        kernel_regularizer: Regularizer applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_regularizer: Regularizer applied to `G`. Defaults to `None`.
        kernel_constraint: Constraint applied to the `W_hat`/`M_hat`
            matrices. Defaults to `None`.
        gate_constraint: Constraint applied to `G`. Defaults to `None`.
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
