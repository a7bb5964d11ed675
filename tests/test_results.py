"""Tests of `runner.results`: the table formatter and the JSON writer."""

import json
import math

from runner.config import RunConfig
from runner.results import table, write_json
from runner.run import run


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
