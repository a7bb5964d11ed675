"""The one mechanism that turns an arithmetic unit into a recurrent cell."""

import contextlib
import inspect

import keras
from keras import ops

from nalu_rnn._validation import (
    validate_finite_float,
    validate_float_dtype_policy,
    validate_float_inputs,
    validate_input_shape,
)
from nalu_rnn.units import INALU, NAC, NALU, NAU, NMU, NPU, RealNPU


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
            `get_initial_state`. Defaults to `None`: the class's
            `default_initial_state_value`, `0.0` here and `1.0` (the neutral
            start of a running product) for cells whose unit multiplies.
        **kwargs: The unit's own arguments (see the unit class), then base
            layer keyword arguments, such as `name` and `dtype`.
    """

    unit_class = None
    # Subclasses whose unit multiplies start from 1, the neutral element.
    default_initial_state_value = 0.0

    def __init__(self, units, initial_state_value=None, **kwargs):
        if self.unit_class is None:
            raise TypeError(
                "ArithmeticCell is a base class; use a subclass that sets "
                "`unit_class`, such as nalu_rnn.NACCell"
            )
        owner = type(self).__name__
        unit_names = _unit_arguments(self.unit_class)
        unit_kwargs = {k: kwargs.pop(k) for k in unit_names if k in kwargs}
        super().__init__(**kwargs)
        validate_float_dtype_policy(self, owner)
        self.unit = self.unit_class(
            units, name=self.unit_class.__name__.lower(), **unit_kwargs
        )
        self.units = self.unit.units
        self._unit_argument_names = unit_names
        for name in unit_names:
            setattr(self, name, getattr(self.unit, name))
        if initial_state_value is None:
            initial_state_value = self.default_initial_state_value
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
        max_exp: Positive float or `None`, the cap on the exponent of the
            multiplicative path (see `nalu_rnn.NALU`); `None` leaves it
            uncapped. Defaults to `None`.
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
        initial_state_value: Float that fills the initial state.
            Defaults to `0.0`, the neutral start of a sum.
        kernel_initializer: Initializer for `W`, of shape
            `(input_dim + units, units)`. Defaults to
            `nalu_rnn.units.NAUInitializer()`.
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
            `(input_dim + units, units)`. Defaults to
            `keras.initializers.RandomUniform(0.25, 0.75)`.
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

    default_initial_state_value = 1.0


@keras.saving.register_keras_serializable(package="nalu_rnn")
class INALUCell(ArithmeticCell):
    """Recurrent iNALU cell: a gated running sum or signed running product.

    Computes `h_t = INALU(concat([x_t, h_{t-1}]))`. With the gate open
    (`sigmoid(G) = 1`) it behaves like a `NACCell`; with it closed and
    `initial_state_value=1.0` it keeps a running product that, unlike the
    `NALUCell`'s, carries the sign of negative inputs.

    Args:
        units: Positive integer, dimensionality of the state and output.
        initial_state_value: Float that fills the initial state.
            Defaults to `0.0`; use `1.0` for running products.
        omega: Positive float, the smallest `|z|` that enters the logarithm.
            Defaults to `1e-7`.
        max_exp: Positive float, the largest exponent of the multiplicative
            path. Defaults to `20.0`.
        kernel_initializer: Initializer for `W_hat` and `W_hat_m`. Defaults
            to `keras.initializers.RandomNormal(0.88, 0.2)`.
        mask_initializer: Initializer for `M_hat` and `M_hat_m`. Defaults to
            `keras.initializers.RandomNormal(0.5, 0.2)`.
        gate_initializer: Initializer for the gate vector `G`. Defaults to
            `keras.initializers.RandomNormal(0.0, 0.2)`.
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
            `(input_dim + units,)`. Defaults to
            `keras.initializers.Constant(0.5)`.
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

    default_initial_state_value = 1.0


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
            `(input_dim + units,)`. Defaults to
            `keras.initializers.Constant(0.5)`.
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

    default_initial_state_value = 1.0
