"""A small MNIST sample and reference targets shared by the MNIST tests."""

import numpy as np

# Test-split images in the `small` fixture (tests/tasks/mnist/conftest.py):
# a few hundred keep the tests fast.
NUM_SMALL = 300


def loop_targets(labels, indices, task, every_step):
    """Reference targets computed one step at a time."""
    k = 10 if task == "mnist_count" else 1
    out = np.zeros((len(indices), len(indices[0]), k), np.float32)
    for s, sequence in enumerate(indices):
        # The product starts at its neutral 1, in float64 as the targets.
        running = np.ones(k) if task == "mnist_product" else np.zeros(k, np.float32)
        for t, index in enumerate(sequence):
            digit = int(labels[index])
            if task == "mnist_count":
                running[digit] += 1
            elif task == "mnist_product":
                running[0] *= digit
            else:
                running[0] += digit
            out[s, t] = running
    return out if every_step else out[:, -1]
