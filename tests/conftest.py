"""Fixtures and markers every test folder shares.

* `_fresh_keras_state` (autouse): a cleared Keras session and seed 0 per test.
* `needs_mnist` marker: the test is skipped without the four MNIST IDX files
  (`NALU_MNIST_DIR`, else `shared/mnist` beside the checkout).
* `mnist_dir`: that folder, or a skip.
* `selector_cell`: the toy unit of `tests.support.toy_unit` registered as
  `--cell selector` for one test.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

from tests.support.mnist_files import default_mnist_dir, missing_files  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_mnist: skipped unless the four MNIST IDX files are in "
        "NALU_MNIST_DIR (else shared/mnist beside the checkout)",
    )


def _mnist_skip_reason():
    directory = default_mnist_dir()
    missing = missing_files(directory)
    if not missing:
        return None
    return (
        f"MNIST IDX files not found in {directory} (missing {missing}); set "
        f"NALU_MNIST_DIR to a folder holding them"
    )


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_mnist") is not None:
        reason = _mnist_skip_reason()
        if reason is not None:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_dir():
    """The folder of the four MNIST IDX files; skips the test without them."""
    reason = _mnist_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return default_mnist_dir()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    # Layer names and the global RNG would otherwise depend on test order.
    # Without `gc.collect()` (free_memory): a full collection per test was
    # half of the suite's time; Python's own collector still frees cycles.
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def selector_cell():
    """Registers the toy `Selector` cell for one test; yields its name."""
    from tasks.cells import CELLS, register_cell
    from tests.support.toy_unit import selector_spec

    spec = register_cell(selector_spec())
    yield spec.name
    del CELLS[spec.name]
