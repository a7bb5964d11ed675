"""Tests of the MNIST sequence models (`nalu_rnn.digits`) and experiment
(`tasks.mnist_experiment`, `train.py --task mnist_*`).

Model tests use random images; the end-to-end tests need the MNIST IDX files
from `NALU_MNIST_DIR`, else `shared/mnist` beside the checkout, and are
skipped when neither holds them. Budgets are tiny (a few steps, short
lengths): these tests check wiring and contracts, not learning.
"""

import itertools
import json
import types
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import nalu_rnn
import train
from nalu_rnn import digits
from tasks import mnist_experiment, mnist_thresholds
from tasks.mnist import MNISTNotFoundError, evaluation_arrays, load_mnist
from tests.arrays import assert_allclose, assert_array_equal
from tests.mnist_files import default_mnist_dir, missing_files

RESULT_KEYS = (
    "task",
    "cell",
    "seed",
    "train_length",
    "train_seconds",
    "steps",
    "eval",
    "versions",
)
EVAL_KEYS = ("length", "split", "mae", "accuracy", "relative_error")


MNIST_DIR = default_mnist_dir()
needs_mnist = pytest.mark.skipif(
    bool(
        missing_files(MNIST_DIR, ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    ),
    reason=f"MNIST IDX files not found in {MNIST_DIR}",
)


def _images(batch, steps, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch, steps, 28, 28, 1)).astype("float32")


def _tiny_args(tmp_path, task, *extra):
    return [
        "--task",
        task,
        "--steps",
        "12",
        "--batch-size",
        "4",
        "--train-length",
        "3",
        "--eval-lengths",
        "1,3",
        "--eval-sequences",
        "20",
        "--data-dir",
        str(MNIST_DIR),
        "--out",
        str(tmp_path),
        "--quiet",
        *extra,
    ]


# ------------------------------------------------------------------- models


@pytest.mark.parametrize(
    "cell, output_dim, return_sequences, expected",
    [
        ("nac", 10, False, (2, 10)),
        ("nac", 1, False, (2, 1)),
        ("nac", 10, True, (2, 3, 10)),
        ("nalu", 1, True, (2, 3, 1)),
        ("lstm", 10, False, (2, 10)),
    ],
)
def test_sequence_model_output_shapes(cell, output_dim, return_sequences, expected):
    model = digits.sequence_model(cell, output_dim, return_sequences=return_sequences)
    assert tuple(model(_images(2, 3)).shape) == expected
    # The time axis is not fixed by the first call.
    longer = model(_images(2, 5))
    assert tuple(longer.shape)[0] == 2 and tuple(longer.shape)[-1] == output_dim


def test_encoder_architecture():
    encoder = digits.digit_encoder(7)
    assert encoder.name == "encoder"
    assert tuple(encoder.output.shape) == (None, 7)
    kinds = [type(layer).__name__ for layer in encoder.layers[1:]]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert encoder.get_layer("hidden").units == 500


def test_encoder_digit_classes():
    counts = digits.digit_encoder(10, digit_classes=True)
    z = keras.ops.convert_to_numpy(counts(_images(3, 1)[:, 0]))
    assert_allclose(z.sum(axis=-1), 1.0, rtol=1e-5)
    values = digits.digit_encoder(1, digit_classes=True)
    kernel = keras.ops.convert_to_numpy(values.get_layer("digit_value").kernel)
    assert_array_equal(kernel[:, 0], np.arange(10))
    z = keras.ops.convert_to_numpy(values(_images(3, 1)[:, 0]))
    assert z.shape == (3, 1) and np.all((z >= 0) & (z <= 9))


@pytest.mark.parametrize("cell", ["nac", "nau"])
def test_block_identity_head_starts_as_running_sum(cell):
    head = digits.sequence_head(cell, embed_dim=3, output_dim=3)
    x = np.random.default_rng(0).uniform(size=(4, 6, 3)).astype("float32")
    assert_allclose(head(x), x.sum(axis=1), rtol=1e-3)


def test_save_load_round_trip_without_custom_objects(tmp_path):
    model = digits.sequence_model("nac", 10, return_sequences=True)
    x = _images(2, 4)
    expected = keras.ops.convert_to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_allclose(loaded(x), expected, rtol=1e-6, atol=1e-6)
    assert loaded.get_layer("encoder").name == "encoder"
    assert loaded.get_layer("head").name == "head"
    config = loaded.get_layer("head").get_layer("recurrent").cell.get_config()
    assert config["kernel_initializer"]["class_name"] == "BlockIdentity"


