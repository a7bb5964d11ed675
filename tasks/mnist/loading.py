"""Loading MNIST: the IDX files, tensorflow-datasets, or its download.

Data source, in this order (see `load_mnist`):

1. the `data_dir` argument (a CLI's `--data-dir`), else
2. the `NALU_MNIST_DIR` environment variable, each pointing at a folder with the
   four original IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, gzip-compressed with a
   `.gz` suffix or unpacked; the `train-images.idx3-ubyte` spelling is accepted
   too), else
3. tensorflow-datasets' `mnist`, already prepared in its data folder (the
   `tfds_dir` argument, a CLI's `--tfds-dir`, else `TFDS_DATA_DIR`, else
   `~/tensorflow_datasets`), else
4. tensorflow-datasets downloads and prepares `mnist` in that folder, once,
   saying so on stderr. Offline it gives up within `PROBE_TIMEOUT` seconds
   (a quick probe of the MNIST server comes first; tfds alone retries for
   minutes).

If none of them works, `MNISTNotFoundError` says how to provide the data.

Validation: `split_validation` holds out `DEFAULT_VALIDATION_SIZE` = 5000
images of the training split, chosen by a permutation seeded with
`DEFAULT_SPLIT_SEED` = 0 (`numpy.random.default_rng`). Training sequences are
drawn from the remaining 55000, test sequences from the 10000 test images.
"""

import functools
import gzip
import numbers
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from tasks.mnist.checks import check_images_labels, check_seed

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)
DEFAULT_VALIDATION_SIZE = 5000
DEFAULT_SPLIT_SEED = 0
ENV_VAR = "NALU_MNIST_DIR"
TFDS_ENV_VAR = "TFDS_DATA_DIR"
DEFAULT_TFDS_DIR = os.path.join("~", "tensorflow_datasets")
# Seconds to wait for the MNIST server before giving up on a download;
# offline, tensorflow-datasets itself retries for minutes.
PROBE_TIMEOUT = 5.0
# Where tensorflow-datasets' `mnist` builder downloads from (its `URL`).
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

