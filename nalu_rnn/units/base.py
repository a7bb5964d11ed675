"""What every arithmetic unit shares: argument checks, kernels, snapping, config."""

import dataclasses
import random

import keras
import numpy as np
from keras import ops

from nalu_rnn._validation import (
    validate_float_dtype_policy,
    validate_float_inputs,
    validate_input_shape,
    validate_tolerance,
    validate_units,
)
from nalu_rnn.discrete import SIGNED_UNIT_VALUES, is_discrete, nearest_discrete
from nalu_rnn.regularizers import CombinedPenalty, GatedWeightPenalty
from nalu_rnn.units import rendering

# sigmoid(+-1000) is exactly 1 and 0 in float16, float32 and float64 alike.
GATE_SATURATION = 1000.0
# tanh(20) and sigmoid(20) are exactly 1.0 in float32, so these raw values
# give a gated weight of exactly +-1; W_hat = 0 gives exactly 0.
SATURATION = 20.0


def gated_weight(w_hat, m_hat):
    """Returns `tanh(w_hat) * sigmoid(m_hat)`, the NAC weight in [-1, 1].

    Its gradient vanishes near -1, 0 and 1, which pushes trained weights
    towards exactly those values.
    """
    return ops.tanh(w_hat) * ops.sigmoid(m_hat)


@dataclasses.dataclass
class SnappedWeight:
    """What snapping changed in one effective weight matrix."""

    path: str
    snapped: int
    total: int
    max_change: float


class ClipConstraint:
    """Applies `inner` (if any), then clips the weight to `[low, high]`.

    Set on a variable by the units that keep their weight in a range (NAU:
    [-1, 1], NMU: [0, 1]); the optimizer applies it after every update.
    """

    def __init__(self, low, high, inner=None):
        self.low = low
        self.high = high
        self.inner = inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        return ops.clip(w, self.low, self.high)


def _reseeded(config, rng):
    """A serialized initializer with every `seed` entry replaced by a new one."""
    if isinstance(config, dict):
        return {
            key: (
                int(rng.integers(0, 2**31 - 1))
                if key == "seed"
                else _reseeded(value, rng)
            )
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_reseeded(value, rng) for value in config]
    return config


