"""Training callbacks for arithmetic units."""

import math
import random

import keras
import numpy as np

from nalu_rnn._validation import validate_tolerance
from nalu_rnn.hardening import (
    arithmetic_units,
    distance_to_discrete,
    harden,
    snap_kernel,
    snap_unit_gates,
)
from nalu_rnn.keras_internals import flatten_layers, sync_training_state
from nalu_rnn.units import INALU


class SparsityWarmup(keras.callbacks.Callback):
    """Switches a `SparsityRegularizer` on after a warm-up, then ramps it up.

    The sparsity penalty pulls weights to {-1, 0, 1} before the network has
    found which inputs matter if it is on from the start; Madsen & Johansen
    therefore keep it at 0 for a warm-up and then raise it linearly. Two
    schedules:

    * by epoch (default): 0 before `start_epoch`, then rising linearly to
      `strength` over `ramp_epochs` epochs;
    * by step (`start_step` and `end_step` given): Madsen & Johansen's
      `strength * clip((t - start_step) / (end_step - start_step), 0, 1)`
      at training step `t` (batches since the start of `fit`), updated every
      `update_every` steps.

    The strength is a Python number compiled into the training function, so
    every change rebuilds that function (a retrace, once per change); that
    is what makes the new value take effect on every backend, and why the
    step schedule changes it in steps of `update_every`.

    Args:
        regularizer: The `nalu_rnn.SparsityRegularizer` shared by the units.
        strength: Final strength. Defaults to `0.05`.
        start_epoch: First epoch with a non-zero strength. Defaults to `1`.
        ramp_epochs: Epochs over which the strength rises linearly to
            `strength`. Defaults to `1` (full strength at once).
        start_step: Step at which the step schedule starts rising; `None`
            selects the epoch schedule. Defaults to `None`.
        end_step: Step at which the step schedule reaches `strength`.
            Defaults to `None`.
        update_every: Steps between updates of the step schedule.
            Defaults to `100`.
        stop_step: Step from which the step schedule is 0 again, or `None`
            to keep full strength to the end. A short final phase without
            the pull lets the weights it could not make discrete settle on
            the exact fit instead of the slightly biased one it holds them
            at. Defaults to `None`.

    Example:

    ```python
    reg = nalu_rnn.SparsityRegularizer(0.0)
    cell = nalu_rnn.NACCell(2, arithmetic_regularizer=reg)
    callback = nalu_rnn.callbacks.SparsityWarmup(reg, 0.05, start_epoch=3)
    # Madsen & Johansen's schedule: 0 until step 20000, full at 35000.
    ramp = nalu_rnn.callbacks.SparsityWarmup(
        reg, 0.1, start_step=20000, end_step=35000, update_every=1000
    )
    ```

    Reference:
        - [Madsen & Johansen, 2020](https://arxiv.org/abs/2001.05016),
          section 2.6 (sparsity regulariser and its schedule).
    """

    def __init__(
        self,
        regularizer,
        strength=0.05,
        start_epoch=1,
        ramp_epochs=1,
        start_step=None,
        end_step=None,
        update_every=100,
        stop_step=None,
    ):
        super().__init__()
        if ramp_epochs < 1:
            raise ValueError(
                f"`ramp_epochs` must be >= 1; received ramp_epochs={ramp_epochs!r}"
            )
        if (start_step is None) != (end_step is None):
            raise ValueError(
                "`start_step` and `end_step` must be given together; received "
                f"start_step={start_step!r}, end_step={end_step!r}"
            )
        if start_step is not None and not 0 <= start_step < end_step:
            raise ValueError(
                "`start_step` and `end_step` must satisfy 0 <= start_step < "
                f"end_step; received start_step={start_step!r}, "
                f"end_step={end_step!r}"
            )
        if stop_step is not None and (end_step is None or stop_step < end_step):
            raise ValueError(
                "`stop_step` needs the step schedule and must be >= end_step; "
                f"received stop_step={stop_step!r}, end_step={end_step!r}"
            )
        if update_every < 1:
            raise ValueError(
                f"`update_every` must be >= 1; received update_every={update_every!r}"
            )
        self.regularizer = regularizer
        self.strength = float(strength)
        self.start_epoch = int(start_epoch)
        self.ramp_epochs = int(ramp_epochs)
        self.start_step = None if start_step is None else int(start_step)
        self.end_step = None if end_step is None else int(end_step)
        self.update_every = int(update_every)
        self.stop_step = None if stop_step is None else int(stop_step)
        self._step = 0

    def strength_at(self, epoch):
        progress = (epoch - self.start_epoch + 1) / self.ramp_epochs
        return self.strength * min(1.0, max(0.0, progress))

    def strength_at_step(self, step):
        """The step schedule's strength at training step `step`."""
        if self.stop_step is not None and step >= self.stop_step:
            return 0.0
        progress = (step - self.start_step) / (self.end_step - self.start_step)
        return self.strength * min(1.0, max(0.0, progress))

    def _set(self, value):
        if value != self.regularizer.strength:
            self.regularizer.strength = value
            self.model.make_train_function(force=True)

    def on_train_begin(self, logs=None):
        self._step = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.start_step is None:
            self._set(self.strength_at(epoch))

    def on_train_batch_begin(self, batch, logs=None):
        if self.start_step is None:
            return
        if (
            self._step % self.update_every == 0
            or self._step >= self.end_step
            or self._step == self.stop_step
        ):
            self._set(self.strength_at_step(self._step))
        self._step += 1


