"""Tests of `runner.results`: the table formatter, the JSON writer, the
summary over seeds and the plot."""

import json
import math

import pytest

from runner.results import command_line, plot_errors, summarize, table, write_json
from tasks.success import wilson_interval


def test_table_plain_aligns_columns():
    text = table(["a", "bbb"], [["10", "x"], ["1", "yyyy"]])
    assert text.splitlines() == [
        "a  | bbb ",
        "---+-----",
        "10 | x   ",
        "1  | yyyy",
    ]


def test_table_markdown():
    text = table(["op", "rate"], [["add", "1/2"]], markdown=True)
    assert text.splitlines() == ["| op | rate |", "|---|---|", "| add | 1/2 |"]


def test_write_json_writes_non_finite_as_null(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"mse": math.inf, "eval": [{"mae": math.nan, "n": 1}]})
    written = json.loads(path.read_text())
    assert written == {"mse": None, "eval": [{"mae": None, "n": 1}]}
    assert not (tmp_path / "r.json.tmp").exists()


def test_summary_medians_treat_diverged_seeds_as_infinite():
    def result(seed, error, success):
        entry = {"length": 10, "split": "extrapolation", "mse": error}
        entry["scaled_error"] = None if error is None else 100 * error
        return {"task": "add", "cell": "nac", "seed": seed, "train_seconds": 1.0,
                "eval": [entry], "versions": {}, "success": success}  # fmt: skip

    summary = summarize(
        [result(0, None, False), result(1, 2.0, True), result(2, 1.0, True)]
    )
    row = summary["eval"][0]
    assert row["median_mse"] == 2.0 and row["median_scaled_error"] == 200.0
    assert summary["success_rate"] == pytest.approx(2 / 3)
    diverged = summarize([result(0, None, False), result(1, None, False)])
    assert diverged["eval"][0]["median_scaled_error"] is None


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


def test_plot_survives_every_error_diverging(tmp_path):
    diverged = [{"length": 10, "mse": None}, {"length": 100, "mse": None}]
    results = {"task": "div", "cell": "nalu", "seed": 0, "static": False}
    results["eval"] = diverged
    plot_errors([results], tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_a_command_line_reruns_its_script_on_its_backend(monkeypatch):
    argv = ["--cells", "nac", "--out", "my results.json"]
    assert command_line("bench/cells.py", argv) == (
        "python bench/cells.py --cells nac --out 'my results.json'"
    )
    assert command_line("bench/cells.py", [], "tensorflow") == "python bench/cells.py"
    assert command_line("bench/mnist.py", ["--time-to-target"], "jax") == (
        "KERAS_BACKEND=jax python bench/mnist.py --time-to-target"
    )
    # No argv: the process's own arguments.
    monkeypatch.setattr("sys.argv", ["cells.py", "--units", "8"])
    assert command_line("bench/cells.py") == "python bench/cells.py --units 8"
