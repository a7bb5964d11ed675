"""Runs `runner.cli.main(argv)` with this machine's CPU split into N devices.

`python tests/support/logical_cpus.py N [train.py flags]` lets the tests
exercise `--strategy mirrored` over N replicas without GPUs, on the backend
that `KERAS_BACKEND` names: TensorFlow splits its CPU into logical devices,
JAX is told by `XLA_FLAGS` to expose N host devices. Either must happen
before the backend initialises its devices, hence a process of its own. The
packages are imported as installed (or from the `PYTHONPATH` the caller
sets), never by editing `sys.path`.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def split_cpu(count):
    if os.environ.get("KERAS_BACKEND") == "jax":
        # Read once, when jax is first imported: keep any other XLA flags.
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = " ".join(
            filter(None, [os.environ.get("XLA_FLAGS"), flag])
        )
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )


if __name__ == "__main__":
    split_cpu(int(sys.argv[1]))
    from runner.cli import main

    sys.exit(main(sys.argv[2:]))
