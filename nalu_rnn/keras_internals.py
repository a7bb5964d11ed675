"""The private Keras API nalu_rnn relies on, in one place.

Checked against Keras 3.15.1. Each use below says why Keras's public API
does not do; when Keras changes, this module is the one to read.

* `flatten_layers(layer)`: every layer tracked inside `layer`, at any depth
  (`keras.layers.RNN` -> its cell -> the cell's unit; a model inside a
  model). `Layer._flatten_layers` is the only walk that reaches sublayers
  kept as attributes: `Model.layers` lists only the top level and does not
  enter a cell.
* `sync_training_state(model)`: on JAX, `fit` keeps the weights outside the
  model's variables between epochs (`JAXTrainer.jax_state_sync` brings them
  back); a callback that reads or writes weights mid-epoch must sync first,
  and its writes are then what the next step trains from. Other backends
  train the variables in place.
* `build_for_training(model, batch)`: builds what `fit` builds before its
  first step (`Trainer._symbolic_build`: the layers, the compiled loss and
  metrics, the optimizer's variables), for a caller that trains with the
  model's stateless `train_step` instead of `fit` (`runner.vectorize`).
  The public pieces (`optimizer.build`, calling the model) leave the
  compiled loss unbuilt, which would then build inside a traced step.
* `patch_multi_worker_fit()`: works around keras-team/keras#20585 in the
  TensorFlow trainer (`keras.src.backend.tensorflow.trainer`), which has no
  public hook for the two functions it replaces.
"""

import keras


def flatten_layers(layer, include_self=True):
    """Every layer inside `layer` (itself first when `include_self`), in
    tracking order, at any depth.

    Args:
        layer: A Keras layer or model.
        include_self: Whether `layer` itself is listed. Defaults to `True`.

    Returns:
        A list of layers.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=True))


def sync_training_state(model):
    """Brings `model`'s in-flight JAX training state back into its variables.

    A no-op on the other backends and outside `fit`.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def build_for_training(model, batch):
    """Builds a compiled `model` as `fit` does before its first step.

    Args:
        model: A compiled Keras model.
        batch: One training batch, `(x, y)`; only its shapes and dtypes
            are read.
    """
    model._symbolic_build(data_batch=batch)


def patch_multi_worker_fit():
    """Works around Keras 3's `fit` failing under multi-worker training.

    With `MultiWorkerMirroredStrategy` across two processes, `fit` of Keras
    3.15 fails twice (keras-team/keras#20585): before the first step it
    all-reduces the whole `(x, y)` batch, which the collective reduce does
    not accept as a nest, only to read its shapes; after each step it
    averages the scalar loss over axis 0, which a scalar lacks. The two
    patched functions below take the shapes from this worker's part of the
    batch and average scalars over replicas only; MirroredStrategy and
    single-device runs keep Keras's code, and nothing is patched when those
    internals are not there. Calling it again does nothing.

    Call it before creating the `tf.distribute.MultiWorkerMirroredStrategy`
    (as `runner.distribution.get_strategy` does); it needs TensorFlow.
    """
    try:
        from keras.src.backend.tensorflow import trainer
    except ImportError:
        return
    cls = getattr(trainer, "TensorFlowTrainer", None)
    reduce_per_replica = getattr(trainer, "reduce_per_replica", None)
    multi_worker = getattr(trainer, "_collective_all_reduce_multi_worker", None)
    if None in (cls, reduce_per_replica, multi_worker) or getattr(
        trainer, "_nalu_rnn_patched", False
    ):
        return
    symbolic_build = cls._maybe_symbolic_build

    def patched_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if iterator is None or not multi_worker(strategy):
            return symbolic_build(self, iterator, data_batch)
        for _, _, batches in iterator:
            batch = next(batches)
            break
        local = keras.tree.map_structure(
            lambda v: strategy.experimental_local_results(v)[0], batch
        )
        with strategy.scope():
            self._symbolic_build(data_batch=local)

    def patched_reduce(values, strategy, reduction="auto"):
        if reduction != "auto" or not multi_worker(strategy):
            return reduce_per_replica(values, strategy, reduction)

        def mean(value):
            axis = None if value.shape.rank == 0 else 0
            return strategy.reduce("MEAN", value, axis=axis)

        return keras.tree.map_structure(mean, values)

    cls._maybe_symbolic_build = patched_symbolic_build
    trainer.reduce_per_replica = patched_reduce
    trainer._nalu_rnn_patched = True
