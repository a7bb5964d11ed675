"""The single-layer NALM benchmark, as Mistry, Farrahi & Hare published it.

One arithmetic unit from two inputs to the output (`train.py --static
--single-layer`), learning `a + b`, `a - b`, `a * b` and `a / b` with
`a = x_i`, `b = x_j`, on nine ranges of uniform values (training range ->
extrapolation range, `RANGES`), 25 seeds each; the division variant of
Mistry et al.'s division paper with 10 inputs of which two are used
(`div10`). The protocol is the single-layer recipe's
(`tasks.arithmetic.recipes.SINGLE_LAYER_RECIPE` and the unit's own):
5 * 10^4 steps (div10: 10^5) of 128 fresh samples, Adam at 1e-3 with
PyTorch's epsilon 1e-8 (the NPUs 5e-3, the NMRU 1e-2 with the gradients'
joint norm clipped to 1), the weights with the
lowest interpolation MSE on 10^4 fixed samples, validated every 1000 steps,
judged as trained. A seed succeeds when its extrapolation MSE, on 10^4
fixed samples, is below that of the exact solution with every weight
moved by epsilon = 1e-5 (`ArithmeticTask.single_layer_perturbed_mse`,
after nalm-benchmark's generate_exp_thresholds.r).

On the JAX backend each run's seeds train as one vectorised program
(`train.py --vectorize`, docs/vectorize.md) unless `--no-vectorize` is
given. Each (op, unit, range) is one `train.py --seeds N` run into
`OUT/<op>/<unit>/<range>/`; a run whose `summary.json` exists is kept, so an
interrupted benchmark resumes. A seed whose loss turns NaN or Inf stops
(vectorised, the others go on) and counts as a failure; its run is then over
once every other seed finished (`finished`), and is kept too. The script
then writes, per op, a table of ranges x units (successes out of the seeds
with their 95% Wilson interval, the median solved step and sparsity error of
the solved seeds, beside the published figures, `PUBLISHED`) and the pooled
success over the ranges, into `OUT/nalm_benchmark.md` and
`OUT/nalm_benchmark.json`, and prints them with the median training time per
run.

    python experiments/nalm_benchmark.py --jobs 2 --out runs/nalm_benchmark
    python experiments/nalm_benchmark.py --ops mul --units nmu,nalu \\
        --ranges m1.2_m1.1,m2_m1 --seeds 3 --out runs/nalm_pilot
"""

import argparse
import dataclasses
import json
import shlex
import statistics
from pathlib import Path

from runner.config import name_list
from runner.results import FAILED_FILE, table, write_json
from runner.sweeps import (
    add_sweep_flags,
    add_vectorize_flag,
    failure_message,
    run_sweep,
    sweep_settings,
    vectorize_where_it_applies,
)
from tasks.cells import CELLS, DEFAULT_CELL, display_name, get_cell_spec
from tasks.registry import get_task
from tasks.success import median_or_none, wilson_interval

# The perturbation of the exact solution whose extrapolation MSE a seed must
# beat (`ArithmeticTask.single_layer_perturbed_mse`'s default; the benchmark's).
EPSILON = 1e-5
SEEDS = 25


@dataclasses.dataclass(frozen=True)
class ValueRange:
    """One of the benchmark's value ranges: training and extrapolation.

    Args:
        key: Its name in `--ranges` and its folder, `m1.2_m1.1` for
            [-1.2, -1.1] (`m` for minus).
        train: `(low, high)` of the training and interpolation values.
        extrapolation: The `(low, high)` ranges of the extrapolation values,
            each value uniform over their union.
    """

    key: str
    train: tuple
    extrapolation: tuple

    @property
    def label(self):
        """`[-2,2] -> [-6,-2] u [2,6]`, as the papers write them."""
        test = " u ".join(_interval(r) for r in self.extrapolation)
        return f"{_interval(self.train)} -> {test}"

    @property
    def divisor_excludes_zero(self):
        """Whether no range holds 0, so that `a / b` stays bounded."""
        ranges = (self.train, *self.extrapolation)
        return all(low > 0 or high < 0 for low, high in ranges)

    def flags(self):
        """The `train.py` flags of the range."""
        flags = [f"--train-range={_pair(self.train)}"]
        flags += [f"--extrapolation-range={_pair(r)}" for r in self.extrapolation]
        return flags


def _pair(values):
    return ",".join(f"{v:g}" for v in values)


def _interval(values):
    return f"[{_pair(values)}]"


