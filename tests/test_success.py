import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import nalu_rnn
import train
from runner.config import STATIC_RECIPES
from runner.results import summarize
from runner.success import (
    SolvedStepMonitor,
    reference_threshold,
    sparsity_error,
    student_t_quantile,
    wilson_interval,
)
from tasks import mnist_thresholds
from tasks.arithmetic import ArithmeticTask
from tests.arrays import assert_allclose

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "successes, trials, expected",
    [
        # Values from the closed form, checked against statsmodels'
        # proportion_confint(method="wilson").
        (10, 10, (0.7225, 1.0)),
        (9, 10, (0.5958, 0.9821)),
        (0, 10, (0.0, 0.2775)),
        (5, 10, (0.2366, 0.7634)),
        (98, 100, (0.9300, 0.9945)),
    ],
)
def test_wilson_interval_known_values(successes, trials, expected):
    low, high = wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=1e-4)
    assert high == pytest.approx(expected[1], abs=1e-4)


@pytest.mark.parametrize("successes, trials", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(successes, trials):
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, trials)


def _exact_static_model(op="add", offset=0.0):
    """NAU(2) -> NAU(1) holding the exact solution of the static task."""
    task = ArithmeticTask(op, static=True)
    w1 = np.zeros((task.input_dim, 2), "float32")
    w1[task.subset_a, 0] = 1.0
    w1[task.subset_b, 1] = 1.0
    w1[0, 0] += offset
    model = nalu_rnn.models.arithmetic_model("nau", task.input_dim, 2, static=True)
    model.layers[1].W.assign(w1)
    model.layers[2].W.assign(np.array([[1.0], [1.0 if op == "add" else -1.0]]))
    return task, model


def test_sparsity_error_is_the_largest_distance_to_a_discrete_value():
    _, model = _exact_static_model()
    assert sparsity_error(model) == 0.0
    # 0.3 is 0.3 from 0; a weight of 1.3 (outside a NAU's range) is 0.3 from 1.
    model.layers[1].W.assign(np.full((100, 2), 0.3, "float32"))
    assert sparsity_error(model) == pytest.approx(0.3)
    model.layers[2].W.assign(np.array([[0.55], [1.0]], "float32"))
    assert sparsity_error(model) == pytest.approx(0.45)
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert sparsity_error(dense) is None


def _monitor_fit(model, task, every, steps):
    rng = np.random.default_rng(0)
    x, y = task.sample(64, 1, task.extrapolation_range, rng)
    monitor = SolvedStepMonitor([(x, y, task.perturbed_solution_mse(x))], every=every)
    # A zero learning rate keeps the weights, so the answer is known.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    xt, yt = task.sample(steps * 8, 1, task.train_range, rng)
    model.fit(xt, yt, batch_size=8, epochs=1, callbacks=[monitor], verbose=0)
    return monitor


def test_solved_step_monitor_records_the_first_check_that_passes():
    task, model = _exact_static_model("sub")
    monitor = _monitor_fit(model, task, every=3, steps=10)
    assert monitor.step == 10
    assert monitor.solved_step == 3


def test_solved_step_monitor_leaves_an_unsolved_run_at_none():
    task, model = _exact_static_model("add", offset=0.01)
    monitor = _monitor_fit(model, task, every=3, steps=10)
    assert monitor.solved_step is None


