"""The Neural Multiplication Unit (NMU)."""

import functools

import keras
import numpy as np
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

    With `noise_range=(low, high)` it is Mistry et al.'s stochastic NMU
    (sNMU): in training each input is multiplied by its own draw
    `n ~ U[low, high]` and the product divided by that of the noise,

    ```
    y_j = prod_i (W_ij x_i n_i + 1 - W_ij) / prod_i (W_ij n_i + 1 - W_ij)
    ```

    which is the plain product wherever every weight is 0 or 1, so the
    noise reshapes the loss surface between solutions and vanishes at
    them; in inference the unit is the plain NMU.

    Args:
        units: Positive integer, dimensionality of the output space.
        noise_range: `None`, or a pair `(low, high)` with `0 < low <= high`:
            the range of the training noise of the sNMU (Mistry et al. use
            `(1, 5)`). Defaults to `None` (the plain NMU).
        seed: Integer seed of the training noise, or `None`. Defaults to
            `None`.
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
        training: Python boolean; with `noise_range`, whether to draw the
            training noise.

    Example:

    ```python
    x = np.random.uniform(-2, 2, size=(32, 10)).astype("float32")
    nmu = nalu_rnn.NMU(
        4, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
    )
    y = nmu(x)  # shape (32, 4)
    snmu = nalu_rnn.NMU(4, noise_range=(1.0, 5.0), seed=0)
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
        - [Mistry, Farrahi & Hare, 2022, "Improving the Robustness of Neural
          Multiplication Units with Reversible Stochasticity"](
          https://arxiv.org/abs/2211.05624)
    """

    def __init__(
        self,
        units,
        noise_range=None,
        seed=None,
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
        set_training_noise(self, noise_range, seed)

    # The training noise is a layer option: a cell applies its unit without
    # it (`NMUCell` does not take these arguments).
    layer_only_arguments = ("noise_range", "seed")

    @classmethod
    def default_kernel_initializer(cls):
        return keras.initializers.RandomUniform(0.25, 0.75)

    def call(self, inputs, training=False):
        weights = self.derived_weights()
        if not training or self.noise_range is None:
            return self.call_with(inputs, weights)
        return denoised_product(self, inputs, weights[0])

    def get_config(self):
        return {**super().get_config(), **noise_config(self)}

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


def set_training_noise(unit, noise_range, seed):
    """Sets a product unit's `noise_range` (validated) and `seed` arguments.

    Only a noisy unit gets a `seed_generator`: its state is a variable,
    which the plain unit (and checkpoints of it) must not grow.
    """
    unit.noise_range = validate_noise_range(noise_range, type(unit).__name__)
    unit.seed = seed
    if unit.noise_range is not None:
        unit.seed_generator = keras.random.SeedGenerator(seed)


def validate_noise_range(noise_range, owner):
    """`None`, or `noise_range` as a pair of floats `0 < low <= high`."""
    if noise_range is None:
        return None
    try:
        low, high = (float(v) for v in noise_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"`noise_range` of {owner} must be None or a pair (low, high); "
            f"received noise_range={noise_range!r}"
        ) from None
    if not (0 < low <= high and np.isfinite(high)):
        raise ValueError(
            f"`noise_range` of {owner} must satisfy 0 < low <= high, both "
            f"finite; received noise_range={noise_range!r}"
        )
    return (low, high)


def denoised_product(unit, magnitudes, w):
    """Mistry et al.'s reversible noise on `selected_product(magnitudes, w)`.

    Each entry of `magnitudes` is scaled by its own draw from
    `unit.noise_range` (with `unit.seed_generator`) and the product divided
    by the noise's own, which is exact wherever every weight is 0 or 1.
    """
    low, high = unit.noise_range
    noise = keras.random.uniform(
        ops.shape(magnitudes),
        minval=low,
        maxval=high,
        dtype=unit.compute_dtype,
        seed=unit.seed_generator,
    )
    return selected_product(magnitudes * noise, w) / selected_product(noise, w)


def noise_config(unit):
    """The `noise_range` and `seed` entries of a noisy unit's config."""
    noise_range = unit.noise_range
    return {
        "noise_range": None if noise_range is None else list(noise_range),
        "seed": unit.seed,
    }


def selected_product(x, w):
    """`prod_i (w_ij * x_i + 1 - w_ij)` over the last axis of `x`.

    `x` has shape `(..., in)` and `w` `(in, units)`; the result has shape
    `(..., units)`.

    On TensorFlow and JAX the product is a tree of pairwise multiplies with
    its own first-order gradient, many times faster than differentiating
    `ops.prod` (see `_differentiable_product`); other backends use
    `ops.prod`. The gradient of the gradient is not defined.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_product()(x, w)
    if backend == "jax":
        return _jax_product()(x, ops.convert_to_tensor(w))
    return ops.prod(_selected_factors(x, w), axis=-2)


@functools.cache
def _tensorflow_product():
    import tensorflow as tf

    @functools.cache
    def compiled(fn, rank, weight_shape):
        return tf.function(fn, jit_compile=True, reduce_retracing=True, autograph=False)

    def compile(fn):
        def call(x, w, *args):
            # One function per rank and weight shape, so that a retrace only
            # generalises the batch axes: the trees need the other sizes.
            return compiled(fn, x.shape.rank, tuple(w.shape))(x, w, *args)

        return call

    product = _differentiable_product(compile)
    # A variable read inside tf.custom_gradient would need its own gradient
    # argument; tf.convert_to_tensor reads it (autocast included) before.
    return lambda x, w: product(tf.convert_to_tensor(x), tf.convert_to_tensor(w))


@functools.cache
def _jax_product():
    return _differentiable_product(lambda fn: fn)


def _differentiable_product(compile):
    """`selected_product` with a custom gradient, its parts passed to `compile`.

    The gradient with respect to each factor is the product of the other
    factors. Dividing the product by the factor gives it to rounding when
    the product is a finite normal number; where a product is zero (a zero
    factor), underflows or overflows, the exact products of the others are
    taken from the tree instead, several times slower inside a recurrent
    loop. The factors are recomputed rather than kept from the forward pass:
    under XLA they fuse into the reductions, so a recurrent layer stores no
    `(batch, in, units)` tensor per step. TensorFlow compiles each part with
    XLA even when the model is not (without fusion every step materialises
    several such tensors) and then chooses between the two gradients
    outside XLA; inside an XLA-compiled TensorFlow model the choice costs
    as much as computing both.
    """
    product = compile(_tree_product)
    divided = compile(_divided_gradients)
    exact = compile(_exact_gradients)

    def product_and_gradient(x, w):
        y = product(x, w)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            dtype = keras.backend.standardize_dtype(y.dtype)
            tiny = float(np.finfo(dtype).tiny)
            ordinary = ops.all(ops.isfinite(y) & (ops.abs(y) >= tiny))
            return ops.cond(
                ordinary,
                lambda: divided(x, w, y, upstream),
                lambda: exact(x, w, upstream),
            )

        return y, grad

    # Wrapped on first use: the NumPy backend warns as soon as the decorator
    # is applied.
    return ops.custom_gradient(product_and_gradient)


def _selected_factors(x, w):
    """The `(..., in, units)` factors `w_ij * x_i + 1 - w_ij`."""
    return ops.expand_dims(x, -1) * w + (1.0 - w)


def _tree_product(x, w):
    product = _pairwise_levels(_selected_factors(x, w), -2, ops.multiply)[-1]
    return ops.squeeze(product, -2)


def _divided_gradients(x, w, y, upstream):
    scaled = ops.expand_dims(upstream * y, -2)
    return _input_gradients(x, w, scaled / _selected_factors(x, w))


def _exact_gradients(x, w, upstream):
    levels = _pairwise_levels(_selected_factors(x, w), -2, ops.multiply)
    return _input_gradients(x, w, _scaled_products_of_others(levels, upstream))


def _input_gradients(x, w, d_factors):
    """Gradients for `x` and `w` from those for the factors."""
    d_x = ops.squeeze(_pairwise_levels(d_factors * w, -1, ops.add)[-1], -1)
    d_w = d_factors * (ops.expand_dims(x, -1) - 1.0)
    if len(x.shape) > 2 or x.shape[0] is None:
        d_w = ops.sum(d_w, axis=tuple(range(len(x.shape) - 1)))
    else:
        # A tree of adds: XLA's own reductions are slower on CPU.
        d_w = ops.squeeze(_pairwise_levels(d_w, 0, ops.add)[-1], 0)
    return ops.cast(d_x, x.dtype), ops.cast(d_w, w.dtype)


def _pairwise_levels(t, axis, combine):
    """Reduces `axis` of `t` with `combine` in a balanced tree of pairs.

    Returns every level, `t` first and the size-1 result last. Entry `k` of
    a level combines entries `k` and `k + half` of the level below (`half`
    its size rounded down), and an odd last entry is carried up as it is:
    contiguous slices only, which XLA fuses into few loops.
    """
    levels = [t]
    n = t.shape[axis]
    while n > 1:
        half = n // 2
        paired = combine(_part(t, axis, 0, half), _part(t, axis, half, 2 * half))
        if n % 2:
            paired = ops.concatenate([paired, _part(t, axis, 2 * half, n)], axis)
        t = paired
        n = t.shape[axis]
        levels.append(t)
    return levels


def _scaled_products_of_others(levels, upstream):
    """`upstream_j * prod_{k != i} factors_kj`, from the tree of products.

    `levels` is `_pairwise_levels(factors, -2, ops.multiply)`. Walking down
    the tree, an entry's product of the others is its parent's times its
    sibling's value. Having no division, this is exact also where factors
    are 0 or the product underflows.
    """
    scaled = ops.expand_dims(upstream, -2)
    for level in reversed(levels[:-1]):
        n = level.shape[-2]
        half = n // 2
        parents = _part(scaled, -2, 0, half)
        parts = [
            parents * _part(level, -2, half, 2 * half),
            parents * _part(level, -2, 0, half),
        ]
        if n % 2:
            parts.append(_part(scaled, -2, half, half + 1))
        scaled = ops.concatenate(parts, axis=-2)
    return scaled


def _part(t, axis, start, stop):
    """`t[start:stop]` along `axis`."""
    index = [slice(None)] * len(t.shape)
    index[axis] = slice(start, stop)
    return t[tuple(index)]


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
    registry's `nmu` entry, `nalu_rnn.models.CELLS["nmu"]`). The sNMU's
    training noise (`NMU(noise_range=...)`) is a layer option only.

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
