"""`experiments/nan_sweep.py`: many short runs, counting those that stop on
a non-finite loss."""

import json

import pytest

from nalu_rnn.callbacks import NonFiniteError
from runner import run as runner_run
from tests.support.scripts import load_script


@pytest.fixture(scope="module")
def nan_sweep():
    return load_script("experiments/nan_sweep.py")


def _sweep_args(out, seeds):
    return [
        "--tasks", "add-static", "--cells", "nac,nau", "--seeds", str(seeds),
        "--steps", "5", "--out", str(out),
        "--train-args", "--batch-size 8 --eval-sequences 16",
    ]  # fmt: skip


def _records(out):
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]


def test_sweep_records_every_run_and_resumes(nan_sweep, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert nan_sweep.main(_sweep_args(out, 1)) == 0
    first = _records(out)
    assert [(r["task"], r["cell"], r["seed"]) for r in first] == [
        ("add-static", "nac", 0),
        ("add-static", "nau", 0),
    ]
    assert all(r["status"] == "ok" and r["steps"] == 5 for r in first)
    # A longer sweep into the same folder runs only the seeds it lacks.
    assert nan_sweep.main(_sweep_args(out, 2)) == 0
    records = _records(out)
    assert records[:2] == first
    assert [(r["cell"], r["seed"]) for r in records[2:]] == [("nac", 1), ("nau", 1)]
    table = json.loads((out / "nan_sweep.json").read_text())["rows"]
    assert [(r["cell"], r["runs"], r["non_finite_stops"]) for r in table] == [
        ("nac", 2, 0),
        ("nau", 2, 0),
    ]
    assert "| add-static | nau | 2 | 0 | 0 | 5 |" in (out / "nan_sweep.md").read_text()
    assert "4 runs, 0 stopped on NaN/Inf" in capsys.readouterr().out


def test_sweep_counts_a_non_finite_stop_and_goes_on(nan_sweep, tmp_path, monkeypatch):
    real_run = runner_run.run

    def run(config, out_dir=None):
        if config.run.cell == "nac":
            raise NonFiniteError("Training stopped at step 3: the loss is nan.")
        return real_run(config, out_dir)

    monkeypatch.setattr(runner_run, "run", run)
    out = tmp_path / "sweep"
    assert nan_sweep.main(_sweep_args(out, 1)) == 0
    nac, nau = _records(out)
    assert nac["status"] == "non_finite" and "step 3" in nac["message"]
    assert nau["status"] == "ok"
    rows = json.loads((out / "nan_sweep.json").read_text())["rows"]
    assert [r["non_finite_stops"] for r in rows] == [1, 0]


@pytest.mark.parametrize("flag, name", [("--tasks", "mult"), ("--cells", "lsmt")])
def test_sweep_rejects_unknown_names(nan_sweep, tmp_path, capsys, flag, name):
    assert nan_sweep.main([flag, name, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"unknown {flag[2:-1]} {name!r}" in err[0]
    assert "valid:" in err[0]
    assert not (tmp_path / "x").exists()
