"""TensorBoard logs, the arithmetic-weight monitor and serving exports."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import nalu_rnn
import train
from nalu_rnn.callbacks import ArithmeticWeightMonitor, distance_to_nearest
from runner.config import RunConfig
from runner.observability import tensorboard_dir
from tests.arrays import as_numpy, assert_allclose

# Keras writes a SavedModel from a torch model only through torch_xla, which
# is not installed here: train.py refuses --export on torch (tested below).
EXPORTS = keras.backend.backend() != "torch"


def _scalars(folder):
    """{tag: {step: value}} of every event file in `folder`."""
    import tensorflow as tf

    scalars = {}
    files = sorted(Path(folder).glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(value.tag, {})[event.step] = number
    return scalars


def test_train_writes_tensorboard_logs_and_a_serving_export(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--task", "add", "--steps", "30", "--batch-size", "8",
            "--eval-sequences", "16", "--eval-lengths", "10,20",
            "--out", str(out), "--quiet", "--tensorboard"]  # fmt: skip
    assert train.main(argv + (["--export"] if EXPORTS else [])) == 0
    captured = capsys.readouterr()
    assert captured.out == ""

    logs = out / "tensorboard"
    train_scalars = _scalars(logs / "train")
    assert {"epoch_loss", "batch_loss"} <= set(train_scalars)
    weights = _scalars(logs / "weights")
    cell = "arithmetic_weights/recurrent/nac_cell/nac/W"
    for tag in (f"{cell}/max_distance", f"{cell}/mean_distance"):
        (value,) = weights[tag].values()
        assert 0.0 <= value <= 1.0
    assert weights[f"{cell}/mean_distance"][30] <= weights[f"{cell}/max_distance"][30]

    evaluation = _scalars(logs / "eval")
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
        return RunConfig("add", tensorboard=value, seeds=seeds, seed=seed)

    assert tensorboard_dir(options(None), "out") is None
    assert tensorboard_dir(options(""), "out") == Path("out/tensorboard")
    assert tensorboard_dir(options("tb"), "out") == Path("tb")
    assert tensorboard_dir(options("tb", seeds=2), "out/seed_3") == Path("tb/seed_3")
    assert tensorboard_dir(options("", seeds=2), "out/seed_3") == Path(
        "out/seed_3/tensorboard"
    )


def test_tensorboard_flag_help_and_default():
    assert train.parse_args(["--task", "add"]).tensorboard is None
    assert train.parse_args(["--task", "add", "--tensorboard"]).tensorboard == ""
    assert train.parse_args(["--task", "add", "--tensorboard", "d"]).tensorboard == "d"
    assert "OUT/tensorboard" in train.build_parser().format_help()


def _nac_model(w):
    """A NAC whose effective weight is `w` (entries in (-1, 1))."""
    model = keras.Sequential([keras.Input((len(w),)), nalu_rnn.NAC(len(w[0]))])
    unit = model.layers[0]
    # tanh(W_hat) * sigmoid(20) == tanh(W_hat) in float32.
    unit.W_hat.assign(np.arctanh(as_numpy(w, "float32")))
    unit.M_hat.assign(np.full_like(as_numpy(w, "float32"), 20.0))
    return model


def test_weight_monitor_measures_distance_to_minus_one_zero_one(tmp_path):
    model = _nac_model([[0.9, 0.0], [-0.5, 0.2]])
    monitor = ArithmeticWeightMonitor()
    monitor.set_model(model)
    distances = monitor.distances()
    tag = f"arithmetic_weights/{model.layers[0].path}/W"
    assert distances[f"{tag}/max_distance"] == pytest.approx(0.5, abs=1e-6)
    assert distances[f"{tag}/mean_distance"] == pytest.approx(0.8 / 4, abs=1e-6)


def test_weight_monitor_records_during_fit_and_writes_events(tmp_path):
    model = _nac_model([[0.9], [0.2]])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.ones((8, 2), "float32")
    monitor = ArithmeticWeightMonitor(tmp_path / "weights", update_freq=2)
    model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, callbacks=[monitor])
    assert [step for step, _ in monitor.history] == [2, 4, 6, 8]
    written = _scalars(tmp_path / "weights")
    tag = f"arithmetic_weights/{model.layers[0].path}/W/max_distance"
    assert sorted(written[tag]) == [2, 4, 6, 8]
    assert written[tag][8] == pytest.approx(monitor.history[-1][1][tag], rel=1e-6)


def test_weight_monitor_config_and_bad_arguments():
    monitor = ArithmeticWeightMonitor("logs", update_freq=5, values=(0, 1))
    again = ArithmeticWeightMonitor.from_config(monitor.get_config())
    assert again.get_config() == {
        "log_dir": "logs",
        "update_freq": 5,
        "values": [0.0, 1.0],
    }
    with pytest.raises(ValueError, match="update_freq=0"):
        ArithmeticWeightMonitor(update_freq=0)
    with pytest.raises(ValueError, match="update_freq='batch'"):
        ArithmeticWeightMonitor(update_freq="batch")
    with pytest.raises(ValueError, match="values"):
        ArithmeticWeightMonitor(values=(0.0, float("nan")))
    assert_allclose(distance_to_nearest([-2.0, -0.4, 0.6, 1.25]), [1.0, 0.4, 0.4, 0.25])


def test_export_is_refused_on_torch_without_torch_xla(tmp_path, capsys, monkeypatch):
    if EXPORTS:
        # The same refusal as on torch, without a second backend in the process.
        monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    out = tmp_path / "run"
    argv = ["--task", "add", "--steps", "5", "--quiet", "--export", "--out", str(out)]
    assert train.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("train.py: error: --export")
    assert "torch_xla" in line and "KERAS_BACKEND=tensorflow or jax" in line
    assert not out.exists()


@pytest.mark.skipif(not EXPORTS, reason="torch refuses --export (tested above)")
def test_mnist_sequence_model_exports_for_serving(tmp_path):
    import tensorflow as tf

    from runner.observability import export_for_serving

    model = nalu_rnn.digits.sequence_model(
        "nac", 1, encoder_kwargs={"digit_classes": True}
    )
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
