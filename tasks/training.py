"""Training steps every experiment shares: compiling, and the schedules.

Both task families compile with `compile_model` and build their regularisers
and the callbacks that switch them on from one `TrainingSchedule`, so that
every schedule flag (`--sparsity*`, `--readout-sparsity-start`,
`--saturation`, `--gate-snap`) acts the same way on every task that accepts
it.
"""

import contextlib
import dataclasses
import math
import os

import keras
import numpy as np

import nalu_rnn
from tasks.success import mse

# Schlör et al. switch their saturation penalty on once the training loss is
# below 1, and not in the first tenth of training: saturating the raw weights
# before a fit is found would freeze a wrong choice.
SATURATION_LOSS = 1.0
SATURATION_START_FRACTION = 0.1


def compile_model(
    model,
    optim,
    decay_steps=None,
    final_fraction=0.01,
    warmup_steps=0,
    rate_multipliers=None,
):
    """Compiles `model` with MSE and the optimiser of `optim`.

    Args:
        model: The Keras model.
        optim: The run's `runner.config.OptimizerOptions` (`optimizer`,
            `learning_rate`, `adam_epsilon`, `clipnorm`, `global_clipnorm`,
            `clipvalue`).
        decay_steps: Steps over which the rate cosine-decays, or `None` for a
            constant rate. Defaults to `None`. A high rate finds the
            structure fast; decaying it lets the weights settle to the
            precision the tasks' criteria ask.
        final_fraction: The decayed rate's end, as a fraction of
            `learning_rate` (Keras's `CosineDecay(alpha=)`). Defaults to
            `0.01`.
        warmup_steps: Steps over which the rate first rises linearly from 0
            (then decays over the rest of `decay_steps`, if given). Defaults
            to `0`.
        rate_multipliers: Layer name to the factor its variables' rate is
            multiplied by (`nalu_rnn.optimizers.MultiRateAdam`), or `None`.
            Defaults to `None`.
    """
    learning_rate = optim.learning_rate
    if warmup_steps:
        # Keras's cosine schedule warms up from `initial_learning_rate` to
        # `warmup_target`; without decay, alpha=1 holds the target after.
        learning_rate = keras.optimizers.schedules.CosineDecay(
            0.0,
            decay_steps=max(1, (decay_steps or warmup_steps) - warmup_steps),
            alpha=final_fraction if decay_steps is not None else 1.0,
            warmup_target=optim.learning_rate,
            warmup_steps=warmup_steps,
        )
    elif decay_steps is not None:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            optim.learning_rate, decay_steps=decay_steps, alpha=final_fraction
        )
    # Left out unless given, so that Keras's own default stays the default.
    epsilon = {} if optim.adam_epsilon is None else {"epsilon": optim.adam_epsilon}
    optimizer = nalu_rnn.optimizers.get_optimizer(
        optim.optimizer,
        learning_rate,
        rate_multipliers=rate_multipliers,
        **epsilon,
        clipnorm=optim.clipnorm,
        global_clipnorm=optim.global_clipnorm,
        clipvalue=optim.clipvalue,
    )
    model.compile(optimizer=optimizer, loss="mse")


