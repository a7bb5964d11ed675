"""TensorBoard logs and serving exports (`runner.observability`). The
arithmetic-weight monitor they log is tested with the library's callbacks."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from runner.cli import main
from runner.config import RunConfig
from runner.observability import export_for_serving, tensorboard_dir
from tasks.mnist.model import sequence_model
from tests.support.arrays import assert_allclose
from tests.support.events import scalars

# Keras writes a SavedModel from a torch model only through torch_xla, which
# is not installed here: train.py refuses --export on torch (tested below).
EXPORTS = keras.backend.backend() != "torch"


def test_train_writes_tensorboard_logs_and_a_serving_export(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--task", "add", "--cell", "nac", "--steps", "30", "--batch-size", "8",
            "--eval-sequences", "16", "--eval-lengths", "10,20",
            "--out", str(out), "--quiet", "--tensorboard"]  # fmt: skip
    assert main(argv + (["--export"] if EXPORTS else [])) == 0
    captured = capsys.readouterr()
    assert captured.out == ""

    logs = out / "tensorboard"
    train_scalars = scalars(logs / "train")
    assert {"epoch_loss", "batch_loss"} <= set(train_scalars)
    weights = scalars(logs / "weights")
    cell = "arithmetic_weights/recurrent/nac_cell/nac/W"
    for tag in (f"{cell}/max_distance", f"{cell}/mean_distance"):
        (value,) = weights[tag].values()
        assert 0.0 <= value <= 1.0
    assert weights[f"{cell}/mean_distance"][30] <= weights[f"{cell}/max_distance"][30]

    evaluation = scalars(logs / "eval")
    results = json.loads((out / "results.json").read_text())
    for entry in results["eval"]:
        length = entry["length"]
        for metric in ("mse", "mae", "scaled_error"):
            assert evaluation[f"eval/length_{length}/{metric}"][30] == pytest.approx(
                entry[metric], rel=1e-6
            )
            assert evaluation[f"eval_by_length/{metric}"][length] == pytest.approx(
                entry[metric], rel=1e-6
            )

    if not EXPORTS:
        assert not (out / "serving").exists()
        return
    # The export serves what the saved Keras model predicts.
    import tensorflow as tf

    served = tf.saved_model.load(str(out / "serving"))
    model = keras.models.load_model(out / "model.keras")
    x = np.random.default_rng(0).uniform(size=(5, 40, 10)).astype("float32")
    assert_allclose(
        served.serve(tf.constant(x)).numpy(),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )


def test_tensorboard_folder_per_run():
    def options(value, seeds=None, seed=3):
        values = {"task": "add", "tensorboard": value, "seeds": seeds, "seed": seed}
        return RunConfig.from_values(values)

    assert tensorboard_dir(options(None), "out") is None
    assert tensorboard_dir(options(""), "out") == Path("out/tensorboard")
    assert tensorboard_dir(options("tb"), "out") == Path("tb")
    assert tensorboard_dir(options("tb", seeds=2), "out/seed_3") == Path("tb/seed_3")
    assert tensorboard_dir(options("", seeds=2), "out/seed_3") == Path(
        "out/seed_3/tensorboard"
    )


def test_export_is_refused_on_torch_without_torch_xla(tmp_path, capsys, monkeypatch):
    if EXPORTS:
        # The same refusal as on torch, without a second backend in the process.
        monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    out = tmp_path / "run"
    argv = ["--task", "add", "--steps", "5", "--quiet", "--export", "--out", str(out)]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("train.py: error: --export")
    assert "torch_xla" in line and "KERAS_BACKEND=tensorflow or jax" in line
    assert not out.exists()


@pytest.mark.skipif(not EXPORTS, reason="torch refuses --export (tested above)")
def test_mnist_sequence_model_exports_for_serving(tmp_path):
    import tensorflow as tf

    model = sequence_model("nac", 1, encoder_kwargs={"digit_classes": True})
    path = export_for_serving(model, tmp_path)
    served = tf.saved_model.load(str(path))
    # Sequences of another length than any seen before: the time axis of
    # the exported signature is unknown, as in the Keras model.
    x = np.random.default_rng(1).uniform(size=(2, 4, 28, 28, 1)).astype("float32")
    assert_allclose(
        served.serve(tf.constant(x)).numpy(),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-4,
    )
