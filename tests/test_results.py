"""Tests of `runner.results`: the table formatter and the JSON writer."""

import json
import math

from runner.results import table, write_json


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
