"""`train.py --seeds N --vectorize`: N seeds trained as one vectorised model.

The evidence about a unit is a success rate over seeds, and our models are
so small that a training step is mostly per-step overhead (Python, Keras's
`fit` loop, the dispatch of dozens of tiny XLA kernels, the batch drawn by
NumPy). Here the N seeds of a run train as one JAX program on one device:
each seed's variables (trainable, non-trainable, the optimizer's, the loss
tracker's) are stacked along a new leading axis, and one jitted function
applies Keras's own `train_step` of the model to every seed with
`jax.vmap`. That function is what `fit` itself jits on JAX (the model's
`stateless_call`, `compute_loss` with the regularisers, and the
optimizer's `stateless_apply`), so each seed takes the step it would take
alone (on this CPU to the last bit, the step being compiled alone, see
`_train_step`); per-seed weight axes in the units would have meant a
second implementation of every unit, optimizer and regulariser to keep
equal to the first.

Each seed starts as `train.py --seed K` alone would: a fresh Keras session
(so its layer names, and with them its formula, are a lone run's), then
`runner.run.start` (which seeds everything) and the experiment's model,
compiled by the experiment. Its batches are its own experiment's dataset,
drawn in `fit`'s order. What is global to one run stays per seed:

* the update: Adam is elementwise, and gradient clipping by norm, spike
  clipping (`SpikeClippedAdam`'s running norm is an optimizer variable)
  and the weight constraints all act inside one seed's `stateless_apply`;
* the callbacks, which act on one seed's weights or loss, are reproduced
  per seed with the seed's own objects: the NaN guard
  (`nalu_rnn.callbacks.NonFiniteGuard`, same steps, same message), the
  solved-step monitor, `--select best-interpolation`, the gate or weight
  snap (`GateSnap`, `WeightSnap`), and the saturation penalty's loss-gated
  switch (a per-seed 0/1 factor on its strength, an input of the step);
* hardening with rollback, evaluation and results: after training, each
  seed's values go back into its own model, and `runner.run.finish` runs
  for it as for a lone run.

What is the same for every seed is shared: the sparsity regularisers'
strength follows one schedule (`SparsityWarmup`, driven on seed 0's
objects); it is a Python number compiled into the step, so a change
recompiles the step, as `fit` retraces. A seed whose loss or weights stop
being finite is stopped where a lone run would stop it: its folder gets
`failed.json` (the lone run's message) instead of `results.json`, and
the other seeds go on (its lanes are still computed, on batches of zeros,
since the vmapped step computes every lane, but nothing reads them); the
run then exits with status 1 without `summary.json`, as `--seeds N`
would.

The stacked state, and every seed's monitor, selection, snap and failure,
is saved at the end of every epoch to `OUT/backup/vectorized.npz`
(atomically); a run started again with the same command resumes from it,
and deletes it once every seed's results are written.
"""

import contextlib
import dataclasses
import json
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np
from jax.experimental.compilation_cache import compilation_cache

from nalu_rnn.callbacks import (
    GateSnap,
    LossGatedRegularization,
    NonFiniteError,
    NonFiniteGuard,
    SparsityWarmup,
    WeightSnap,
)
from nalu_rnn.hardening import SnappedWeight
from nalu_rnn.keras_internals import build_for_training
from runner import run
from runner.results import FAILED_FILE, write_json
from runner.run import NON_FINITE_HINT, VectorizeError
from tasks.success import mse
from tasks.training import BestInterpolation, SolvedStepMonitor

CHECKPOINT_FILE = "vectorized.npz"
# The inputs of one vectorised prediction are kept under this many bytes:
# the recurrent monitor's sets of length 1000 take 10 MB per seed.
PREDICT_CHUNK_BYTES = 64 * 2**20
# Stacked batches drawn ahead of the step that takes them.
PREFETCH = 4
# The callbacks whose effect this module reproduces seed by seed; an
# experiment with any other cannot be vectorised.
KNOWN_CALLBACKS = (
    SparsityWarmup,
    GateSnap,
    WeightSnap,
    LossGatedRegularization,
    SolvedStepMonitor,
    BestInterpolation,
)


