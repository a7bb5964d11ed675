"""`bench/cells.py`: a record of step times that names its command."""

import json

from tests.support.scripts import load_script


def test_a_record_holds_every_cell_s_ratio_to_the_lstm_and_its_command(
    tmp_path, monkeypatch
):
    cells = load_script("bench/cells.py")
    # TensorFlow's thread pools are fixed once another test has started it.
    monkeypatch.setattr(cells, "set_threads", lambda threads: None)
    out = tmp_path / "cells.json"
    argv = ["--cells", "nac", "--units", "2", "--lengths", "3", "--repeats", "1",
            "--warmup", "1", "--threads", "1", "--out", str(out)]  # fmt: skip
    cells.main(argv)
    record = json.loads(out.read_text())
    assert record["command"].endswith("python bench/cells.py " + " ".join(argv))
    by_cell = {row["cell"]: row for row in record["rows"]}
    # The LSTM is added as the yardstick when the list leaves it out.
    assert sorted(by_cell) == ["lstm", "nac"]
    assert by_cell["lstm"]["ratio_to_lstm"] == 1.0
    nac = by_cell["nac"]
    assert (nac["units"], nac["length"]) == (2, 3)
    ratio = nac["median_ms"] / by_cell["lstm"]["median_ms"]
    assert abs(nac["ratio_to_lstm"] - ratio) < 1e-9