# Their nine ranges, in their order (nalm-benchmark's
# lfs_batch_jobs/single_layer_task/benchmarking/single_layer_benchmark.sh).
RANGES = (
    ValueRange("m20_m10", (-20.0, -10.0), ((-40.0, -20.0),)),
    ValueRange("m2_m1", (-2.0, -1.0), ((-6.0, -2.0),)),
    ValueRange("m1.2_m1.1", (-1.2, -1.1), ((-6.1, -1.2),)),
    ValueRange("m0.2_m0.1", (-0.2, -0.1), ((-2.0, -0.2),)),
    ValueRange("m2_2", (-2.0, 2.0), ((-6.0, -2.0), (2.0, 6.0))),
    ValueRange("0.1_0.2", (0.1, 0.2), ((0.2, 2.0),)),
    ValueRange("1_2", (1.0, 2.0), ((2.0, 6.0),)),
    ValueRange("1.1_1.2", (1.1, 1.2), ((1.2, 6.0),)),
    ValueRange("10_20", (10.0, 20.0), ((20.0, 40.0),)),
)
RANGE_KEYS = tuple(r.key for r in RANGES)


@dataclasses.dataclass(frozen=True)
class Op:
    """One column of the benchmark: a task and the protocol it runs under.

    Args:
        name: Its name in `--ops` and its folder.
        task: The `train.py --task`.
        title: What is learnt, for the tables.
        steps: Training steps.
        data_flags: `train.py` flags of its data beyond the single-layer
            recipe's (two inputs, one in each subset). Defaults to none.
        ramp: `(start, end)` of the sparsity ramp as fractions of the steps,
            for the units whose recipe has a pull, or `None` for the
            recipe's. Defaults to `None`.
    """

    name: str
    task: str
    title: str
    steps: int
    data_flags: tuple = ()
    ramp: tuple | None = None


OPS = {
    "add": Op("add", "add", "a + b", 50000),
    "sub": Op("sub", "sub", "a - b", 50000),
    "mul": Op("mul", "mul", "a * b", 50000),
    "div": Op("div", "div", "a / b", 50000),
    # Mistry et al.'s division with input redundancy: 10^5 steps, the pull
    # ramped in from step 50000 to 75000 (nalm-division's sltr-in10.sh).
    "div10": Op(
        "div10",
        "div",
        "a / b, 10 inputs (2 used)",
        100000,
        ("--input-size", "10", "--subset-ratio", "0.1", "--overlap-ratio", "0"),
        ramp=(0.5, 0.75),
    ),
}

# `default` is the op's registered static cell (`TaskSpec.static_default_cell`).
UNITS = (
    "default", "nac", "nau", "nalu", "inalu", "nmu", "snmu", "nmru", "snmru",
    "realnpu", "npu",
)  # fmt: skip
# The ops each unit can compute; the NALU, the iNALU and any unit not named
# (a baseline's linear read-out adds and subtracts) are given every op their
# paths allow.
OPS_OF_UNIT = {
    "nac": ("add", "sub"),
    "nau": ("add", "sub"),
    "nmu": ("mul",),
    "snmu": ("mul",),
    "nmru": ("mul", "div", "div10"),
    "snmru": ("mul", "div", "div10"),
    "realnpu": ("mul", "div", "div10"),
    "npu": ("mul", "div", "div10"),
    "nalu": tuple(OPS),
    "inalu": tuple(OPS),
}

