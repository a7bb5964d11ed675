"""Regularizers of arithmetic units: towards discrete weights, or saturation."""

import keras
from keras import ops

from nalu_rnn._validation import validate_finite_float, validate_positive_float
from nalu_rnn.discrete import distance_to_discrete


@keras.saving.register_keras_serializable(package="nalu_rnn")
class SparsityRegularizer(keras.regularizers.Regularizer):
    """Penalises arithmetic weights that lie between -1, 0 and 1.

    Returns `strength * mean(min(|W|, |1 - |W||))`, zero exactly when every
    entry of `W` is -1, 0 or 1 (Madsen & Johansen's sparsity regulariser;
    for `|W| <= 1`, the only range of their units, it is their
    `min(|W|, 1 - |W|)`, and beyond it the penalty keeps growing instead of
    turning negative). Given to a unit as `arithmetic_regularizer`, it acts
    on the effective weight: `W = tanh(W_hat) * sigmoid(M_hat)` of a NAC-style
    unit (not on `W_hat` or `M_hat`), the weight itself of a NAU, NMU or NPU.

    A weight that fits the training data at 0.99 instead of 1 ruins
    extrapolation (0.99 ** 1000 is about 0): the penalty breaks the ties
    between such solutions in favour of the exact one.

    Args:
        strength: Non-negative float multiplier. Defaults to `0.01`.

    Example:

    ```python
    cell = nalu_rnn.NACCell(
        2, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
    )
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016)
    """

    def __init__(self, strength=0.01):
        strength = validate_finite_float(strength, "strength", "SparsityRegularizer")
        if strength < 0:
            raise ValueError(
                "`strength` of SparsityRegularizer must be >= 0; "
                f"received strength={strength!r}"
            )
        self.strength = strength

    def __call__(self, w):
        # A tensor, also for a NumPy `w`: the loss stays in the weight's dtype.
        distance = distance_to_discrete(ops.convert_to_tensor(w))
        return self.strength * ops.mean(distance)

    def get_config(self):
        return {"strength": self.strength}


class GatedWeightPenalty:
    """Regularizer of a `W_hat` variable that sees the effective weight.

    Keras asks each variable's regularizer for a loss outside the forward
    pass (so it also works for cells inside `keras.layers.RNN`); this one
    reads its partner `M_hat` and penalises `tanh(W_hat) * sigmoid(M_hat)`.
    It also applies the plain `W_hat` regularizer, if any, that it replaces.
    """

    def __init__(self, penalty, m_hat, w_hat_regularizer=None):
        self.penalty = penalty
        self.m_hat = m_hat
        self.w_hat_regularizer = w_hat_regularizer

    def __call__(self, w_hat):
        # `.value` honours JAX's stateless scope, so training sees the
        # current value of M_hat, not a stale one.
        w = ops.tanh(w_hat) * ops.sigmoid(self.m_hat.value)
        loss = self.penalty(w)
        if self.w_hat_regularizer is not None:
            loss = loss + self.w_hat_regularizer(w_hat)
        return loss


class StackedPenalty:
    """Regularizer of one half of a weight that a paper treats as one.

    The NMRU's paper has a single weight over `[x, 1 / x]`; here it is two
    variables, `W` and `W_r`. A mean penalty applied to each would pull
    twice as hard as the paper's mean over both, so this one, set on the
    first half, penalises the two stacked (reading its partner, as
    `GatedWeightPenalty` does) and the partner carries no arithmetic
    penalty of its own. It also applies the plain regularizer, if any, of
    the half it is set on.

    With `difference_weight > 0` the penalty also acts, that many times
    over, on the difference of the two halves (`w - partner`, entry by
    entry), pulling it to -1, 0 or 1 (`nalu_rnn.NMRU(pair_pull=)`).
    """

    def __init__(self, penalty, partner, regularizer=None, difference_weight=0.0):
        self.penalty = penalty
        self.partner = partner
        self.regularizer = regularizer
        self.difference_weight = difference_weight

    def __call__(self, w):
        # `.value` honours JAX's stateless scope (see GatedWeightPenalty).
        partner = self.partner.value
        loss = self.penalty(ops.concatenate([w, partner], axis=0))
        if self.difference_weight > 0:
            loss = loss + self.difference_weight * self.penalty(w - partner)
        if self.regularizer is not None:
            loss = loss + self.regularizer(w)
        return loss


