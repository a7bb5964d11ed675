"""`python -m runner ARGS` is `python train.py ARGS`, from any folder."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from runner.cli import main  # noqa: E402

sys.exit(main())
