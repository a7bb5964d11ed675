"""Training steps the experiments share: compiling, and hardening with rollback.

The experiments of `tasks` call these from their `compile` and
`after_training` hooks, so that every task compiles and hardens one way.
"""

import dataclasses

import keras

import nalu_rnn


def compile_model(model, config, decay_steps=None, final_fraction=0.01):
    """Compiles `model` with MSE and `config`'s optimizer, rate and clipping.

    Args:
        model: The Keras model.
        config: The `RunConfig` (`optimizer`, `learning_rate`, `clipnorm`,
            `clipvalue`).
        decay_steps: Steps over which the rate cosine-decays, or `None` for a
            constant rate. Defaults to `None`. A high rate finds the
            structure fast; decaying it lets the weights settle to the
            precision the tasks' criteria ask.
        final_fraction: The decayed rate's end, as a fraction of
            `learning_rate` (Keras's `CosineDecay(alpha=)`). Defaults to
            `0.01`.
    """
    learning_rate = config.learning_rate
    if decay_steps is not None:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=decay_steps, alpha=final_fraction
        )
    optimizer = nalu_rnn.optimizers.get_optimizer(
        config.optimizer,
        learning_rate,
        clipnorm=config.clipnorm,
        clipvalue=config.clipvalue,
    )
    model.compile(optimizer=optimizer, loss="mse")


# Schlör et al. switch their saturation penalty on once the training loss is
# below 1, and not in the first tenth of training: saturating the raw weights
# before a fit is found would freeze a wrong choice.
SATURATION_LOSS = 1.0
SATURATION_START_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class SaturationPenalty:
    """The iNALU authors' saturation penalty of one run (`--saturation`).

    Args:
        regularizer: The `nalu_rnn.regularizers.SaturationRegularizer` the
            arithmetic layers' raw kernels and gates share, at strength 0
            until `switch` raises it; `None` when `--saturation` is 0.
        switch: The `nalu_rnn.callbacks.LossGatedRegularization` that
            raises it, or `None`.
    """

    regularizer: object = None
    switch: object = None

    @classmethod
    def of(cls, config, arithmetic):
        """The penalty `config` asks for; none for a cell without arithmetic."""
        if not (arithmetic and config.saturation > 0):
            return cls()
        regularizer = nalu_rnn.regularizers.SaturationRegularizer(0.0)
        switch = nalu_rnn.callbacks.LossGatedRegularization(
            regularizer,
            config.saturation,
            threshold=SATURATION_LOSS,
            start_step=round(SATURATION_START_FRACTION * config.steps),
            check_every=config.check_every,
        )
        return cls(regularizer, switch)

    def callbacks(self):
        """`[switch]`, or `[]` without a penalty."""
        return [] if self.switch is None else [self.switch]


def gate_snap_callback(config, arithmetic):
    """The `nalu_rnn.callbacks.GateSnap` of `config.gate_snap`, or `None`.

    At `gate_snap * steps`, with `harden_tolerance`; none for a cell without
    arithmetic units or without `--gate-snap`.
    """
    if not arithmetic or config.gate_snap is None:
        return None
    return nalu_rnn.callbacks.GateSnap(
        round(config.gate_snap * config.steps), config.harden_tolerance
    )


def gate_snap_record(callback):
    """results.json's `gate_snap` entry: when, and what was snapped."""
    if callback is None:
        return {}
    snapped = [dataclasses.asdict(r) for r in callback.report or []]
    return {"gate_snap": {"step": callback.step, "snapped": snapped}}


@dataclasses.dataclass(frozen=True)
class HardeningStep:
    """What `harden_with_rollback` did.

    Args:
        applied: Whether the hardened weights were kept.
        error_before: Validation error before hardening.
        error_after: Validation error of the hardened weights (kept or not).
        snapped: The snapped weights, as dicts of `nalu_rnn.hardening`'s
            report entries.
    """

    applied: bool
    error_before: float
    error_after: float
    snapped: list


def harden_with_rollback(model, harden, validation_error, error_before=None):
    """Hardens `model` and keeps it only if validation error does not rise.

    Args:
        model: The trained Keras model, changed in place.
        harden: Callable `harden(model)` that snaps weights and returns the
            list of snapped weights (`nalu_rnn.harden`'s report).
        validation_error: Callable `validation_error(model)`, a float (a
            non-finite error after hardening rolls it back).
        error_before: The error of the model as it is, when the caller
            measured it already. Defaults to `None` (measured here).

    Returns:
        A `HardeningStep`.
    """
    if error_before is None:
        error_before = validation_error(model)
    snapshot = nalu_rnn.hardening.weights_snapshot(model)
    report = harden(model)
    error_after = validation_error(model)
    applied = error_after <= error_before
    if not applied:
        nalu_rnn.hardening.restore_weights(model, snapshot)
    return HardeningStep(
        applied=bool(applied),
        error_before=error_before,
        error_after=error_after,
        snapped=[dataclasses.asdict(r) for r in report],
    )