@pytest.mark.parametrize("return_sequences", [False, True])
def test_encode_once_equals_naive_evaluation(return_sequences):
    model = digits.sequence_model("nac", 10, return_sequences=return_sequences)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    indices = rng.integers(0, 30, size=(5, 4))
    embeddings = digits.encode_images(model, images)
    fast = digits.predict_from_embeddings(model, embeddings, indices, batch_size=2)
    naive = model.predict(images[indices][..., None] / 255.0, verbose=0)
    if return_sequences:
        naive = naive[:, -1]
    assert_allclose(fast, naive, rtol=1e-4, atol=1e-4)


def test_harden_cells_state_rows_only():
    model = digits.sequence_model("nac", 2)
    cell = model.get_layer("head").get_layer("recurrent").cell
    w_hat, m_hat = cell.unit.W_hat, cell.unit.M_hat
    # Input rows 0-1 and state rows 2-3, every effective weight near 0.9.
    w_hat.assign(np.full((4, 2), 2.0, "float32"))
    m_hat.assign(np.full((4, 2), 3.0, "float32"))
    report = digits.harden_cells(model, 0.2, rows="state")
    w = keras.ops.convert_to_numpy(cell.arithmetic_weights()["W"])
    assert_array_equal(w[2:], 1.0)
    assert np.all(np.abs(w[:2] - 1.0) > 0.05)
    assert report[0].snapped == 4 and report[0].total == 8
    with pytest.raises(ValueError, match="rows"):
        digits.harden_cells(model, 0.2, rows="diagonal")


def test_curriculum_and_metrics():
    assert mnist_experiment.curriculum_lengths(10) == [1, 2, 5]
    assert mnist_experiment.curriculum_lengths(1) == []
    metrics = mnist_experiment.sequence_metrics(
        [[1.2, 0.1], [2.0, 3.0]], [[1.0, 0.0], [2.0, 2.0]]
    )
    assert metrics["accuracy"] == 0.5
    assert_allclose(metrics["mae"], 1.3 / 4)
    assert_allclose(metrics["relative_error"], (1.3 / 4) / 1.25)


def test_defaults_are_complete():
    from runner.config import MNIST_RECIPE

    assert set(MNIST_RECIPE.values) >= {
        "steps",
        "batch_size",
        "learning_rate",
        "units",
        "eval_lengths",
        "supervision",
    }
    assert MNIST_RECIPE.values["eval_lengths"] == (1, 10, 100, 1000)


# --------------------------------------------------------------- end to end


@needs_mnist
@pytest.mark.parametrize(
    "task",
    # mnist_add is the MNIST run every backend trains; mnist_count the same
    # code path with another target, on TensorFlow only in CI.
    [pytest.param("mnist_count", marks=pytest.mark.slow), "mnist_add"],
)
def test_train_cli_writes_results_and_evaluate_round_trip(tmp_path, task):
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train.main(_tiny_args(out, task)) == 0
    # fit is not asked to shuffle a tf.data pipeline (Keras would warn).
    assert not [w for w in caught if "shuffle" in str(w.message)]
    results = json.loads((out / "results.json").read_text())
    for key in RESULT_KEYS:
        assert key in results, key
    assert results["task"] == task and results["steps"] >= 12
    # TensorFlow trains from tf.data, the other backends without TensorFlow.
    tf_backend = keras.backend.backend() == "tensorflow"
    assert results["pipeline"] == ("tf.data" if tf_backend else "numpy")
    assert [e["length"] for e in results["eval"]] == [1, 3]
    for entry in results["eval"]:
        for key in EVAL_KEYS:
            assert key in entry, key
    assert [e["split"] for e in results["eval"]] == ["extrapolation", "interpolation"]
    stages = results["hardening"]["stages"]
    assert [stage["rows"] for stage in stages] == ["state", "input"]
    assert (out / "model.keras").is_file()
    assert (out / "extrapolation.png").is_file()

    again = tmp_path / "again"
    args = _tiny_args(again, task, "--evaluate", str(out / "model.keras"))
    assert train.main(args) == 0
    reloaded = json.loads((again / "results.json").read_text())
    for before, after in zip(results["eval"], reloaded["eval"], strict=True):
        assert before["length"] == after["length"]
        assert_allclose(after["mae"], before["mae"], rtol=1e-5)
        assert after["accuracy"] == before["accuracy"]


@needs_mnist
@pytest.mark.parametrize("task", ["mnist_count", "mnist_add"])
@pytest.mark.parametrize("cell", ["nac", "lstm"])
def test_encoder_flag_chooses_the_encoder(tmp_path, task, cell):
    """`--encoder linear` is the paper's linear read-out of the 500 units;
    `classes` (the default) ends in the 10-class softmax."""
    for encoder in ("classes", "linear"):
        options = train.parse_args(
            _tiny_args(tmp_path, task, "--cell", cell, "--encoder", encoder)
        )
        model = mnist_experiment.MNISTExperiment(options).build_model()
        layers = model.get_layer("encoder").layers
        embedding = model.get_layer("encoder").get_layer("embedding")
        has_value = any(layer.name == "digit_value" for layer in layers)
        if encoder == "linear":
            assert embedding.activation is keras.activations.linear
            assert embedding.input.shape[-1] == 500 and not has_value
        else:
            assert embedding.activation is keras.activations.softmax
            assert embedding.units == 10
            assert has_value == (task == "mnist_add" and cell == "nac")
    assert train.parse_args(_tiny_args(tmp_path, task)).encoder == "classes"