class LossGatedRegularization(keras.callbacks.Callback):
    """Switches a regulariser on once the training loss falls below a bound.

    Schlör et al. add their saturation penalty
    (`nalu_rnn.regularizers.SaturationRegularizer`) only after the iNALU
    has found a fit (training loss below 1, after the first tenth of
    training): pushing raw weights into saturation before then would freeze
    a wrong choice. Here the switch is one-way: from the first check after
    `start_step` at which the running training loss is below `threshold`,
    the regulariser keeps `strength` to the end. (Theirs re-checks every
    batch; the loss Keras reports includes the penalty itself, so a two-way
    switch on it would flip back and forth.)

    Like `SparsityWarmup`, the strength is compiled into the training
    function, so the switch rebuilds that function once.

    Args:
        regularizer: The regulariser to switch; its `strength` attribute is
            set. It should start at 0.
        strength: The strength once switched on. Defaults to `0.05`.
        threshold: The training loss below which the regulariser is
            switched on. Defaults to `1.0`.
        start_step: Steps (batches since the start of `fit`) before the
            first check. Defaults to `0`.
        check_every: Steps between checks. Defaults to `100`.

    Example:

    ```python
    reg = nalu_rnn.regularizers.SaturationRegularizer(0.0)
    unit = nalu_rnn.INALU(1, kernel_regularizer=reg, gate_regularizer=reg)
    switch = nalu_rnn.callbacks.LossGatedRegularization(reg, 0.05)
    ```

    Reference:
        - [Schlör, Ring & Hotho, 2020](https://arxiv.org/abs/2003.07629)
    """

    def __init__(
        self, regularizer, strength=0.05, threshold=1.0, start_step=0, check_every=100
    ):
        super().__init__()
        if not strength >= 0 or not math.isfinite(strength):
            raise ValueError(
                f"`strength` must be a finite number >= 0; received {strength!r}"
            )
        if not threshold > 0:
            raise ValueError(f"`threshold` must be > 0; received {threshold!r}")
        if int(start_step) < 0 or int(check_every) < 1:
            raise ValueError(
                "`start_step` must be >= 0 and `check_every` >= 1; received "
                f"start_step={start_step!r}, check_every={check_every!r}"
            )
        self.regularizer = regularizer
        self.strength = float(strength)
        self.threshold = float(threshold)
        self.start_step = int(start_step)
        self.check_every = int(check_every)
        self.switched_at = None
        self._step = 0

    def on_train_begin(self, logs=None):
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.switched_at is not None or self._step < self.start_step:
            return
        if self._step % self.check_every:
            return
        loss = (logs or {}).get("loss")
        if loss is not None and float(loss) < self.threshold:
            self.regularizer.strength = self.strength
            self.switched_at = self._step
            self.model.make_train_function(force=True)


