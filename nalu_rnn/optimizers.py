"""Optimizers for arithmetic units."""

import math

import keras
import numpy as np
from keras import ops

from nalu_rnn._validation import validate_finite_float

__all__ = [
    "OPTIMIZERS",
    "CommonModeAdam",
    "MultiRateAdam",
    "SpikeClippedAdam",
    "get_optimizer",
]


@keras.saving.register_keras_serializable(package="nalu_rnn")
class MultiRateAdam(keras.optimizers.Adam):
    """Adam with its learning rate multiplied for some layers' variables.

    A model whose parts want different rates (a ConvNet encoder at Adam's
    usual 1e-3 under an arithmetic head whose weights must travel to exactly
    -1, 0 or 1, which the arithmetic tasks train at 0.03 to 0.1) gets one
    optimizer: each variable whose path starts with a key of
    `rate_multipliers` (a layer's name, then `/`) steps at the learning
    rate, schedule included, times that key's value; the longest matching
    key wins, and other variables step at the learning rate itself.

    Args:
        learning_rate: Float, schedule or callable, as for
            `keras.optimizers.Adam`. Defaults to `0.001`.
        rate_multipliers: Dict from a variable path prefix (a layer name,
            such as `"recurrent"`) to a float >= 0 (0 holds that layer
            where it is, without taking it out of the compiled step, so a
            `nalu_rnn.callbacks.RateMultiplierChange` can freeze it part-way
            through training). Defaults to `None`
            (every variable at the learning rate: plain Adam).
        **kwargs: Any other argument of `keras.optimizers.Adam`.

    Example:

    ```python
    optimizer = nalu_rnn.optimizers.MultiRateAdam(
        1e-3, rate_multipliers={"recurrent": 30.0}
    )
    ```
    """

    def __init__(self, learning_rate=0.001, rate_multipliers=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rate_multipliers = self._checked(rate_multipliers)

    def _checked(self, rate_multipliers):
        multipliers = dict(rate_multipliers or {})
        for prefix, value in multipliers.items():
            value = validate_finite_float(
                value, "rate_multipliers", type(self).__name__
            )
            if not isinstance(prefix, str) or not prefix or not value >= 0:
                raise ValueError(
                    f"`rate_multipliers` of {type(self).__name__} maps layer names "
                    f"to numbers >= 0; received {prefix!r}: {value!r}"
                )
            multipliers[prefix] = value
        return multipliers

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._variable_paths = [v.path for v in variables]
        self._variable_multipliers = [self._multiplier(p) for p in self._variable_paths]

    def set_rate_multipliers(self, rate_multipliers):
        """Replaces the multipliers, for the steps still to come.

        The rates are fixed where the training step is compiled; a model
        changing them part-way through `fit` must rebuild its train function
        (`model.make_train_function(force=True)`, as
        `nalu_rnn.callbacks.RateMultiplierChange` does).

        Args:
            rate_multipliers: As in the constructor; `None` or `{}` for every
                variable at the learning rate.
        """
        self.rate_multipliers = self._checked(rate_multipliers)
        if self.built:
            self._variable_multipliers = [
                self._multiplier(p) for p in self._variable_paths
            ]

    def _multiplier(self, path):
        matches = [
            prefix
            for prefix in self.rate_multipliers
            if path == prefix or path.startswith(prefix + "/")
        ]
        return self.rate_multipliers[max(matches, key=len)] if matches else 1.0

    def variable_rate(self, variable, learning_rate):
        """`learning_rate` times the multiplier of `variable`'s layer."""
        if not self.rate_multipliers:
            return learning_rate
        multiplier = self._variable_multipliers[self._get_variable_index(variable)]
        return learning_rate if multiplier == 1.0 else learning_rate * multiplier

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = self.variable_rate(variable, learning_rate)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "rate_multipliers": dict(self.rate_multipliers)}


