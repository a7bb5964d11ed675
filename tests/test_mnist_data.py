"""Tests of the MNIST loader, targets and pipelines (`tasks.mnist`).

The data comes from `NALU_MNIST_DIR`, else from `shared/mnist` beside the
checkout; the tests are skipped when neither holds the four IDX files. Most
tests use a few hundred test-split images so that they stay fast.
"""

import gzip
import itertools
import sys
import types

import numpy as np
import pytest

from tasks import mnist
from tasks.mnist import (
    TASKS,
    MNISTDataError,
    MNISTNotFoundError,
    evaluation_arrays,
    evaluation_dataset,
    load_mnist,
    sample_indices,
    sequence_targets,
    split_validation,
    training_batches,
    training_dataset,
)
from tests.arrays import assert_allclose, assert_array_equal
from tests.mnist_files import FILE_NAMES, default_mnist_dir, missing_files

NUM_SMALL = 300


@pytest.fixture(scope="module")
def mnist_dir():
    directory = default_mnist_dir()
    missing = missing_files(directory)
    if missing:
        pytest.skip(
            f"MNIST IDX files not found in {directory} (missing {missing}); set "
            f"NALU_MNIST_DIR to a folder holding them"
        )
    return directory


@pytest.fixture(scope="module")
def data(mnist_dir):
    return load_mnist(mnist_dir)


@pytest.fixture(scope="module")
def small(data):
    images, labels = data["test"]
    return images[:NUM_SMALL], labels[:NUM_SMALL]


@pytest.fixture
def no_tfds(monkeypatch):
    """Makes `import tensorflow_datasets` fail and clears the cached attempt."""
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    mnist._read_tfds_dir.cache_clear()
    yield
    mnist._read_tfds_dir.cache_clear()


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


def _loop_targets(labels, indices, task, every_step):
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


# --------------------------------------------------------------------- loading


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
        mnist, "_server_unreachable", lambda url: probed.append(url) or "offline"
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
    monkeypatch.setattr(mnist, "_server_unreachable", _fake_tfds().load)
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


# --------------------------------------------------------------------- targets


@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("task", TASKS)
def test_sequence_targets_match_loop(small, task, every_step):
    _, labels = small
    indices = sample_indices(len(labels), num_sequences=7, length=6, seed=1)
    got = sequence_targets(labels, indices, task, every_step=every_step)
    expected = _loop_targets(labels, indices, task, every_step)
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    assert_array_equal(got, expected)


def test_sequence_targets_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match="mnist_count.*mnist_add"):
        sequence_targets(np.zeros(3), np.zeros((1, 2), np.int64), "mnist_mul")


def test_sample_indices_seeded():
    a = sample_indices(50, num_sequences=4, length=9, seed=5)
    assert a.shape == (4, 9) and a.dtype == np.int64
    assert a.min() >= 0 and a.max() < 50
    assert_array_equal(a, sample_indices(50, 4, 9, seed=5))
    assert not np.array_equal(a, sample_indices(50, 4, 9, seed=6))


# ------------------------------------------------------------------- pipelines


def _first_batches(dataset, n):
    if hasattr(dataset, "take"):
        return [(x.numpy(), y.numpy()) for x, y in dataset.take(n)]
    return list(itertools.islice(dataset, n))


# tf.data for the TensorFlow backend, its NumPy twin for the others.
TRAINING_PIPELINES = pytest.mark.parametrize(
    "make", [training_dataset, training_batches], ids=["tf.data", "numpy"]
)


@TRAINING_PIPELINES
@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("task", TASKS)
def test_training_dataset_batches(small, task, every_step, make):
    images, labels = small
    length, batch_size = 5, 4
    dataset = make(
        images, labels, task, length, batch_size, seed=2, every_step=every_step
    )
    batches = _first_batches(dataset, 2)
    k = 10 if task == "mnist_count" else 1
    y_shape = (batch_size, length, k) if every_step else (batch_size, k)
    # Each image is found again by its pixels to recompute the target.
    label_of = {}
    for image, label in zip(images, labels, strict=True):
        assert label_of.setdefault(image.tobytes(), label) == label
    for x, y in batches:
        assert x.shape == (batch_size, length, 28, 28, 1)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert y.shape == y_shape
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
        pixels = np.rint(x[..., 0] * 255).astype(np.uint8)
        digits = np.array(
            [[label_of[image.tobytes()] for image in row] for row in pixels]
        )
        positions = np.arange(digits.size).reshape(digits.shape)
        expected = _loop_targets(digits.ravel(), positions, task, every_step)
        assert_array_equal(y, expected)
        if task == "mnist_count":
            final = y[:, -1] if every_step else y
            assert_array_equal(final.sum(-1), length)
    assert not np.array_equal(batches[0][0], batches[1][0])


@TRAINING_PIPELINES
def test_training_dataset_deterministic(small, make):
    images, labels = small
    first = _first_batches(make(images, labels, "mnist_add", 3, 8, 7), 2)
    again = _first_batches(make(images, labels, "mnist_add", 3, 8, 7), 2)
    other = _first_batches(make(images, labels, "mnist_add", 3, 8, 8), 2)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        assert_array_equal(x1, x2)
        assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])


def test_training_batches_reproduce_any_step_on_its_own(small):
    """Batch `step` is drawn by `default_rng([seed, step])` alone, so it needs
    none of the batches before it."""
    images, labels = small
    stream = training_batches(images, labels, "mnist_count", 4, 3, seed=5)
    batches = _first_batches(stream, 3)
    index = np.random.default_rng([5, 2]).integers(0, len(images), size=(3, 4))
    assert_array_equal(batches[2][0], images[index].astype(np.float32)[..., None] / 255)
    assert_array_equal(batches[2][1], sequence_targets(labels, index, "mnist_count"))


@pytest.mark.parametrize("task", TASKS)
def test_evaluation_dataset_matches_arrays(small, task):
    images, labels = small
    indices, targets = evaluation_arrays(
        images, labels, task, length=4, num_sequences=10, seed=11
    )
    assert indices.shape == (10, 4)
    assert_array_equal(targets, sequence_targets(labels, indices, task))
    dataset = evaluation_dataset(
        images, labels, task, length=4, num_sequences=10, batch_size=4, seed=11
    )
    batches = _first_batches(dataset, 10)
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    expected_x = images[indices].astype(np.float32)[..., None] / 255.0
    assert_allclose(x, expected_x, rtol=0, atol=1e-7)
    assert_array_equal(y, targets)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("length", {"length": 0}),
        ("length", {"length": 2.0}),
        ("batch_size", {"batch_size": -3}),
        ("num_sequences", {"num_sequences": True}),
        ("seed", {"seed": -1}),
        ("mnist_count", {"task": "count"}),
    ],
)
def test_pipeline_arguments_are_validated(small, name, kwargs):
    images, labels = small
    arguments = dict(
        task="mnist_count", length=3, num_sequences=5, batch_size=2, seed=0
    )
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        evaluation_dataset(images, labels, **arguments)
    if name != "num_sequences":
        del arguments["num_sequences"]
        for make in (training_dataset, training_batches):
            with pytest.raises(ValueError, match=name):
                make(images, labels, **arguments)