# The published figures, by (op, unit): successes out of 25 per range key,
# and "pooled", the success over the nine ranges x 25 seeds as a fraction.
# The division paper states its pooled figures (NMRU 91.6%, modified RealNPU
# 85.3%) in its abstract. The primer gives the single-layer results as
# plots, not tables: the per-range counts below are read off its figures and
# were not checked against a table here (nalm-benchmark's repository holds
# the scripts and the R that drew them, not the numbers).
PUBLISHED = {
    ("add", "nau"): {key: 25 for key in RANGE_KEYS},
    ("mul", "nmu"): {
        **{key: 25 for key in RANGE_KEYS},
        "m1.2_m1.1": 17,
        "m2_m1": 20,
    },
    ("div10", "nmru"): {"pooled": 0.916},
}
# What the papers report that is not a figure of one of our units.
PUBLISHED_NOTES = {
    "add": ["NAU: 25/25 on all nine ranges [primer, read off its figures]."],
    "mul": [
        "NMU: 25/25 except [-1.2,-1.1] (17/25) and [-2,-1] (20/25) "
        "[primer, read off its figures].",
        "NPU and RealNPU: about 0/25 on most negative ranges "
        "[primer, read off its figures].",
        "NALU: at most about 21/25 on any range, 0 on several "
        "[primer, read off its figures].",
    ],
    "div": [
        "Madsen & Johansen's static division: 0% for all 11 units "
        "[primer, division; not checked here].",
    ],
    "div10": [
        "Pooled over the nine ranges x 25 seeds: NMRU 91.6%, the modified "
        "RealNPU (L1 and W, g clipping; not our realnpu) 85.3% [division].",
    ],
}
SOURCES = {
    "primer": "Mistry, Farrahi & Hare, A Primer for Neural Arithmetic Logic "
    "Modules, JMLR 23 (2022), arXiv:2101.09530; code: bmistry4/nalm-benchmark",
    "division": "Mistry, Farrahi & Hare, Learning Division with Neural "
    "Arithmetic Logic Modules, TMLR (2022), arXiv:2110.05177; code: "
    "bmistry4/nalm-division",
}


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--ops", type=name_list, default=tuple(OPS), help=f"of {', '.join(OPS)}"
    )
    parser.add_argument(
        "--units",
        type=name_list,
        default=UNITS,
        help="registered cells (their read-outs), or default: the op's static "
        "default cell",
    )
    parser.add_argument(
        "--ranges",
        type=name_list,
        default=RANGE_KEYS,
        help=f"of {', '.join(RANGE_KEYS)} (m: minus)",
    )
    parser.add_argument(
        "--pairs",
        type=name_list,
        default=None,
        help="OP:UNIT pairs to run (add:nau,mul:nmu), in place of --ops x --units",
    )
    parser.add_argument(
        "--all-pairs",
        action="store_true",
        help="run every op with every unit, not only the ops a unit computes",
    )
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps of every run (a smoke run); default: each op's "
        "protocol (5 * 10^4, div10 10^5)",
    )
    parser.add_argument("--out", default="runs/nalm_benchmark")
    parser.add_argument(
        "--train-args",
        default="",
        help="extra train.py flags, one string: --train-args='--harden'",
    )
    add_sweep_flags(parser)
    add_vectorize_flag(parser)
    return parser