@keras.saving.register_keras_serializable(package="nalu_rnn")
class CommonModeAdam(MultiRateAdam):
    """Adam with each kernel's common mode as a coordinate of its own.

    Adam scales every coordinate of a weight separately. When all inputs of
    a kernel share a large mean, as in Madsen & Johansen's static task
    (inputs U[1, 2]), every entry's gradient is dominated by one shared
    term, the error of the kernel's column sums, and Adam's per-entry
    steps make that term jitter; what tells the entries apart (the inputs'
    small deviations from their mean) is lost in it. This optimizer runs
    Adam in a rotated basis for every variable of rank 2 or more whose
    fan-in (all axes but the last, flattened) is at least `min_fan_in`:
    a Householder reflection `H` maps the first fan-in axis to the
    normalised all-ones direction, so one coordinate holds the common
    mode and the others the contrasts between entries. The gradient is
    reflected, Adam's moments and step are computed in that basis, the
    common-mode step is multiplied by `sqrt(n)` (so that, as with plain
    Adam, a gradient shared by all `n` entries moves each by about the
    learning rate), and the step is reflected back (`H` is its own
    inverse). Other variables (biases, gates of rank 1) get plain Adam.

    On the static multiplication task NAU(2) -> NMU(1) this brings the
    weights to the symmetric solution within a few thousand steps instead
    of hundreds of thousands, after which the sparsity regulariser breaks
    the tie; plain Adam needs about 10^6 steps there.

    Args:
        learning_rate: Float, schedule or callable, as for
            `keras.optimizers.Adam`. Defaults to `0.001`.
        min_fan_in: Integer, the smallest fan-in that is rotated (a fan-in of
            1 has no common mode to separate). Defaults to `2`.
        **kwargs: Any other argument of `keras.optimizers.Adam` (`beta_1`,
            `beta_2`, `epsilon`, `amsgrad`, `clipnorm`, ...).

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input((100,)), nalu_rnn.NAU(2), nalu_rnn.NMU(1)]
    )
    model.compile(nalu_rnn.optimizers.CommonModeAdam(0.01), "mse")
    ```

    Reference:
        - [Kingma & Ba, 2015](https://arxiv.org/abs/1412.6980)
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
    """

    def __init__(self, learning_rate=0.001, min_fan_in=2, **kwargs):
        if isinstance(min_fan_in, bool) or not isinstance(min_fan_in, int):
            raise TypeError(
                "`min_fan_in` of CommonModeAdam must be an integer; "
                f"received min_fan_in={min_fan_in!r}"
            )
        if min_fan_in < 2:
            raise ValueError(
                "`min_fan_in` of CommonModeAdam must be >= 2; "
                f"received min_fan_in={min_fan_in!r}"
            )
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.min_fan_in = min_fan_in

    def _fan_in(self, variable):
        shape = tuple(variable.shape)
        if len(shape) < 2:
            return None
        fan_in = math.prod(shape[:-1])
        return fan_in if fan_in >= self.min_fan_in else None

    def _reflect(self, tensor, fan_in, first_scale=1.0):
        shape = tuple(tensor.shape)
        matrix = ops.reshape(tensor, (fan_in, -1))
        if first_scale != 1.0:
            row_scale = np.ones((fan_in, 1))
            row_scale[0, 0] = first_scale
            matrix = matrix * ops.convert_to_tensor(row_scale, dtype=tensor.dtype)
        # H = I - 2 u u^T / (u^T u) with u = e_1 - 1/sqrt(n), which swaps e_1
        # and the normalised all-ones vector. Applied to the mean and the
        # deviations from it separately, so that a gradient equal on every
        # input leaves exact zeros in the contrasts: a float32 residue there
        # would become an Adam step of the full rate.
        mean = ops.mean(matrix, axis=0, keepdims=True)
        deviations = matrix - mean
        scale = math.sqrt(fan_in)
        u = np.full((fan_in, 1), -1.0 / scale)
        u[0, 0] += 1.0
        u = ops.convert_to_tensor(u / (2.0 - 2.0 / scale), dtype=tensor.dtype)
        # u^T deviations is the first deviation, since the deviations sum to 0.
        reflected = deviations - 2.0 * u * deviations[:1]
        first = ops.convert_to_tensor(np.eye(fan_in, 1) * scale, dtype=tensor.dtype)
        return ops.reshape(reflected + first * mean, shape)

    def update_step(self, gradient, variable, learning_rate):
        fan_in = self._fan_in(variable)
        if fan_in is None:
            return super().update_step(gradient, variable, learning_rate)
        learning_rate = self.variable_rate(variable, learning_rate)
        gradient = self._reflect(ops.cast(gradient, variable.dtype), fan_in)
        lr = ops.cast(learning_rate, variable.dtype)
        local_step = ops.cast(self.iterations + 1, variable.dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (ops.square(gradient) - v) * (1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        step = m * alpha / (ops.sqrt(v) + self.epsilon)
        # Scaled by sqrt(n), the common-mode step moves every entry by about
        # the rate, as plain Adam would: slower, the column sums lag behind
        # the other weights (an NMU weight can reach 0 and switch off its
        # input for good before the NAU's sums have grown).
        common_mode_scale = math.sqrt(fan_in)
        self.assign_sub(variable, self._reflect(step, fan_in, common_mode_scale))

    def get_config(self):
        return {**super().get_config(), "min_fan_in": self.min_fan_in}


@keras.saving.register_keras_serializable(package="nalu_rnn")
class SpikeClippedAdam(MultiRateAdam):
    """Adam that scales a gradient spike down to a multiple of its recent norm.

    A product read-out divides by its inputs in log space, so one batch in
    which a running sum passes near 0 can bring a gradient thousands of
    times larger than the steps before it. Adam's moments absorb it at
    once and move every weight by several learning rates over the next
    steps, which can throw a near-solution onto a constant prediction. This
    optimizer keeps a running mean of the gradient's global norm and, when
    a step's norm exceeds `spike_factor` times that mean, scales the whole
    gradient down to it (direction kept) before Adam sees it. The mean
    starts at the first step's norm and follows the clipped norms with
    momentum `norm_momentum`, so a norm that grows steadily is followed,
    and a spike is not. Keras's own `clipnorm` / `global_clipnorm` /
    `clipvalue`, if given, apply first.

    Args:
        learning_rate: Float, schedule or callable, as for
            `keras.optimizers.Adam`. Defaults to `0.001`.
        spike_factor: Float > 1, the largest ratio of a step's gradient norm
            to the running mean that passes unscaled. Defaults to `5.0`.
        norm_momentum: Float in [0, 1), the momentum of the running mean of
            the gradient norm. Defaults to `0.99`.
        **kwargs: Any other argument of `keras.optimizers.Adam` (`beta_1`,
            `beta_2`, `epsilon`, `amsgrad`, `clipnorm`, ...).

    Example:

    ```python
    model = keras.Sequential(
        [keras.Input((None, 10)), nalu_rnn.ArithmeticRNN(nalu_rnn.NALUCell(2)),
         nalu_rnn.NALU(1)]
    )
    model.compile(nalu_rnn.optimizers.SpikeClippedAdam(0.1), "mse")
    ```

    Reference:
        - [Kingma & Ba, 2015](https://arxiv.org/abs/1412.6980)
        - [Pascanu, Mikolov & Bengio, 2013](https://arxiv.org/abs/1211.5063),
          gradient norm clipping.
    """

    def __init__(
        self, learning_rate=0.001, spike_factor=5.0, norm_momentum=0.99, **kwargs
    ):
        owner = "SpikeClippedAdam"
        spike_factor = validate_finite_float(spike_factor, "spike_factor", owner)
        if not spike_factor > 1.0:
            raise ValueError(
                "`spike_factor` of SpikeClippedAdam must be > 1; "
                f"received spike_factor={spike_factor!r}"
            )
        norm_momentum = validate_finite_float(norm_momentum, "norm_momentum", owner)
        if not 0.0 <= norm_momentum < 1.0:
            raise ValueError(
                "`norm_momentum` of SpikeClippedAdam must be in [0, 1); "
                f"received norm_momentum={norm_momentum!r}"
            )
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.spike_factor = spike_factor
        self.norm_momentum = norm_momentum

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # 0 until the first step: a norm is never 0 once training has a loss.
        self._norm_mean = self.add_variable(
            shape=(), initializer="zeros", name="gradient_norm_mean"
        )

    def _clip_gradients(self, grads):
        grads = super()._clip_gradients(grads)
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads if g is not None))
        mean = self._norm_mean
        started = mean > 0
        limit = ops.where(started, self.spike_factor * mean, norm)
        scale = ops.minimum(1.0, limit / ops.maximum(norm, 1e-30))
        momentum = self.norm_momentum
        self._norm_mean.assign(
            ops.where(started, momentum * mean + (1 - momentum) * norm * scale, norm)
        )
        return [g * scale if g is not None else g for g in grads]

    def get_config(self):
        return {
            **super().get_config(),
            "spike_factor": self.spike_factor,
            "norm_momentum": self.norm_momentum,
        }


# Names accepted by `get_optimizer` (and train.py's --optimizer).
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "common_mode_adam": CommonModeAdam,
    "spike_clipped_adam": SpikeClippedAdam,
}


def get_optimizer(name, learning_rate=0.001, rate_multipliers=None, **kwargs):
    """The optimizer called `name` in `OPTIMIZERS`, built with `kwargs`.

    With `rate_multipliers` (see `MultiRateAdam`), plain `"adam"` is a
    `MultiRateAdam`; the others take them themselves.
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"Unknown optimizer {name!r}; valid names are: {', '.join(OPTIMIZERS)}"
        )
    if not rate_multipliers:
        return OPTIMIZERS[name](learning_rate, **kwargs)
    optimizer_class = MultiRateAdam if name == "adam" else OPTIMIZERS[name]
    return optimizer_class(learning_rate, rate_multipliers=rate_multipliers, **kwargs)
