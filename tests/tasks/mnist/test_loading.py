"""Loading MNIST (`tasks.mnist.loading`): the IDX files, tensorflow-datasets,
the errors that say how to provide them, and the validation split.

The data comes from `NALU_MNIST_DIR`, else from `shared/mnist` beside the
checkout; the tests are skipped when neither holds the four IDX files. Most
tests use a few hundred test-split images so that they stay fast.
"""

import gzip
import sys
import types

import numpy as np
import pytest

from tasks.mnist import (
    MNISTDataError,
    MNISTNotFoundError,
    load_mnist,
    loading,
    split_validation,
)
from tests.support.arrays import assert_array_equal
from tests.support.mnist_data import NUM_SMALL
from tests.support.mnist_files import FILE_NAMES


@pytest.fixture
def no_tfds(monkeypatch):
    """Makes `import tensorflow_datasets` fail and clears the cached attempt."""
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    loading._read_tfds_dir.cache_clear()
    yield
    loading._read_tfds_dir.cache_clear()


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        path.write_bytes(payload)


def _write_small_dir(directory, small, suffix=".gz"):
    """Writes a valid four-file IDX folder with a few hundred images per split."""
    images, labels = small
    directory.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        _write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, 2051)
        _write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 2049)
    return directory


def test_load_gz_shapes_dtypes_and_labels(data):
    assert set(data) == {"train", "test"}
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = data[split]
        assert images.shape == (n, 28, 28)
        assert images.dtype == np.uint8
        assert labels.shape == (n,)
        assert labels.dtype == np.uint8
        assert set(np.unique(labels)) == set(range(10))
    # The cache hands out shared arrays, so they must not be writable.
    assert not data["test"][0].flags.writeable


def test_load_from_environment_variable(monkeypatch, mnist_dir, data):
    monkeypatch.setenv("NALU_MNIST_DIR", str(mnist_dir))
    assert_array_equal(load_mnist()["test"][1], data["test"][1])


def test_load_unpacked_files(tmp_path, mnist_dir, data):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        unpacked = gzip.decompress((mnist_dir / (name + ".gz")).read_bytes())
        (tmp_path / name).write_bytes(unpacked)
    train_images, train_labels = data["train"]
    # Small train files with a correct header keep the test fast; the dotted
    # spelling is how some tools name the unpacked original.
    _write_idx(tmp_path / "train-images.idx3-ubyte", train_images[:NUM_SMALL], 2051)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", train_labels[:NUM_SMALL], 2049)

    loaded = load_mnist(tmp_path)
    assert_array_equal(loaded["test"][0], data["test"][0])
    assert_array_equal(loaded["test"][1], data["test"][1])
    assert_array_equal(loaded["train"][0], train_images[:NUM_SMALL])
    assert_array_equal(loaded["train"][1], train_labels[:NUM_SMALL])


def test_missing_directory_names_directory_and_both_ways(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(missing)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(missing) in message
    assert "--data-dir" in message and "NALU_MNIST_DIR" in message
    assert "tensorflow-datasets" in message


def test_missing_files_are_named(tmp_path, small):
    _write_small_dir(tmp_path, small)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path.resolve()) in message
    assert "t10k-labels-idx1-ubyte" in message
    assert "train-images-idx3-ubyte" in message  # Listed in the how-to part.


def test_nothing_configured_names_both_ways(monkeypatch, no_tfds):
    monkeypatch.delenv("NALU_MNIST_DIR", raising=False)
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert "--data-dir" in message and "NALU_MNIST_DIR" in message
    assert "tensorflow-datasets" in message
    for name in FILE_NAMES:
        assert name in message


def _fake_tfds(images=None, labels=None):
    """A stand-in tensorflow_datasets that fails the test if asked to download."""

    def forbidden(*args, **kwargs):
        raise AssertionError("only prepared data may be read, never downloaded")

    class Builder:
        URL = "http://127.0.0.1:9/mnist/"
        download_and_prepare = staticmethod(forbidden)
        # The fake stores the arrays in their own order. Without this, the
        # loader would undo tfds's shuffle with the real
        # `tensorflow_datasets.core.hashing` whenever an earlier test had
        # imported it (the fake replaces only the top-level module).
        info = types.SimpleNamespace(disable_shuffling=True)

        def __init__(self, directory):
            self.directory = directory

        def as_dataset(self, split, batch_size, as_supervised):
            assert batch_size == -1 and as_supervised
            return images[split], labels[split]

    module = types.ModuleType("tensorflow_datasets")
    module.load = forbidden
    module.builder = forbidden  # Unprepared, it would query GCS.
    module.builder_cls = lambda name: Builder
    module.builder_from_directory = Builder
    module.as_numpy = lambda dataset: dataset
    return module


