"""How much the recurrent success threshold demands, per op and length.

Madsen & Johansen's threshold is the MSE of the exact solution with every
weight moved by epsilon (`ArithmeticTask.perturbed_solution_mse`). On
sequences it grows with the length faster than the targets do, so at some
length it stops telling a solution from a guess. For each op and length this
script measures, on the recurrent task's default problem (`--problems`
instances, subsets drawn from seeds 0, 1, ...; no training involved):

* the threshold as a fraction of the targets' variance, and
* whether a *blind guess* passes: `a = b = 0.2 * (the sum of every input)`,
  the op applied to them, a model that has learnt no subset at all.

It writes `OUT/summary.json` and `OUT/command`, which `experiments/tables.py`
reads (the table `threshold_strength`).

    python experiments/threshold_strength.py --out results/arithmetic/thresholds
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from tasks.arithmetic.data import OPS, ArithmeticTask, apply_op

LENGTHS = (10, 100, 1000)
# The guess's share of the total per subset: about a subset's share of the
# ten inputs (a quarter), without knowing which inputs they are.
GUESS_SHARE = 0.2


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder of summary.json")
    parser.add_argument(
        "--problems", type=int, default=5, help="problem instances (default: 5)"
    )
    parser.add_argument(
        "--sequences",
        type=int,
        default=1000,
        help="test sequences per instance and length (default: 1000)",
    )
    return parser


def measure(op, length, problems, sequences):
    """Threshold / variance and the blind guess's pass rate over `problems`."""
    ratios, passes = [], []
    for subset_seed in range(problems):
        task = ArithmeticTask(op, subset_seed=subset_seed)
        rng = np.random.default_rng([subset_seed, length])
        x, y = task.sample(sequences, length, task.train_range, rng)
        y = y[:, 0].astype(np.float64)
        threshold = task.perturbed_solution_mse(x)
        guess_sum = GUESS_SHARE * np.asarray(x, dtype=np.float64).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = apply_op(op, guess_sum, guess_sum)
        guess_mse = float(np.mean((guess - y) ** 2))
        ratios.append(threshold / float(np.var(y)))
        passes.append(bool(guess_mse < threshold))
    return {
        "op": op,
        "length": length,
        "threshold_over_variance": float(np.median(ratios)),
        "guess_passes": int(sum(passes)),
        "problems": problems,
    }


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.problems < 1 or args.sequences < 2:
        print("threshold_strength.py: error: --problems >= 1, --sequences >= 2")
        return 2
    rows = [
        measure(op, length, args.problems, args.sequences)
        for op in OPS
        for length in LENGTHS
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "guess_share": GUESS_SHARE,
        "sequences": args.sequences,
        "rows": rows,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    command = ["python", "experiments/threshold_strength.py", *(argv or sys.argv[1:])]
    (out / "command").write_text(shlex.join(command) + "\n")
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
