"""`train.py --strategy`: the `tf.distribute` strategy a run trains under.

* `none` (default): no strategy, Keras's default device placement.
* `mirrored`: `tf.distribute.MirroredStrategy()`, one replica per GPU of this
  machine (or the CPU when there is none).
* `multiworker`: `tf.distribute.MultiWorkerMirroredStrategy()`, one replica
  per device of every machine listed in the `TF_CONFIG` environment
  variable, which must be set on every machine (`check_tf_config`).

`runner.run.run` builds, compiles, fits, hardens and evaluates the
model inside `scope(name)`, so its variables are mirrored on every replica.
The batch a data pipeline yields is the global batch (`--batch-size`); Keras
splits it evenly across the replicas and averages their gradients.

The strategies need the TensorFlow backend; on JAX `get_strategy` refuses
them (`keras.distribution.DataParallel` is the JAX way to do the same).
"""

import contextlib
import functools
import json
import os

import keras

from nalu_rnn.keras_internals import patch_multi_worker_fit

STRATEGIES = ("none", "mirrored", "multiworker")

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

    Raises:
        StrategyError: on the JAX backend, or (multiworker) a bad TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if name == "none":
        return None
    if keras.backend.backend() != "tensorflow":
        raise StrategyError(
            f"--strategy {name} uses tf.distribute, which needs "
            f"KERAS_BACKEND=tensorflow; on {keras.backend.backend()}, use "
            f"keras.distribution.DataParallel instead (or drop --strategy)"
        )
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    check_tf_config(os.environ.get("TF_CONFIG"))
    patch_multi_worker_fit()
    return tf.distribute.MultiWorkerMirroredStrategy()


def scope(name):
    """`strategy.scope()` of `get_strategy(name)`; a no-op for `"none"`."""
    strategy = get_strategy(name)
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def describe(name):
    """`{"strategy": name, "replicas": n}`, recorded in `results.json`."""
    strategy = get_strategy(name)
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    return {"strategy": name, "replicas": int(replicas)}


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
