"""The MNIST sequence experiment (`tasks.mnist.experiment`, `train.py --task
mnist_*`): a run's results, its flags' effect on the model and the data,
hardening, success against the reference, and determinism.

The tests need the MNIST IDX files from `NALU_MNIST_DIR`, else `shared/mnist`
beside the checkout, and are skipped when neither holds them (marker
`needs_mnist`). Budgets are tiny (a few steps, short lengths): these tests
check wiring and contracts, not learning.
"""

import itertools
import json
import types
import warnings

import keras
import numpy as np
import pytest

from nalu_rnn.callbacks import RateMultiplierChange
from runner.cli import main, parse_args
from tasks.mnist import MNISTNotFoundError, evaluation_arrays, load_mnist, thresholds
from tasks.mnist.experiment import HEAD_LAYERS, evaluation_seed, sequence_metrics
from tasks.registry import make_experiment
from tests.support.arrays import assert_allclose, assert_array_equal
from tests.support.mnist_files import default_mnist_dir

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


def test_sequence_metrics():
    metrics = sequence_metrics([[1.2, 0.1], [2.0, 3.0]], [[1.0, 0.0], [2.0, 2.0]])
    assert metrics["accuracy"] == 0.5
    assert_allclose(metrics["mae"], 1.3 / 4)
    assert_allclose(metrics["relative_error"], (1.3 / 4) / 1.25)


def test_evaluation_seeds_differ_by_seed_length_and_purpose():
    seeds = {
        evaluation_seed(seed, length, purpose)
        for seed in (0, 1)
        for length in (1, 10)
        for purpose in (0, 1, 2)
    }
    assert len(seeds) == 12
    assert evaluation_seed(3, 10) == evaluation_seed(3, 10, purpose=0)


@pytest.mark.needs_mnist
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
        assert main(_tiny_args(out, task)) == 0
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
    stages = [stage["stage"] for stage in results["hardening"]["stages"]]
    # Neither default encoder has class values to harden (addition's gives
    # one value per image; the class encoder's are tested below).
    assert stages == ["state", "input"]
    assert (out / "model.keras").is_file()
    assert (out / "extrapolation.png").is_file()

    again = tmp_path / "again"
    args = _tiny_args(again, task, "--evaluate", str(out / "model.keras"))
    assert main(args) == 0
    reloaded = json.loads((again / "results.json").read_text())
    for before, after in zip(results["eval"], reloaded["eval"], strict=True):
        assert before["length"] == after["length"]
        assert_allclose(after["mae"], before["mae"], rtol=1e-5)
        assert after["accuracy"] == before["accuracy"]


@pytest.mark.needs_mnist
def test_hardening_snaps_the_class_values_with_the_input_rows(tmp_path, monkeypatch):
    args = _tiny_args(tmp_path, "mnist_add", "--encoder", "classes")
    experiment = make_experiment(parse_args(args))
    model = experiment.build_model()
    values = model.get_layer("encoder").get_layer("digit_value")
    near = np.arange(10, dtype="float32")[:, None] + 0.1
    values.kernel.assign(near)
    # Every stage is kept when validation error does not rise.
    monkeypatch.setattr(experiment, "_validation_mae", lambda *args: 1.0)
    stages = experiment.after_training(model)["hardening"]["stages"]
    assert [stage["stage"] for stage in stages] == ["state", "input", "digit_value"]
    assert all(stage["applied"] for stage in stages)
    assert_array_equal(values.kernel.numpy().ravel(), np.arange(10))
    # Rolled back when it rises: the values are as they were.
    values.kernel.assign(near)
    errors = iter([1.0, 1.0, 1.0, 2.0])
    monkeypatch.setattr(experiment, "_validation_mae", lambda *args: next(errors))
    stages = experiment.after_training(model)["hardening"]["stages"]
    assert [stage["applied"] for stage in stages] == [True, True, False]
    assert_allclose(values.kernel.numpy(), near)


