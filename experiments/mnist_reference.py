"""Measures the reference of the MNIST success thresholds (Madsen & Johansen).

For each task and encoder (by default the task's own), runs `train.py
--task TASK --encoder ENCODER --solved-head --seeds 1 --seed S` for every
seed (the task's default head fixed at the exact solution: the NAC's
running sum, or for `mnist_product` the NMU's running product; only the
encoder trained; `runner.sweeps`, `--jobs` at a time, each on its own core
with one thread, resuming finished seeds), then writes every seed's test
MSE per length, with this command, to `--write` (by default the
`tasks/mnist/reference.json` that `tasks.mnist.thresholds` reads). Entries
of other tasks and encoders already in that file are kept, so one task can
be measured on its own. Each length's threshold is then the one-sided 99%
upper confidence bound of the reference's mean MSE over the seeds.

    python experiments/mnist_reference.py --seeds 5 --jobs 2
    python experiments/mnist_reference.py --tasks mnist_product --seeds 5

Not vectorised (`train.py --vectorize`): MNIST tasks, and one seed per
run.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

from runner.config import RunConfig, name_list
from runner.results import write_json
from runner.sweeps import add_sweep_flags, run_sweep, sweep_settings
from tasks import mnist
from tasks.mnist import thresholds as mnist_thresholds
from tasks.mnist.recipes import MNIST_ENCODERS

# Measured by default; every MNIST task (`--tasks`) is accepted.
TASKS = ("mnist_count", "mnist_add", "mnist_product")
# The reference's seeds: from 1000 up, apart from every judged run's, so that
# no run is judged against a bound it helped to set.
FIRST_SEED = 1000
SEEDS = 9


def default_encoders(task):
    """The encoder `task` runs with by default, as a one-item tuple."""
    return (RunConfig.for_task(task).model.encoder,)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tasks", type=name_list, default=TASKS)
    parser.add_argument(
        "--encoders",
        type=name_list,
        default=None,
        help="the encoders to measure (default: each task's own, from its "
        "recipe: classes for counting, linear for addition and the product)",
    )
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument(
        "--seed",
        type=int,
        default=FIRST_SEED,
        help=f"first seed; at least {FIRST_SEED}, apart from the judged runs'",
    )
    parser.add_argument("--out", default="runs/mnist_reference")
    parser.add_argument(
        "--write",
        default=mnist_thresholds.REFERENCE_FILE,
        help="the reference file to write (replaced atomically)",
    )
    parser.add_argument(
        "--train-args",
        default="",
        help="extra train.py flags, one string, e.g. '--steps 20' for a smoke run",
    )
    add_sweep_flags(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    options = parser.parse_args(argv)
    unknown = [task for task in options.tasks if task not in mnist.TASKS]
    if unknown:
        parser.error(
            f"--tasks: unknown MNIST task {', '.join(unknown)}; choose from "
            f"{', '.join(mnist.TASKS)}"
        )
    if options.seeds < 2:
        parser.error("--seeds must be >= 2: a threshold needs a spread")
    if options.seed < FIRST_SEED:
        parser.error(
            f"--seed {options.seed}: the reference's seeds start at {FIRST_SEED} "
            "or later, apart from the seeds of the runs it judges"
        )
    unknown = [e for e in options.encoders or () if e not in MNIST_ENCODERS]
    if unknown:
        parser.error(f"--encoders: unknown {', '.join(unknown)}")
    seeds = range(options.seed, options.seed + options.seeds)
    runs = {}
    for task in options.tasks:
        for encoder in options.encoders or default_encoders(task):
            for seed in seeds:
                out = Path(options.out) / f"{task}-{encoder}" / f"seed_{seed}"
                flags = ["--task", task, "--encoder", encoder, "--solved-head",
                         "--seeds", "1", "--seed", str(seed), "--quiet",
                         *options.train_args.split()]  # fmt: skip
                runs[task, encoder, seed] = (out, flags)
    run_sweep(runs.values(), pin_cores=True, **sweep_settings(options))
    args = sys.argv[1:] if argv is None else list(argv)
    command = "python experiments/mnist_reference.py " + shlex.join(args)
    measured = {}
    for (task, encoder, seed), (out, _) in runs.items():
        results = json.loads((out / f"seed_{seed}" / "results.json").read_text())
        entry = measured.setdefault(task, {}).setdefault(
            encoder,
            {
                "steps": results["steps"],
                "cell": results["cell"],
                "command": command.strip(),
                "seeds": [],
                "mse": {},
                # The recipe the reference ran (its run_config less what is
                # the seed's own), so that a judged run's bar is known to
                # come from its own recipe (`tasks.mnist.thresholds`).
                "recipe": mnist_thresholds.recipe_of(results["run_config"]),
            },
        )
        entry["seeds"].append(seed)
        for e in results["eval"]:
            entry["mse"].setdefault(str(e["length"]), []).append(e["mse"])
    # What this run measured replaces only its own (task, encoder) entries.
    reference = mnist_thresholds.read_reference(options.write)
    for task, encoders in measured.items():
        reference.setdefault(task, {}).update(encoders)
    write_json(
        options.write,
        {
            "description": "Test MSE by length of the MNIST reference model "
            "(train.py --solved-head: the task's default head fixed at the "
            "exact running sum or product, only the encoder trained), one "
            "value per seed; tasks/mnist/thresholds.py turns them into "
            "success thresholds. `command` is the latest run; each entry "
            "names the command that measured it.",
            "command": command.strip(),
            "reference": reference,
        },
    )
    for task, encoders in measured.items():
        for encoder in encoders:
            found = mnist_thresholds.thresholds(task, encoder, path=options.write)
            print(task, encoder, {k: round(v, 4) for k, v in sorted(found.items())})
    print(f"Wrote {options.write}")


if __name__ == "__main__":
    main()