class StepChange(keras.callbacks.Callback):
    """Base of the callbacks that change a model once, at a training step.

    The step counts batches from the first epoch, also in a run resumed
    from a checkpoint, which makes the change before its first batch if it
    starts past `step`. What changes is traced into the train function as
    constants, so the function is rebuilt after. A subclass defines
    `change(model)`.

    Args:
        step: Non-negative integer, the training step (batches since the
            first epoch) from which the change holds.

    Example:

    ```python
    class Freeze(nalu_rnn.callbacks.StepChange):
        def change(self, model):
            model.get_layer("head").trainable = False

    model.fit(x, y, callbacks=[Freeze(step=1000)])
    ```
    """

    def __init__(self, step):
        super().__init__()
        if int(step) != step or step < 0:
            raise ValueError(f"`step` must be an integer >= 0; received {step!r}")
        self.step = int(step)
        self.changed_at = None
        self._epoch = 0

    def change(self, model):
        """Changes `model` in place, once."""
        raise NotImplementedError

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.changed_at is not None:
            return
        step = self._epoch * (self.params.get("steps") or 0) + batch
        if step < self.step:
            return
        self.change(self.model)
        self.changed_at = step
        self.model.make_train_function(force=True)


class RateMultiplierChange(StepChange):
    """Changes the rate multipliers of a `MultiRateAdam` once, part-way
    through training.

    A head's own learning rate is there to carry its weights as far as a
    discrete value; once `WeightSnap` has put them there, the same rate
    only shakes them off it again, while the rest of the model learns
    under the head. At `step` (a `StepChange`: counted from the first
    epoch, resumed runs included), the optimizer's multipliers become
    `rate_multipliers` (`{}`: every variable at the learning rate, the
    schedule still applied).

    Args:
        step: Non-negative integer, the training step (batches since the
            first epoch) from which the new multipliers hold.
        rate_multipliers: The new `rate_multipliers` of the model's
            `nalu_rnn.optimizers.MultiRateAdam`. Defaults to `None` (none).

    Example:

    ```python
    optimizer = nalu_rnn.optimizers.MultiRateAdam(
        1e-3, rate_multipliers={"recurrent": 100.0}
    )
    model.compile(optimizer, "mse")
    change = nalu_rnn.callbacks.RateMultiplierChange(step=1000)
    model.fit(x, y, callbacks=[change])
    ```
    """

    def __init__(self, step, rate_multipliers=None):
        super().__init__(step)
        self.rate_multipliers = dict(rate_multipliers or {})

    def on_train_begin(self, logs=None):
        if not hasattr(self.model.optimizer, "set_rate_multipliers"):
            raise TypeError(
                "RateMultiplierChange needs a model compiled with a "
                "nalu_rnn.optimizers.MultiRateAdam; received "
                f"{type(self.model.optimizer).__name__}"
            )

    def change(self, model):
        model.optimizer.set_rate_multipliers(self.rate_multipliers)


class GateSnap(keras.callbacks.Callback):
    """Snaps the decided unit gates exactly once, part-way through training.

    Hardening after training makes a gate of 0.995 exactly 1, but what was
    learnt alongside it (an encoder, the other weights) fitted the mixed
    head, with the other path's 0.5% share in it. Snapped during training,
    the gate is exact from then on (a saturated gate gets no gradient) and
    the rest of the model learns under the head it will be evaluated with.
    Gates not within `tolerance` of 0 or 1 are left to keep learning.

    Args:
        step: Training steps (batches since the start of `fit`) before the
            snap.
        tolerance: Largest distance of a gate to 0 or 1 that is snapped.
            Defaults to `0.2`.

    Example:

    ```python
    snap = nalu_rnn.callbacks.GateSnap(step=1000)
    model.fit(x, y, callbacks=[snap])
    snap.report  # what was snapped, `nalu_rnn.hardening.SnappedWeight`s
    ```
    """

    def __init__(self, step, tolerance=0.2):
        super().__init__()
        if int(step) < 0:
            raise ValueError(f"`step` must be >= 0; received step={step!r}")
        self.step = int(step)
        self.tolerance = validate_tolerance(tolerance, "tolerance", type(self).__name__)
        self.report = None
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.report is None and self._step >= self.step:
            sync_training_state(self.model)
            self.report = self.snap(self.model)

    def snap(self, model):
        """Snaps `model` in place; returns the `SnappedWeight` records."""
        return snap_unit_gates(model, self.tolerance)


