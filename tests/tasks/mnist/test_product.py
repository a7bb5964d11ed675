"""The sequential MNIST product (`--task mnist_product`) as the MNIST
experiment trains it (`tasks.mnist.experiment`): the solved head, a tiny
run with its evaluation round trip, and success against a product reference.

Its targets, pipelines and head are tested with the other tasks' (test_sequences,
test_pipelines, test_model); its recipe and flags in tests/runner, the
reference script in tests/scripts. The tests need the MNIST IDX files and
are skipped without them. Budgets are tiny: these check wiring and
contracts, not learning.
"""

import json

import keras
import numpy as np
import pytest

import nalu_rnn
from runner.cli import main, parse_args
from tasks.mnist import thresholds
from tasks.registry import make_experiment
from tests.support.mnist_files import default_mnist_dir

TASK = "mnist_product"


def _args(out, *extra):
    return [
        "--task",
        TASK,
        "--steps",
        "12",
        "--batch-size",
        "4",
        "--eval-sequences",
        "20",
        "--data-dir",
        str(default_mnist_dir()),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _head_cell(model):
    head = model if model.name == "head" else model.get_layer("head")
    return head.get_layer("recurrent").cell


@pytest.mark.needs_mnist
def test_solved_head_is_the_exact_running_product_and_frozen(tmp_path):
    options = parse_args(_args(tmp_path, "--solved-head"))
    model = make_experiment(options).build_model()
    head = model.get_layer("head")
    assert not head.trainable and model.get_layer("encoder").trainable
    assert isinstance(_head_cell(model), nalu_rnn.NMUCell)
    z = np.random.default_rng(0).uniform(0, 9, (2, 6, 1)).astype("float32")
    running = keras.ops.convert_to_numpy(head(z))
    np.testing.assert_allclose(running, np.prod(z, axis=1), rtol=1e-5)


@pytest.mark.needs_mnist
def test_train_writes_every_length_and_evaluate_round_trip(tmp_path):
    out = tmp_path / "run"
    assert main(_args(out)) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == TASK and results["cell"] == "nmu"
    assert results["train_length"] == 2 and results["steps"] >= 12
    assert [e["length"] for e in results["eval"]] == list(range(1, 21))
    for entry in results["eval"]:
        for key in ("mae", "mse", "accuracy", "relative_error"):
            assert key in entry, key
        expected = "interpolation" if entry["length"] == 2 else "extrapolation"
        assert entry["split"] == expected
    assert results["hardening"]["validation_length"] == 20

    again = tmp_path / "again"
    model = str(out / "model.keras")
    argv = _args(again, "--evaluate", model, "--eval-lengths", "1,5,20")
    assert main(argv) == 0
    reloaded = {
        e["length"]: e for e in json.loads((again / "results.json").read_text())["eval"]
    }
    assert sorted(reloaded) == [1, 5, 20]
    for before in results["eval"]:
        after = reloaded.get(before["length"])
        if after is not None:
            np.testing.assert_allclose(after["mse"], before["mse"], rtol=1e-5)
            np.testing.assert_allclose(after["mae"], before["mae"], rtol=1e-5)
            assert after["accuracy"] == before["accuracy"]


@pytest.mark.needs_mnist
def test_success_per_length_against_a_product_reference(tmp_path, monkeypatch):
    reference = {TASK: {"classes": {"mse": {"2": [0.0, 1e-9], "3": [1e12, 1e12]}}}}
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"reference": reference}))
    monkeypatch.setattr(thresholds, "REFERENCE_FILE", str(path))
    out = tmp_path / "run"
    assert main(_args(out, "--eval-lengths", "1,2,3")) == 0
    one, two, three = json.loads((out / "results.json").read_text())["eval"]
    assert "success" not in one
    assert two["success"] is False and three["success"] is True