class TrainingSchedule:
    """The regularisers of one run, and the callbacks that switch them on.

    Made once per run by the experiment, whatever its family: the models
    take the regularisers (`sparsity`, `readout_sparsity`, `saturation`),
    `fit` takes `callbacks(epochs)`.

    Args:
        config: The `runner.config.RunConfig` of the run.
        arithmetic: Whether the run's cell has arithmetic units; without
            them nothing is scheduled.
        snap_kernels: Names of plain layers that `--weight-snap` snaps to
            the integers with the units (`nalu_rnn.callbacks.WeightSnap(
            kernels=)`). Defaults to `()`.

    Attributes:
        sparsity: The `nalu_rnn.SparsityRegularizer` every arithmetic layer
            shares, at strength 0 until its `SparsityWarmup` raises it.
        readout_sparsity: The read-out's own regulariser when its pull
            starts later (`--readout-sparsity-start`), else `None` (the
            read-out shares `sparsity`).
        saturation: The `nalu_rnn.regularizers.SaturationRegularizer` of the
            raw kernels and gates, or `None` without `--saturation`.
        gate_snap: The `nalu_rnn.callbacks.GateSnap` of `--gate-snap`, or
            `None`.
        weight_snap: The `nalu_rnn.callbacks.WeightSnap` of
            `--weight-snap`, or `None`.
    """

    def __init__(self, config, arithmetic, snap_kernels=()):
        self.regularization = config.regularization
        self.steps = config.optim.steps
        self.check_every = config.evaluation.check_every
        self.arithmetic = arithmetic
        r = self.regularization
        self.sparsity = nalu_rnn.SparsityRegularizer(0.0)
        self.readout_sparsity = (
            None
            if r.readout_sparsity_start is None
            else nalu_rnn.SparsityRegularizer(0.0)
        )
        self.saturation = None
        self._saturation_switch = None
        if arithmetic and r.saturation > 0:
            self.saturation = nalu_rnn.regularizers.SaturationRegularizer(0.0)
            self._saturation_switch = nalu_rnn.callbacks.LossGatedRegularization(
                self.saturation,
                r.saturation,
                threshold=SATURATION_LOSS,
                start_step=round(SATURATION_START_FRACTION * self.steps),
                check_every=self.check_every,
            )
        self.gate_snap = None
        # `--gate-snap 0` switches off a recipe's snap.
        if arithmetic and r.gate_snap:
            self.gate_snap = nalu_rnn.callbacks.GateSnap(
                round(r.gate_snap * self.steps), r.harden_tolerance
            )
        self.weight_snap = None
        if arithmetic and r.weight_snap > 0:
            self.weight_snap = nalu_rnn.callbacks.WeightSnap(
                round(r.weight_snap * self.steps),
                r.harden_tolerance,
                kernels=snap_kernels,
            )

    def callbacks(self, epochs):
        """The pulls, the snaps and the saturation switch, for `fit`."""
        r = self.regularization
        callbacks = []
        if self.arithmetic and r.sparsity > 0:
            callbacks.append(self.pull(self.sparsity, r.sparsity_start, epochs))
            if self.readout_sparsity is not None:
                callbacks.append(
                    self.pull(self.readout_sparsity, r.readout_sparsity_start, epochs)
                )
        for snap in (self.gate_snap, self.weight_snap):
            if snap is not None:
                callbacks.append(snap)
        if self._saturation_switch is not None:
            callbacks.append(self._saturation_switch)
        return callbacks

    def pull(self, regularizer, start, epochs):
        """The `SparsityWarmup` of `regularizer`, starting at fraction `start`.

        Full strength at once from the first epoch at `start`, or, with
        `--sparsity-end`, Madsen & Johansen's ramp by step: a read-out whose
        pull starts later than the cell's ramps over as many steps, and
        stops (`--sparsity-stop`) as much later, within the run.
        """
        r, steps = self.regularization, self.steps
        if r.sparsity_end is None:
            warmup_start = max(1, round(start * epochs))
            return nalu_rnn.callbacks.SparsityWarmup(
                regularizer, r.sparsity, warmup_start
            )
        # A gradual start matters for the NAU: an add/sub weight split
        # between two hidden units resolves towards one of them while the
        # pull is still weak, where a strong pull at once can freeze both
        # halves near 0.5.
        delay = start - r.sparsity_start
        start_step = round(start * steps)
        end_step = max(start_step + 1, round(min(1.0, r.sparsity_end + delay) * steps))
        stop_step = None
        if r.sparsity_stop is not None:
            stop_step = round(min(1.0, r.sparsity_stop + delay) * steps)
        return nalu_rnn.callbacks.SparsityWarmup(
            regularizer,
            r.sparsity,
            start_step=start_step,
            end_step=end_step,
            # Each change retraces the train function: about 20 per ramp.
            update_every=max(1, (end_step - start_step) // 20),
            stop_step=stop_step,
        )

    def snap_record(self):
        """results.json's `gate_snap` and `weight_snap` entries, for the
        snaps that ran: when, and what was snapped."""
        record = {}
        for key, snap in (
            ("gate_snap", self.gate_snap),
            ("weight_snap", self.weight_snap),
        ):
            if snap is not None:
                snapped = [dataclasses.asdict(r) for r in snap.report or []]
                record[key] = {"step": snap.step, "snapped": snapped}
        return record


@contextlib.contextmanager
def whole_batches():
    """Lets `predict` take batches of any size under a JAX `DataParallel`.

    JAX splits every batch that `fit`, `evaluate` and `predict` take over the
    devices in equal shares, and cannot split a batch whose size the device
    count does not divide (the last batch of an evaluation set, say). Inside
    this context Keras has no current distribution: a batch runs whole on
    the replicated weights, on every device at once. Training batches keep
    their split. A no-op on other backends and without `--strategy`.
    """
    current = keras.distribution.distribution()
    if current is None:
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)