class WeightSnap(GateSnap):
    """Snaps every decided arithmetic weight exactly once, part-way through
    training.

    `GateSnap` for the weights: at `step`, every effective arithmetic weight
    (and unit gate) within `tolerance` of one of its unit's discrete values
    becomes exactly that value (`nalu_rnn.hardening.harden`), and training
    goes on from there. A sparsity pull can stall a few weights short of
    their values where the loss holds them as a group: the NMRU's sign,
    `cos(pi * sum)` over inputs that are all negative, only sees the sum of
    its pairs' weights, so pairs rounding one at a time must cross an odd
    sum. Snapped together, they land on an even sum at once. Training
    then checks the snap: the data moves a wrong weight away again, and a
    model selected by its interpolation error keeps an earlier step.

    Layers outside the units whose weights feed them can be snapped at the
    same step, to the nearest integer (`nalu_rnn.hardening.snap_kernel`):
    the `Dense` that reads a value off each class before a summing head,
    whose small offsets add up over a long sequence. The rest of the model
    then learns under the exact values.

    Args:
        step: Training steps (batches since the start of `fit`) before the
            snap.
        tolerance: Largest distance of a weight to a discrete value that is
            snapped. Defaults to `0.2`.
        kernels: Names of plain layers (with a `kernel`) snapped to the
            integers as well. A name no layer has raises `ValueError` at
            the snap. Defaults to `()`.

    Example:

    ```python
    snap = nalu_rnn.callbacks.WeightSnap(step=40000)
    model.fit(x, y, callbacks=[snap])
    snap.report  # what was snapped, `nalu_rnn.hardening.SnappedWeight`s
    ```
    """

    def __init__(self, step, tolerance=0.2, kernels=()):
        super().__init__(step, tolerance)
        self.kernels = tuple(kernels)

    def snap(self, model):
        report = harden(model, self.tolerance)
        layers = {layer.name: layer for layer in flatten_layers(model)}
        for name in self.kernels:
            if name not in layers:
                raise ValueError(
                    f"WeightSnap: the model has no layer named {name!r} to snap"
                )
            report.extend(snap_kernel(layers[name], self.tolerance))
        return report