# (split, images file, labels file), names without the optional ".gz" suffix.
MNIST_FILES = (
    ("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)

_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


class MNISTNotFoundError(FileNotFoundError):
    """Raised when no MNIST data can be found by any of the supported ways."""


class MNISTDataError(ValueError):
    """Raised when an MNIST file exists but cannot be parsed or is inconsistent."""


# --------------------------------------------------------------------- loading


def tfds_data_dir(tfds_dir=None):
    """The tensorflow-datasets data folder MNIST is read from and cached in.

    Args:
        tfds_dir: A folder (a CLI's `--tfds-dir`), or `None` (default) for
            the `TFDS_DATA_DIR` environment variable, else tensorflow-datasets'
            own default `~/tensorflow_datasets`.

    Returns:
        The folder as a string, `~` expanded.
    """
    root = tfds_dir or os.environ.get(TFDS_ENV_VAR) or DEFAULT_TFDS_DIR
    return root if "://" in root else os.path.expanduser(root)


def _how_to_provide(tfds_root=None):
    names = ", ".join(name for _, *pair in MNIST_FILES for name in pair)
    cache = tfds_data_dir() if tfds_root is None else tfds_root
    return (
        f"Either pass `--data-dir DIR` (or `load_mnist(data_dir=DIR)`) or set "
        f"`{ENV_VAR}=DIR`, where DIR is a folder holding the four original MNIST "
        f"IDX files ({names}; each gzip-compressed with a `.gz` suffix or "
        f"unpacked), or run once with network access and tensorflow-datasets "
        f'installed (pip install -e ".[experiments]") so that it downloads MNIST '
        f"into its cache {cache!r} (`--tfds-dir DIR` or `{TFDS_ENV_VAR}` moves it)."
    )


def _candidates(name):
    # The original site served "train-images-idx3-ubyte.gz", which unpacks (on
    # some tools) to "train-images.idx3-ubyte"; accept both spellings.
    dotted = name.replace("-idx", ".idx")
    return (name + ".gz", name, dotted + ".gz", dotted)


def _find_files(directory):
    """Maps each base file name to its path in `directory`, and lists misses."""
    found, missing = {}, []
    for _, *names in MNIST_FILES:
        for name in names:
            for candidate in _candidates(name):
                path = directory / candidate
                if path.is_file():
                    found[name] = path
                    break
            else:
                missing.append(name)
    return found, missing


def _read_bytes(path):
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise MNISTDataError(
            f"Cannot read MNIST file {path}: {type(e).__name__}: {e}"
        ) from e


def _parse_idx(path, expected_magic):
    """Parses one IDX file into a read-only uint8 array."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise MNISTDataError(
            f"MNIST file {path} is truncated: {len(data)} bytes, too short for "
            f"an IDX header"
        )
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise MNISTDataError(
            f"MNIST file {path} has magic number {magic}, expected "
            f"{expected_magic} ({'images' if expected_magic == 2051 else 'labels'})"
        )
    # The low byte of the magic number is the number of dimensions.
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise MNISTDataError(
            f"MNIST file {path} is truncated: {len(data)} bytes, the header "
            f"alone needs {header_size}"
        )
    shape = tuple(
        int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    )
    expected = header_size + int(np.prod(shape, dtype=np.int64))
    if len(data) < expected:
        raise MNISTDataError(
            f"MNIST file {path} is truncated: header says shape {shape} "
            f"({expected} bytes), file has {len(data)} bytes"
        )
    if len(data) > expected:
        raise MNISTDataError(
            f"MNIST file {path} has {len(data) - expected} unexpected bytes after "
            f"the {expected} bytes its header (shape {shape}) describes"
        )
    if expected_magic == _IMAGES_MAGIC and shape[1:] != IMAGE_SHAPE:
        raise MNISTDataError(
            f"MNIST file {path} holds images of shape {shape[1:]}, expected "
            f"{IMAGE_SHAPE}"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)
    if expected_magic == _LABELS_MAGIC and array.size and array.max() >= NUM_CLASSES:
        raise MNISTDataError(
            f"MNIST file {path} has label {int(array.max())}; labels must be 0-9"
        )
    return array


def _file_signature(found):
    # Part of the cache key so that a file replaced on disk is read again.
    return tuple(
        (str(path), path.stat().st_size, path.stat().st_mtime_ns)
        for _, path in sorted(found.items())
    )


@functools.lru_cache(maxsize=8)
def _load_idx_dir(directory, signature):
    del signature  # Only part of the cache key.
    directory = Path(directory)
    found, _ = _find_files(directory)
    result = {}
    for split, images_name, labels_name in MNIST_FILES:
        images = _parse_idx(found[images_name], _IMAGES_MAGIC)
        labels = _parse_idx(found[labels_name], _LABELS_MAGIC)
        if len(images) != len(labels):
            raise MNISTDataError(
                f"MNIST {split} split is inconsistent: {found[images_name]} has "
                f"{len(images)} images but {found[labels_name]} has "
                f"{len(labels)} labels"
            )
        result[split] = (images, labels)
    return result


def _load_from_dir(data_dir, source):
    directory = Path(data_dir).expanduser()
    if not directory.is_dir():
        raise MNISTNotFoundError(
            f"MNIST data directory {str(directory)!r} ({source}) does not exist "
            f"or is not a directory. {_how_to_provide()}"
        )
    directory = directory.resolve()
    found, missing = _find_files(directory)
    if missing:
        raise MNISTNotFoundError(
            f"MNIST data directory {str(directory)!r} ({source}) lacks "
            f"{', '.join(missing)} (looked for each with and without `.gz`). "
            f"{_how_to_provide()}"
        )
    return _load_idx_dir(str(directory), _file_signature(found))


def _version_key(path):
    try:
        return tuple(int(part) for part in path.name.split("."))
    except ValueError:
        return ()


def _tfds_prepared_mnist_dir(root):
    """The newest locally prepared tfds `mnist` folder under `root`, or `None`.

    Found by looking at the disk only: constructing `tfds.builder("mnist")`
    for unprepared data may ask Google Cloud Storage for metadata, which offline
    can block for minutes.
    """
    prepared = [
        info.parent
        for info in (Path(root) / "mnist").glob("*/dataset_info.json")
        if _version_key(info.parent)
    ]
    return max(prepared, key=_version_key) if prepared else None


def _original_order(split, count, info):
    """Positions in the original IDX files of a tfds split's records.

    tensorflow-datasets stores a split's records sorted by a salted hash of
    their keys (the salt is the split's name); its `mnist` builder keys each
    image by its index in the IDX file. Sorting the keys the same way gives,
    for every stored record, its index, so that the arrays come back in the
    IDX files' order and a seed picks the same images from either source.
    Returns `None` (keep the stored order) where that cannot be known.
    """
    if getattr(info, "disable_shuffling", False):
        return None
    try:
        from tensorflow_datasets.core import hashing

        hasher = hashing.Hasher(split)
        return np.array(sorted(range(count), key=hasher.hash_key), dtype=np.int64)
    except (ImportError, AttributeError, TypeError):
        return None


@functools.lru_cache(maxsize=2)
def _read_tfds_dir(directory):
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(directory)
    result = {}
    for split in ("train", "test"):
        dataset = builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        stored_images, stored_labels = tfds.as_numpy(dataset)
        stored_images = np.asarray(stored_images, np.uint8).reshape(-1, *IMAGE_SHAPE)
        stored_labels = np.asarray(stored_labels).astype(np.uint8)
        order = _original_order(
            split, len(stored_labels), getattr(builder, "info", None)
        )
        if order is None:
            images, labels = stored_images, stored_labels
        else:
            images = np.empty_like(stored_images)
            labels = np.empty_like(stored_labels)
            images[order], labels[order] = stored_images, stored_labels
        images.flags.writeable = False
        labels.flags.writeable = False
        result[split] = (images, labels)
    return result


def _one_line(error):
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _server_unreachable(url, timeout=PROBE_TIMEOUT):
    """Why `url`'s server does not answer within `timeout` seconds, or `None`.

    A HEAD request through `urllib` (which honours the `https_proxy`
    environment variables, as the download does), in a daemon thread so that
    a name lookup that hangs cannot hold the caller past `timeout`. Any HTTP
    answer, even an error status, counts as reachable.
    """
    outcome = []

    def probe():
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)
        except Exception as error:  # Any failure to connect means offline here.
            outcome.append(_one_line(error))

    thread = threading.Thread(target=probe, name="mnist-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"no answer from {url} within {timeout:g} s"
    return outcome[0] and f"cannot reach {url} ({outcome[0]})"


def _download_with_tfds(tfds, root):
    """Downloads and prepares tfds `mnist` in `root`; returns why not, or `None`."""
    url = getattr(tfds.builder_cls("mnist"), "URL", None) or MNIST_URL
    url = urllib.parse.urljoin(url, "train-labels-idx1-ubyte.gz")
    unreachable = _server_unreachable(url)
    if unreachable:
        return f"downloading it failed: {unreachable}"
    print(
        f"MNIST: downloading it with tensorflow-datasets into {root!r} (once; "
        f"`--tfds-dir DIR` or {TFDS_ENV_VAR} moves it, `--data-dir` reads IDX "
        f"files instead)",
        file=sys.stderr,
        flush=True,
    )
    try:
        tfds.builder("mnist", data_dir=root).download_and_prepare()
    except Exception as error:  # Any tfds failure is a missing dataset here.
        return f"tensorflow-datasets failed to download it: {_one_line(error)}"
    return None


def _load_from_tfds(tfds_dir=None, download=True):
    """Loads MNIST with tensorflow-datasets, or returns why it cannot.

    Returns `(result, None)` on success and `(None, reason)` otherwise. Data
    already prepared in the tfds folder is read as it is; otherwise, with
    `download=True`, tfds downloads and prepares it there, if the MNIST
    server answers within `PROBE_TIMEOUT` seconds (offline, tfds would retry
    for minutes).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None, "tensorflow-datasets is not installed"
    root = tfds_data_dir(tfds_dir)
    if "://" in root:
        return (
            None,
            f"the tfds folder {root!r} is remote, which this loader never reads",
        )
    directory = _tfds_prepared_mnist_dir(root)
    if directory is None:
        if not download:
            return None, f"tfds `mnist` is not prepared in {root!r}"
        reason = _download_with_tfds(tfds, root)
        if reason is not None:
            return None, f"tfds `mnist` is not prepared in {root!r} and {reason}"
        directory = _tfds_prepared_mnist_dir(root)
        if directory is None:
            return None, f"tensorflow-datasets prepared no `mnist` in {root!r}"
    try:
        return _read_tfds_dir(str(directory)), None
    except Exception as e:  # Any tfds failure only means "not available here".
        return None, f"tensorflow-datasets failed to read {str(directory)!r}: " + (
            _one_line(e)
        )


def load_mnist(data_dir=None, tfds_dir=None, download=True):
    """Loads the MNIST training and test splits.

    The data is looked for in `data_dir`, else in the folder named by the
    `NALU_MNIST_DIR` environment variable (the four original IDX files, `.gz`
    or unpacked), else in tensorflow-datasets' `mnist` prepared in its data
    folder (`tfds_dir`, else `TFDS_DATA_DIR`, else `~/tensorflow_datasets`),
    else tensorflow-datasets downloads and prepares it there (with a message
    on stderr saying where). Offline, the download gives up within
    `PROBE_TIMEOUT` seconds. Arrays read through tfds come back in the IDX
    files' order, so either source gives the same arrays. Parsed arrays are
    cached in-process, so repeated calls are cheap; they are read-only
    because every caller shares them (copy them before modifying).

    Args:
        data_dir: Folder holding the four IDX files, or `None` (default) to use
            `NALU_MNIST_DIR` and then tensorflow-datasets.
        tfds_dir: tensorflow-datasets data folder (a CLI's `--tfds-dir`), or
            `None` (default) for `TFDS_DATA_DIR` or `~/tensorflow_datasets`.
        download: Whether tensorflow-datasets may download MNIST when it is
            not prepared. Defaults to `True`.

    Returns:
        A dict `{"train": (images, labels), "test": (images, labels)}` with
        images uint8 of shape `(N, 28, 28)` and labels uint8 of shape `(N,)`
        (60000 training and 10000 test images for the original files).

    Raises:
        MNISTNotFoundError: If no data is found; the message (one line) names
            every way to provide it, the tfds folder, and the folder and
            missing files when one was given.
        MNISTDataError: If a file is corrupt, truncated, or images and labels
            disagree; the message names the file.
    """
    if data_dir is not None:
        result = _load_from_dir(data_dir, "given as data_dir / --data-dir")
    elif os.environ.get(ENV_VAR):
        result = _load_from_dir(os.environ[ENV_VAR], f"from ${ENV_VAR}")
    else:
        result, reason = _load_from_tfds(tfds_dir, download)
        if result is None:
            raise MNISTNotFoundError(
                f"MNIST data not found: no data directory was given, {ENV_VAR} is "
                f"not set, and {reason}. {_how_to_provide(tfds_data_dir(tfds_dir))}"
            )
    # A fresh dict so that a caller replacing an entry cannot alter the cache.
    return dict(result)


def split_validation(
    images,
    labels,
    validation_size=DEFAULT_VALIDATION_SIZE,
    seed=DEFAULT_SPLIT_SEED,
):
    """Holds out a seeded validation slice of a (training) split.

    The held-out images are the first `validation_size` entries of
    `numpy.random.default_rng(seed).permutation(len(images))`; both parts keep
    the original order of the images, so the split depends only on `seed`.

    Args:
        images: Array of shape `(N, ...)`.
        labels: Array of shape `(N,)`.
        validation_size: Number of images held out, `0 <= validation_size < N`.
            Defaults to 5000.
        seed: Non-negative integer seed of the permutation. Defaults to 0.

    Returns:
        `((train_images, train_labels), (val_images, val_labels))`.
    """
    images, labels = check_images_labels(images, labels, require_uint8=False)
    n = len(images)
    if (
        isinstance(validation_size, bool)
        or not isinstance(validation_size, numbers.Integral)
        or not 0 <= validation_size < n
    ):
        raise ValueError(
            f"`validation_size` must be an integer in [0, {n}) for {n} images; "
            f"received validation_size={validation_size!r}"
        )
    seed = check_seed(seed)
    permutation = np.random.default_rng(seed).permutation(n)
    val_index = np.sort(permutation[:validation_size])
    train_index = np.sort(permutation[validation_size:])
    return (
        (images[train_index], labels[train_index]),
        (images[val_index], labels[val_index]),
    )
