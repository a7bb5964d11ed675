"""Tests of `train.py --strategy` (`runner.distribution`).

The mirrored runs split this machine's CPU into two devices (TensorFlow's
logical devices, or JAX's host devices through `XLA_FLAGS`), which must
happen before the backend starts, so they run in a child process
(`tests/support/logical_cpus.py`) on this process's backend and are compared with a
one-device run of the same seed in this process.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from runner import distribution
from runner.cli import main
from tasks.training import whole_batches
from tests.support.mnist_files import default_mnist_dir
from tests.support.scripts import ROOT

BACKEND = keras.backend.backend()
TENSORFLOW = BACKEND == "tensorflow"
tf_only = pytest.mark.skipif(
    not TENSORFLOW,
    reason="tf.distribute's multiworker strategy needs the TensorFlow backend "
    "(the others refuse it, tested by test_jax_refuses_multiworker and "
    "test_torch_refuses_the_strategies)",
)
mirrored_backends = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason=f"Keras's {BACKEND} backend has no data-parallel fit (--strategy is "
    "refused there, tested by test_torch_refuses_the_strategies)",
)


@pytest.fixture(autouse=True)
def _fresh_strategy_cache():
    distribution.get_strategy.cache_clear()
    yield
    distribution.get_strategy.cache_clear()


def _child_env(**extra):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHONPATH": path, **extra}


def _train_on_two_cpus(argv):
    script = ROOT / "tests" / "support" / "logical_cpus.py"
    command = [sys.executable, str(script), "2", *argv]
    child = subprocess.run(
        command, env=_child_env(), capture_output=True, text=True, timeout=600
    )
    assert child.returncode == 0, child.stderr[-4000:]


def _results(out):
    return json.loads((Path(out) / "results.json").read_text())


# A short recipe that reaches the exact solution on seed 1 of problem 0:
# 2000 steps at length 3 (the default 10000 at length 10 take minutes on two
# replicas).
# 101 evaluation sequences do not split over two devices: JAX evaluates such
# batches whole (`tasks.training.whole_batches`), TensorFlow pads them.
NAC_ADD = ["--task", "add", "--cell", "nac", "--seed", "1", "--subset-seed", "0",
           "--train-length", "3",
           "--steps", "2000", "--eval-lengths", "3,1000", "--eval-sequences", "101",
           "--quiet"]  # fmt: skip


@mirrored_backends
def test_mirrored_nac_learns_addition_like_one_device(tmp_path):
    assert main(NAC_ADD + ["--out", str(tmp_path / "one")]) == 0
    _train_on_two_cpus(NAC_ADD + ["--strategy", "mirrored", "--out", str(tmp_path)])
    one, two = _results(tmp_path / "one"), _results(tmp_path)
    assert one["config"] == {"strategy": "none", "replicas": 1}
    assert two["config"] == {"strategy": "mirrored", "replicas": 2}
    for results in (one, two):
        assert results["success"] is True
        assert results["hardening"]["applied"] is True
        assert results["eval"][-1]["length"] == 1000
        assert results["eval"][-1]["scaled_error"] < 1e-6
    # Both hardened to the same exact formula.
    assert two["formula"] == one["formula"]


# 300 steps of 8 sequences of 3 images: enough for the model to start
# reading digits (about half of single images right), small enough for CI.
# The exact head (a warm start) so that 300 steps learn the encoder: this
# test is about two replicas agreeing with one, not about the head.
# The class encoder at the digit values (a warm start) learns within the
# budget; addition's own one-value encoder needs thousands of steps.
MNIST_ADD = ["--task", "mnist_add", "--seed", "0", "--steps", "300",
             "--head-init", "exact", "--encoder", "classes", "--batch-size", "8",
             "--train-length", "3",
             "--eval-lengths", "1,3",
             "--eval-sequences", "100", "--data-dir", str(default_mnist_dir()),
             "--quiet"]  # fmt: skip


@mirrored_backends
@pytest.mark.needs_mnist
def test_mirrored_mnist_addition_matches_one_device(tmp_path):
    assert main(MNIST_ADD + ["--out", str(tmp_path / "one")]) == 0
    _train_on_two_cpus(MNIST_ADD + ["--strategy", "mirrored", "--out", str(tmp_path)])
    one, two = _results(tmp_path / "one"), _results(tmp_path)
    assert two["config"] == {"strategy": "mirrored", "replicas": 2}
    assert "hardening" in two
    for a, b in zip(one["eval"], two["eval"], strict=True):
        assert a["length"] == b["length"]
        # The same global batches and averaged gradients: only the order of
        # float sums differs, so the errors agree far inside 5%.
        assert b["mae"] == pytest.approx(a["mae"], rel=0.05)
        assert abs(b["accuracy"] - a["accuracy"]) <= 0.05
    # It learnt something: a constant guess of 4.5 gets single digits about
    # 0.1 right and is off by 2.5 on average.
    assert two["eval"][0]["accuracy"] > 0.3 and two["eval"][0]["mae"] < 1.5


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("train.py: error: ")
    return err[0]


QUICK = ["--task", "add", "--steps", "5", "--quiet"]


@pytest.mark.parametrize("strategy", ["mirrored", "multiworker"])
def test_torch_refuses_the_strategies(strategy, tmp_path, capsys, monkeypatch):
    if BACKEND != "torch":
        # The same refusal as on torch, without a second backend in the process.
        monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    out = tmp_path / "o"
    assert main(QUICK + ["--strategy", strategy, "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert f"--strategy {strategy}" in line
    assert "KERAS_BACKEND=tensorflow" in line and "drop --strategy" in line
    assert ("KERAS_BACKEND=jax" in line) == (strategy == "mirrored")
    assert not out.exists()


def test_jax_refuses_multiworker(tmp_path, capsys, monkeypatch):
    if BACKEND != "jax":
        monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    out = tmp_path / "o"
    assert main(QUICK + ["--strategy", "multiworker", "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert "--strategy multiworker" in line and "KERAS_BACKEND=tensorflow" in line
    assert "--strategy mirrored" in line
    assert not out.exists()


@pytest.mark.skipif(
    BACKEND != "jax",
    reason="only JAX needs batches that split evenly (TensorFlow pads the "
    "short replicas; torch refuses --strategy)",
)
def test_jax_refuses_a_batch_that_does_not_split(tmp_path, capsys, monkeypatch):
    # Two devices, as the child processes have, without leaving this one.
    monkeypatch.setattr(distribution, "replicas", lambda name: 2)
    out = tmp_path / "o"
    argv = QUICK + ["--strategy", "mirrored", "--batch-size", "7", "--out", str(out)]
    assert main(argv) == 2
    line = _one_line_error(capsys)
    assert "--batch-size 7" in line and "2 devices" in line
    assert not out.exists()


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution needs JAX here")
def test_jax_mirrored_is_keras_data_parallel():
    strategy = distribution.get_strategy("mirrored")
    assert isinstance(strategy, keras.distribution.DataParallel)
    assert distribution.describe("mirrored") == {
        "strategy": "mirrored",
        "replicas": len(keras.distribution.list_devices()),
    }
    with distribution.scope("mirrored"):
        assert keras.distribution.distribution() is strategy
        with whole_batches():
            assert keras.distribution.distribution() is None
        assert keras.distribution.distribution() is strategy
    assert keras.distribution.distribution() is None


@tf_only
def test_multiworker_without_tf_config_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    out = tmp_path / "o"
    assert main(QUICK + ["--strategy", "multiworker", "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert "TF_CONFIG" in line and '"cluster"' in line
    assert not out.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{cluster", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no cluster"),
        ('{"cluster": {"worker": ["a:1", "b"]}, "task": {}}', "'host:port'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps"}}', "task must"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
            "index 1 is outside",
        ),
    ],
)
def test_bad_tf_config_is_explained(text, message):
    with pytest.raises(distribution.StrategyError, match=message) as info:
        distribution.check_tf_config(text)
    assert "\n" not in str(info.value)


def test_only_the_chief_writes_to_out(monkeypatch):
    cluster = {"worker": ["a:1", "b:1"]}
    for index, expected in [(0, "out"), (1, os.path.join("out", "worker_1"))]:
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
        assert distribution.output_dir("out", "multiworker") == expected
    config = {"cluster": {**cluster, "chief": ["c:1"]}}
    config["task"] = {"type": "worker", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribution.output_dir("out", "multiworker").endswith("worker_0")
    assert distribution.output_dir("out", "mirrored") == "out"


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@tf_only
@pytest.mark.skipif(
    not os.environ.get("NALU_TEST_MULTIWORKER"),
    reason="two TensorFlow workers on localhost take 25-40 s on a busy "
    "2-core machine; set NALU_TEST_MULTIWORKER=1 to run",
)
def test_two_workers_on_localhost_train_like_two_mirrored_replicas(tmp_path):
    argv = NAC_ADD + ["--steps", "200", "--eval-lengths", "3,100"]
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = []
    for index in (1, 0):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = _child_env(TF_CONFIG=json.dumps(config))
        command = [sys.executable, str(ROOT / "train.py"), *argv]
        command += ["--strategy", "multiworker", "--out", str(tmp_path / "multi")]
        workers.append(
            subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        )
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-4000:]
    _train_on_two_cpus(argv + ["--strategy", "mirrored", "--out", str(tmp_path)])
    multi, mirrored = _results(tmp_path / "multi"), _results(tmp_path)
    assert multi["config"] == {"strategy": "multiworker", "replicas": 2}
    assert (tmp_path / "multi" / "worker_1" / "results.json").is_file()
    for a, b in zip(mirrored["eval"], multi["eval"], strict=True):
        assert b["mse"] == pytest.approx(a["mse"], rel=1e-3)
