"""The MNIST arrays the MNIST tests share (the folder: `mnist_dir`, in
tests/conftest.py)."""

import pytest

from tasks.mnist import load_mnist
from tests.support.mnist_data import NUM_SMALL


@pytest.fixture(scope="session")
def data(mnist_dir):
    """Both splits of MNIST, read from `mnist_dir`."""
    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def small(data):
    """The first `NUM_SMALL` test images and their labels."""
    images, labels = data["test"]
    return images[:NUM_SMALL], labels[:NUM_SMALL]
