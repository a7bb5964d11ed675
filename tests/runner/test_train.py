"""Whole `train.py` runs through `runner.cli.main`: what a run writes, the
flags that change it, resuming, and the errors that exit with status 1 or 2
and one line."""

import json

import keras
import numpy as np
import pytest

import nalu_rnn
from runner.cli import main, parse_args
from runner.config import RunConfig
from runner.model_record import read_record
from tasks.arithmetic.data import ArithmeticTask
from tasks.arithmetic.experiment import ArithmeticExperiment
from tests.support.mnist_files import default_mnist_dir

RESULT_KEYS = {"task", "cell", "seed", "train_length", "train_seconds", "steps", "eval"}


def _quick(tmp_path, *extra, task="add", cell="nac", name="run"):
    out = tmp_path / name
    argv = [
        "--task", task, "--cell", cell, "--steps", "30", "--batch-size", "8",
        "--eval-sequences", "16", "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def _load(path):
    return json.loads(path.read_text())


def test_results_json_follows_the_spec(tmp_path):
    out = _quick(tmp_path)
    results = _load(out / "results.json")
    assert RESULT_KEYS <= set(results)
    assert results["task"] == "add" and results["cell"] == "nac"
    assert results["steps"] == 30 and results["train_length"] == 10
    assert set(results["versions"]) == {"keras", "backend", "nalu_rnn"}
    assert [e["length"] for e in results["eval"]] == [10, 100, 1000]
    assert [e["split"] for e in results["eval"]] == [
        "interpolation",
        "extrapolation",
        "extrapolation",
    ]
    for entry in results["eval"]:
        assert {"mse", "scaled_error", "success"} <= set(entry)
    assert isinstance(results["success"], bool)
    assert "hardening" in results
    assert results["readout_fold"] == {"folded": False}  # 30 steps: nothing exact
    assert (out / "model.keras").is_file()
    assert (out / "extrapolation.png").stat().st_size > 1000


def test_results_record_the_problem_the_config_and_raw_success(tmp_path):
    out = _quick(tmp_path, "--seed", "3")
    results = _load(out / "results.json")
    # The problem of seed 3, drawn from it.
    task = ArithmeticTask("add", subset_seed=3)
    assert results["problem"]["subset_a"] == task.subset_a.tolist()
    assert results["problem"]["subset_b"] == task.subset_b.tolist()
    assert results["problem"]["subset_seed"] == 3
    # Every option: the run repeats from the record alone.
    config = RunConfig.from_record(results["run_config"])
    assert config == parse_args(
        ["--task", "add", "--cell", "nac", "--steps", "30", "--batch-size", "8",
         "--eval-sequences", "16", "--out", str(out), "--quiet", "--seed", "3"]
    )  # fmt: skip
    # Success as trained beside success after hardening, overall and per set.
    assert isinstance(results["success_raw"], bool)
    for entry in results["eval"]:
        assert isinstance(entry["success_raw"], bool) and "mse_raw" in entry
    repeat = tmp_path / "repeat"
    assert main(["--task", "add", "--evaluate", str(out / "model.keras"),
                 "--out", str(repeat), "--quiet"]) == 0  # fmt: skip
    evaluated = _load(repeat / "results.json")
    # A loaded model is judged as it is: raw and hardened are one model.
    assert evaluated["success_raw"] == evaluated["success"]


def test_evaluate_reproduces_the_metrics(tmp_path):
    out = _quick(tmp_path, "--eval-lengths", "10,50")
    trained = _load(out / "results.json")
    again = _quick(
        tmp_path, "--eval-lengths", "10,50", "--evaluate", str(out / "model.keras"),
        name="evaluated",
    )  # fmt: skip
    evaluated = _load(again / "results.json")
    assert evaluated["steps"] == 0
    assert evaluated["evaluated_model"] == str(out / "model.keras")
    for a, b in zip(trained["eval"], evaluated["eval"], strict=True):
        assert a["length"] == b["length"]
        assert a["mse"] == pytest.approx(b["mse"], rel=1e-6)


def test_same_seed_same_metrics(tmp_path):
    first = _load(_quick(tmp_path, "--seed", "3", name="a") / "results.json")
    second = _load(_quick(tmp_path, "--seed", "3", name="b") / "results.json")
    assert [e["mse"] for e in first["eval"]] == [e["mse"] for e in second["eval"]]


def test_seeds_write_a_summary(tmp_path):
    out = _quick(tmp_path, "--seeds", "2", "--seed", "5", "--eval-lengths", "10,20")
    summary = _load(out / "summary.json")
    assert summary["seeds"] == [5, 6]
    assert 0.0 <= summary["success_rate"] <= 1.0
    assert len(summary["successes_raw"]) == 2 and "success_ci_raw" in summary
    assert [e["length"] for e in summary["eval"]] == [10, 20]
    assert "median_scaled_error" in summary["eval"][0]
    assert (out / "seed_5" / "results.json").is_file()
    assert (out / "seed_6" / "model.keras").is_file()


@pytest.mark.parametrize("cell", ["nalu", "lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_every_cell_runs(tmp_path, cell):
    results = _load(
        _quick(tmp_path, "--eval-lengths", "10,20", cell=cell) / "results.json"
    )
    assert results["cell"] == cell and len(results["eval"]) == 2


def test_static_variant(tmp_path):
    results = _load(
        _quick(tmp_path, "--static", task="mul", cell="nalu") / "results.json"
    )
    assert results["static"] is True
    assert [e["split"] for e in results["eval"]] == ["interpolation", "extrapolation"]
    assert results["eval"][1]["range"] == [2.0, 6.0]


def test_optimizer_flag_trains_saves_and_records_it(tmp_path):
    out = _quick(
        tmp_path, "--static", "--optimizer", "common_mode_adam", task="mul", cell="nmu"
    )
    assert _load(out / "results.json")["optimizer"] == "common_mode_adam"
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model.optimizer, nalu_rnn.optimizers.CommonModeAdam)
    assert _load(_quick(tmp_path, name="plain") / "results.json")["optimizer"] == "adam"


@pytest.mark.slow
def test_nac_learns_addition_that_extrapolates(tmp_path):
    # The default recipe (10k steps) on a fixed seed: exact after hardening,
    # so the error at length 1000 is far below 1% of an untrained model's.
    out = tmp_path / "nac"
    argv = ["--task", "add", "--cell", "nac", "--seed", "0",
            "--eval-sequences", "200", "--out", str(out), "--quiet"]  # fmt: skip
    main(argv)
    results = _load(out / "results.json")
    at_1000 = results["eval"][-1]
    assert at_1000["length"] == 1000
    assert at_1000["scaled_error"] < 1.0
    assert results["success"] is True


def test_evaluate_a_file_that_is_not_a_model_exits_2(tmp_path, capsys):
    junk = tmp_path / "junk.keras"
    junk.write_text("not a zip")
    argv = ["--task", "add", "--evaluate", str(junk), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Keras model file" in err[0] and str(junk) in err[0]


def test_mnist_without_data_exits_2_naming_both_ways(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--task", "mnist_add", "--data-dir", str(empty), "--steps", "2",
            "--out", str(tmp_path / "o"), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--data-dir" in err[0] and "NALU_MNIST_DIR" in err[0]
    assert "tensorflow-datasets" in err[0]


def test_refuses_to_overwrite_a_finished_run_unless_forced(tmp_path, capsys):
    out = _quick(tmp_path, "--eval-lengths", "10")
    argv = ["--task", "add", "--steps", "30", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert main(argv + ["--eval-lengths", "10", "--force"]) == 0


class _Interrupt(Exception):
    pass


# Not marked slow: resuming exactly is backend code, so every backend runs it.
def test_an_interrupted_run_resumes_and_ends_like_an_uninterrupted_one(
    tmp_path, capsys
):
    argv = ["--task", "add", "--cell", "nac", "--steps", "2000", "--quiet",
            "--eval-sequences", "32", "--eval-lengths", "10,100"]  # fmt: skip
    assert main(argv + ["--out", str(tmp_path / "whole")]) == 0
    whole = _load(tmp_path / "whole" / "results.json")

    class DiesAfterFirstEpoch(ArithmeticExperiment):
        def callbacks(self, epochs):
            def die(epoch, logs):
                if epoch == 1:
                    raise _Interrupt  # stands in for SIGKILL after a checkpoint

            crash = keras.callbacks.LambdaCallback(on_epoch_begin=die)
            return super().callbacks(epochs) + [crash]

    out = tmp_path / "resumed"
    with pytest.raises(_Interrupt):
        main(argv + ["--out", str(out)], experiment=DiesAfterFirstEpoch)
    assert not (out / "results.json").exists()
    assert main([a for a in argv if a != "--quiet"] + ["--out", str(out)]) == 0
    assert "Resuming from the checkpoint" in capsys.readouterr().out
    resumed = _load(out / "results.json")
    # The resumed run restarts the stream of random batches (and Keras's
    # shuffling of their order), so it is not bit-identical; mid-training
    # (2000 steps) both are still noisy, so the bound is a factor of 5 on
    # the interpolation error, both trained.
    a, b = resumed["eval"][0]["mse"], whole["eval"][0]["mse"]
    assert b / 5 < a < 5 * b
    assert resumed["eval"][0]["scaled_error"] < 1.0
    assert resumed["steps"] == whole["steps"]
    assert not (out / "backup").exists()


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        ArithmeticTask, "targets", lambda self, x: np.full((len(x), 1), np.nan, "f4")
    )
    out = tmp_path / "nan"
    argv = ["--task", "add", "--steps", "60", "--out", str(out), "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Training stopped at step 25" in err and "--clipnorm" in err
    assert not (out / "results.json").exists()


def test_seeds_keep_finished_seeds_when_rerun(tmp_path, capsys):
    out = _quick(tmp_path, "--seeds", "2", "--eval-lengths", "10")
    (out / "summary.json").unlink()  # as if killed before the summary
    first = _load(out / "seed_0" / "results.json")
    argv = ["--task", "add", "--steps", "30", "--batch-size", "8", "--seeds", "2",
            "--eval-sequences", "16", "--eval-lengths", "10",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "Seed 0 already finished" in capsys.readouterr().out
    assert _load(out / "seed_0" / "results.json") == first
    assert _load(out / "summary.json")["seeds"] == [0, 1]


# A saved model knows what it was trained for; what does not fit exits 2.


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """A recurrent and a static `add` model and an `mnist_count` model."""
    root = tmp_path_factory.mktemp("saved")
    small = ["--steps", "4", "--batch-size", "4", "--eval-sequences", "8", "--quiet"]
    models = {}
    for name, argv in {
        "add": ["--task", "add", "--eval-lengths", "10"],
        "add_static": ["--task", "add", "--static", "--eval-lengths", "10"],
        "count": ["--task", "mnist_count", "--train-length", "2"]
        + ["--eval-lengths", "2", "--data-dir", str(default_mnist_dir())],
    }.items():
        assert main([*argv, *small, "--out", str(root / name)]) == 0
        models[name] = root / name / "model.keras"
    return models


def test_saved_model_records_its_task(saved_models):
    record = read_record(saved_models["add_static"])
    assert record["task"] == "add" and record["static"] is True
    assert record["input_shape"] == [100] and record["output_size"] == 1
    assert read_record(saved_models["count"])["input_shape"] == [None, 28, 28, 1]


def test_evaluate_without_task_uses_the_recorded_one(saved_models, tmp_path):
    out = tmp_path / "eval"
    argv = ["--evaluate", str(saved_models["add_static"]), "--out", str(out)]
    assert main([*argv, "--eval-sequences", "8", "--quiet"]) == 0
    results = _load(out / "results.json")
    assert results["task"] == "add" and results["static"] is True


@pytest.mark.parametrize(
    "model, task, words",
    [
        ("count", ["--task", "mnist_add"], ["10 outputs", "mnist_count", "1 output"]),
        ("count", ["--task", "add"], ["(any, 28, 28, 1)", "(any, 10)"]),
        ("add", ["--task", "mnist_add"], ["(any, 10)", "(any, 28, 28, 1)"]),
        ("add", ["--task", "add", "--static"], ["(any, 10)", "(100)"]),
    ],
)
def test_evaluate_on_a_task_that_does_not_fit_exits_2(
    saved_models, tmp_path, capsys, model, task, words
):
    out = tmp_path / "eval"
    argv = [*task, "--evaluate", str(saved_models[model]), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(saved_models[model]) in err[0]
    assert all(word in err[0] for word in words), err[0]
    assert not (out / "results.json").exists()


def test_evaluate_a_model_without_record_needs_a_task(saved_models, tmp_path, capsys):
    import zipfile

    old = tmp_path / "old.keras"
    with zipfile.ZipFile(saved_models["add"]) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.namelist():
            if item != "nalu_rnn_task.json":
                dst.writestr(item, src.read(item))
    with pytest.raises(SystemExit) as stop:
        main(["--evaluate", str(old)])
    assert stop.value.code == 2
    assert "does not record the task" in capsys.readouterr().err
    # With the task given, a model saved before records still evaluates.
    argv = ["--task", "add", "--evaluate", str(old), "--out", str(tmp_path / "e")]
    assert main([*argv, "--eval-sequences", "8", "--quiet"]) == 0


@pytest.mark.parametrize("kind", ["under_a_file", "unwritable"])
def test_out_that_cannot_be_created_exits_2(tmp_path, capsys, kind):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "run" if kind == "under_a_file" else "/proc/nalu_rnn_nope"
    argv = ["--task", "add", "--steps", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "cannot create" in err[0]


def test_evaluate_a_folder_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--task", "add", "--evaluate", str(tmp_path)])
    assert stop.value.code == 2
    assert "is a folder" in capsys.readouterr().err


def test_evaluate_a_model_keras_refuses_in_safe_mode_exits_2(tmp_path, capsys):
    model = keras.Sequential(
        [keras.Input((None, 10)), keras.layers.Lambda(lambda x: x[:, -1, :1])]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    argv = ["--task", "add", "--evaluate", str(path), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "safe mode stays on" in err[0] and str(path) in err[0]


def test_mnist_folder_with_three_of_four_files_exits_2(tmp_path, capsys):
    mnist_dir = default_mnist_dir()
    partial = tmp_path / "partial"
    partial.mkdir()
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    for name in (*names, "t10k-images-idx3-ubyte"):
        source = next(mnist_dir.resolve().glob(f"{name}*"), None)
        if source is None:
            pytest.skip(f"no MNIST files in {mnist_dir}")
        (partial / source.name).symlink_to(source)
    argv = ["--task", "mnist_count", "--data-dir", str(partial), "--steps", "1"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "t10k-labels-idx1-ubyte" in err[0]
    assert not (tmp_path / "o" / "results.json").exists()


def test_evaluation_too_large_for_memory_exits_2_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--task", "add", "--eval-lengths", "10,100000000", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--eval-sequences" in err[0] and "GiB" in err[0]
    assert not out.exists()


def test_toy_unit_trains_through_the_cli(selector_cell, tmp_path):
    out = tmp_path / "run"
    argv = ["--task", "add", "--cell", selector_cell, "--steps", "30"]
    argv += ["--eval-lengths", "10,100", "--eval-sequences", "16"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["cell"] == "selector"
    assert "recurrent (SelectorCell):" in results["formula"]
    assert [entry["length"] for entry in results["eval"]] == [10, 100]


def test_select_best_interpolation_is_recorded(tmp_path):
    out = _quick(tmp_path, "--select", "best-interpolation", "--validate-every", "10")
    selection = _load(out / "results.json")["selection"]
    assert selection["rule"] == "best-interpolation" and selection["every"] == 10
    assert selection["step"] in (10, 20, 30)
    last = _load(_quick(tmp_path, name="last") / "results.json")["selection"]
    assert last == {"rule": "last"}


def test_a_single_layer_run_records_its_model_and_evaluates_from_it(tmp_path):
    out = _quick(
        tmp_path, "--static", "--single-layer", "--validate-every", "10",
        "--train-range=-2,-1", "--extrapolation-range=-6,-2", task="div",
        cell="nalu",
    )  # fmt: skip
    results = _load(out / "results.json")
    assert results["run_config"]["model"]["single_layer"] is True
    assert results["problem"]["input_size"] == 2
    assert results["selection"]["rule"] == "best-interpolation"
    assert "hardening" not in results  # the benchmark judges the weights as trained
    assert read_record(out / "model.keras")["single_layer"] is True
    model = keras.models.load_model(out / "model.keras")
    (unit,) = model.layers[1:]
    assert isinstance(unit, nalu_rnn.NALU) and unit.sign_correction
    evaluation = tmp_path / "evaluation"
    argv = ["--evaluate", str(out / "model.keras"), "--out", str(evaluation)]
    assert main([*argv, "--eval-sequences", "16", "--quiet"]) == 0
    again = _load(evaluation / "results.json")
    assert again["run_config"]["model"]["single_layer"] is True