def test_unprepared_tfds_offline_is_not_downloaded(monkeypatch, tmp_path, no_tfds):
    monkeypatch.delenv("NALU_MNIST_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _fake_tfds())
    probed = []
    monkeypatch.setattr(
        loading, "_server_unreachable", lambda url: probed.append(url) or "offline"
    )
    with pytest.raises(MNISTNotFoundError, match="not prepared") as info:
        load_mnist()
    message = str(info.value)
    assert probed == ["http://127.0.0.1:9/mnist/train-labels-idx1-ubyte.gz"]
    assert "offline" in message and "\n" not in message
    assert "--data-dir" in message and str(tmp_path) in message


def test_no_download_when_not_allowed(monkeypatch, tmp_path, no_tfds):
    monkeypatch.delenv("NALU_MNIST_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _fake_tfds())
    monkeypatch.setattr(loading, "_server_unreachable", _fake_tfds().load)
    with pytest.raises(MNISTNotFoundError, match="not prepared") as info:
        load_mnist(tfds_dir=str(tmp_path), download=False)
    assert "--tfds-dir" in str(info.value) and str(tmp_path) in str(info.value)


def test_prepared_tfds_is_used(monkeypatch, tmp_path, no_tfds, small):
    images, labels = small
    fake = _fake_tfds(
        images={s: images[..., None] for s in ("train", "test")},
        labels={s: labels.astype(np.int64) for s in ("train", "test")},
    )
    prepared = tmp_path / "mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text("{}")
    monkeypatch.delenv("NALU_MNIST_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    loaded = load_mnist()
    assert loaded["test"][0].shape == (NUM_SMALL, 28, 28)
    assert loaded["test"][1].dtype == np.uint8
    assert_array_equal(loaded["train"][0], images)
    assert_array_equal(loaded["train"][1], labels)


def _corrupt_bad_magic(directory, small):
    path = directory / "t10k-labels-idx1-ubyte.gz"
    _write_idx(path, small[1], 2051)
    return path


def _corrupt_truncated(directory, small):
    path = directory / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100], compresslevel=1))
    return path


def _corrupt_truncated_unpacked(directory, small):
    path = directory / "train-labels-idx1-ubyte"
    (directory / "train-labels-idx1-ubyte.gz").unlink()
    _write_idx(path, small[1], 2049)
    path.write_bytes(path.read_bytes()[:-1])
    return path


def _corrupt_cut_gzip(directory, small):
    path = directory / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    return path


def _corrupt_not_gzip(directory, small):
    path = directory / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"this is not gzip data at all")
    return path


def _corrupt_count_mismatch(directory, small):
    path = directory / "train-labels-idx1-ubyte.gz"
    _write_idx(path, small[1][:-1], 2049)
    return path


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_bad_magic,
        _corrupt_truncated,
        _corrupt_truncated_unpacked,
        _corrupt_cut_gzip,
        _corrupt_not_gzip,
        _corrupt_count_mismatch,
    ],
)
def test_corrupt_file_names_the_file(tmp_path, small, corrupt):
    _write_small_dir(tmp_path, small)
    path = corrupt(tmp_path, small)
    with pytest.raises(MNISTDataError) as info:
        load_mnist(tmp_path)
    assert isinstance(info.value, ValueError)
    assert path.name in str(info.value)


# ------------------------------------------------------------------ validation


def test_split_validation_sizes_disjoint_and_deterministic():
    ids = np.arange(1000)
    labels = (ids % 10).astype(np.uint8)
    (train_x, train_y), (val_x, val_y) = split_validation(
        ids, labels, validation_size=100, seed=3
    )
    assert len(train_x) == len(train_y) == 900
    assert len(val_x) == len(val_y) == 100
    assert not set(train_x) & set(val_x)
    assert set(train_x) | set(val_x) == set(ids)
    assert_array_equal(train_y, labels[train_x])
    assert_array_equal(val_y, labels[val_x])

    (_, _), (again, _) = split_validation(ids, labels, validation_size=100, seed=3)
    assert_array_equal(again, val_x)
    (_, _), (other, _) = split_validation(ids, labels, validation_size=100, seed=4)
    assert not np.array_equal(other, val_x)


def test_split_validation_default_on_mnist(data):
    images, labels = data["train"]
    (train_x, _), (val_x, _) = split_validation(images, labels)
    assert len(train_x) == 55000 and len(val_x) == 5000


@pytest.mark.parametrize("size", [-1, 1000, 1.5, True])
def test_split_validation_rejects_bad_size(size):
    with pytest.raises(ValueError, match="validation_size"):
        split_validation(np.arange(1000), np.zeros(1000), validation_size=size)
