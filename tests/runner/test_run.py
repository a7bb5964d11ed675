"""Tests of `runner.run`: one seed (`run`) and several (`run_seeds`), with the
task's registered experiment or a probe's own."""

import json

import pytest

from runner.cli import main
from runner.config import RunConfig
from runner.run import run, run_seeds
from tasks.arithmetic.experiment import ArithmeticExperiment


def _tiny(**changes):
    return RunConfig.for_task(
        "add",
        cell="nau",
        static=True,
        eval_lengths=(10,),
        eval_sequences=8,
        steps=2,
        batch_size=8,
        learning_rate=0.01,
        sparsity=0.0,
        harden=False,
        **changes,
    )


def test_run_stores_and_prints_the_formula(tmp_path, capsys):
    config = RunConfig.for_task(
        "add",
        cell="nau",
        static=True,
        eval_lengths=(10,),
        eval_sequences=8,
        steps=2,
        batch_size=8,
        learning_rate=0.01,
        sparsity=0.0,
        harden=False,
    )
    results = run(config, tmp_path)
    assert results["formula"].startswith("nau")
    assert "  y = " in results["formula"]
    assert results["formula"] in capsys.readouterr().out


def _static_run(tmp_path, *extra):
    out = tmp_path / "run"
    argv = [
        "--task", "add", "--static", "--cell", "nau", "--steps", "40",
        "--batch-size", "16", "--eval-sequences", "32", "--check-every", "10",
        "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip
    assert main(argv) == 0
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


def test_run_and_run_seeds_take_a_probes_experiment(tmp_path):
    made = []

    class Probe(ArithmeticExperiment):
        def __init__(self, config, spec):
            super().__init__(config, spec)
            made.append(config.run.seed)

        def after_training(self, model):
            return {**super().after_training(model), "probe": self.config.run.seed}

    results = run(_tiny(quiet=True), tmp_path / "one", experiment=Probe)
    assert made == [0] and results["probe"] == 0
    summary = run_seeds(_tiny(seeds=2, seed=3, quiet=True), tmp_path / "two", Probe)
    assert made == [0, 3, 4] and summary["seeds"] == [3, 4]
    for seed in (3, 4):
        path = tmp_path / "two" / f"seed_{seed}" / "results.json"
        assert json.loads(path.read_text())["probe"] == seed
    # Without one: the task family's own experiment.
    assert "probe" not in run(_tiny(quiet=True), tmp_path / "plain")
