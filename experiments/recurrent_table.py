"""Reproduces the recurrent column of Trask et al. (2018) Table 1.

Runs `train.py --task OP --cell CELL --seeds N` for every op and cell (skipping
pairs whose `summary.json` already exists, so an interrupted sweep resumes),
then prints a Markdown table of the median interpolation and extrapolation
`scaled_error` over seeds and the success rate, and writes it to
`OUT/table.md`.

On the JAX backend each pair's seeds train as one vectorised program
(`train.py --vectorize`, docs/vectorize.md) unless `--no-vectorize` is
given.

    python experiments/recurrent_table.py --seeds 5 --out runs/recurrent_table
"""

import argparse
import json
from pathlib import Path

from runner.results import summarize, table
from runner.sweeps import (
    add_sweep_flags,
    add_vectorize_flag,
    run_sweep,
    sweep_settings,
    vectorize_where_it_applies,
)

OPS = ("add", "sub", "mul", "div", "square", "sqrt")
CELLS = ("lstm", "rnn_relu", "nac", "nalu")
LABELS = {"lstm": "LSTM", "rnn_relu": "RNN-ReLU", "nac": "NAC", "nalu": "NALU"}


def sweep_runs(ops, cells, seeds, out, extra, vectorize=True):
    """The `(OUT, train.py flags)` of every (op, cell) pair."""
    runs = []
    for op in ops:
        for cell in cells:
            flags = ["--task", op, "--cell", cell, "--seeds", str(seeds), "--quiet"]
            flags = vectorize_where_it_applies([*flags, *extra], vectorize)
            runs.append((out / f"{op}-{cell}", flags))
    return runs


def _fmt(value):
    return "diverged" if value is None else f"{value:.3g}"


def results_table(ops, cells, out):
    header = [
        "op",
        "cell",
        "interpolation (L=10)",
        "extrapolation (L=100)",
        "extrapolation (L=1000)",
        "success",
    ]
    rows = []
    for op in ops:
        for cell in cells:
            runs = sorted((out / f"{op}-{cell}").glob("seed_*/results.json"))
            if not runs:
                continue
            # Recomputed from the seeds' results, so the table follows the
            # current summary rules.
            summary = summarize([json.loads(p.read_text()) for p in runs])
            by_length = {e["length"]: e for e in summary["eval"]}
            errors = [
                _fmt(by_length[n].get("median_scaled_error")) if n in by_length else "-"
                for n in (10, 100, 1000)
            ]
            successes = sum(summary["successes"])
            rate = f"{successes}/{len(summary['successes'])}"
            rows.append([op, LABELS.get(cell, cell), *errors, rate])
    return table(header, rows, markdown=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="runs/recurrent_table")
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--table-only", action="store_true")
    add_vectorize_flag(parser)
    add_sweep_flags(parser)
    args, extra = parser.parse_known_args()
    out = Path(args.out)
    ops, cells = args.ops.split(","), args.cells.split(",")
    if not args.table_only:
        runs = sweep_runs(ops, cells, args.seeds, out, extra, args.vectorize)
        run_sweep(runs, **sweep_settings(args))
    text = results_table(ops, cells, out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