def test_target_scale_rescales_the_readout():
    """`target_scale=(offset, scale)` multiplies the read-out's output by
    `scale` and adds `offset`, per output, and keeps them in its config."""
    head = digits.sequence_head("lstm", 3, 2, target_scale=([45.0, -1.0], [9.0, 0.5]))
    readout = keras.Model(head.input, head.get_layer("target_scale").input)
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    raw = keras.ops.convert_to_numpy(readout(x))
    expected = raw * np.array([9.0, 0.5]) + np.array([45.0, -1.0])
    assert_allclose(head(x), expected, rtol=1e-6)
    config = head.get_layer("target_scale").get_config()
    assert config["scale"] == [9.0, 0.5] and config["offset"] == [45.0, -1.0]


def test_target_scale_needs_a_readout():
    with pytest.raises(ValueError, match="needs a read-out"):
        digits.sequence_head("nac", 10, 10, target_scale=(0.0, 1.0))


@needs_mnist
def test_scale_targets_uses_training_target_statistics(tmp_path):
    options = train.parse_args(
        _tiny_args(tmp_path, "mnist_add", "--cell", "gru", "--scale-targets")
    )
    experiment = mnist_experiment.MNISTExperiment(options)
    layer = experiment.build_model().get_layer("head").get_layer("target_scale")
    mean, std = experiment.target_scale
    # Sums of 3 digits of the training split: about 3 * 4.45 and
    # sqrt(3 * 8.3), the mean and spread of one MNIST digit's value.
    assert mean[0] == pytest.approx(13.4, abs=0.3)
    assert std[0] == pytest.approx(5.0, abs=0.2)
    assert layer.get_config()["offset"] == pytest.approx(list(mean))
    assert layer.get_config()["scale"] == pytest.approx(list(std))
    default = train.parse_args(_tiny_args(tmp_path, "mnist_add", "--cell", "gru"))
    assert default.scale_targets  # the baselines' recipe
    assert not train.parse_args(_tiny_args(tmp_path, "mnist_add")).scale_targets


@needs_mnist
@pytest.mark.parametrize("pipeline", ["tf.data", "numpy"])
def test_curriculum_flag_sets_the_short_stages(tmp_path, pipeline):
    """With the curriculum the first batches are shorter sequences (1, then
    2 for length 3); without it every batch has the training length. The
    baselines' recipe turns it off, the arithmetic heads' keeps it. Both
    pipelines run the stages in the same order."""
    for cell, flags, first_lengths in [
        ("nac", (), [1, 2]),
        ("nac", ("--no-curriculum",), [3, 3]),
        ("lstm", (), [3, 3]),
        ("lstm", ("--curriculum",), [1, 2]),
    ]:
        options = train.parse_args(
            _tiny_args(tmp_path, "mnist_add", "--cell", cell, "--steps", "20", *flags)
        )
        experiment = mnist_experiment.MNISTExperiment(options)
        experiment.pipeline = pipeline
        data, _, _ = experiment.training_data()
        if pipeline == "tf.data":
            batches = data.take(6)
        else:
            # Keras accepts a generator, not any iterable.
            assert isinstance(data, types.GeneratorType)
            batches = itertools.islice(data, 6)
        # 20 steps: one 2-step stage per shorter length, then length 3.
        lengths = [int(images.shape[1]) for images, _ in batches]
        assert lengths[1:5:2] == first_lengths and lengths[-1] == 3, (cell, flags)


@pytest.mark.slow
@needs_mnist
def test_linear_encoder_trains_end_to_end(tmp_path):
    out = tmp_path / "linear"
    assert train.main(_tiny_args(out, "mnist_add", "--encoder", "linear")) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["encoder"] == "linear"
    assert all(np.isfinite(e["mae"]) for e in results["eval"])


