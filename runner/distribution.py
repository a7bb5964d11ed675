"""`train.py --strategy`: the data-parallel strategy a run trains under.

* `none` (default): no strategy, Keras's default device placement.
* `mirrored`: one replica per GPU of this machine (or the CPU when there is
  none). On TensorFlow, `tf.distribute.MirroredStrategy()`; on JAX,
  `keras.distribution.DataParallel` over `keras.distribution.list_devices()`.
* `multiworker`: `tf.distribute.MultiWorkerMirroredStrategy()`, one replica
  per device of every machine listed in the `TF_CONFIG` environment
  variable, which must be set on every machine (`check_tf_config`).
  TensorFlow only.

`runner.run.run` builds, compiles, fits, hardens and evaluates the
model inside `scope(name)`, so its variables are mirrored on every replica.
The batch a data pipeline yields is the global batch (`--batch-size`); Keras
splits it evenly across the replicas and averages their gradients.

What cannot run is refused by `get_strategy` with a `StrategyError`:
`multiworker` off TensorFlow (a JAX cluster is started by
`jax.distributed.initialize`, which `train.py` does not do), and both
strategies on PyTorch, whose Keras backend has no data-parallel `fit`.
"""

import contextlib
import functools
import json
import os

import keras

from nalu_rnn.keras_internals import patch_multi_worker_fit
from runner.config import STRATEGIES

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


class StrategyError(ValueError):
    """The strategy cannot run here: wrong backend or a missing/bad TF_CONFIG."""


def check_tf_config(text):
    """Parses and checks a `TF_CONFIG` value for `--strategy multiworker`.

    TensorFlow quietly trains on this machine alone when `TF_CONFIG` is
    missing, and fails deep in its start-up when it is malformed; both are
    caught here with a message that shows what is expected.

    Args:
        text: The value of `TF_CONFIG`, or `None` when it is not set.

    Returns:
        The parsed dict: `cluster` maps job names (`worker`, optionally
        `chief`) to lists of `host:port`; `task` has this machine's `type`
        (one of those jobs) and `index` (its position in that list).

    Raises:
        StrategyError: naming what is wrong, with an example.
    """
    hint = f"set it on every machine, e.g. {TF_CONFIG_EXAMPLE}"
    if not text or not text.strip():
        raise StrategyError(
            f"--strategy multiworker needs the TF_CONFIG environment variable "
            f"(the cluster and this machine's place in it); {hint}"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({error}); {hint}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    jobs = ("worker", "chief")
    if not isinstance(cluster, dict) or not any(cluster.get(job) for job in jobs):
        raise StrategyError(
            f"TF_CONFIG has no cluster with a 'worker' list of host:port; {hint}"
        )
    for job, addresses in cluster.items():
        if not (
            isinstance(addresses, list)
            and addresses
            and all(isinstance(a, str) and ":" in a for a in addresses)
        ):
            raise StrategyError(
                f"TF_CONFIG cluster {job!r} must be a non-empty list of "
                f"'host:port' strings, got {addresses!r}; {hint}"
            )
    task = config.get("task")
    kind = task.get("type") if isinstance(task, dict) else None
    index = task.get("index") if isinstance(task, dict) else None
    if kind not in cluster or isinstance(index, bool) or not isinstance(index, int):
        raise StrategyError(
            f"TF_CONFIG task must name this machine's job ({', '.join(cluster)}) "
            f"and its index, got {task!r}; {hint}"
        )
    if not 0 <= index < len(cluster[kind]):
        raise StrategyError(
            f"TF_CONFIG task index {index} is outside the {len(cluster[kind])} "
            f"{kind!r} addresses of the cluster; {hint}"
        )
    return config


@functools.cache
def get_strategy(name):
    """The strategy named by `--strategy`, or `None` for `"none"`.

    Created once per process and cached: TensorFlow sets up the collectives
    of `MultiWorkerMirroredStrategy` once, before any other operation runs,
    so `train.py` calls this first and every later call gets that object.

    Args:
        name: One of `STRATEGIES`.

    Returns:
        `None`, a `tf.distribute.Strategy` (TensorFlow) or a
        `keras.distribution.DataParallel` (JAX, `"mirrored"`).

    Raises:
        StrategyError: on a backend that cannot run `name`, or (multiworker)
            a bad TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if name == "none":
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        if name == "mirrored":
            return keras.distribution.DataParallel(
                devices=keras.distribution.list_devices()
            )
        raise StrategyError(
            "--strategy multiworker uses tf.distribute, which needs "
            "KERAS_BACKEND=tensorflow; on jax, --strategy mirrored trains on "
            "this machine's devices (keras.distribution.DataParallel)"
        )
    if backend != "tensorflow":
        jax = " or KERAS_BACKEND=jax (keras.distribution.DataParallel)"
        raise StrategyError(
            f"--strategy {name} needs KERAS_BACKEND=tensorflow (tf.distribute)"
            f"{jax if name == 'mirrored' else ''}; Keras's {backend} backend "
            "has no data-parallel fit (drop --strategy)"
        )
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    check_tf_config(os.environ.get("TF_CONFIG"))
    patch_multi_worker_fit()
    return tf.distribute.MultiWorkerMirroredStrategy()


def scope(name):
    """The scope of `get_strategy(name)`; a no-op for `"none"`.

    `strategy.scope()` of TensorFlow, or the JAX `DataParallel`'s own
    `scope()`, which makes it Keras's current distribution: the variables
    created inside are replicated on every device and each batch `fit`,
    `evaluate` and `predict` take is split along its first axis.
    """
    strategy = get_strategy(name)
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def replicas(name):
    """The number of replicas `get_strategy(name)` trains on (1 for none)."""
    strategy = get_strategy(name)
    if strategy is None:
        return 1
    if isinstance(strategy, keras.distribution.DataParallel):
        return int(strategy.device_mesh.devices.size)
    return int(strategy.num_replicas_in_sync)


def check_batch_split(name, batch_size):
    """Raises `StrategyError` when JAX cannot split `batch_size` evenly.

    JAX lays each global batch out over the devices in equal shares and
    fails deep inside `fit` on a batch that does not divide; TensorFlow
    pads the short replicas itself, so only JAX is checked.

    Args:
        name: One of `STRATEGIES`.
        batch_size: The global training batch (`--batch-size`).
    """
    strategy = get_strategy(name)
    if not isinstance(strategy, keras.distribution.DataParallel):
        return
    count = replicas(name)
    if batch_size % count:
        raise StrategyError(
            f"--batch-size {batch_size} does not split evenly over the "
            f"{count} devices of --strategy {name} on jax; pass a multiple "
            f"of {count}"
        )


def describe(name):
    """`{"strategy": name, "replicas": n}`, recorded in `results.json`."""
    return {"strategy": name, "replicas": replicas(name)}


def output_dir(out, name):
    """Where this process writes: `out`, or `out/<job>_<index>` off the chief.

    Every worker of a multi-worker run trains the same model and writes the
    same files; on a shared file system they would overwrite each other's
    checkpoints mid-write, so only the chief (the `chief` job, else worker
    0) writes to `out` itself.
    """
    if name != "multiworker":
        return out
    config = check_tf_config(os.environ.get("TF_CONFIG"))
    kind, index = config["task"]["type"], config["task"]["index"]
    chief = kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in config["cluster"]
    )
    return out if chief else os.path.join(out, f"{kind}_{index}")