class INALUReinitialization(keras.callbacks.Callback):
    """Reinitialises iNALU weights when training has stalled (Schlör et al.).

    The iNALU paper restarts a unit that is stuck in a poor local optimum:
    every `check_every` epochs, the monitored training losses recorded since
    the last restart are split into an older and a newer half, and the
    weights of the iNALU units are drawn afresh from their initializers
    when

    ```
    mean(older) <= mean(newer) + std(newer)    # no real improvement
    and mean(newer) > threshold                # and not yet good
    ```

    (or when the newer losses are not finite). The history is then cleared.
    The authors apply the rule to per-batch losses; Keras reports a running
    mean within an epoch, so this callback uses the epoch means, and needs
    `min_history` of them before it tests. Optimizer state is kept.

    Args:
        check_every: Positive integer, epochs between tests. Defaults to
            `10`.
        threshold: Float, the loss above which a stalled unit is restarted.
            Defaults to `1.0`.
        min_history: Integer >= 2, epochs recorded since the last restart
            before a test is made. Defaults to `10`.
        monitor: Name of the logged loss to watch. Defaults to `"loss"`.
        layers: The `nalu_rnn.INALU` units (or cells holding them) to
            reinitialise; `None` means every iNALU in the model. Defaults
            to `None`.
        seed: Integer seed of the new draws, or `None`. Defaults to `None`.
        verbose: `1` prints a line at each restart. Defaults to `0`.

    Attributes:
        restarts: List of the epochs (0-based) after which weights were
            redrawn.

    Example:

    ```python
    model = keras.Sequential([keras.Input((2,)), nalu_rnn.INALU(1)])
    model.compile("adam", "mse")
    restart = nalu_rnn.callbacks.INALUReinitialization(check_every=10)
    model.fit(x, y, epochs=100, callbacks=[restart])
    ```

    Reference:
        - [Schlör, Ring & Hotho, 2020](https://arxiv.org/abs/2003.07629),
          section 3 (reinitialisation).
    """

    def __init__(
        self,
        check_every=10,
        threshold=1.0,
        min_history=10,
        monitor="loss",
        layers=None,
        seed=None,
        verbose=0,
    ):
        super().__init__()
        for name, value, low in (
            ("check_every", check_every, 1),
            ("min_history", min_history, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"`{name}` must be an integer >= {low}; received {name}={value!r}"
                )
        self.check_every = check_every
        self.threshold = float(threshold)
        self.min_history = min_history
        self.monitor = monitor
        self.layers = layers
        self.verbose = verbose
        self._rng = np.random.default_rng(
            random.randint(0, 2**31 - 1) if seed is None else seed
        )
        self.history = []
        self.restarts = []

    def _units(self):
        sources = self.layers if self.layers is not None else [self.model]
        units = []
        for source in sources:
            units.extend(u for u in arithmetic_units(source) if isinstance(u, INALU))
        return units

    def stalled(self):
        """Whether the recorded history meets the reinitialisation rule."""
        if len(self.history) < self.min_history:
            return False
        half = len(self.history) // 2
        older = np.asarray(self.history[:half], np.float64)
        newer = np.asarray(self.history[half:], np.float64)
        newer_mean = float(np.mean(newer))
        if not math.isfinite(newer_mean):
            return True
        no_progress = float(np.mean(older)) <= newer_mean + float(np.std(newer))
        return no_progress and newer_mean > self.threshold

    def on_train_begin(self, logs=None):
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.history.append(float(value))
        if (epoch + 1) % self.check_every != 0 or not self.stalled():
            return
        for unit in self._units():
            unit.reinitialize(int(self._rng.integers(0, 2**31 - 1)))
        self.history = []
        self.restarts.append(epoch)
        if self.verbose:
            print(f"INALUReinitialization: epoch {epoch + 1}, weights redrawn")


class NonFiniteError(FloatingPointError):
    """Raised by `NonFiniteGuard` when training produced NaN or Inf."""


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training with a clear error as soon as the loss or a weight is
    NaN or Inf, instead of training on (and reporting) garbage.

    The loss is read every `check_every` steps (reading it forces the
    backend to synchronise, so not every step) and the weights at the end of
    every epoch. The error names the step, the likely cause and the remedies.

    Args:
        check_every: Steps between loss checks. Defaults to `25`.
        hint: Extra advice appended to the message, e.g. the command-line
            flags that help. Defaults to `""`.

    Example:

    ```python
    model.fit(x, y, callbacks=[nalu_rnn.callbacks.NonFiniteGuard()])
    ```
    """

    def __init__(self, check_every=25, hint=""):
        super().__init__()
        if check_every < 1:
            raise ValueError(
                f"`check_every` must be >= 1; received check_every={check_every!r}"
            )
        self.check_every = int(check_every)
        self.hint = hint
        self.step = 0

    def on_train_begin(self, logs=None):
        self.step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _fail(self, what):
        message = (
            f"Training stopped at step {self.step} (epoch {self.epoch + 1}): {what}. "
            "Likely cause: an exploding gradient or an overflowing exponent "
            "(the multiplicative paths of NALU/iNALU/NPU compute exp(...))."
        )
        raise NonFiniteError(f"{message} {self.hint}".strip())

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.check_every:
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._fail(f"the loss is {float(loss)}")

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._fail(f"the epoch's mean loss is {float(loss)}")
        for weight in self.model.weights:
            if not np.all(np.isfinite(np.asarray(weight.numpy()))):
                self._fail(f"weight {weight.path} is not finite")


def distance_to_nearest(weights, values=(-1.0, 0.0, 1.0)):
    """Elementwise distance of `weights` to the nearest entry of `values`.

    `nalu_rnn.hardening.distance_to_discrete`, always on the host: any
    array-like (a tensor too) is measured in float64 with NumPy.

    Args:
        weights: Array-like of any shape.
        values: The discrete values. Defaults to `(-1.0, 0.0, 1.0)`.

    Returns:
        float64 NumPy array of the shape of `weights`.
    """
    return distance_to_discrete(np.asarray(weights, np.float64), values)


@keras.saving.register_keras_serializable(package="nalu_rnn")
class ArithmeticWeightMonitor(keras.callbacks.Callback):
    """Records how far each arithmetic weight matrix is from {-1, 0, 1}.

    A unit extrapolates exactly only once its effective weights (`W =
    tanh(W_hat) * sigmoid(M_hat)` of a NAC, the direct `W` of a NAU, ...;
    see `ArithmeticUnit.arithmetic_weights`) sit at discrete values, so the
    distance to the nearest of them shows whether, and when, training
    converges to an exact solution. For every matrix of every arithmetic
    unit in the model this callback computes the largest and the mean
    distance to the nearest of `values`, stores them in `history`, and,
    when `log_dir` is given, writes them as TensorBoard scalars
    `arithmetic_weights/<unit path>/<matrix>/max_distance` and
    `.../mean_distance` (unit path as in `layer.path`, e.g.
    `recurrent/nac_cell/nac`).

    The weights are read on the host, so this costs a device-to-host copy
    of a few small matrices per record; it adds no operation to the
    compiled training step and works on every backend (writing TensorBoard
    files needs the `tensorboard` package, as `keras.callbacks.TensorBoard`
    does).

    Args:
        log_dir: Directory of the TensorBoard event files, or `None` to only
            fill `history`. Defaults to `None`.
        update_freq: `"epoch"` to record at the end of every epoch (the
            TensorBoard step is the epoch, as for the epoch scalars of
            `keras.callbacks.TensorBoard`), or a positive integer `N` to
            record every `N` training batches (the step is the number of
            batches since the start of `fit`). Defaults to `"epoch"`.
        values: The discrete values distances are measured to. Defaults to
            `(-1.0, 0.0, 1.0)`.

    Attributes:
        history: List of `(step, {tag: value})`, one entry per record, with
            tags as above.

    Example:

    ```python
    model = nalu_rnn.models.arithmetic_model("nac", 10)
    model.compile("adam", "mse")
    monitor = nalu_rnn.callbacks.ArithmeticWeightMonitor("logs/weights")
    model.fit(x, y, epochs=5, callbacks=[monitor])
    step, distances = monitor.history[-1]
    ```
    """

    def __init__(self, log_dir=None, update_freq="epoch", values=(-1.0, 0.0, 1.0)):
        super().__init__()
        if update_freq != "epoch" and (
            isinstance(update_freq, bool)
            or not isinstance(update_freq, int)
            or update_freq < 1
        ):
            raise ValueError(
                "`update_freq` must be 'epoch' or a positive integer; received "
                f"update_freq={update_freq!r}"
            )
        values = tuple(float(v) for v in values)
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError(
                "`values` must be a non-empty sequence of finite numbers; "
                f"received values={values!r}"
            )
        self.log_dir = None if log_dir is None else str(log_dir)
        self.update_freq = update_freq
        self.values = values
        self.history = []
        self._writer = None
        self._batches = 0

    def get_config(self):
        return {
            "log_dir": self.log_dir,
            "update_freq": self.update_freq,
            "values": list(self.values),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def distances(self):
        """Returns `{tag: value}` for the model's current weights."""
        result = {}
        for unit in arithmetic_units(self.model):
            for label, weight in unit.arithmetic_weights().items():
                distance = distance_to_nearest(
                    keras.ops.convert_to_numpy(weight), self.values
                )
                tag = f"arithmetic_weights/{unit.path}/{label}"
                result[f"{tag}/max_distance"] = float(np.max(distance))
                result[f"{tag}/mean_distance"] = float(np.mean(distance))
        return result

    def _record(self, step):
        distances = self.distances()
        self.history.append((step, distances))
        if self._writer is None:
            return
        # tensorflow is imported only here, so that the callback without
        # `log_dir` runs on a backend installed without it.
        import tensorflow as tf

        with self._writer.as_default():
            for tag, value in distances.items():
                tf.summary.scalar(tag, value, step=step)
        self._writer.flush()

    def on_train_begin(self, logs=None):
        self._batches = 0
        if self.log_dir is not None and self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq != "epoch" and self._batches % self.update_freq == 0:
            self._record(self._batches)

    def on_epoch_end(self, epoch, logs=None):
        if self.update_freq == "epoch":
            self._record(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
