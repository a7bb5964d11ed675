"""Tests of `train.py --task mnist_product`: the sequential MNIST product.

The targets, the head that multiplies over time, the task's default cell
and its recipe, `--solved-head`, a tiny end-to-end run with its evaluation
round trip, and `experiments/mnist_reference.py --tasks mnist_product`.
End-to-end tests need the MNIST IDX files (see `test_mnist_experiment`) and
are skipped without them. Budgets are tiny: these check wiring and
contracts, not learning.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import nalu_rnn
import train
from nalu_rnn import digits
from nalu_rnn.models import CELLS
from runner.config import MNIST_PRODUCT_RECIPE, RunConfig
from tasks import mnist, mnist_experiment, mnist_thresholds
from tasks.base import get_task
from tests.test_mnist_experiment import MNIST_DIR, needs_mnist

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import mnist_reference  # noqa: E402

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
        str(MNIST_DIR),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _head_cell(model):
    head = model if model.name == "head" else model.get_layer("head")
    return head.get_layer("recurrent").cell


# ------------------------------------------------------------------ targets


def test_targets_are_the_running_product_and_a_zero_digit_makes_it_zero():
    labels = np.array([3, 0, 2, 9, 1], dtype=np.uint8)
    indices = np.array([[0, 2, 3], [0, 1, 2], [4, 4, 4]])
    final = mnist.sequence_targets(labels, indices, TASK)
    np.testing.assert_array_equal(final, [[54.0], [0.0], [1.0]])
    running = mnist.sequence_targets(labels, indices, TASK, every_step=True)
    np.testing.assert_array_equal(running[:, :, 0], [[3, 6, 54], [3, 0, 0], [1, 1, 1]])
    assert final.dtype == running.dtype == np.float32
    # Twenty nines: 9^20 ~ 1.2e19 fits float32, rounded once from float64.
    nines = mnist.sequence_targets(np.array([9]), np.zeros((1, 20), int), TASK)
    assert nines[0, 0] == np.float32(9.0**20)


def test_training_pipeline_targets_match_numpy():
    # Image i is filled with the value i, so that x tells which were drawn.
    labels = np.arange(40, dtype=np.uint8) % 10
    images = np.repeat(np.arange(40, dtype=np.uint8), 28 * 28).reshape(40, 28, 28)
    for every_step in (False, True):
        data = mnist.training_dataset(
            images, labels, TASK, 4, 8, seed=1, every_step=every_step
        )
        x, y = next(iter(data))
        drawn = np.rint(np.asarray(x)[:, :, 0, 0, 0] * 255).astype(int)
        expected = mnist.sequence_targets(labels, drawn, TASK, every_step=every_step)
        np.testing.assert_array_equal(np.asarray(y), expected)


# --------------------------------------------------------------------- head


def test_nmu_head_multiplies_over_time_exactly():
    head = digits.sequence_head("nmu", embed_dim=1, output_dim=1, multiplicative=True)
    cell = _head_cell(head)
    assert isinstance(cell, nalu_rnn.NMUCell)
    z = np.random.default_rng(0).uniform(0, 9, (3, 6, 1)).astype("float32")
    z[1, 2, 0] = 0.0
    y = keras.ops.convert_to_numpy(head(z))
    np.testing.assert_allclose(y, np.prod(z, axis=1), rtol=1e-5)
    assert y[1, 0] == 0.0
    # Any weights: each step multiplies (w*x + 1 - w) over [z_t, h_{t-1}].
    w = np.array([[0.5], [0.75]], dtype="float32")
    cell.unit.W.assign(w)
    h = np.ones((3, 1))
    for t in range(z.shape[1]):
        h = (w[0] * z[:, t] + 1 - w[0]) * (w[1] * h + 1 - w[1])
    y = keras.ops.convert_to_numpy(head(z))
    np.testing.assert_allclose(y, h, rtol=1e-5)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_registered_cell_builds_a_product_model(cell):
    model = digits.sequence_model(cell, 1, multiplicative=True)
    y = keras.ops.convert_to_numpy(model(np.zeros((2, 3, 28, 28, 1), "float32")))
    assert y.shape == (2, 1)
    recurrent = _head_cell(model)
    product = CELLS[cell].make_product_cell
    if product is not None:
        assert isinstance(recurrent, product)


# ----------------------------------------------------- recipe, default cell


def test_default_cell_and_recipe():
    assert get_task(TASK).default_cell == "nmu"
    assert get_task("mnist_add").default_cell is None
    config = RunConfig.for_task(TASK)
    assert config.cell == "nmu" and config.out == "runs/mnist_product-nmu"
    assert config.train_length == 2 and config.eval_lengths == tuple(range(1, 21))
    for key, value in MNIST_PRODUCT_RECIPE.values.items():
        assert getattr(config, key) == value
    assert MNIST_PRODUCT_RECIPE.reason
    # The family's recipe still applies beneath the task's own.
    assert config.supervision == "final" and config.encoder == "classes"
    assert train.parse_args(["--task", TASK]) == config
    # Other tasks keep the package default cell and lengths.
    assert train.parse_args(["--task", "mnist_add"]).cell == "nac"
    assert RunConfig.for_task("mnist_add").train_length == 10
    # Flags win over the task's defaults.
    given = train.parse_args(["--task", TASK, "--cell", "lstm", "--train-length", "3"])
    assert (given.cell, given.train_length) == ("lstm", 3)


def test_help_names_the_default_cell(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "mnist_product: nmu" in help_text


def test_solved_head_refuses_a_head_that_only_sums(capsys):
    with pytest.raises(SystemExit) as info:
        train.parse_args(["--task", TASK, "--cell", "nac", "--solved-head"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "multiplies over time" in err
    assert "Traceback" not in err


# --------------------------------------------------------------- end to end


@needs_mnist
def test_solved_head_is_the_exact_running_product_and_frozen(tmp_path):
    options = train.parse_args(_args(tmp_path, "--solved-head"))
    model = mnist_experiment.MNISTExperiment(options).build_model()
    head = model.get_layer("head")
    assert not head.trainable and model.get_layer("encoder").trainable
    assert isinstance(_head_cell(model), nalu_rnn.NMUCell)
    z = np.random.default_rng(0).uniform(0, 9, (2, 6, 1)).astype("float32")
    running = keras.ops.convert_to_numpy(head(z))
    np.testing.assert_allclose(running, np.prod(z, axis=1), rtol=1e-5)


@needs_mnist
def test_train_writes_every_length_and_evaluate_round_trip(tmp_path):
    out = tmp_path / "run"
    assert train.main(_args(out)) == 0
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
    assert train.main(argv) == 0
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


@needs_mnist
def test_success_per_length_against_a_product_reference(tmp_path, monkeypatch):
    reference = {TASK: {"classes": {"mse": {"2": [0.0, 1e-9], "3": [1e12, 1e12]}}}}
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"reference": reference}))
    monkeypatch.setattr(mnist_thresholds, "REFERENCE_FILE", str(path))
    out = tmp_path / "run"
    assert train.main(_args(out, "--eval-lengths", "1,2,3")) == 0
    one, two, three = json.loads((out / "results.json").read_text())["eval"]
    assert "success" not in one
    assert two["success"] is False and three["success"] is True


# ------------------------------------------------------------ the reference


def _fake_sweep(runs, jobs=1, pin_cores=False):
    """Writes what `train.py --solved-head` would, without training."""
    for out, flags in runs:
        seed = int(flags[flags.index("--seed") + 1])
        task = flags[flags.index("--task") + 1]
        run = Path(out) / f"seed_{seed}"
        run.mkdir(parents=True)
        evals = [{"length": n, "mse": 0.1 * n + seed} for n in (1, 2)]
        results = {"steps": 5, "cell": "nmu" if task == TASK else "nac", "eval": evals}
        (run / "results.json").write_text(json.dumps(results))


def test_reference_script_measures_the_product_and_keeps_other_entries(
    tmp_path, monkeypatch
):
    path = tmp_path / "reference.json"
    kept = {"mnist_add": {"classes": {"mse": {"1": [0.1, 0.2]}}}}
    path.write_text(json.dumps({"command": "earlier", "reference": kept}))
    monkeypatch.setattr(mnist_reference, "run_sweep", _fake_sweep)
    argv = ["--tasks", TASK, "--encoders", "classes", "--seeds", "2"]
    mnist_reference.main([*argv, "--out", str(tmp_path / "runs"), "--write", str(path)])
    written = json.loads(path.read_text())["reference"]
    assert written["mnist_add"] == kept["mnist_add"]
    entry = written[TASK]["classes"]
    assert entry["cell"] == "nmu" and entry["seeds"] == [0, 1]
    assert (
        entry["mse"]["2"] == [0.2, 1.2] and "--tasks mnist_product" in entry["command"]
    )
    assert set(mnist_thresholds.thresholds(TASK, "classes", path=str(path))) == {1, 2}


def test_reference_script_refuses_an_unknown_task(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        mnist_reference.main(["--tasks", "mnist_mul", "--write", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "unknown MNIST task mnist_mul" in err