class ArithmeticUnit(keras.layers.Layer):
    """Base class of the arithmetic layers (`NAC`, `NALU`, `NAU`, ...).

    It holds the arguments every unit has and creates its weights of three
    kinds, which weight hardening (`nalu_rnn.harden`), formula printing
    (`nalu_rnn.formula`) and reinitialisation treat differently:

    * gated kernels (`_add_gated_kernel`): the NAC pair `W_hat`, `M_hat`
      whose effective weight is `tanh(W_hat) * sigmoid(M_hat)`;
    * direct kernels (`_add_direct_kernel`): a matrix used as it is, such as
      the NAU's `W`, with the values it snaps to;
    * other weights (`_add_unit_weight`): gates and relevances, which have no
      discrete meaning and are never snapped.

    The values each effective weight should reach are `discrete_values()`
    (-1, 0, 1 for gated kernels, the `snap_values` of a direct one), and
    `formula_lines()` writes what the unit computes for `nalu_rnn.formula`;
    a unit that overrides neither still hardens and prints.

    Subclasses create their weights in `build()`, derive the tensors their
    forward pass needs from them in `derived_weights()` (the NAC's
    `tanh(W_hat) * sigmoid(M_hat)`, say) and compute their output from the
    inputs and those tensors in `call_with()`; `call(x)` is
    `call_with(x, derived_weights())`. A recurrent layer that applies the
    unit at every step can so derive the weights once per sequence
    (`nalu_rnn.ArithmeticRNN`). Units whose output is linear in the input
    set `linear = True` and derive one tensor, their matrix `W`.

    Args:
        units: Positive integer, dimensionality of the output space.
        kernel_initializer: Initializer for the kernels (`W_hat` and `M_hat`
            of a gated unit, `W` of a direct one). Defaults to `None`: the
            class's `default_kernel_initializer()`, `"glorot_uniform"` here.
        kernel_regularizer: Regularizer applied to the kernels.
            Defaults to `None`.
        kernel_constraint: Constraint applied to the kernels.
            Defaults to `None`.
        arithmetic_regularizer: Regularizer applied to the effective weights
            (`W = tanh(W_hat) * sigmoid(M_hat)`, or a direct `W` itself),
            such as `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.
    """

    def __init__(
        self,
        units,
        kernel_initializer=None,
        kernel_regularizer=None,
        kernel_constraint=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = validate_units(units, type(self).__name__)
        validate_float_dtype_policy(self, type(self).__name__)
        if kernel_initializer is None:
            kernel_initializer = self.default_kernel_initializer()
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.arithmetic_regularizer = keras.regularizers.get(arithmetic_regularizer)

    def __call__(self, inputs, *args, **kwargs):
        # Integer or string inputs would fail inside a backend matmul or
        # log with no hint; the check reads the static dtype only.
        validate_float_inputs(inputs, type(self).__name__)
        return super().__call__(inputs, *args, **kwargs)

    # True for units that compute `inputs @ W` with `derived_weights() == (W,)`.
    linear = False

    @classmethod
    def default_kernel_initializer(cls):
        """The kernel initializer used when `kernel_initializer=None`."""
        return "glorot_uniform"

    def derived_weights(self):
        """The tensors the forward pass derives from the variables, as a tuple.

        They depend on the variables only, not on the inputs, so that one
        tuple serves any number of calls of `call_with` between two
        optimizer updates.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `derived_weights()`"
        )

    def call_with(self, inputs, weights):
        """The unit's output for `inputs`, given `weights = derived_weights()`."""
        raise NotImplementedError(f"{type(self).__name__} must implement `call_with()`")

    def call(self, inputs):
        return self.call_with(inputs, self.derived_weights())

    def _input_dim(self, input_shape):
        input_dim = validate_input_shape(input_shape, type(self).__name__)
        # Set only now: an InputSpec checked before build() would pre-empt
        # our message, which names the shape received.
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        return input_dim

    def _add_unit_weight(
        self, name, shape, initializer, regularizer=None, constraint=None
    ):
        """`add_weight` that remembers the initializer, for `reinitialize`.

        The variable must be stored on the unit under the attribute `name`.
        """
        variable = self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            regularizer=regularizer,
            constraint=constraint,
        )
        # Names, not variables: a list of variables would be tracked again.
        if not hasattr(self, "_weight_initializers"):
            self._weight_initializers = []
        self._weight_initializers.append((name, keras.initializers.get(initializer)))
        return variable

    def _set_gate_arguments(self, initializer, regularizer, constraint):
        """Stores the `gate_*` constructor arguments of units with a gate."""
        self.gate_initializer = keras.initializers.get(initializer)
        self.gate_regularizer = keras.regularizers.get(regularizer)
        self.gate_constraint = keras.constraints.get(constraint)

    def _add_gate(self, name, shape):
        """A gate or relevance weight built from the `gate_*` arguments."""
        return self._add_unit_weight(
            name,
            shape,
            self.gate_initializer,
            regularizer=self.gate_regularizer,
            constraint=self.gate_constraint,
        )

    def _gate_config(self):
        return {
            "gate_initializer": keras.initializers.serialize(self.gate_initializer),
            "gate_regularizer": keras.regularizers.serialize(self.gate_regularizer),
            "gate_constraint": keras.constraints.serialize(self.gate_constraint),
        }

    def _add_kernel(self, name, input_dim, initializer=None):
        return self._add_unit_weight(
            name,
            (input_dim, self.units),
            initializer or self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def _add_gated_kernel(self, input_dim, suffix="", mask_initializer=None):
        """Creates `W_hat{suffix}` and `M_hat{suffix}`; returns both.

        The pair is recorded (by attribute name) so that `arithmetic_weights`,
        `snap_arithmetic_weights` and `nalu_rnn.formula` find every gated
        weight of every unit. `M_hat` uses `mask_initializer` when given,
        else the kernel initializer.
        """
        w_hat = self._add_kernel("W_hat" + suffix, input_dim)
        m_hat = self._add_kernel("M_hat" + suffix, input_dim, mask_initializer)
        if self.arithmetic_regularizer is not None:
            w_hat.regularizer = GatedWeightPenalty(
                self.arithmetic_regularizer, m_hat, self.kernel_regularizer
            )
        if not hasattr(self, "_gated_pairs"):
            self._gated_pairs = []
        self._gated_pairs.append(("W" + suffix, "W_hat" + suffix, "M_hat" + suffix))
        return w_hat, m_hat

    def _add_direct_kernel(
        self,
        name,
        input_dim,
        snap_values,
        clip=None,
        initializer=None,
        arithmetic=True,
    ):
        """Creates a kernel `name` used as it is, with shape `(input_dim, units)`.

        Args:
            name: Weight name; also its label in `arithmetic_weights`.
            snap_values: The values the weight snaps to (a tuple such as
                `(-1, 0, 1)`), or `None` for any integer.
            clip: `(low, high)` the weight is kept in after every optimizer
                update (after `kernel_constraint`), or `None`.
            initializer: Overrides the kernel initializer.
            arithmetic: Whether `arithmetic_regularizer` applies to it.
        """
        regularizer = self.kernel_regularizer
        if arithmetic and self.arithmetic_regularizer is not None:
            regularizer = CombinedPenalty(
                self.arithmetic_regularizer, self.kernel_regularizer
            )
        constraint = self.kernel_constraint
        if clip is not None:
            constraint = ClipConstraint(*clip, inner=self.kernel_constraint)
        variable = self._add_unit_weight(
            name,
            (input_dim, self.units),
            initializer or self.kernel_initializer,
            regularizer=regularizer,
            constraint=constraint,
        )
        if not hasattr(self, "_direct_kernels"):
            self._direct_kernels = []
        self._direct_kernels.append((name, name, snap_values))
        return variable

    def gated_pairs(self):
        """Returns `[(label, W_hat variable, M_hat variable), ...]`."""
        return [
            (label, getattr(self, w), getattr(self, m))
            for label, w, m in getattr(self, "_gated_pairs", [])
        ]

    def direct_kernels(self):
        """Returns `[(label, variable, snap_values), ...]` of the direct kernels."""
        return [
            (label, getattr(self, attribute), values)
            for label, attribute, values in getattr(self, "_direct_kernels", [])
        ]

    def arithmetic_weights(self):
        """Returns the effective arithmetic matrices as a dict of tensors.

        These are the matrices whose entries a trained unit should hold at
        discrete values: the gated `W` (and `W_m` for a separate
        multiplicative path) of NAC-style units, the directly used `W` of
        NAU, NMU and NPU (and the NPU's imaginary part `W_im`). Gates and
        relevances are not included. Weight hardening and formula printing
        read them.
        """
        weights = {label: gated_weight(w, m) for label, w, m in self.gated_pairs()}
        for label, variable, _ in self.direct_kernels():
            weights[label] = ops.convert_to_tensor(variable)
        return weights

    def discrete_values(self):
        """The values each effective weight snaps to, by its label.

        Returns:
            A dict `{label: values}` with the labels of `arithmetic_weights`:
            `values` is a tuple such as `(-1.0, 0.0, 1.0)`, or `None` for
            any integer (the NPU's exponents).
        """
        values = {label: SIGNED_UNIT_VALUES for label, _, _ in self.gated_pairs()}
        for label, _, snap_values in self.direct_kernels():
            values[label] = snap_values
        return values

    def formula_lines(self, weights, input_names, style):
        """The right-hand side of the formula of each output unit.

        `nalu_rnn.formula` calls it with the unit's weights as float64 NumPy
        arrays (the `arithmetic_weights`, then the gates `G` or `g` if any)
        and one name per input row. This default writes a linear unit as a
        linear combination, `x[0] - 0.5*x[2]`, and any other unit as its
        class name applied to one such combination per weight matrix,
        `Unit(W: x[0] + x[1]; W_m: x[2])`, weights written as their discrete
        values when within tolerance; units override it to write their own
        arithmetic.

        Args:
            weights: Dict of float64 arrays, by label; matrices have one row
                per input and one column per output unit.
            input_names: List of strings, one per input row.
            style: A `nalu_rnn.units.rendering.FormulaStyle`.

        Returns:
            A list of strings, one per output unit.
        """
        values = self.discrete_values()
        lines = []
        for j in range(self.units):
            terms = {
                label: rendering.linear(
                    weights[label][:, j], input_names, style, allowed
                )
                for label, allowed in values.items()
            }
            if self.linear and len(terms) == 1:
                lines.append(next(iter(terms.values())))
            else:
                body = "; ".join(f"{label}: {text}" for label, text in terms.items())
                lines.append(f"{type(self).__name__}({body})")
        return lines

    def snap_arithmetic_weights(self, tolerance, row_mask=None):
        """Snaps every effective weight within `tolerance` of a discrete value.

        Gated kernels snap to -1, 0 or 1 by saturating `W_hat` and `M_hat`
        (`tanh(20) * sigmoid(20)` is exactly 1 in float32); direct kernels
        are assigned the value itself (NAU: -1, 0, 1; NMU: 0, 1; NPU: the
        nearest integer, 0 for the imaginary part; RealNPU: the nearest
        multiple of 1/2). A unit's input-independent gates (`unit_gate`)
        within `tolerance` of 0 or 1 become exactly that (`snap_unit_gate`),
        so the unit computes the path it chose alone; the NPUs snap their
        relevances the same way; gates that read the input are left alone.

        Args:
            tolerance: Largest distance to a discrete value that is snapped.
            row_mask: Optional boolean array of shape `(input_dim,)`: only
                the rows where it is True are snapped (e.g. the state rows
                of a recurrent cell). Defaults to `None` (every row).

        Returns:
            A list of `SnappedWeight`, one per effective weight matrix.
        """
        # NaN would compare False everywhere and snap nothing, silently.
        tolerance = validate_tolerance(tolerance, "tolerance", type(self).__name__)
        report = []
        for label, w_hat, m_hat in self.gated_pairs():
            # 0.5 * (1 + tanh(m / 2)) is sigmoid(m) without overflow.
            w = (
                np.tanh(np.asarray(w_hat.numpy(), np.float64))
                * 0.5
                * (1.0 + np.tanh(0.5 * np.asarray(m_hat.numpy(), np.float64)))
            )
            target, snap = self._snap_plan(w, SIGNED_UNIT_VALUES, tolerance, row_mask)
            self._assign_discrete(label, target, snap)
            report.append(self._snap_record(label, w, target, snap))
        for label, variable, values in self.direct_kernels():
            w = np.asarray(variable.numpy(), np.float64)
            target, snap = self._snap_plan(w, values, tolerance, row_mask)
            self._assign_discrete(label, target, snap)
            report.append(self._snap_record(label, w, target, snap))
        gate = self.snap_unit_gate(tolerance)
        return report if gate is None else [*report, gate]

    def assign_discrete_weight(self, label, value):
        """Sets the effective weight `label` to `value` exactly.

        Every entry of `value` must be one of the unit's discrete values for
        that weight (`discrete_values`); a gated kernel gets them by
        saturating `W_hat` and `M_hat`, as hardening does.

        Args:
            label: A key of `arithmetic_weights()`, such as `"W"`.
            value: Array of the weight's shape.

        Raises:
            ValueError: for an unknown label, a shape that differs, or an
                entry that is not one of the discrete values.
        """
        weights = self.arithmetic_weights()
        if label not in weights:
            raise ValueError(
                f"{type(self).__name__} has no arithmetic weight {label!r}; "
                f"it has {', '.join(weights)}"
            )
        value = np.asarray(value, np.float64)
        shape = tuple(weights[label].shape)
        if value.shape != shape:
            raise ValueError(
                f"{label!r} of {type(self).__name__} has shape {shape}; "
                f"received a value of shape {value.shape}"
            )
        if not is_discrete(value, self.discrete_values()[label]):
            raise ValueError(
                f"every entry of {label!r} must be one of "
                f"{type(self).__name__}'s discrete values for it"
            )
        self._assign_discrete(label, value, np.ones(value.shape, bool))

    def _assign_discrete(self, label, target, where):
        """Sets weight `label` to the discrete `target` where `where` is True."""
        for pair_label, w_hat, m_hat in self.gated_pairs():
            if pair_label == label:
                w_hat_value = np.asarray(w_hat.numpy(), np.float64)
                m_hat_value = np.asarray(m_hat.numpy(), np.float64)
                saturated = np.where(target == 0, -SATURATION, SATURATION)
                w_hat.assign(
                    np.where(where, SATURATION * target, w_hat_value).astype(
                        w_hat.dtype
                    )
                )
                m_hat.assign(
                    np.where(where, saturated, m_hat_value).astype(m_hat.dtype)
                )
                return
        for kernel_label, variable, _ in self.direct_kernels():
            if kernel_label == label:
                w = np.asarray(variable.numpy(), np.float64)
                variable.assign(np.where(where, target, w).astype(variable.dtype))
                return

    def exact_linear_weight(self):
        """The matrix `W` with which the unit computes `inputs @ W` exactly.

        Linear units (`linear = True`: the NAC, the NAU) always have one; a
        unit that mixes paths has one where its current weights select the
        additive path alone (a NALU whose unit gates are exactly 1).

        Returns:
            A float64 NumPy array of shape `(input_dim, units)`, or `None`.
        """
        if not self.linear:
            return None
        return np.asarray(ops.convert_to_numpy(self.derived_weights()[0]), np.float64)

    def unit_gate(self):
        """The raw input-independent gate variable, or `None` without one.

        Units with one learnt gate per output unit (the iNALU, a NALU with
        `gate="unit"`) return it: `nalu_rnn.hardening.gate_decisions` reads
        what they chose.
        """
        return None

    def snap_unit_gate(self, tolerance):
        """Snaps this unit's input-independent gates within `tolerance` of 0
        or 1 to exactly that value; see `unit_gate`.

        Args:
            tolerance: Largest distance of `sigmoid(G)` to 0 or 1 that is
                snapped.

        Returns:
            The `nalu_rnn.hardening.SnappedWeight` record of the gate, or
            `None` for a unit without such a gate.
        """
        gate = self.unit_gate()
        return None if gate is None else self._snap_unit_gate(gate, tolerance)

    def _snap_unit_gate(self, variable, tolerance):
        """Snaps each input-independent gate `sigmoid(G)` within `tolerance`
        of 0 or 1 to exactly that value, by saturating `G`.

        A gate of 0.9999 still lets 1e-4 of the other path through, and in
        a recurrent cell that share compounds over the steps.

        Returns:
            The `SnappedWeight` record of the gate.
        """
        raw = np.asarray(variable.numpy(), np.float64)
        gate = 0.5 * (1.0 + np.tanh(0.5 * raw))  # sigmoid without overflow
        target = np.round(gate)
        snap = np.abs(gate - target) <= tolerance
        saturated = np.where(target == 1.0, GATE_SATURATION, -GATE_SATURATION)
        variable.assign(np.where(snap, saturated, raw).astype(variable.dtype))
        return self._snap_record(variable.name, gate, target, snap)

    @staticmethod
    def _snap_plan(w, values, tolerance, row_mask):
        target = nearest_discrete(w, values)
        snap = np.abs(w - target) <= tolerance
        if row_mask is not None:
            # One entry per input row, whatever the weight's rank.
            rows = np.asarray(row_mask, dtype=bool)
            snap &= rows.reshape(rows.shape + (1,) * (w.ndim - 1))
        return target, snap

    def _snap_record(self, label, w, target, snap):
        change = np.abs(w - target)[snap]
        return SnappedWeight(
            path=f"{self.path}/{label}",
            snapped=int(snap.sum()),
            total=int(snap.size),
            max_change=float(change.max()) if change.size else 0.0,
        )

    def reinitialize(self, seed=None):
        """Draws every weight afresh from its initializer, with new seeds.

        Keras initializers return the same values at every call, so each
        random initializer (also one nested in another, such as
        `StateIdentity`'s `base`) is rebuilt with a seed drawn from `seed`.

        Args:
            seed: Integer seed of the new draws, or `None` for one drawn from
                Python's `random` (seeded by `keras.utils.set_random_seed`).
                Defaults to `None`.
        """
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        rng = np.random.default_rng(seed)
        for name, initializer in getattr(self, "_weight_initializers", []):
            variable = getattr(self, name)
            config = _reseeded(keras.initializers.serialize(initializer), rng)
            fresh = keras.initializers.deserialize(config)
            variable.assign(fresh(tuple(variable.shape), dtype=variable.dtype))

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