def _static_run(tmp_path, *extra):
    out = tmp_path / "run"
    argv = [
        "--task", "add", "--static", "--cell", "nau", "--steps", "40",
        "--batch-size", "16", "--eval-sequences", "32", "--check-every", "10",
        "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip
    assert train.main(argv) == 0
    return out


def test_results_and_summary_hold_the_success_measures(tmp_path):
    out = _static_run(tmp_path, "--seeds", "2")
    for seed in (0, 1):
        results = json.loads((out / f"seed_{seed}" / "results.json").read_text())
        assert {"success", "solved_step", "sparsity_error"} <= set(results)
        assert 0.0 <= results["sparsity_error"] <= 0.5
        # 40 steps cannot solve the task: no solved step.
        assert results["success"] is False and results["solved_step"] is None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == 0.0
    assert summary["success_ci"] == pytest.approx([0.0, 0.6576], abs=1e-4)
    # Medians are over solved seeds only: none here.
    assert summary["median_solved_step"] is None
    assert summary["median_sparsity_error"] is None
    assert {"seeds", "successes", "eval", "median_train_seconds"} <= set(summary)


def test_summary_medians_over_the_solved_seeds():
    def result(seed, success, step, error):
        return {
            "task": "add", "cell": "nau", "seed": seed, "train_seconds": 1.0,
            "eval": [{"length": 1, "split": "extrapolation", "mse": 0.0}],
            "versions": {}, "success": success, "solved_step": step,
            "sparsity_error": error,
        }  # fmt: skip

    summary = summarize(
        [
            result(0, True, 300, 0.0),
            result(1, True, 500, 0.1),
            result(2, True, 900, 0.2),
            result(3, False, None, 0.5),
        ]
    )
    assert summary["success_rate"] == 0.75
    assert summary["success_ci"] == pytest.approx(list(wilson_interval(3, 4)))
    assert summary["median_solved_step"] == 500
    assert summary["median_sparsity_error"] == pytest.approx(0.1)


def test_static_recipe_fills_defaults_and_flags_win():
    options = train.parse_args(["--task", "mul", "--static", "--cell", "nmu"])
    recipe = STATIC_RECIPES["nmu"]
    for key, value in recipe.values.items():
        assert getattr(options, key) == value
    assert options.optimizer == "common_mode_adam"
    options = train.parse_args(
        ["--task", "mul", "--static", "--cell", "nmu", "--optimizer", "adam"]
    )
    assert options.optimizer == "adam"
    options = train.parse_args(
        ["--task", "add", "--static", "--cell", "nau", "--steps", "7", "--no-lr-decay"]
    )
    assert options.steps == 7 and options.lr_decay is False
    assert options.sparsity == STATIC_RECIPES["nau"].values["sparsity"]
    # The recurrent task keeps the general defaults.
    options = train.parse_args(["--task", "add", "--cell", "nau"])
    assert options.sparsity == 0.05 and options.sparsity_end is None
    assert options.lr_decay is False and options.optimizer == "adam"


def test_sparsity_warmup_stop_step_switches_the_pull_off():
    reg = nalu_rnn.SparsityRegularizer(0.0)
    callback = nalu_rnn.callbacks.SparsityWarmup(
        reg, 1.0, start_step=0, end_step=2, stop_step=3
    )
    values = [callback.strength_at_step(t) for t in range(5)]
    assert_allclose(values, [0.0, 0.5, 1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="stop_step"):
        nalu_rnn.callbacks.SparsityWarmup(
            reg, 1.0, start_step=0, end_step=4, stop_step=2
        )


@pytest.mark.slow
def test_success_rate_script_writes_its_table(tmp_path):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import success_rate
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    out = tmp_path / "table"
    rows = success_rate.main(
        [
            "--tasks", "static", "--ops", "add,mul", "--units", "nau,nac",
            "--seeds", "2", "--steps", "20", "--out", str(out), "--jobs", "2",
            "--train-args", "--batch-size 8 --eval-sequences 16",
        ]
    )  # fmt: skip
    # Each unit runs only the ops it computes (neither multiplies), in
    # table order even when trained in parallel.
    assert [(r["op"], r["unit"]) for r in rows] == [("add", "nau"), ("add", "nac")]
    row = rows[0]
    assert (row["task"], row["op"], row["unit"]) == ("static", "add", "nau")
    assert row["seeds"] == [0, 1] and row["steps"] == 20
    assert row["successes"] == 0 and row["success_ci"][0] == 0.0
    table = json.loads((out / "success_rate.json").read_text())
    assert table["rows"][0]["success_ci"] == pytest.approx(row["success_ci"])
    markdown = (out / "success_rate.md").read_text()
    assert "| static | add | NAU | 20 | 0/2 |" in markdown
    assert (out / "static" / "add-nau" / "summary.json").is_file()
    with pytest.raises(SystemExit, match="--jobs must be >= 1"):
        success_rate.main(["--jobs", "0", "--out", str(out)])


@pytest.mark.parametrize(
    "p, df, expected",
    # Student-t tables.
    [(0.99, 9, 2.821438), (0.975, 4, 2.776445), (0.99, 4, 3.746947),
     (0.999, 1, 318.3088), (0.5, 3, 0.0)],
)  # fmt: skip
def test_student_t_quantile_known_values(p, df, expected):
    assert student_t_quantile(p, df) == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_reference_threshold_is_the_upper_confidence_bound():
    errors = [1.0, 2.0, 3.0, 4.0, 5.0]
    expected = 3.0 + 3.746947 * np.std(errors, ddof=1) / np.sqrt(5)
    assert reference_threshold(errors) == pytest.approx(expected, rel=1e-6)
    for bad in ([1.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="two or more finite"):
            reference_threshold(bad)


def test_mnist_thresholds_come_from_the_reference_file(tmp_path):
    path = tmp_path / "reference.json"
    mse = {"1": [0.1, 0.2, 0.3], "10": [1.0, 1.5, 2.0]}
    reference = {"mnist_add": {"classes": {"steps": 5, "seeds": [0, 1, 2], "mse": mse}}}
    path.write_text(json.dumps({"reference": reference}))
    found = mnist_thresholds.thresholds("mnist_add", "classes", path=str(path))
    assert found == {
        1: pytest.approx(reference_threshold(mse["1"])),
        10: pytest.approx(reference_threshold(mse["10"])),
    }
    # An encoder without its own reference meets the default encoder's bar.
    assert mnist_thresholds.thresholds("mnist_add", "linear", path=str(path)) == found
    assert mnist_thresholds.reference_encoder("mnist_add", "linear", str(path)) == (
        "classes"
    )
    linear = {"linear": {"mse": {"1": [1.0, 2.0]}}}
    reference["mnist_add"].update(linear)
    path.write_text(json.dumps({"reference": reference}))
    assert set(mnist_thresholds.thresholds("mnist_add", "linear", str(path))) == {1}
    assert mnist_thresholds.thresholds("mnist_count", "classes", str(path)) == {}
    assert mnist_thresholds.thresholds("mnist_add", "classes", str(tmp_path)) == {}


def test_summary_rates_a_per_length_criterion():
    def result(seed, successes):
        return {
            "task": "mnist_add", "cell": "nac", "seed": seed, "train_seconds": 1.0,
            "eval": [
                {"length": n, "split": "extrapolation", "mse": 0.0, "success": ok}
                for n, ok in zip((1, 1000), successes, strict=True)
            ],
            "versions": {}, "success": all(successes),
        }  # fmt: skip

    summary = summarize([result(0, (True, True)), result(1, (True, False))])
    short, long = summary["eval"]
    assert short["successes"] == [True, True] and short["success_rate"] == 1.0
    assert long["success_rate"] == 0.5
    assert long["success_ci"] == pytest.approx(list(wilson_interval(1, 2)))
    assert summary["success_rate"] == 0.5
