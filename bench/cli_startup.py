"""How fast `train.py --help` answers, and what it imports.

Runs `python train.py --help` (and `--task TASK --help`) `--repeats` times
in fresh processes and reports the median wall time, beside a process that
only starts Python (`python -c pass`), and checks in one more process that
parsing the flags imports neither Keras nor TensorFlow nor JAX.

    python bench/cli_startup.py --repeats 11

Writes `bench/results/cli_startup.json` (or `--out`).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
HEAVY = ("keras", "tensorflow", "jax", "torch")
PROBE = (
    "import sys; from runner.cli import build_parser, parse_args; "
    "build_parser(); parse_args(['--task', 'mul']); "
    f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
)


def seconds(command, repeats):
    """The median wall time of `command` over `repeats` fresh processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--out", default=str(RESULTS_DIR / "cli_startup.json"))
    args = parser.parse_args(argv)
    python = sys.executable
    rows = {
        "python -c pass": seconds([python, "-c", "pass"], args.repeats),
        "train.py --help": seconds([python, "train.py", "--help"], args.repeats),
        "train.py --task mul --help": seconds(
            [python, "train.py", "--task", "mul", "--help"], args.repeats
        ),
    }
    probe = subprocess.run(
        [python, "-c", PROBE], cwd=ROOT, check=True, capture_output=True, text=True
    )
    imported = json.loads(probe.stdout.strip().replace("'", '"'))
    for name, value in rows.items():
        print(f"{name:32s} {value:.3f} s (median of {args.repeats})")
    print(f"heavy modules imported by parsing: {imported or 'none'}")
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "repeats": args.repeats,
        "median_seconds": rows,
        "heavy_modules_imported_by_parsing": imported,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