class SolvedStepMonitor(keras.callbacks.Callback):
    """Records the first training step at which a model meets the criterion.

    Every `every` steps (and once at the end of training), predicts each
    monitored set and compares its MSE with that set's threshold; the first
    step at which every set is below its threshold is `solved_step`. Later
    checks are skipped once it is found, so the monitor costs nothing after
    the run is solved.

    Args:
        sets: List of `(x, y, threshold)`: inputs, exact targets and the
            MSE a solved model stays below (for the arithmetic tasks,
            `ArithmeticTask.perturbed_solution_mse(x)`).
        every: Positive integer, training steps between checks.
            Defaults to `100`.
        batch_size: Prediction batch size. Defaults to `1000`.

    Attributes:
        solved_step: The first step (batches since the start of `fit`) at
            which every set met its threshold, or `None`.
        step: Training steps seen so far.
    """

    def __init__(self, sets, every=100, batch_size=1000):
        super().__init__()
        if every < 1:
            raise ValueError(f"`every` must be >= 1; received every={every!r}")
        self.sets = list(sets)
        self.every = int(every)
        self.batch_size = int(batch_size)
        self.solved_step = None
        self.step = 0

    def solved(self):
        """Whether the model meets the threshold on every monitored set now."""
        for x, y, threshold in self.sets:
            # A monitored set need not split evenly over the devices of a
            # JAX `--strategy mirrored`.
            with whole_batches():
                prediction = self.model.predict(
                    x, batch_size=self.batch_size, verbose=0
                )
            if not mse(y, prediction) < threshold:
                return False
        return True

    def _check(self):
        if self.solved_step is None and self.solved():
            self.solved_step = self.step

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self._check()

    def on_train_end(self, logs=None):
        if self.step % self.every:
            self._check()


class BestInterpolation(keras.callbacks.Callback):
    """Keeps the weights with the lowest MSE on a fixed validation set.

    Every `every` steps (and at the end of training) the model predicts
    `(x, y)`; weights whose MSE is below every earlier check's are copied.
    At the end of training the kept weights are restored, so the model
    judged is the one selected (Madsen & Johansen's and the NALM
    benchmark's rule: the step with the lowest interpolation error). With
    `state_path`, the kept weights, their step and error are saved there at
    every epoch's end and read back when training starts, so a run that
    resumes from its checkpoint keeps its selection.

    Args:
        x: Validation inputs.
        y: Their exact targets.
        every: Positive integer, steps between checks. Defaults to `1000`.
        state_path: A `.npz` file for the selection's state, or `None`.
            Defaults to `None`.
        batch_size: Prediction batch size. Defaults to `1000`.

    Attributes:
        best_step: The step of the kept weights (`None` before a check).
        best_mse: Their validation MSE.
    """

    def __init__(self, x, y, every=1000, state_path=None, batch_size=1000):
        super().__init__()
        if every < 1:
            raise ValueError(f"`every` must be >= 1; received every={every!r}")
        self.x, self.y = x, y
        self.every = int(every)
        self.state_path = state_path
        self.batch_size = int(batch_size)
        self.step = 0
        self.best_step = None
        self.best_mse = math.inf
        self._best = None

    def on_train_begin(self, logs=None):
        if self.state_path is None or not os.path.exists(self.state_path):
            return
        with np.load(self.state_path) as state:
            self.step = int(state["step"])
            self.best_step = int(state["best_step"])
            self.best_mse = float(state["best_mse"])
            count = int(state["weights"])
            self._best = [state[f"w{i}"] for i in range(count)]

    def _check(self):
        with whole_batches():
            prediction = self.model.predict(
                self.x, batch_size=self.batch_size, verbose=0
            )
        error = mse(self.y, prediction)
        if error < self.best_mse:
            self.best_mse, self.best_step = error, self.step
            self._best = [np.array(w) for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        if self.state_path is None or self._best is None:
            return
        arrays = {f"w{i}": w for i, w in enumerate(self._best)}
        os.makedirs(os.path.dirname(self.state_path) or ".", exist_ok=True)
        temporary = f"{self.state_path}.tmp.npz"
        np.savez(
            temporary,
            step=self.step,
            best_step=self.best_step,
            best_mse=self.best_mse,
            weights=len(self._best),
            **arrays,
        )
        os.replace(temporary, self.state_path)

    def on_train_end(self, logs=None):
        if self.step % self.every:
            self._check()
        if self._best is not None:
            self.model.set_weights(self._best)

    def record(self):
        """results.json's `selection` entry."""
        return {
            "rule": "best-interpolation",
            "every": self.every,
            "step": self.best_step,
            "interpolation_mse": self.best_mse,
        }
