"""A stand-in for train.py in the tests of `runner.sweeps`: the same files
and exit statuses in a fraction of a second, without Keras.

`--out OUT --seeds N --seed S` writes `OUT/seed_K/results.json` (keeping a
seed already there, as train.py does) and `OUT/summary.json`. `--fail 1`
stops after the first seed as a NaN stop does, `--fail 2` refuses its flags
as a usage error does; `--sleep SECONDS` waits before writing anything.
"""

import argparse
import json
import sys
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--value", type=float, default=1.0)
    options = parser.parse_args()
    print("a line of noise on stderr", file=sys.stderr)
    if options.fail == 2:
        print("train.py: error: --task: no task named nothing", file=sys.stderr)
        return 2
    time.sleep(options.sleep)
    results = []
    for seed in range(options.seed, options.seed + options.seeds):
        path = options.out / f"seed_{seed}" / "results.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            result = {"seed": seed, "value": options.value * seed}
            path.write_text(json.dumps(result))
            results.append(result)
        if options.fail == 1:
            print(f"train.py: NaN loss at step 7 of seed {seed}", file=sys.stderr)
            return 1
    summary = {"seeds": [r["seed"] for r in results], "values": results}
    (options.out / "summary.json").write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
