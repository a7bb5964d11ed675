"""`experiments/mnist_table.py`: the MNIST table from the runs' summaries."""

import argparse
import json

import pytest

from tests.support.scripts import load_script

# Slow (a script): TensorFlow only in CI.
pytestmark = pytest.mark.slow


def test_mnist_table_reports_success_per_length(tmp_path):
    table = load_script("experiments/mnist_table.py")

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


def test_mnist_table_passes_the_first_seed_to_every_run(tmp_path):
    table = load_script("experiments/mnist_table.py")
    args = argparse.Namespace(seeds=10, seed=500, steps=None, out=tmp_path)
    rows = table.select_rows("nac")
    ((out, flags),) = table.sweep_runs(["mnist_count"], rows, args, ["--quiet"])
    assert out == tmp_path / "mnist_count-nac"
    assert flags[flags.index("--seeds") + 1] == "10"
    assert flags[flags.index("--seed") + 1] == "500"


def test_mnist_table_runs_the_linear_encoder_row_on_counting_only(tmp_path):
    # Addition's own encoder is already linear: its `nac_linear` pair would
    # repeat the `nac` one.
    table = load_script("experiments/mnist_table.py")
    args = argparse.Namespace(seeds=None, seed=None, steps=None, out=tmp_path)
    rows = table.select_rows("nac,nac_linear")
    runs = table.sweep_runs(list(table.TASKS), rows, args, [])
    assert [out.name for out, _ in runs] == [
        "mnist_count-nac",
        "mnist_count-nac_linear",
        "mnist_add-nac",
    ]
    ((_, flags),) = [run for run in runs if run[0].name.endswith("nac_linear")]
    assert flags[flags.index("--encoder") + 1] == "linear"