class SeedsFailedError(NonFiniteError):
    """Seeds of a vectorised run stopped on NaN or Inf; the others finished."""


def run_seeds(config, out_dir=None):
    """`runner.run.run_seeds` with the seeds left to train trained together.

    Args:
        config: The `RunConfig`, with `--seeds` and `--vectorize`.
        out_dir: The output folder. Defaults to `config.run.out`.

    Returns:
        The dict written to `summary.json`.

    Raises:
        VectorizeError: on a backend other than JAX, or for an experiment
            whose callbacks this module cannot reproduce per seed.
        SeedsFailedError: after every other seed's results are written,
            when some seeds stopped on NaN or Inf (no `summary.json`).
    """
    run.check_vectorize()
    out_dir = Path(out_dir or config.run.out)
    return run.run_seeds(
        config, out_dir, train=lambda seeds: train_seeds(config, out_dir, seeds)
    )


def train_seeds(config, out_dir, seeds):
    """Trains `seeds` as one vectorised model; writes each one's results.

    Args:
        config: The `RunConfig` of the run (`--seeds`, `--vectorize`).
        out_dir: The run's output folder; seed `K` writes `seed_<K>/`.
        seeds: The seeds to train, a list of integers (those of the run
            without a `results.json`, or all of them with `--force`).

    Returns:
        `{seed: results}`, the dict each seed wrote to its `results.json`.

    Raises:
        SeedsFailedError: after every other seed's results are written,
            when some seeds stopped on NaN or Inf (their `failed.json` says
            where and why).
        VectorizeError: when the experiment has a callback this module
            cannot reproduce per seed.
    """
    if not seeds:
        return {}
    with _compilation_cache():
        group = _Group(config, Path(out_dir), list(seeds))
        group.train()
        return group.finish()


