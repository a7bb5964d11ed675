"""Does any task, cell or seed train into NaN or Inf with train.py's defaults?

Runs `train.py --task TASK --cell CELL --seed K` for every task (the
arithmetic ops, recurrent and `--static`, and the MNIST tasks) × every
registered cell × seeds, in this process one after another, and records for
each run whether training stopped on the non-finite guard
(`nalu_rnn.callbacks.NonFiniteGuard`), and how many of its evaluation
metrics are not finite (an extrapolation that overflows float32 is a result,
not a training failure, but it is counted). Defaults apply except for the
flags given: `--steps` caps the budget of every run so a sweep of thousands
of runs fits on a CPU (the step count is in the report), and
`--eval-sequences` shrinks the test sets.

Each run's record is appended to `OUT/runs.jsonl` as it finishes, so an
interrupted sweep resumes where it stopped; `OUT/nan_sweep.json` and
`OUT/nan_sweep.md` hold the table of (task, cell) pairs.

    python experiments/nan_sweep.py --seeds 20 --steps 1000
    python experiments/nan_sweep.py --tasks mnist_count,mnist_add --seeds 20 \\
        --steps 100 --train-args "--eval-lengths 1,10,100"

Not vectorised (`train.py --vectorize`): the question is whether the
ordinary one-seed path trains into NaN with the defaults, so each run is
`--seed K` on its own, with its own record (and resume point) in
`runs.jsonl`; a vectorised seed is another compiled program (equal within
float32 tolerance, not to the bit on the recurrent task) and would answer
for that program instead.
"""

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

from runner import cli
from runner.config import name_list, non_negative_int, positive_int
from runner.quiet import quiet_start
from runner.results import table, write_json
from tasks.cells import CELLS
from tasks.registry import get_task, task_names


def default_tasks():
    """Every registered task; `<name>-static` too where it has that variant.

    In the order: the tasks with a static variant (the arithmetic ops),
    their static variants, then the others (the MNIST tasks).
    """
    static = [name for name in task_names() if get_task(name).static]
    others = [name for name in task_names() if name not in static]
    return (*static, *(f"{name}-static" for name in static), *others)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--tasks",
        type=name_list,
        default=default_tasks(),
        help="task names; `<op>-static` is the op with --static",
    )
    parser.add_argument("--cells", type=name_list, default=tuple(sorted(CELLS)))
    parser.add_argument("--seeds", type=positive_int, default=20)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="training steps of every run; default: train.py's per task",
    )
    parser.add_argument("--out", default="runs/nan_sweep")
    parser.add_argument(
        "--train-args", default="", help="extra train.py flags, one string"
    )
    return parser


def train_argv(task, cell, seed, steps, run_dir, extra):
    """The `train.py` command line of one run of the sweep."""
    op, _, variant = task.partition("-")
    argv = ["--task", op, "--cell", cell, "--seed", str(seed), "--out", str(run_dir)]
    if variant == "static":
        argv.append("--static")
    if steps is not None:
        argv += ["--steps", str(steps)]
    return argv + ["--quiet", "--force", *shlex.split(extra)]


def run_one(argv):
    """Runs one training; returns its record (status, non-finite metrics)."""
    import keras

    from nalu_rnn.callbacks import NonFiniteError
    from runner import run

    config = cli.parse_args(argv)
    cli.set_determinism(config.infra.deterministic)
    keras.backend.clear_session()
    started = time.perf_counter()
    try:
        results = run.run(config)
    except NonFiniteError as error:
        return {
            "status": "non_finite",
            "message": str(error),
            "seconds": round(time.perf_counter() - started, 2),
        }
    metrics = [
        v for entry in results["eval"] for k, v in entry.items() if k in ("mse", "mae")
    ]
    return {
        "status": "ok",
        "steps": results["steps"],
        "non_finite_metrics": sum(not _finite(v) for v in metrics),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _finite(value):
    return value is not None and math.isfinite(value)


def summary_rows(records):
    """One row per (task, cell): runs, non-finite stops, non-finite metrics."""
    rows = {}
    for r in records:
        row = rows.setdefault(
            (r["task"], r["cell"]),
            {"task": r["task"], "cell": r["cell"], "runs": 0, "non_finite_stops": 0,
             "runs_with_non_finite_metrics": 0, "steps": None, "seconds": 0.0},
        )  # fmt: skip
        row["runs"] += 1
        row["seconds"] += r["seconds"]
        if r["status"] == "non_finite":
            row["non_finite_stops"] += 1
            continue
        row["steps"] = r["steps"]
        if r["non_finite_metrics"]:
            row["runs_with_non_finite_metrics"] += 1
    return list(rows.values())


def format_markdown(rows):
    header = ["task", "cell", "runs", "stopped on NaN/Inf",
              "runs with a non-finite eval metric", "steps"]  # fmt: skip
    keys = ("task", "cell", "runs", "non_finite_stops",
            "runs_with_non_finite_metrics", "steps")  # fmt: skip
    return table(header, [[str(r[k]) for k in keys] for r in rows], markdown=True)


def _unknown_name(kind, names, valid):
    """The error for the first of `names` not in `valid`, or None."""
    for name in names:
        if name not in valid:
            return f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}"
    return None


def main(argv=None):
    options = build_parser().parse_args(argv)
    unknown = _unknown_name("task", options.tasks, default_tasks()) or (
        _unknown_name("cell", options.cells, CELLS)
    )
    if unknown:
        print(f"nan_sweep.py: error: {unknown}", file=sys.stderr)
        return 2
    # Before Keras is imported by the first run: its start-up notices hidden.
    quiet_start([])
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    records = (
        [json.loads(line) for line in log.read_text().splitlines() if line]
        if log.exists()
        else []
    )
    done = {(r["task"], r["cell"], r["seed"]) for r in records}
    for task in options.tasks:
        for cell in options.cells:
            for seed in range(options.seed, options.seed + options.seeds):
                if (task, cell, seed) in done:
                    continue
                run_dir = out / "runs" / f"{task}-{cell}" / f"seed_{seed}"
                argv = train_argv(
                    task, cell, seed, options.steps, run_dir, options.train_args
                )
                record = {"task": task, "cell": cell, "seed": seed, **run_one(argv)}
                records.append(record)
                with log.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    rows = summary_rows(records)
    write_json(out / "nan_sweep.json", {"rows": rows, "runs": records})
    markdown = format_markdown(rows)
    (out / "nan_sweep.md").write_text(markdown + "\n")
    print(markdown)
    stops = sum(r["non_finite_stops"] for r in rows)
    print(f"{len(records)} runs, {stops} stopped on NaN/Inf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
