"""Runs `train.main(argv)` with this machine's CPU split into N devices.

`python tests/logical_cpus.py N [train.py flags]` lets the tests exercise
`--strategy mirrored` over N replicas without GPUs. The split must happen
before TensorFlow initialises its devices, hence a process of its own.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def split_cpu(count):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )


if __name__ == "__main__":
    split_cpu(int(sys.argv[1]))
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import train

    sys.exit(train.main(sys.argv[2:]))