@pytest.mark.needs_mnist
def test_the_heads_own_rate_ends_where_the_recipe_says(tmp_path):
    def changes(*flags):
        experiment = make_experiment(parse_args(_tiny_args(tmp_path, *flags)))
        found = experiment.callbacks(epochs=1)
        return [c for c in found if isinstance(c, RateMultiplierChange)]

    # The recipe's: at the weight snap, half of the 12 steps, after which
    # the head is held where the snap left it ...
    (change,) = changes("mnist_add")
    assert change.step == 6
    assert change.rate_multipliers == dict.fromkeys(HEAD_LAYERS, 0.0)
    (change,) = changes("mnist_count", "--head-rate-stop", "0.25")
    assert change.step == 3
    # ... or learns on at the encoder's rate.
    (change,) = changes("mnist_add", "--head-rate-after-stop", "1")
    assert change.rate_multipliers == dict.fromkeys(HEAD_LAYERS, 1.0)
    # A baseline has no head rate, so nothing to end.
    assert changes("mnist_add", "--cell", "lstm") == []


@pytest.mark.needs_mnist
@pytest.mark.parametrize(
    "task, encoder, kernels",
    [
        ("mnist_add", "classes", ("digit_value",)),
        ("mnist_add", "linear", ()),
        ("mnist_count", "classes", ()),
    ],
)
def test_weight_snap_takes_the_class_values_with_the_head(
    tmp_path, task, encoder, kernels
):
    args = _tiny_args(tmp_path, task, "--weight-snap", "0.5", "--encoder", encoder)
    experiment = make_experiment(parse_args(args))
    snap = experiment.training_schedule.weight_snap
    assert snap.step == 6 and snap.kernels == kernels


@pytest.mark.needs_mnist
@pytest.mark.parametrize("task", ["mnist_count", "mnist_add"])
@pytest.mark.parametrize("cell", ["nac", "lstm"])
def test_encoder_flag_chooses_the_encoder(tmp_path, task, cell):
    """`--encoder linear` is the paper's linear read-out of the 500 units;
    `classes` ends in the 10-class softmax."""
    for encoder in ("classes", "linear"):
        options = parse_args(
            _tiny_args(tmp_path, task, "--cell", cell, "--encoder", encoder)
        )
        model = make_experiment(options).build_model()
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
    # A sum is one number per image (Madsen & Johansen's); a count is one
    # per class.
    default = "linear" if task == "mnist_add" else "classes"
    assert parse_args(_tiny_args(tmp_path, task)).model.encoder == default


@pytest.mark.needs_mnist
def test_scale_targets_uses_training_target_statistics(tmp_path):
    options = parse_args(
        _tiny_args(tmp_path, "mnist_add", "--cell", "gru", "--scale-targets")
    )
    experiment = make_experiment(options)
    layer = experiment.build_model().get_layer("head").get_layer("target_scale")
    mean, std = experiment.target_scale
    # Sums of 3 digits of the training split: about 3 * 4.45 and
    # sqrt(3 * 8.3), the mean and spread of one MNIST digit's value.
    assert mean[0] == pytest.approx(13.4, abs=0.3)
    assert std[0] == pytest.approx(5.0, abs=0.2)
    assert layer.get_config()["offset"] == pytest.approx(list(mean))
    assert layer.get_config()["scale"] == pytest.approx(list(std))
    default = parse_args(_tiny_args(tmp_path, "mnist_add", "--cell", "gru"))
    assert default.model.scale_targets  # the baselines' recipe
    assert not parse_args(_tiny_args(tmp_path, "mnist_add")).model.scale_targets


@pytest.mark.needs_mnist
@pytest.mark.parametrize("pipeline", ["tf.data", "numpy"])
def test_curriculum_flag_sets_the_short_stages(tmp_path, pipeline):
    """With the curriculum the first batches are shorter sequences (1, then
    2 for length 3); without it every batch has the training length. Every
    recipe leaves it off (its length-1 stage is a digit label). Both
    pipelines run the stages in the same order."""
    for cell, flags, first_lengths in [
        ("nac", (), [3, 3]),
        ("nac", ("--curriculum",), [1, 2]),
        ("lstm", (), [3, 3]),
        ("lstm", ("--curriculum",), [1, 2]),
    ]:
        options = parse_args(
            _tiny_args(tmp_path, "mnist_add", "--cell", cell, "--steps", "20", *flags)
        )
        experiment = make_experiment(options)
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
@pytest.mark.needs_mnist
def test_linear_encoder_trains_end_to_end(tmp_path):
    out = tmp_path / "linear"
    assert main(_tiny_args(out, "mnist_add", "--encoder", "linear")) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["encoder"] == "linear"
    assert all(np.isfinite(e["mae"]) for e in results["eval"])


