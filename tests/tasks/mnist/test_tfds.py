"""MNIST through tensorflow-datasets, without a network (`tasks.mnist.loading`).

tensorflow-datasets builds its real `mnist` from the four IDX files through
`DownloadConfig(manual_dir=...)`, exactly as it would from a download, into
a temporary tfds folder; the loader and a `train.py` run then read that copy
with no data folder given. The offline download path is checked against a
proxy that refuses connections, so it fails the same way on any machine.
"""

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from runner.cli import main
from tasks.mnist import MNISTNotFoundError, load_mnist, loading, tfds_data_dir
from tests.support.arrays import assert_array_equal
from tests.support.mnist_files import FILE_NAMES
from tests.support.scripts import ROOT

# Slow (tfds builds MNIST, then runs train on it): TensorFlow only
# in CI; the tfds data path is tf.data whatever the Keras backend.
pytestmark = pytest.mark.slow

tfds = pytest.importorskip(
    "tensorflow_datasets", reason="tensorflow-datasets is not installed"
)


@pytest.fixture(scope="module")
def manual_dir(mnist_dir, tmp_path_factory):
    """The IDX files under the names tfds downloads (`*-ubyte.gz`)."""
    if all((mnist_dir / (name + ".gz")).is_file() for name in FILE_NAMES):
        return mnist_dir
    directory = tmp_path_factory.mktemp("manual")
    for name in FILE_NAMES:
        packed = mnist_dir / (name + ".gz")
        if packed.is_file():
            shutil.copyfile(packed, directory / packed.name)
        else:
            data = (mnist_dir / name).read_bytes()
            (directory / (name + ".gz")).write_bytes(gzip.compress(data, 1))
    return directory


@pytest.fixture(scope="module")
def tfds_root(manual_dir, tmp_path_factory):
    """A tfds data folder holding `mnist` prepared from the IDX files."""
    root = tmp_path_factory.mktemp("tfds")
    config = tfds.download.DownloadConfig(
        manual_dir=str(manual_dir), try_download_gcs=False
    )
    tfds.builder("mnist", data_dir=str(root)).download_and_prepare(
        download_config=config
    )
    return root


@pytest.fixture
def no_data_dir(monkeypatch):
    """No `NALU_MNIST_DIR`, no `TFDS_DATA_DIR`, and no download attempted."""
    monkeypatch.delenv("NALU_MNIST_DIR", raising=False)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)

    def no_download(url):
        raise AssertionError(f"prepared data must be read, not downloaded ({url})")

    monkeypatch.setattr(loading, "_server_unreachable", no_download)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tfds_copy_gives_the_idx_arrays(tfds_root, mnist_dir, no_data_dir):
    from_idx = load_mnist(mnist_dir)
    from_tfds = load_mnist(tfds_dir=str(tfds_root))
    for split in ("train", "test"):
        for tfds_array, idx_array in zip(
            from_tfds[split], from_idx[split], strict=True
        ):
            assert tfds_array.dtype == idx_array.dtype == np.uint8
            assert_array_equal(tfds_array, idx_array)


def test_tfds_data_dir_variable_is_read(tfds_root, monkeypatch, no_data_dir):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tfds_root))
    assert tfds_data_dir() == str(tfds_root)
    assert load_mnist()["test"][0].shape == (10000, 28, 28)


def test_a_run_trains_from_the_tfds_copy(tfds_root, tmp_path, no_data_dir):
    out = tmp_path / "run"
    args = ["--task", "mnist_count", "--steps", "4", "--batch-size", "4"]
    args += ["--train-length", "3", "--eval-lengths", "1,3"]
    args += ["--eval-sequences", "20", "--quiet", "--out", str(out)]
    assert main([*args, "--tfds-dir", str(tfds_root)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [row["length"] for row in results["eval"]] == [1, 3]


def test_unprepared_without_download_names_the_folder(tmp_path, no_data_dir):
    with pytest.raises(MNISTNotFoundError, match="not prepared") as info:
        load_mnist(tfds_dir=str(tmp_path), download=False)
    assert str(tmp_path) in str(info.value)


def test_probe_gives_up_on_a_silent_server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as server:
        # Listening but never answering: the connection opens, no reply comes.
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/mnist"
        reason = loading._server_unreachable(url, timeout=0.5)
    assert reason is not None and url in reason


def test_offline_download_fails_with_one_line(tmp_path):
    empty = tmp_path / "tfds"
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in ("NALU_MNIST_DIR", "TFDS_DATA_DIR", "NO_PROXY")
        and k != "TF_CPP_MIN_LOG_LEVEL"
    }
    # Every request, the probe's and tfds's, goes to a proxy that refuses it.
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env.update(https_proxy=proxy, HTTPS_PROXY=proxy)
    args = [sys.executable, "train.py", "--task", "mnist_count", "--steps", "2"]
    args += ["--out", str(tmp_path / "run"), "--tfds-dir", str(empty)]
    # How fast the probe gives up is `test_probe_gives_up_on_a_silent_server`'s
    # to check; a wall-clock bound here failed on a loaded machine. The
    # timeout only stops a run that hangs.
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("train.py: error: MNIST data not found")
    for named in ("--data-dir", "NALU_MNIST_DIR", "--tfds-dir", str(empty)):
        assert named in lines[0]
