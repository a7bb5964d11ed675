"""Reproduces the shape of Trask et al. (2018) Table 2: MNIST digit counting
and addition, trained at length 10, evaluated at lengths 1 to 1000, with
Madsen & Johansen's success rate per length.

Runs `train.py --task TASK --cell CELL [FLAGS] --seeds N` (`runner.sweeps`)
for both tasks and every row of `ROWS` (skipping pairs whose `summary.json`
exists, so a stopped sweep resumes), `--jobs` at a time, each pinned to its
own CPU core with one thread. Each row trains with its cell's recipe
(`runner.config`); a row's flags say only what differs from it (the NAC with
the paper's linear encoder, which is addition's own). Then prints two
Markdown tables of medians over seeds and success counts per length, writes
them to `OUT/table.md` and plots error against length for every row to
`OUT/mnist_extrapolation.png`.

    python experiments/mnist_table.py --jobs 2

Not vectorised (`train.py --vectorize`): it trains the arithmetic tasks'
seeds only; an MNIST model's seeds train one after another.
"""

import argparse
import dataclasses
import json
from pathlib import Path

from runner.results import table
from runner.sweeps import add_sweep_flags, run_sweep, sweep_settings

TASKS = ("mnist_count", "mnist_add")


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table: a cell, the flags it adds to its recipe, how
    many seeds it is measured on and the tasks it runs."""

    name: str
    label: str
    cell: str
    flags: tuple = ()
    seeds: int = 3
    tasks: tuple = TASKS


# The NAC and NAU rows get 10 seeds, as Madsen & Johansen's success rates;
# the others 3.
ROWS = (
    # The task's own encoder: classes for counting, linear for addition, so
    # the paper's linear encoder is a row of its own on counting only.
    Row("nac", "NAC", "nac", seeds=10),
    Row(
        "nac_linear",
        "NAC, linear encoder",
        "nac",
        ("--encoder", "linear"),
        tasks=("mnist_count",),
    ),
    Row("nau", "NAU", "nau", seeds=10),
    Row("nalu", "NALU", "nalu"),
    Row("lstm", "LSTM", "lstm"),
    Row("gru", "GRU", "gru"),
    Row("rnn_tanh", "RNN-tanh", "rnn_tanh"),
    Row("rnn_relu", "RNN-ReLU", "rnn_relu"),
)
ROWS_BY_NAME = {row.name: row for row in ROWS}
COLUMNS = {
    "mnist_count": ("accuracy", "mae"),
    "mnist_add": ("mae", "relative_error"),
}


def select_rows(names):
    """The rows named in a comma list, in `ROWS` order."""
    wanted = [n for n in names.split(",") if n]
    unknown = sorted(set(wanted) - set(ROWS_BY_NAME))
    if unknown:
        raise SystemExit(
            f"unknown row(s) {', '.join(unknown)}; the rows are "
            + ", ".join(ROWS_BY_NAME)
        )
    return [row for row in ROWS if row.name in wanted]


def sweep_runs(tasks, rows, args, extra):
    """The `(OUT, train.py flags)` of every (task, row) pair."""
    runs = []
    for task in tasks:
        for row in rows:
            if task not in row.tasks:
                continue
            flags = ["--task", task, "--cell", row.cell, *row.flags]
            flags += ["--seeds", str(args.seeds or row.seeds), "--quiet"]
            if args.seed is not None:
                flags += ["--seed", str(args.seed)]
            if args.steps is not None:
                flags += ["--steps", str(args.steps)]
            runs.append((args.out / f"{task}-{row.name}", [*flags, *extra]))
    return runs


def _fmt(value, column):
    if value is None:
        return "diverged"
    if column == "relative_error":
        return f"{100 * value:.2f}%"
    return f"{value:.3g}"


def _success(entry):
    """`k/n` seeds that met the length's threshold, `-` where none exists."""
    successes = entry.get("successes")
    if successes is None:
        return "-"
    return f"{sum(successes)}/{len(successes)}"


def read_summaries(out, task, rows):
    """`{row name: summary}` of the finished pairs of `task`."""
    found = {}
    for row in rows:
        path = out / f"{task}-{row.name}" / "summary.json"
        if path.exists():
            found[row.name] = json.loads(path.read_text())
    return found


def tables(out, rows):
    text = []
    for task in TASKS:
        summaries = read_summaries(out, task, rows)
        if not summaries:
            continue
        lengths = [e["length"] for e in next(iter(summaries.values()))["eval"]]
        header = (
            ["row"]
            + [f"{c} L={n}" for c in COLUMNS[task] for n in lengths]
            + [f"success L={n}" for n in lengths]
            + ["seeds", "backend", "train s"]
        )
        lines = []
        for row in rows:
            if row.name not in summaries:
                continue
            summary = summaries[row.name]
            by_length = {e["length"]: e for e in summary["eval"]}
            cols = [
                _fmt(by_length[n].get(f"median_{c}"), c)
                for c in COLUMNS[task]
                for n in lengths
            ]
            cols += [_success(by_length[n]) for n in lengths]
            seeds = str(len(summary["seeds"]))
            # Rows may come from different machines (`train s` with them).
            backend = summary.get("versions", {}).get("backend", "?")
            seconds = f"{summary['median_train_seconds']:.0f}"
            lines.append([row.label, *cols, seeds, backend, seconds])
        text.append(f"**{task}**\n\n" + table(header, lines, markdown=True))
    return "\n\n".join(text)


def plot(out, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, task, metric in zip(axes, TASKS, ("mae", "relative_error"), strict=True):
        summaries = read_summaries(out, task, rows)
        for i, row in enumerate(rows):
            if row.name not in summaries:
                continue
            summary = summaries[row.name]
            xs = [e["length"] for e in summary["eval"]]
            ys = [e.get(f"median_{metric}") for e in summary["eval"]]
            ys = [float("nan") if v is None or v <= 0 else v for v in ys]
            # One colour per row in both panels.
            ax.plot(xs, ys, marker="o", color=f"C{i}", label=row.label)
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
    # No abbreviations: `--seed` must not be read as `--seeds`.
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds of every row; default each row's own (10 for NAC and NAU, 3 else)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="first seed of every row (train.py's default, 0, if not given)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="default each cell's recipe"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/mnist_table"))
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument(
        "--rows", default=",".join(ROWS_BY_NAME), help="comma list of rows"
    )
    parser.add_argument("--table-only", action="store_true")
    add_sweep_flags(parser, jobs=2)
    args, extra = parser.parse_known_args()
    rows = select_rows(args.rows)
    if not args.table_only:
        runs = sweep_runs(args.tasks.split(","), rows, args, extra)
        run_sweep(runs, pin_cores=True, **sweep_settings(args))
    text = tables(args.out, rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n")
    plot(args.out, rows, args.out / "mnist_extrapolation.png")
    print(text)


if __name__ == "__main__":
    main()
