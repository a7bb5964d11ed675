"""`experiments/div_probes.py`: the probes of the NALU's div failures, each an
arithmetic experiment with one hook overridden."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tasks.arithmetic.data import ArithmeticTask
from tests.support.scripts import ROOT, load_script

# Slow (scripts, some in a process of their own): TensorFlow only in CI.
pytestmark = pytest.mark.slow


def test_div_probes_curriculum_stages_by_step():
    div_probes = load_script("experiments/div_probes.py")
    batches = div_probes.CurriculumBatches(
        ArithmeticTask("div"), 10, 4, 100, 0, stage_steps=20
    )
    steps = [0, 19, 20, 40, 59, 60, 99]
    assert [batches.length_at(s) for s in steps] == [1, 1, 2, 5, 5, 10, 10]
    assert batches[0][0].shape == (4, 1, 10)
    batches.on_epoch_end()  # epoch 1 starts at step 100: the task's length
    assert batches[0][0].shape == (4, 10, 10)


@pytest.mark.parametrize("probe", ["trace", "curriculum", "nonnegative"])
def test_div_probe_trains(probe, tmp_path):
    every = ["--every", "10"] if probe == "trace" else []
    flags = ["--task", "div", "--steps", "20", "--batch-size", "8",
             "--eval-sequences", "16", "--eval-lengths", "10,20", "--quiet",
             "--out", str(tmp_path)]  # fmt: skip
    script = str(ROOT / "experiments/div_probes.py")
    result = subprocess.run(
        [sys.executable, script, probe, *every, *flags],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "results.json").read_text())["task"] == "div"
    assert ("--- step 10," in result.stdout) == (probe == "trace")


def test_probes_are_experiments_with_one_hook_changed():
    from runner.config import RunConfig
    from tasks import curriculum
    from tasks.arithmetic.experiment import ArithmeticExperiment
    from tasks.registry import make_experiment

    div_probes = load_script("experiments/div_probes.py")
    config = RunConfig.for_task("div", steps=2000, batch_size=4, eval_sequences=16)
    for probe in (div_probes.tracing(10), div_probes.Curriculum):
        assert issubclass(probe, ArithmeticExperiment)
    curriculum_probe = make_experiment(config, div_probes.Curriculum)
    data, epochs, steps_per_epoch = curriculum_probe.training_data()
    assert isinstance(data, div_probes.CurriculumBatches)
    assert (epochs, steps_per_epoch) == (2, 1000)
    assert data.stage_steps == curriculum.stage_steps(10, 2000) == 133
    assert [data.length_at(step) for step in (0, 133, 266, 399)] == [1, 2, 5, 10]
    # The trace prints its formula first, then the recipe's callbacks follow.
    traced = make_experiment(config, div_probes.tracing(10)).callbacks(epochs=2)
    assert isinstance(traced[0], div_probes.PrintFormula) and traced[0].every == 10
    # Non-negative input rows of the cell's raw kernels; the state block as
    # the recipe starts it.
    nonnegative = make_experiment(config, div_probes.Nonnegative)
    start = nonnegative.cell_start()["kernel_initializer"]
    kernel = keras.ops.convert_to_numpy(start((12, 2)))
    assert np.all(kernel[:10] >= 0.0) and np.all(kernel[:10] <= 0.65)
    assert np.all(np.diag(kernel[10:]) == 3.0)
