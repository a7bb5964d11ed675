"""`python -m runner ARGS` is `python train.py ARGS`, from any folder."""

import sys

from runner.cli import main

sys.exit(main())
