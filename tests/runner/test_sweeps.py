"""Tests of `runner.sweeps`: many `train.py` runs from any working folder.
The experiments/ and bench/ scripts that use it are tested in tests/scripts."""

import json
import sys
from pathlib import Path

import pytest

from runner import sweeps
from tests.support.scripts import ROOT

# Slow (each run in a process of its own): TensorFlow only in CI.
pytestmark = pytest.mark.slow


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