def check_options(options, parser):
    """Exits with status 2 and one line for an op, range or unit unknown, or
    a count out of range."""

    def refuse(message):
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    for name, given, known in (
        ("--ops", options.ops, tuple(OPS)),
        ("--ranges", options.ranges, RANGE_KEYS),
        ("--units", options.units, ("default", *sorted(CELLS))),
    ):
        unknown = [v for v in given if v not in known]
        if unknown:
            refuse(f"{name}: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    for pair in options.pairs or ():
        op, _, unit = pair.partition(":")
        if op not in OPS or unit not in ("default", *CELLS):
            refuse(f"--pairs: {pair} is not OP:UNIT of a known op and unit")
    if options.seeds < 1:
        refuse(f"--seeds must be >= 1; received {options.seeds}")
    if options.seed < 0:
        refuse(f"--seed must be >= 0; received {options.seed}")
    if options.steps is not None and options.steps < 1:
        refuse(f"--steps must be >= 1; received {options.steps}")
    if options.jobs < 1:
        refuse(f"--jobs must be >= 1; received {options.jobs}")


def default_unit(op):
    """The cell `train.py --task OP --static` runs without `--cell`."""
    return get_task(OPS[op].task).cell_for(True) or DEFAULT_CELL


def runs(options):
    """`(op, unit, range key)` of every run, in table order.

    `default` becomes the op's default cell, and a unit already listed is
    run once. `--pairs` chooses the (op, unit) pairs itself, in its order.
    """
    if options.pairs:
        pairs = [pair.split(":") for pair in options.pairs]
        pairs = [(op, default_unit(op) if u == "default" else u) for op, u in pairs]
        return [
            (op, unit, key)
            for op, unit in dict.fromkeys(pairs)
            for key in options.ranges
        ]
    chosen = []
    for op in options.ops:
        units = [default_unit(op) if u == "default" else u for u in options.units]
        for unit in dict.fromkeys(units):
            computes = OPS_OF_UNIT.get(unit, ("add", "sub"))
            if not (options.all_pairs or op in computes):
                continue
            chosen += [(op, unit, key) for key in options.ranges]
    return chosen


def train_flags(op, unit, key, options):
    """The `train.py` flags of one run (without `--out`)."""
    protocol, value_range = OPS[op], RANGES[RANGE_KEYS.index(key)]
    flags = [
        "--task", protocol.task, "--static", "--single-layer", "--cell", unit,
        "--seeds", str(options.seeds), "--seed", str(options.seed), "--quiet",
        "--steps", str(options.steps or protocol.steps),
    ]  # fmt: skip
    flags += [*protocol.data_flags, *value_range.flags()]
    if protocol.ramp is not None and get_cell_spec(unit).arithmetic:
        start, end = protocol.ramp
        flags += ["--sparsity-start", str(start), "--sparsity-end", str(end)]
    flags += shlex.split(options.train_args)
    return vectorize_where_it_applies(flags, options.vectorize)


def target(out, op, unit, key):
    return Path(out) / op / unit / key


def stopped_seeds(folder):
    """The seeds of a run that stopped on a NaN or Inf loss (`failed.json` in
    their folder, in place of `results.json`)."""
    return sorted(folder.glob(f"seed_*/{FAILED_FILE}"))


def finished(folder, seeds):
    """Whether a run is over: every seed finished (`summary.json`), or the
    seeds that did not stopped on a NaN or Inf loss, which the benchmark
    counts as failures (a rerun would stop them again)."""
    if (folder / "summary.json").exists():
        return True
    results = list(folder.glob("seed_*/results.json"))
    stopped = stopped_seeds(folder)
    return bool(stopped) and len(results) + len(stopped) == seeds


def row(op, unit, key, folder, seeds):
    """The measures of one (op, unit, range) from its seeds' results, or of
    a run not (yet) finished: `seeds` 0 and the measures `None`. A seed
    stopped by a NaN or Inf loss counts as a failure (`stopped`)."""
    results = [
        json.loads(p.read_text()) for p in sorted(folder.glob("seed_*/results.json"))
    ]
    over = finished(folder, seeds)
    stopped = len(stopped_seeds(folder)) if over else 0
    successes = [bool(r["success"]) for r in results] if over else []
    successes += [False] * stopped
    solved = [r for r in results if r.get("success")] if over else []
    published = PUBLISHED.get((op, unit), {}).get(key)
    return {
        "op": op,
        "unit": unit,
        "range": key,
        "label": RANGES[RANGE_KEYS.index(key)].label,
        "seeds": len(successes),
        "successes": sum(successes),
        "stopped": stopped,
        "success_ci": list(wilson_interval(sum(successes), len(successes)))
        if successes
        else None,
        "median_solved_step": median_or_none([r.get("solved_step") for r in solved]),
        "median_sparsity_error": median_or_none(
            [r.get("sparsity_error") for r in solved]
        ),
        "train_seconds": [r["train_seconds"] for r in results] if over else [],
        "steps": results[0]["steps"] if over and results else None,
        "published": published,
    }


def pooled(rows):
    """Per (op, unit): successes over every range run, with its interval."""
    totals = {}
    for r in rows:
        if r["seeds"]:
            entry = totals.setdefault((r["op"], r["unit"]), [0, 0, 0])
            entry[0] += r["successes"]
            entry[1] += r["seeds"]
            entry[2] += 1
    return [
        {
            "op": op,
            "unit": unit,
            "ranges": count,
            "successes": successes,
            "seeds": seeds,
            "success_rate": successes / seeds,
            "success_ci": list(wilson_interval(successes, seeds)),
            # The papers' pooled rates are over all the ranges.
            "published": PUBLISHED.get((op, unit), {}).get("pooled")
            if count == len(RANGE_KEYS)
            else None,
        }
        for (op, unit), (successes, seeds, count) in totals.items()
    ]


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def _cell(r):
    if not r["seeds"]:
        return "not run"
    low, high = r["success_ci"]
    text = f"{r['successes']}/{r['seeds']} [{low:.2f}, {high:.2f}]"
    if r["published"] is not None:
        text += f" (pub. {r['published']}/25)"
    return text


def unit_label(op, unit):
    label = display_name(unit)
    return f"{label} (default)" if unit == default_unit(op) else label


def op_tables(op, rows, pools):
    """The Markdown of one op: ranges x units, the pooled row, the details."""
    ours = [r for r in rows if r["op"] == op]
    units = list(dict.fromkeys(r["unit"] for r in ours))
    keys = list(dict.fromkeys(r["range"] for r in ours))
    by = {(r["unit"], r["range"]): r for r in ours}
    header = ["train -> extrapolation", *(unit_label(op, u) for u in units)]
    cells = [
        [by[units[0], key]["label"], *(_cell(by[u, key]) for u in units)]
        for key in keys
    ]
    pool = {p["unit"]: p for p in pools if p["op"] == op}
    if len(keys) > 1 and pool:
        line = ["all ranges"]
        for u in units:
            p = pool.get(u)
            if p is None:
                line.append("-")
                continue
            low, high = p["success_ci"]
            text = (
                f"{p['successes']}/{p['seeds']} = {100 * p['success_rate']:.1f}% "
                f"[{100 * low:.1f}, {100 * high:.1f}]"
            )
            if p["published"] is not None:
                text += f" (pub. {100 * p['published']:.1f}%)"
            line.append(text)
        cells.append(line)
    matrix = table(header, cells, markdown=True)
    detail_header = ["train -> extrapolation", "unit", "success", "95% CI",
                     "stopped on NaN", "published", "median solved step",
                     "median sparsity error", "median s / run"]  # fmt: skip
    details = []
    for key in keys:
        for u in units:
            r = by[u, key]
            ci = r["success_ci"]
            details.append(
                [
                    r["label"],
                    unit_label(op, u),
                    f"{r['successes']}/{r['seeds']}" if r["seeds"] else "not run",
                    "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]",
                    str(r.get("stopped", 0)) if r["seeds"] else "-",
                    "-" if r["published"] is None else f"{r['published']}/25",
                    _fmt(r["median_solved_step"], ".0f"),
                    _fmt(r["median_sparsity_error"], ".2g"),
                    _fmt(median_or_none(r["train_seconds"]), ".1f"),
                ]
            )
    protocol = OPS[op]
    steps = sorted({r["steps"] for r in ours if r["steps"] is not None})
    title = (
        f"### {op}: {protocol.title}\n\n"
        f"Steps: {', '.join(map(str, steps)) or protocol.steps}; epsilon "
        f"{EPSILON:g}; a seed succeeds when its extrapolation MSE is below the "
        "epsilon-perturbed exact solution's."
    )
    notes = "\n".join(f"* Published: {n}" for n in PUBLISHED_NOTES.get(op, []))
    parts = [title, matrix, table(detail_header, details, markdown=True)]
    return "\n\n".join(parts + ([notes] if notes else []))


def report(rows, pools):
    """Every op's tables, the time per run and the sources, as Markdown."""
    seconds = [s for r in rows for s in r["train_seconds"]]
    median = statistics.median(seconds) if seconds else None
    head = (
        "## The single-layer NALM benchmark\n\n"
        f"Training time per run (one seed): median {_fmt(median, '.1f')} s over "
        f"{len(seconds)} runs."
    )
    ops = list(dict.fromkeys(r["op"] for r in rows))
    sources = "\n".join(f"* [{k}] {v}" for k, v in SOURCES.items())
    return "\n\n".join([head, *(op_tables(op, rows, pools) for op in ops), sources])


def protocol_record(options):
    return {
        "epsilon": EPSILON,
        "seeds": options.seeds,
        "first_seed": options.seed,
        "steps": {
            op: options.steps or OPS[op].steps
            for op in dict.fromkeys(op for op, _, _ in runs(options))
        },
        "ranges": {
            r.key: {
                "train": list(r.train),
                "extrapolation": [list(e) for e in r.extrapolation],
            }
            for r in RANGES
            if r.key in options.ranges
        },
        "train_args": options.train_args,
    }


def main(argv=None):
    parser = build_parser()
    options = parser.parse_args(argv)
    check_options(options, parser)
    out = Path(options.out)
    chosen = runs(options)
    outcomes = run_sweep(
        [
            (target(out, *key), train_flags(*key, options))
            for key in chosen
            if not finished(target(out, *key), options.seeds)
        ],
        **sweep_settings(options),
        exit_on_failure=False,
    )
    rows = [row(*key, target(out, *key), options.seeds) for key in chosen]
    pools = pooled(rows)
    text = report(rows, pools)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        out / "nalm_benchmark.json",
        {
            "protocol": protocol_record(options),
            "rows": rows,
            "pooled": pools,
            "published": [
                {"op": op, "unit": unit, **figures}
                for (op, unit), figures in PUBLISHED.items()
            ],
            "published_notes": PUBLISHED_NOTES,
            "sources": SOURCES,
        },
    )
    (out / "nalm_benchmark.md").write_text(text + "\n")
    print(f"Wrote {out / 'nalm_benchmark.json'} and {out / 'nalm_benchmark.md'}")
    # A run that failed otherwise (an error, a lost worker) is not in the
    # tables: "not run", and run again by the next invocation.
    broken = [
        o
        for o in outcomes
        if o["state"] == "failed" and not finished(o["out"], options.seeds)
    ]
    if broken:
        raise SystemExit(failure_message(broken, len(outcomes)))
    return rows


if __name__ == "__main__":
    main()
