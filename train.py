"""Train and evaluate a neural arithmetic model: `python train.py --task TASK`.

The flags, their defaults and the run live in the `runner` package
(`runner.cli`); `python train.py --help` lists them by group, and
`python train.py --task TASK --help` with that task's defaults.
"""

import sys

from runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