@needs_mnist
@pytest.mark.parametrize("task", ["mnist_count", "mnist_add"])
def test_solved_head_is_the_exact_running_sum_and_frozen(tmp_path, task):
    options = train.parse_args(_tiny_args(tmp_path, task, "--solved-head"))
    model = mnist_experiment.MNISTExperiment(options).build_model()
    head = model.get_layer("head")
    assert not head.trainable and model.get_layer("encoder").trainable
    embeddings = np.random.default_rng(0).uniform(0, 9, (2, 6, head.input.shape[-1]))
    running = keras.ops.convert_to_numpy(head(embeddings.astype("float32")))
    assert_allclose(running, embeddings.sum(axis=1), rtol=1e-6)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "mnist_add", "--cell", "lstm", "--solved-head"], "arithmetic cell"),
        (["--task", "mnist_add", "--units", "4", "--solved-head"], "no --units"),
        (["--task", "add", "--solved-head"], "MNIST tasks only"),
        (["--task", "mnist_add", "--cell", "nac", "--scale-targets"], "read-out"),
        (["--task", "add", "--cell", "lstm", "--scale-targets"], "MNIST tasks only"),
    ],
)
def test_mnist_flags_refuse_what_they_cannot_do(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        train.parse_args(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
@needs_mnist
def test_success_per_length_against_the_reference(tmp_path, monkeypatch):
    reference = {"mnist_add": {"classes": {"mse": {"3": [0.0, 1e-9]}}}}
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"reference": reference}))
    monkeypatch.setattr(mnist_thresholds, "REFERENCE_FILE", str(path))
    out = tmp_path / "run"
    assert train.main(_tiny_args(out, "mnist_add")) == 0
    results = json.loads((out / "results.json").read_text())
    short, long = results["eval"]
    # Length 1 has no threshold; a 12-step model is far off at length 3.
    assert "success" not in short and "success_threshold_mse" not in short
    assert long["success_threshold_mse"] < 1e-6 and long["success"] is False
    assert results["success"] is False


@needs_mnist
def test_experiment_metrics_match_naive_targets(tmp_path):
    """`evaluate` scores exactly the test sequences `evaluation_arrays` gives."""
    options = train.parse_args(_tiny_args(tmp_path, "mnist_add", "--cell", "lstm"))
    experiment = mnist_experiment.MNISTExperiment(options)
    model = experiment.build_model()
    entries = experiment.evaluate(model)
    images, labels = load_mnist(str(MNIST_DIR))["test"]
    seed = mnist_experiment.evaluation_seed(options.seed, 3)
    indices, targets = evaluation_arrays(images, labels, "mnist_add", 3, 20, seed)
    naive = model.predict(images[indices][..., None] / 255.0, verbose=0)
    if experiment.supervision == "every_step":
        naive = naive[:, -1]
    assert_allclose(entries[1]["mae"], np.mean(np.abs(naive - targets)), rtol=1e-4)


@needs_mnist
def test_training_is_deterministic(tmp_path):
    args = _tiny_args(tmp_path, "mnist_add", "--steps", "3", "--train-length", "2")
    options = train.parse_args(args)
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(options.seed)
        experiment = mnist_experiment.MNISTExperiment(options)
        model = experiment.build_model()
        experiment.compile(model)
        data, epochs, steps_per_epoch = experiment.training_data()
        model.fit(
            data,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            shuffle=experiment.shuffle_batches,
            verbose=0,
        )
        weights.append(model.get_weights())
    for first, second in zip(*weights, strict=True):
        assert_array_equal(first, second)


def test_missing_mnist_raises_clear_error(tmp_path):
    args = _tiny_args(tmp_path / "out", "mnist_count")
    args[args.index("--data-dir") + 1] = str(tmp_path / "nowhere")
    options = train.parse_args(args)
    with pytest.raises(MNISTNotFoundError, match="NALU_MNIST_DIR"):
        mnist_experiment.MNISTExperiment(options)


def test_load_needs_only_import_nalu_rnn(tmp_path):
    """A fresh process loads a saved model after a bare `import nalu_rnn`."""
    import subprocess
    import sys

    path = tmp_path / "model.keras"
    digits.sequence_model("nac", 1).save(path)
    code = (
        "import keras, nalu_rnn; "
        f"m = keras.models.load_model({str(path)!r}); "
        "print(m.get_layer('head').name)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("head")
    assert nalu_rnn.digits.sequence_model is digits.sequence_model


@pytest.mark.slow
@needs_mnist
def test_train_py_same_seed_writes_the_same_metrics(tmp_path):
    # Data, initial weights, shuffling and (on TensorFlow) the ops are all
    # fixed by --seed: the whole results, bar the timing, are identical.
    results = []
    for name in ("a", "b"):
        args = _tiny_args(tmp_path / name, "mnist_add", "--steps", "4", "--seed", "7")
        assert train.main(args) == 0
        results.append(json.loads((tmp_path / name / "results.json").read_text()))
    assert results[0]["eval"] == results[1]["eval"]
    # (Layer names, in the hardening report, count up within one process.)
    first, second = (r["hardening"] for r in results)
    for key in ("validation_mae_before", "validation_mae_after"):
        assert first[key] == second[key]
