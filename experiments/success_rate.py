"""Success rate of the arithmetic units over seeds (Madsen & Johansen 2020).

For every task (static, recurrent), op and unit, runs
`train.py --task OP --cell UNIT [--static] --seeds N` into
`OUT/<task>/<op>-<unit>/` (a pair whose `summary.json` exists is kept, so an
interrupted sweep resumes), then prints and writes `OUT/success_rate.json`
and `OUT/success_rate.md`: success rate with its 95% Wilson interval, the
median step at which the solved seeds first met the criterion, their median
sparsity error, and the median training time per seed.

Static task: Madsen & Johansen's (input 100, subsets 25 with overlap 12,
interpolation U[1, 2], extrapolation U[2, 6]); recurrent task:
`tasks.arithmetic`'s (length 10, extrapolation 100, 1000). Models are the
registry's (`tasks.cells.CELLS`: e.g. static NAU -> NMU, NALU -> NALU).
Step budgets are train.py's defaults (10^4 steps; for the static NAU and
NMU `tasks.arithmetic.recipes.STATIC_RECIPES`: 10^4 and 3 * 10^4 steps, against the
paper's 5 * 10^6) unless `--steps` is given.

On the JAX backend each pair's seeds train as one vectorised program
(`train.py --vectorize`: the same results within its float32 tolerance,
docs/vectorize.md), unless `--no-vectorize` is given; on the other
backends one after another.

    python experiments/success_rate.py --jobs 2             # the full table
    python experiments/success_rate.py --tasks static --ops add,sub,mul \\
        --units nau,nmu --seeds 10                          # the targets
"""

import argparse
import json
from pathlib import Path

from runner.config import name_list
from runner.results import summarize, table, write_json
from runner.sweeps import (
    add_sweep_flags,
    add_vectorize_flag,
    run_sweep,
    sweep_settings,
    vectorize_where_it_applies,
)

TASKS = ("static", "recurrent")
OPS = ("add", "sub", "mul")
UNITS = ("nac", "nalu", "inalu", "realnpu", "npu", "nau", "nmu")
# A unit is measured on the ops it can compute: the NAC and NAU add and
# subtract, the NMU (after the NAU's sums) and the NPUs multiply, the NALU
# and iNALU (an additive and a multiplicative path) do all three.
OPS_OF_UNIT = {
    "nac": ("add", "sub"),
    "nau": ("add", "sub"),
    "nmu": ("mul",),
    "realnpu": ("mul",),
    "npu": ("mul",),
}


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tasks", type=name_list, default=TASKS)
    parser.add_argument("--ops", type=name_list, default=OPS)
    parser.add_argument("--units", type=name_list, default=UNITS)
    parser.add_argument(
        "--all-pairs",
        action="store_true",
        help="run every op with every unit, not only the ops a unit computes",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--steps", type=int, default=None, help="default: train.py's per cell"
    )
    parser.add_argument("--out", default="runs/success_rate")
    parser.add_argument(
        "--train-args",
        default="",
        help="extra train.py flags, one string, e.g. '--eval-sequences 200'",
    )
    add_vectorize_flag(parser)
    add_sweep_flags(parser)
    return parser


def pairs(options):
    """`(task, op, unit)` triples to run, in table order."""
    return [
        (task, op, unit)
        for task in options.tasks
        for unit in options.units
        for op in options.ops
        if options.all_pairs or op in OPS_OF_UNIT.get(unit, OPS)
    ]


def sweep_run(task, op, unit, options, target):
    """`(OUT, train.py flags)` of one (task, op, unit) triple."""
    flags = [
        "--task", op, "--cell", unit,
        "--seeds", str(options.seeds), "--seed", str(options.seed), "--quiet",
    ]  # fmt: skip
    if task == "static":
        flags.append("--static")
    if options.steps:
        flags += ["--steps", str(options.steps)]
    flags += options.train_args.split()
    return target, vectorize_where_it_applies(flags, options.vectorize)


def row(task, op, unit, target):
    runs = [
        json.loads(p.read_text()) for p in sorted(target.glob("seed_*/results.json"))
    ]
    # Recomputed from the seeds' results, so the table follows the current
    # summary rules.
    summary = summarize(runs)
    return {
        "task": task,
        "op": op,
        "unit": unit,
        "steps": runs[0]["steps"],
        "seeds": summary["seeds"],
        "successes": sum(summary["successes"]),
        "success_rate": summary["success_rate"],
        "success_ci": summary["success_ci"],
        "median_solved_step": summary["median_solved_step"],
        "median_sparsity_error": summary["median_sparsity_error"],
        "median_train_seconds": summary["median_train_seconds"],
        "total_train_seconds": round(sum(r["train_seconds"] for r in runs), 1),
    }


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def markdown(rows):
    header = ["task", "op", "unit", "steps", "success", "95% CI",
              "median solved step", "median sparsity error", "s / seed"]  # fmt: skip
    cells = []
    for r in rows:
        low, high = r["success_ci"]
        cells.append(
            [
                r["task"],
                r["op"],
                r["unit"].upper(),
                str(r["steps"]),
                f"{r['successes']}/{len(r['seeds'])}",
                f"[{low:.2f}, {high:.2f}]",
                _fmt(r["median_solved_step"], ".0f"),
                _fmt(r["median_sparsity_error"], ".2g"),
                _fmt(r["median_train_seconds"], ".1f"),
            ]
        )
    return table(header, cells, markdown=True)


def main(argv=None):
    options = build_parser().parse_args(argv)
    out = Path(options.out)
    targets = {key: out / key[0] / f"{key[1]}-{key[2]}" for key in pairs(options)}
    run_sweep(
        [sweep_run(*key, options, target) for key, target in targets.items()],
        **sweep_settings(options),
    )
    rows = [row(*key, target) for key, target in targets.items()]
    table = markdown(rows)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "success_rate.json", {"rows": rows})
    (out / "success_rate.md").write_text(table + "\n")
    print(f"Wrote {out / 'success_rate.json'} and {out / 'success_rate.md'}")
    return rows


if __name__ == "__main__":
    main()
