"""Where the tests find the MNIST IDX files, shared by every MNIST test file."""

import os
from pathlib import Path

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def default_mnist_dir():
    """`NALU_MNIST_DIR`, else `shared/mnist` beside the checkout (as in CI)."""
    configured = os.environ.get("NALU_MNIST_DIR")
    if configured:
        return Path(configured)
    # tests/support/mnist_files.py: the checkout is parents[2], beside it [3].
    return Path(__file__).resolve().parents[3] / "shared" / "mnist"


def missing_files(directory, names=FILE_NAMES):
    """The `names` with neither a `.gz` nor an unpacked file in `directory`."""
    return [
        name
        for name in names
        if not any((directory / (name + suffix)).is_file() for suffix in (".gz", ""))
    ]