class CombinedPenalty:
    """Regularizer of a directly used weight: `penalty(w) + regularizer(w)`.

    A NAU, NMU or NPU kernel is its own effective weight, so the arithmetic
    regularizer and the plain kernel regularizer (if any) act on the same
    variable; Keras gives a variable one regularizer, this is their sum.
    """

    def __init__(self, penalty, regularizer=None):
        self.penalty = penalty
        self.regularizer = regularizer

    def __call__(self, w):
        loss = self.penalty(w)
        if self.regularizer is not None:
            loss = loss + self.regularizer(w)
        return loss


class GatePenalty:
    """Regularizer of a unit gate `G` that pulls `g = sigmoid(G)` to 0 or 1.

    Returns `scale * strength * mean(g * (1 - g))`, where `strength` is read
    from the unit's arithmetic regulariser at every call, so the gate's pull
    follows the same warm-up and ramp (`nalu_rnn.callbacks.SparsityWarmup`)
    as the pull of the arithmetic weights towards their discrete values.
    `g * (1 - g)` is 0 only at a decided gate; its gradient is 0 at
    `g = 1/2` and largest near 0.2 and 0.8, so the pull settles a gate that
    has leaned one way instead of forcing an undecided one. `scale = 20`
    was measured on the recurrent arithmetic tasks (README, NALU recipe).
    It also applies the plain gate regulariser, if any, that it replaces.
    """

    def __init__(self, penalty, scale=20.0, gate_regularizer=None):
        self.penalty = penalty
        self.scale = scale
        self.gate_regularizer = gate_regularizer

    def __call__(self, raw_gate):
        gate = ops.sigmoid(raw_gate)
        loss = self.scale * self.penalty.strength * ops.mean(gate * (1.0 - gate))
        if self.gate_regularizer is not None:
            loss = loss + self.gate_regularizer(raw_gate)
        return loss


@keras.saving.register_keras_serializable(package="nalu_rnn")
class SaturationRegularizer(keras.regularizers.Regularizer):
    """Penalises raw weights whose magnitude is below `threshold`.

    Returns `strength * mean(max(threshold - |v|, 0))`: zero once every entry
    is at least `threshold` away from 0. On the raw `W_hat`, `M_hat` and gate
    variables of an iNALU it drives `tanh`, `sigmoid` and the gate into
    saturation, where the effective weights are exactly -1, 0 or 1 and the
    gate picks one path (Schlör et al.'s regulariser, with their
    `threshold = 20` and `strength = 0.05`; they switch it on only once the
    training loss is below 1, which is
    `nalu_rnn.callbacks.LossGatedRegularization`).

    Args:
        strength: Non-negative float multiplier. Defaults to `0.05`.
        threshold: Positive float, the magnitude from which a weight is no
            longer penalised. Defaults to `20.0`.

    Example:

    ```python
    reg = nalu_rnn.regularizers.SaturationRegularizer(0.05)
    unit = nalu_rnn.INALU(1, kernel_regularizer=reg, gate_regularizer=reg)
    ```

    Reference:
        - [Schlör, Ring & Hotho, 2020](https://arxiv.org/abs/2003.07629)
    """

    def __init__(self, strength=0.05, threshold=20.0):
        strength = validate_finite_float(strength, "strength", "SaturationRegularizer")
        if strength < 0:
            raise ValueError(
                "`strength` of SaturationRegularizer must be >= 0; "
                f"received strength={strength!r}"
            )
        self.strength = strength
        self.threshold = validate_positive_float(
            threshold, "threshold", "SaturationRegularizer"
        )

    def __call__(self, w):
        return self.strength * ops.mean(ops.relu(self.threshold - ops.abs(w)))

    def get_config(self):
        return {"strength": self.strength, "threshold": self.threshold}
