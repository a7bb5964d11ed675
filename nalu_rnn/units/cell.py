"""The one mechanism that turns an arithmetic unit into a recurrent cell.

Each unit's module defines its cell beside it (`nalu_rnn.units.nac.NACCell`,
...) as a subclass of `ArithmeticCell` with an explicit constructor.
"""

import contextlib

import keras
from keras import ops

from nalu_rnn._validation import (
    validate_finite_float,
    validate_float_dtype_policy,
    validate_float_inputs,
    validate_input_shape,
)


class ArithmeticCell(keras.layers.Layer):
    """Base class that makes any arithmetic unit a `keras.layers.RNN` cell.

    At every step the cell applies its unit to the input concatenated with
    the previous state, `h_t = unit(concat([x_t, h_{t-1}]))`, and emits `h_t`.
    The unit's kernels therefore have shape `(input_dim + units, units)`:
    input rows first, state rows after.

    A subclass, defined beside its unit, names the unit as `unit_class` and
    spells out the unit's arguments in its own constructor, which hands them
    to this one as `unit_arguments`:

    ```python
    class NACCell(ArithmeticCell):
        unit_class = NAC

        def __init__(self, units, initial_state_value=0.0,
                     kernel_initializer="glorot_uniform", **kwargs):
            super().__init__(
                units,
                initial_state_value,
                {"kernel_initializer": kernel_initializer},
                **kwargs,
            )
    ```

    Each unit argument is stored on the cell under its name and written to
    the config.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the state returned by
            `get_initial_state`. Defaults to `0.0`.
        unit_arguments: Dict of the unit's constructor arguments, by name,
            in the order of the unit's signature. Defaults to `None` (none).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.
    """

    unit_class = None

    def __init__(self, units, initial_state_value=0.0, unit_arguments=None, **kwargs):
        if self.unit_class is None:
            raise TypeError(
                "ArithmeticCell is a base class; use a subclass that sets "
                "`unit_class`, such as nalu_rnn.NACCell"
            )
        owner = type(self).__name__
        unit_arguments = dict(unit_arguments or {})
        super().__init__(**kwargs)
        validate_float_dtype_policy(self, owner)
        self.unit = self.unit_class(
            units, name=self.unit_class.__name__.lower(), **unit_arguments
        )
        self.units = self.unit.units
        self._unit_argument_names = tuple(unit_arguments)
        # The unit's validated values (a string initializer becomes an
        # object), as the unit itself reports them.
        for name in self._unit_argument_names:
            setattr(self, name, getattr(self.unit, name))
        self.initial_state_value = validate_finite_float(
            initial_state_value, "initial_state_value", owner
        )
        self.state_size = self.units
        self.output_size = self.units
        object.__setattr__(self, "_sequence_weights", None)

    def __call__(self, inputs, *args, **kwargs):
        # The static dtype, read once per trace of the RNN's step function:
        # no tensor op is added to the loop.
        validate_float_inputs(inputs, type(self).__name__)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        input_dim = validate_input_shape(input_shape, type(self).__name__, exact_rank=2)
        self.unit.build((None, input_dim + self.units))

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        unit_inputs = ops.concatenate([inputs, previous], axis=-1)
        if self._sequence_weights is None:
            state = self.unit(unit_inputs)
        else:
            state = self.unit.call_with(unit_inputs, self._sequence_weights)
        return state, [state]

    @contextlib.contextmanager
    def weights_derived_once(self, dtype=None):
        """Within this context every step reuses the unit's derived weights.

        `unit.derived_weights()` is evaluated on entry (cast to `dtype` if
        given) and every call of the cell until exit uses that tuple instead
        of deriving it again, as `nalu_rnn.ArithmeticRNN` does around its
        loop over the steps. Enter it where the loop is traced, so that the
        weights belong to the same graph.
        """
        weights = self.unit.derived_weights()
        if dtype is not None:
            weights = tuple(ops.cast(w, dtype) for w in weights)
        # object.__setattr__: a tuple of tensors is not state for Keras to track.
        object.__setattr__(self, "_sequence_weights", weights)
        try:
            yield weights
        finally:
            object.__setattr__(self, "_sequence_weights", None)

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
