"""`experiments/success_rate.py`: success rates over seeds, as a table."""

import json

import keras
import pytest

from tests.support.scripts import load_script


@pytest.mark.slow
def test_success_rate_script_writes_its_table(tmp_path):
    success_rate = load_script("experiments/success_rate.py")
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
    # On JAX the seeds of a pair trained as one program (train.py --vectorize).
    seed = json.loads(
        (out / "static" / "add-nau" / "seed_1" / "results.json").read_text()
    )
    assert seed["run_config"]["infra"]["vectorize"] is (
        keras.backend.backend() == "jax"
    )
    with pytest.raises(SystemExit, match="--jobs must be >= 1"):
        success_rate.main(["--jobs", "0", "--out", str(out)])