@contextlib.contextmanager
def _compilation_cache():
    """JAX's persistent compilation cache in a temporary folder, for the run.

    Every seed's model is a Keras model of its own, so its evaluation after
    training traces and compiles its predict function anew; those programs
    are the same for every seed, and the cache compiles each once (the
    evaluation of a seed took about 1 s without it, 0.3 s with it). A cache
    the user set up (`JAX_COMPILATION_CACHE_DIR`) is used as it is.
    """
    if jax.config.jax_compilation_cache_dir:
        yield
        return
    settings = {
        "jax_compilation_cache_dir": tempfile.mkdtemp(prefix="nalu-rnn-xla-"),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    before = {name: getattr(jax.config, name) for name in settings}
    for name, value in settings.items():
        jax.config.update(name, value)
    # JAX decides once whether its cache is on; it asks again after a reset.
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        for name, value in before.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()
        shutil.rmtree(settings["jax_compilation_cache_dir"], ignore_errors=True)


def _variable_groups(model):
    """The four groups of variables `train_step` takes, in its order."""
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def _signature(model):
    """What two seeds' models must share to be stacked: every variable's
    path, shape and dtype, group by group."""
    return [
        [[v.path, list(v.shape), str(v.dtype)] for v in group]
        for group in _variable_groups(model)
    ]


class _Retrace:
    """The model of seed 0's `SparsityWarmup`s. A strength they change is a
    constant of the compiled step; `_Group` compares the strengths before
    every step and recompiles on a change, so nothing needs doing here."""

    def make_train_function(self, force=False):
        pass


@dataclasses.dataclass
class _Member:
    """One seed of the group: its run, its model and its callbacks' state."""

    seed: int
    config: object
    out_dir: Path
    experiment: object
    model: object
    data: object
    epochs: int
    steps_per_epoch: int
    guard: NonFiniteGuard
    warmups: list
    snap: GateSnap | None = None
    switch: LossGatedRegularization | None = None
    monitor: SolvedStepMonitor | None = None
    selection: BestInterpolation | None = None
    failure: dict | None = None
    solved_step: int | None = None
    snap_report: list | None = None
    switched_at: int | None = None
    best_step: int | None = None
    best_mse: float = math.inf
    best: list | None = None

    @classmethod
    def make(cls, config, out_dir):
        """Seed `config.run.seed`, built and compiled as a lone run's."""
        # A fresh session: the layers get a lone run's names.
        keras.backend.clear_session(free_memory=False)
        experiment = run.start(config, out_dir)
        model = experiment.build_model()
        experiment.compile(model)
        data, epochs, steps_per_epoch = experiment.training_data()
        # `fit` draws batch 0 to build the model, then (Keras 3's epoch
        # iterator, resetting) ends an epoch of the dataset before the first
        # step: the first training batch is drawn at the dataset's epoch 1.
        build_for_training(model, data[0])
        data.on_epoch_end()
        guard = NonFiniteGuard(hint=NON_FINITE_HINT)
        guard.set_model(model)
        member = cls(
            seed=config.run.seed,
            config=config,
            out_dir=out_dir,
            experiment=experiment,
            model=model,
            data=data,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            guard=guard,
            warmups=[],
        )
        for callback in experiment.callbacks(epochs):
            member._adopt(callback)
        # The evaluation sets are drawn again for the evaluation after
        # training; until then only the monitor's slices (copies) are kept.
        experiment.forget_test_sets()
        return member

    def _adopt(self, callback):
        kind = type(callback)
        if kind not in KNOWN_CALLBACKS:
            raise VectorizeError(
                f"--vectorize cannot reproduce the callback {kind.__name__} of "
                "this experiment seed by seed; leave out --vectorize"
            )
        if kind is SparsityWarmup:
            callback.set_model(_Retrace())
            self.warmups.append(callback)
            return
        name = {
            GateSnap: "snap",
            WeightSnap: "snap",
            LossGatedRegularization: "switch",
            SolvedStepMonitor: "monitor",
            BestInterpolation: "selection",
        }[kind]
        if getattr(self, name) is not None:
            raise VectorizeError(
                f"--vectorize reproduces one {kind.__name__} per seed; this "
                "experiment has several: leave out --vectorize"
            )
        setattr(self, name, callback)

    def values(self):
        """The model's variables as arrays, group by group."""
        return [[v.value for v in group] for group in _variable_groups(self.model)]

    def write(self, groups, lane):
        """Sets the model's variables of `groups` (indices into
        `_variable_groups`) to lane `lane` of the stacked `arrays`."""
        for index, arrays in groups.items():
            variables = _variable_groups(self.model)[index]
            for variable, array in zip(variables, arrays, strict=True):
                variable.assign(array[lane])

    def tracking(self):
        """The callbacks' per-seed state, JSON-ready, for the checkpoint."""
        snap = None
        if self.snap_report is not None:
            snap = [dataclasses.asdict(r) for r in self.snap_report]
        return {
            "failure": self.failure,
            "solved_step": self.solved_step,
            "snap_report": snap,
            "switched_at": self.switched_at,
            "best_step": self.best_step,
            "best_mse": self.best_mse,
        }

    def restore_tracking(self, saved):
        self.failure = saved["failure"]
        self.solved_step = saved["solved_step"]
        if saved["snap_report"] is not None:
            self.snap_report = [SnappedWeight(**r) for r in saved["snap_report"]]
        self.switched_at = saved["switched_at"]
        self.best_step = saved["best_step"]
        self.best_mse = float(saved["best_mse"])


def _train_step(template, switch):
    """The jitted step of every seed: Keras's `train_step`, vmapped.

    Nothing else is compiled into it: on this CPU the vmapped step then
    computes each seed's values to the last bit as `fit`'s own jitted
    `train_step` does, where anything fused around it (a select that kept
    a stopped seed's values, say) lets XLA contract a multiply and an add
    differently, and the seeds drift apart from their lone runs by an ulp
    at a time.

    Args:
        template: Seed 0's model, whose `train_step` runs on each seed's
            values (the models differ in nothing but their values).
        switch: Seed 0's `LossGatedRegularization`, or `None`.

    Returns:
        `step(state, switched, x, y) -> (loss, state)`: `state` the four
        stacked groups (donated), `switched` each seed's saturation factor
        (0 or 1), `x` and `y` the stacked batches; `loss` the running mean
        of each seed's loss in the epoch, as `fit` logs it.
    """

    def seed_step(state, switched, x, y):
        with _switched_strength(switch, switched):
            logs, state = template.train_step(state, (x, y))
        return logs["loss"], state

    return jax.jit(jax.vmap(seed_step), donate_argnums=0)


@contextlib.contextmanager
def _switched_strength(switch, switched):
    """While the step is traced, the saturation penalty's strength is the
    switch's, times the seed's 0/1 factor (exactly the strength, or 0, as
    a lone run's switch sets it)."""
    if switch is None:
        yield
        return
    regularizer = switch.regularizer
    before = regularizer.strength
    regularizer.strength = switch.strength * switched
    try:
        yield
    finally:
        regularizer.strength = before


def _predict_function(template):
    """`predict(trainable, non_trainable, lanes, x)`: the outputs of the
    seeds `lanes` (indices into the stacked values) on their inputs `x`,
    stacked; each as the seed's own `predict` computes it."""

    def one(trainable, non_trainable, x):
        outputs, _ = template.stateless_call(
            trainable, non_trainable, x, training=False
        )
        return outputs

    def predict(trainable, non_trainable, lanes, x):
        def pick(values):
            return [jnp.take(v, lanes, axis=0) for v in values]

        return jax.vmap(one)(pick(trainable), pick(non_trainable), x)

    return jax.jit(predict)


def _all_finite(trainable, non_trainable):
    """Per seed, whether every layer weight is finite."""
    flags = [
        jnp.all(jnp.isfinite(v.reshape(v.shape[0], -1)), axis=1)
        for v in (*trainable, *non_trainable)
        if jnp.issubdtype(v.dtype, jnp.floating)
    ]
    return jnp.all(jnp.stack(flags), axis=0)


def _next_power_of_two(n):
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


class _BatchStream:
    """Every seed's training batch, stacked, drawn on a thread ahead of the
    step that takes it.

    Seed `k`'s batch of step `index` is `datasets[k][index]`, its epochs
    ended by `on_epoch_end` as `fit` ends them; a stopped seed's batch is
    zeros (its lanes are discarded).

    Args:
        datasets: Each seed's `keras.utils.PyDataset`, at the dataset epoch
            of the first training epoch.
        steps_per_epoch: Batches per epoch.
        epochs: The epochs to draw.
        stopped: The seeds (indices) stopped already. Defaults to none.
    """

    def __init__(self, datasets, steps_per_epoch, epochs, stopped=()):
        self.datasets = datasets
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        # Read by the thread, added to by the training loop.
        self.stopped = set(int(k) for k in stopped)
        self._queue = queue.Queue(PREFETCH)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def next(self):
        """The next step's `(x, y)`, stacked, on the device."""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self._closing.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _produce(self):
        try:
            for _ in range(self.epochs):
                for index in range(self.steps_per_epoch):
                    if not self._put(self._draw(index)):
                        return
                for dataset in self.datasets:
                    dataset.on_epoch_end()
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            self._put(error)

    def _put(self, item):
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _draw(self, index):
        stopped = set(self.stopped)
        if len(stopped) == len(self.datasets):
            stopped.discard(0)  # one batch to shape the zeros by
        live = [k for k in range(len(self.datasets)) if k not in stopped]
        datasets = [self.datasets[k] for k in live]
        # A dataset class may draw many at once (`ArithmeticBatches`).
        stacked = getattr(type(datasets[0]), "stacked", None)
        if stacked is not None and all(type(d) is type(datasets[0]) for d in datasets):
            parts = stacked(datasets, index)
        else:
            batches = [d[index] for d in datasets]
            parts = [np.stack([b[i] for b in batches]) for i in range(2)]
        if len(live) < len(self.datasets):
            # A stopped seed's lanes get zeros.
            full = []
            for part in parts:
                array = np.zeros((len(self.datasets), *part.shape[1:]), part.dtype)
                array[live] = part
                full.append(array)
            parts = full
        return tuple(jax.device_put(part) for part in parts)


class _Group:
    """The seeds of one vectorised run, their stacked state and its loop."""

    def __init__(self, config, out_dir, seeds):
        self.config = config
        self.out_dir = out_dir
        self.quiet = config.infra.quiet
        self.backup = out_dir / "backup" / CHECKPOINT_FILE
        self.members = [
            _Member.make(config.replace(seed=seed), out_dir / f"seed_{seed}")
            for seed in seeds
        ]
        first = self.members[0]
        self.template = first.model
        self.epochs, self.steps_per_epoch = first.epochs, first.steps_per_epoch
        self.signature = _signature(first.model)
        for member in self.members[1:]:
            if _signature(member.model) != self.signature:
                raise VectorizeError(
                    f"--vectorize: the model of seed {member.seed} differs from "
                    f"that of seed {first.seed} in its variables; leave out "
                    "--vectorize"
                )
        self.state = tuple(
            [jnp.stack(values) for values in zip(*groups, strict=True)]
            for groups in zip(*(m.values() for m in self.members), strict=True)
        )
        # The loss tracker's values at the start of every epoch (`fit`
        # resets the metrics then).
        self.template.reset_metrics()
        self.metrics_start = [v.value for v in self.template.metrics_variables]
        count = len(self.members)
        self.active = np.ones(count, bool)
        self.switched = np.zeros(count, np.float32)
        self._switched_device = None
        self.step = 0
        self.train_seconds = 0.0
        self._predict = _predict_function(self.template)

    def _device_switched(self):
        """`switched` on the device, sent again when it changes."""
        if self._switched_device is None:
            self._switched_device = jnp.asarray(self.switched)
        return self._switched_device

    # ------------------------------------------------------------ training

    def train(self):
        """Trains every seed to the end of its schedule (or its failure)."""
        first_epoch = self._resume()
        self.step = first_epoch * self.steps_per_epoch
        warmups = self.members[0].warmups
        self._replay_schedule(first_epoch)
        # The datasets at the first training epoch's (see `_Member.make`).
        for member in self.members:
            for _ in range(first_epoch):
                member.data.on_epoch_end()
        stream = _BatchStream(
            [m.data for m in self.members],
            self.steps_per_epoch,
            self.epochs - first_epoch,
            stopped=np.flatnonzero(~self.active),
        )
        step_function, strengths = None, None
        started = time.perf_counter()
        try:
            for epoch in range(first_epoch, self.epochs):
                if not self.active.any():
                    break
                self._begin_epoch(epoch)
                loss = None
                for index in range(self.steps_per_epoch):
                    for warmup in warmups:
                        warmup.on_train_batch_begin(index)
                    now = tuple(w.regularizer.strength for w in warmups)
                    if now != strengths:
                        step_function = _train_step(self.template, self._switch())
                        strengths = now
                    x, y = stream.next()
                    loss, self.state = step_function(
                        self.state, self._device_switched(), x, y
                    )
                    self.step += 1
                    self._after_step(epoch, loss, stream)
                    if not self.active.any():
                        break
                self._end_epoch(epoch, loss, stream)
            self._end_training()
        finally:
            stream.close()
        self.train_seconds = time.perf_counter() - started

    def _switch(self):
        return self.members[0].switch

    def _replay_schedule(self, epochs):
        """Seed 0's `SparsityWarmup`s at the step training starts from: a
        fresh run's start, then every completed step's calls again."""
        for warmup in self.members[0].warmups:
            warmup.on_train_begin()
            for epoch in range(epochs):
                warmup.on_epoch_begin(epoch)
                for index in range(self.steps_per_epoch):
                    warmup.on_train_batch_begin(index)

    def _begin_epoch(self, epoch):
        trainable, non_trainable, optimizer, _ = self.state
        count = len(self.members)
        metrics = [jnp.broadcast_to(v, (count, *v.shape)) for v in self.metrics_start]
        self.state = (trainable, non_trainable, optimizer, metrics)
        for warmup in self.members[0].warmups:
            warmup.on_epoch_begin(epoch)
        for member in self.members:
            member.guard.on_epoch_begin(epoch)

    def _after_step(self, epoch, loss, stream):
        """The callbacks' end of a batch, in `fit`'s order: the schedule's
        (gate snap, saturation switch), the monitor, the selection, the
        NaN guard."""
        step = self.step
        losses = None
        snapper = self.members[0].snap
        if snapper is not None and step >= snapper.step:
            self._snap()
        switch = self._switch()
        if (
            switch is not None
            and step >= switch.start_step
            and step % switch.check_every == 0
        ):
            losses = np.asarray(loss)
            self._switch_saturation(losses)
        monitor = self.members[0].monitor
        if monitor is not None and step % monitor.every == 0:
            self._check_solved()
        selection = self.members[0].selection
        if selection is not None and step % selection.every == 0:
            self._check_selection()
        if step % self.members[0].guard.check_every == 0:
            losses = np.asarray(loss) if losses is None else losses
            for k, member in enumerate(self.members):
                if self.active[k] and not math.isfinite(float(losses[k])):
                    # The guard's own check of this step, as it fails alone.
                    member.guard.step = step - 1
                    self._fail(k, epoch, member.guard.on_train_batch_end, losses[k])
            stream.stopped.update(np.flatnonzero(~self.active))

    def _end_epoch(self, epoch, loss, stream):
        if loss is not None:
            losses = np.asarray(loss)
            finite = np.asarray(_all_finite(self.state[0], self.state[1]))
            for k, member in enumerate(self.members):
                if not self.active[k]:
                    continue
                if not (math.isfinite(float(losses[k])) and finite[k]):
                    # The guard's own check, which names the first weight
                    # that is not finite: the seed's weights in its model.
                    member.write({0: self.state[0], 1: self.state[1]}, k)
                    member.guard.step = self.step
                    self._fail(k, epoch, member.guard.on_epoch_end, losses[k])
            stream.stopped.update(np.flatnonzero(~self.active))
        self._save(epoch + 1)
        if not self.quiet:
            self._report(epoch, loss)

    def _fail(self, k, epoch, hook, loss):
        """Stops seed `k` with the message its own guard's `hook` (a batch's
        or an epoch's end) raises on the seed's `loss` and weights."""
        member = self.members[k]
        try:
            hook(epoch, {"loss": float(loss)})
        except NonFiniteError as error:
            member.failure = {
                "seed": member.seed,
                "step": self.step,
                "epoch": epoch + 1,
                "reason": str(error),
            }
            self.active[k] = False
            if not self.quiet:
                print(f"Seed {member.seed}: {error}")

    def _report(self, epoch, loss):
        losses = np.asarray(loss)[self.active]
        median = f"{float(np.median(losses)):.3g}" if losses.size else "-"
        solved = sum(m.solved_step is not None for m in self.members)
        print(
            f"Epoch {epoch + 1}/{self.epochs}: step {self.step}, "
            f"{int(self.active.sum())} of {len(self.members)} seeds training, "
            f"{solved} solved, median loss {median}"
        )

    def _end_training(self):
        """The callbacks' end of training (a last check by the monitor and
        the selection where the last step was not a checked one), then
        every seed's values back into its own model."""
        monitor = self.members[0].monitor
        if monitor is not None and self.step % monitor.every:
            self._check_solved()
        selection = self.members[0].selection
        if selection is not None and self.step % selection.every:
            self._check_selection()
        host = jax.device_get(self.state)
        warmups = self.members[0].warmups
        for k, member in enumerate(self.members):
            if member.failure is not None:
                continue
            member.write(dict(enumerate(host)), k)
            if member.best is not None:
                weights = member.model.trainable_variables
                weights = weights + member.model.non_trainable_variables
                for variable, value in zip(weights, member.best, strict=True):
                    variable.assign(value)
            model = member.model
            model.optimizer.finalize_variable_values(model.trainable_weights)
            # The regularisers' strengths as the seed's own schedule left
            # them (the saved model records them).
            for own, shared in zip(member.warmups, warmups, strict=True):
                own.regularizer.strength = shared.regularizer.strength
            if member.switch is not None:
                member.switch.switched_at = member.switched_at
                if member.switched_at is not None:
                    member.switch.regularizer.strength = member.switch.strength
            if member.monitor is not None:
                member.monitor.solved_step = member.solved_step
                member.monitor.step = self.step
            if member.selection is not None:
                member.selection.step = self.step
                member.selection.best_step = member.best_step
                member.selection.best_mse = member.best_mse
            if member.snap is not None:
                member.snap.report = member.snap_report

    # ------------------------------------------------------------ per seed

    def _snap(self):
        """The snap (`GateSnap`, `WeightSnap`) once per seed: each seed's
        weights through its own model and the snap, then back into the
        stack."""
        lanes = [
            k
            for k, m in enumerate(self.members)
            if self.active[k] and m.snap is not None and m.snap_report is None
        ]
        if not lanes:
            return
        trainable, non_trainable = jax.device_get((self.state[0], self.state[1]))
        trainable = [np.array(v) for v in trainable]
        non_trainable = [np.array(v) for v in non_trainable]
        for k in lanes:
            member = self.members[k]
            member.write({0: trainable, 1: non_trainable}, k)
            member.snap_report = member.snap.snap(member.model)
            for arrays, variables in (
                (trainable, member.model.trainable_variables),
                (non_trainable, member.model.non_trainable_variables),
            ):
                for array, variable in zip(arrays, variables, strict=True):
                    array[k] = np.asarray(variable.value)
        self.state = (
            [jnp.asarray(v) for v in trainable],
            [jnp.asarray(v) for v in non_trainable],
            self.state[2],
            self.state[3],
        )

    def _switch_saturation(self, losses):
        for k, member in enumerate(self.members):
            if (
                self.active[k]
                and member.switched_at is None
                and float(losses[k]) < member.switch.threshold
            ):
                member.switched_at = self.step
                self.switched[k] = 1.0
                self._switched_device = None

    def _check_solved(self):
        """`SolvedStepMonitor`'s check of every seed not solved yet."""
        lanes = [
            k
            for k, m in enumerate(self.members)
            if self.active[k] and m.monitor is not None and m.solved_step is None
        ]
        if not lanes:
            return
        monitor = self.members[lanes[0]].monitor
        for index in range(len(monitor.sets)):
            inputs = [self.members[k].monitor.sets[index][0] for k in lanes]
            outputs = self._predict_seeds(lanes, inputs, monitor.batch_size)
            lanes = [
                k
                for k, prediction in zip(lanes, outputs, strict=True)
                if mse(self.members[k].monitor.sets[index][1], prediction)
                < self.members[k].monitor.sets[index][2]
            ]
            if not lanes:
                return
        for k in lanes:
            self.members[k].solved_step = self.step

    def _check_selection(self):
        """`BestInterpolation`'s check of every seed."""
        lanes = [
            k
            for k, m in enumerate(self.members)
            if self.active[k] and m.selection is not None
        ]
        if not lanes:
            return
        selection = self.members[lanes[0]].selection
        inputs = [self.members[k].selection.x for k in lanes]
        outputs = self._predict_seeds(lanes, inputs, selection.batch_size)
        weights = None
        for k, prediction in zip(lanes, outputs, strict=True):
            member = self.members[k]
            error = mse(member.selection.y, prediction)
            if error < member.best_mse:
                if weights is None:
                    weights = jax.device_get([*self.state[0], *self.state[1]])
                member.best_mse, member.best_step = error, self.step
                member.best = [np.array(w[k]) for w in weights]

    def _predict_seeds(self, lanes, inputs, batch_size):
        """Each seed's `predict(inputs[i], batch_size)`, computed together.

        The seeds are taken in chunks whose inputs stay under
        `PREDICT_CHUNK_BYTES`, each padded to a power of two seeds (so that
        a few shapes are compiled, whatever the number of seeds left).
        """
        per_seed = max(1, inputs[0].nbytes)
        chunk = _next_power_of_two(len(lanes))
        while chunk > 1 and chunk * per_seed > PREDICT_CHUNK_BYTES:
            chunk //= 2
        outputs = []
        trainable, non_trainable = self.state[0], self.state[1]
        for start_at in range(0, len(lanes), chunk):
            part = list(range(start_at, min(start_at + chunk, len(lanes))))
            padded = part + [part[-1]] * (chunk - len(part))
            ids = np.asarray([lanes[i] for i in padded], np.int32)
            x = np.stack([inputs[i] for i in padded])
            pieces = []
            for b in range(0, x.shape[1], batch_size):
                block = x[:, b : b + batch_size]
                pieces.append(
                    np.asarray(self._predict(trainable, non_trainable, ids, block))
                )
            predicted = np.concatenate(pieces, axis=1)
            outputs.extend(predicted[: len(part)])
        return outputs

    # ------------------------------------------------------------ checkpoints

    def _comparable_config(self):
        values = self.config.as_dict()
        return {
            "task": values["run"]["task"],
            "cell": values["run"]["cell"],
            **{k: values[k] for k in ("data", "model", "optim", "regularization")},
            "evaluation": values["evaluation"],
        }

    def _save(self, epoch):
        """The stacked state and every seed's callbacks' state after `epoch`
        epochs, written atomically to the checkpoint."""
        arrays = {}
        host = jax.device_get(self.state)
        for g, group in enumerate(host):
            for i, value in enumerate(group):
                arrays[f"state_{g}_{i}"] = np.asarray(value)
        for member in self.members:
            for i, value in enumerate(member.best or []):
                arrays[f"best_{member.seed}_{i}"] = value
        meta = {
            "epoch": epoch,
            "seeds": [m.seed for m in self.members],
            "signature": self.signature,
            "config": self._comparable_config(),
            "switched": self.switched.tolist(),
            "members": {str(m.seed): m.tracking() for m in self.members},
        }
        self.backup.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.backup.with_suffix(".tmp")
        with open(temporary, "wb") as file:
            np.savez(file, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(temporary, self.backup)

    def _resume(self):
        """Restores the checkpoint when it holds every seed to train; returns
        the epoch to start from (0 without one)."""
        if not self.backup.exists():
            return 0
        with np.load(self.backup, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            seeds = [m.seed for m in self.members]
            usable = (
                set(seeds) <= set(meta["seeds"])
                and meta["signature"] == self.signature
                and meta["config"] == self._comparable_config()
            )
            if not usable:
                if not self.quiet:
                    print(
                        f"Not resuming from {self.backup}: it holds another "
                        "run's seeds or settings; training from the start"
                    )
                return 0
            lanes = [meta["seeds"].index(seed) for seed in seeds]
            self.state = tuple(
                [jnp.asarray(saved[f"state_{g}_{i}"][lanes]) for i in range(len(group))]
                for g, group in enumerate(self.state)
            )
            self.switched = np.asarray(meta["switched"], np.float32)[lanes]
            for member in self.members:
                member.restore_tracking(meta["members"][str(member.seed)])
                count = len(self.signature[0]) + len(self.signature[1])
                if f"best_{member.seed}_0" in saved:
                    member.best = [
                        saved[f"best_{member.seed}_{i}"] for i in range(count)
                    ]
            self.active = np.array([m.failure is None for m in self.members])
        epoch = int(meta["epoch"])
        if not self.quiet:
            steps = self.steps_per_epoch
            print(
                f"Resuming from the checkpoint in {self.backup.parent}: epoch "
                f"{epoch + 1} of {self.epochs}, step {epoch * steps} of "
                f"{self.epochs * steps}"
            )
        return epoch

    # ------------------------------------------------------------ results

    def finish(self):
        """Every seed's evaluation and results, as a lone run's; then the
        failures, and the checkpoint deleted."""
        trained = [m for m in self.members if m.failure is None]
        seconds = self.train_seconds / max(1, len(self.members))
        record = {
            "vectorized": {
                "seeds": len(self.members),
                "train_wall_seconds": round(self.train_seconds, 2),
            }
        }
        steps = self.epochs * self.steps_per_epoch
        results = {}
        for member in trained:
            results[member.seed] = run.finish(
                member.config,
                member.experiment,
                member.model,
                member.out_dir,
                steps,
                seconds,
                record=record,
            )
            member.experiment.forget_test_sets()
            (member.out_dir / FAILED_FILE).unlink(missing_ok=True)
        failed = [m for m in self.members if m.failure is not None]
        for member in failed:
            write_json(member.out_dir / FAILED_FILE, member.failure)
        self.backup.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.backup.parent.rmdir()
        if failed:
            lines = [f"seed {m.seed}: {m.failure['reason']}" for m in failed]
            raise SeedsFailedError(
                f"{len(failed)} of {len(self.members)} seeds stopped (each "
                f"OUT/seed_<K>/{FAILED_FILE} says where; the others finished):\n"
                + "\n".join(lines)
            )
        return results
