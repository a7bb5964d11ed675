"""Tests of `runner.sweeps` and of the experiments/ and bench/ scripts that
use it: they run from any working folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import sweeps
from runner.config import RunConfig

# Slow (each script in a process of its own): TensorFlow only in CI.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [
    "experiments/div_probes.py",
    "experiments/mnist_table.py",
    "experiments/nalu_ablation.py",
    "experiments/nan_sweep.py",
    "experiments/recurrent_table.py",
    "experiments/success_rate.py",
    "bench/cells.py",
    "bench/mnist.py",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_from_another_folder(script, tmp_path):
    # `runner` and `tasks` as the editable install provides them, whichever
    # checkout it points at: the script itself must not need the folder.
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_train_command_finds_train_py_of_this_checkout():
    command = sweeps.train_command(["--task", "add"])
    assert command[0] == sys.executable
    assert Path(command[1]) == ROOT / "train.py"
    assert command[2:] == ["--task", "add"]


def test_run_sweep_trains_what_is_missing_from_any_folder(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    flags = ["--task", "add", "--static", "--cell", "nau", "--seeds", "1",
             "--steps", "5", "--batch-size", "8", "--eval-sequences", "16",
             "--quiet"]  # fmt: skip
    done = tmp_path / "done"
    done.mkdir()
    (done / "summary.json").write_text("{}")
    sweeps.run_sweep([(tmp_path / "new", flags), (done, flags)])
    summary = json.loads((tmp_path / "new" / "summary.json").read_text())
    assert summary["seeds"] == [0] and summary["task"] == "add"
    # A finished run is kept, not trained again.
    assert (done / "summary.json").read_text() == "{}"
    assert str(done) not in capsys.readouterr().out


def test_run_sweep_names_a_failed_run():
    with pytest.raises(SystemExit, match="failed"):
        sweeps.run_sweep([("unused", ["--task", "no_such_task"])])
    with pytest.raises(SystemExit, match="--jobs must be >= 1"):
        sweeps.run_sweep([], jobs=0)


def _load_script(relative):
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mnist_table_reports_success_per_length(tmp_path):
    table = _load_script("experiments/mnist_table.py")

    def write(row, lengths, successes):
        entries = []
        for n, ok in zip(lengths, successes, strict=True):
            entry = {"length": n, "median_mae": 1.0, "median_relative_error": 0.5}
            if ok is not None:
                entry["successes"] = ok
            entries.append(entry)
        folder = tmp_path / f"mnist_add-{row}"
        folder.mkdir()
        summary = {"eval": entries, "seeds": [0, 1], "median_train_seconds": 3.0}
        summary["versions"] = {"backend": "jax" if row == "lstm" else "tensorflow"}
        (folder / "summary.json").write_text(json.dumps(summary))

    write("nac", (1, 10), ([True, True], [True, False]))
    write("lstm", (1, 10), (None, [False, False]))
    rows = table.select_rows("lstm,nac")
    assert [row.name for row in rows] == ["nac", "lstm"]  # the table's order
    text = table.tables(tmp_path, rows)
    nac_line = next(line for line in text.splitlines() if "NAC" in line)
    lstm_line = next(line for line in text.splitlines() if "LSTM" in line)
    assert "| 2/2 | 1/2 | 2 | tensorflow |" in nac_line
    assert "| - | 0/2 | 2 | jax |" in lstm_line
    with pytest.raises(SystemExit, match="unknown row"):
        table.select_rows("nac,transformer")


def test_nalu_ablation_variants_train_and_fold_only_where_they_may(tmp_path):
    nalu_ablation = _load_script("experiments/nalu_ablation.py")
    out = tmp_path / "ablation"
    argv = ["--variants", "no_fold,readout_gate_half", "--ops", "sub"]
    nalu_ablation.main([*argv, "--seeds", "1", "--steps", "30", "--out", str(out)])
    table = (out / "nalu_ablation.md").read_text()
    assert "| no_fold | sub |" in table and "| readout_gate_half | sub |" in table
    # Every variant trains with the NALU's own recipe.
    variant = RunConfig.for_task("sub", cell="nalu_no_fold")
    nalu = RunConfig.for_task("sub", cell="nalu")
    for field in ("learning_rate", "batch_size", "steps"):
        assert getattr(variant, field) == getattr(nalu, field)
    unfolded = nalu_ablation.UnfoldedNALU(1, gate="unit")
    unfolded.build((None, 2))
    unfolded.G.assign([1000.0])  # additive alone, yet reported as not linear
    assert unfolded.exact_linear_weight() is None


def test_div_probes_curriculum_stages_by_step():
    from tasks.arithmetic import ArithmeticTask

    batches = _load_script("experiments/div_probes.py").curriculum_batches()(
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
