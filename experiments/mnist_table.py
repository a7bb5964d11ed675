"""Reproduces the shape of Trask et al. (2018) Table 2: MNIST digit counting
and addition, trained at length 10, evaluated at lengths 1 to 1000.

Runs `train.py --task TASK --cell CELL --seeds N` (`runner.sweeps`) for both
tasks and every cell (skipping pairs whose `summary.json` exists, so a
stopped sweep resumes), `--jobs` at a time, each pinned to its own CPU core
with one thread. Then prints two Markdown tables of medians over seeds, writes them
to `OUT/table.md` and plots error against length for every row to
`OUT/mnist_extrapolation.png`.

    python experiments/mnist_table.py --seeds 3 --steps 2000 --jobs 2
"""

import argparse
import json
from pathlib import Path

from runner.results import table
from runner.sweeps import run_sweep

TASKS = ("mnist_count", "mnist_add")
CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu", "nac", "nalu")
LABELS = {
    "lstm": "LSTM",
    "gru": "GRU",
    "rnn_tanh": "RNN-tanh",
    "rnn_relu": "RNN-ReLU",
    "nac": "NAC",
    "nalu": "NALU",
}
COLUMNS = {
    "mnist_count": ("accuracy", "mae"),
    "mnist_add": ("mae", "relative_error"),
}


def sweep_runs(pairs, args, extra):
    """The `(OUT, train.py flags)` of every (task, cell) pair."""
    return [
        (
            args.out / f"{task}-{cell}",
            [
                "--task",
                task,
                "--cell",
                cell,
                "--seeds",
                str(args.seeds),
                "--steps",
                str(args.steps),
                "--quiet",
                *extra,
            ],
        )
        for task, cell in pairs
    ]


def _fmt(value, column):
    if value is None:
        return "diverged"
    if column == "relative_error":
        return f"{100 * value:.2f}%"
    return f"{value:.3g}"


def tables(out, cells):
    text = []
    for task in TASKS:
        summaries = {}
        for cell in cells:
            path = out / f"{task}-{cell}" / "summary.json"
            if path.exists():
                summaries[cell] = json.loads(path.read_text())
        if not summaries:
            continue
        lengths = [e["length"] for e in next(iter(summaries.values()))["eval"]]
        header = (
            ["cell"]
            + [f"{c} L={n}" for c in COLUMNS[task] for n in lengths]
            + ["seeds", "train s"]
        )
        rows = []
        for cell, summary in summaries.items():
            by_length = {e["length"]: e for e in summary["eval"]}
            cols = [
                _fmt(by_length[n].get(f"median_{c}"), c)
                for c in COLUMNS[task]
                for n in lengths
            ]
            seeds = str(len(summary["seeds"]))
            seconds = f"{summary['median_train_seconds']:.0f}"
            rows.append([LABELS.get(cell, cell), *cols, seeds, seconds])
        text.append(f"**{task}**\n\n" + table(header, rows, markdown=True))
    return "\n\n".join(text)


def plot(out, cells, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, task, metric in zip(axes, TASKS, ("mae", "relative_error"), strict=True):
        for cell in cells:
            p = out / f"{task}-{cell}" / "summary.json"
            if not p.exists():
                continue
            summary = json.loads(p.read_text())
            xs = [e["length"] for e in summary["eval"]]
            ys = [e.get(f"median_{metric}") for e in summary["eval"]]
            ys = [float("nan") if v is None or v <= 0 else v for v in ys]
            # One colour per cell in both panels.
            color = f"C{cells.index(cell)}"
            ax.plot(xs, ys, marker="o", color=color, label=LABELS.get(cell, cell))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (trained at 10)")
        ax.set_ylabel(f"median {metric}")
        ax.set_title(task)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/mnist_table"))
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--table-only", action="store_true")
    args, extra = parser.parse_known_args()
    cells = args.cells.split(",")
    pairs = [(t, c) for t in args.tasks.split(",") for c in cells]
    if not args.table_only:
        run_sweep(sweep_runs(pairs, args, extra), jobs=args.jobs, pin_cores=True)
    text = tables(args.out, cells)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n")
    plot(args.out, cells, args.out / "mnist_extrapolation.png")
    print(text)


if __name__ == "__main__":
    main()