@pytest.mark.needs_mnist
@pytest.mark.parametrize("task", ["mnist_count", "mnist_add"])
def test_solved_head_is_the_exact_running_sum_and_frozen(tmp_path, task):
    options = parse_args(_tiny_args(tmp_path, task, "--solved-head"))
    model = make_experiment(options).build_model()
    head = model.get_layer("head")
    assert not head.trainable and model.get_layer("encoder").trainable
    embeddings = np.random.default_rng(0).uniform(0, 9, (2, 6, head.input.shape[-1]))
    running = keras.ops.convert_to_numpy(head(embeddings.astype("float32")))
    assert_allclose(running, embeddings.sum(axis=1), rtol=1e-6)


@pytest.mark.slow
@pytest.mark.needs_mnist
def test_success_per_length_against_the_reference(tmp_path, monkeypatch):
    reference = {"mnist_add": {"classes": {"mse": {"3": [0.0, 1e-9]}}}}
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"reference": reference}))
    monkeypatch.setattr(thresholds, "REFERENCE_FILE", str(path))
    out = tmp_path / "run"
    assert main(_tiny_args(out, "mnist_add")) == 0
    results = json.loads((out / "results.json").read_text())
    short, long = results["eval"]
    # Length 1 has no threshold; a 12-step model is far off at length 3.
    assert "success" not in short and "success_threshold_mse" not in short
    assert long["success_threshold_mse"] < 1e-6 and long["success"] is False
    assert results["success"] is False


@pytest.mark.needs_mnist
def test_experiment_metrics_match_naive_targets(tmp_path):
    """`evaluate` scores exactly the test sequences `evaluation_arrays` gives."""
    options = parse_args(_tiny_args(tmp_path, "mnist_add", "--cell", "lstm"))
    experiment = make_experiment(options)
    model = experiment.build_model()
    entries = experiment.evaluate(model)
    images, labels = load_mnist(str(MNIST_DIR))["test"]
    seed = evaluation_seed(options.run.seed, 3)
    indices, targets = evaluation_arrays(images, labels, "mnist_add", 3, 20, seed)
    naive = model.predict(images[indices][..., None] / 255.0, verbose=0)
    if options.data.supervision == "every_step":
        naive = naive[:, -1]
    assert_allclose(entries[1]["mae"], np.mean(np.abs(naive - targets)), rtol=1e-4)


@pytest.mark.needs_mnist
def test_training_is_deterministic(tmp_path):
    args = _tiny_args(tmp_path, "mnist_add", "--steps", "3", "--train-length", "2")
    options = parse_args(args)
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(options.run.seed)
        experiment = make_experiment(options)
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
    options = parse_args(args)
    with pytest.raises(MNISTNotFoundError, match="NALU_MNIST_DIR"):
        make_experiment(options)


@pytest.mark.slow
@pytest.mark.needs_mnist
def test_train_py_same_seed_writes_the_same_metrics(tmp_path):
    # Data, initial weights, shuffling and (on TensorFlow) the ops are all
    # fixed by --seed: the whole results, bar the timing, are identical.
    results = []
    for name in ("a", "b"):
        args = _tiny_args(tmp_path / name, "mnist_add", "--steps", "4", "--seed", "7")
        assert main(args) == 0
        results.append(json.loads((tmp_path / name / "results.json").read_text()))
    assert results[0]["eval"] == results[1]["eval"]
    # (Layer names, in the hardening report, count up within one process.)
    first, second = (r["hardening"] for r in results)
    for key in ("validation_mae_before", "validation_mae_after"):
        assert first[key] == second[key]


@pytest.mark.needs_mnist
def test_lr_decay_follows_the_recipe_and_the_flag(tmp_path):
    # The MNIST recipe decays the rate; `--no-lr-decay` keeps it constant.
    for flags, decays in [((), True), (("--no-lr-decay",), False)]:
        options = parse_args(_tiny_args(tmp_path, "mnist_add", *flags))
        assert options.optim.lr_decay is decays
        experiment = make_experiment(options)
        model = experiment.build_model()
        experiment.compile(model)
        rate = model.optimizer.get_config()["learning_rate"]
        if decays:
            assert rate["class_name"] == "CosineDecay"
            assert rate["config"]["decay_steps"] == 12
            assert rate["config"]["alpha"] == 0.05
        else:
            assert float(rate) == pytest.approx(1e-3)
