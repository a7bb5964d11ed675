"""`python -m runner ARGS` is `python train.py ARGS`, from any folder."""

import sys

from runner.quiet import quiet_start

# Before Keras or TensorFlow is imported (see `runner.quiet`).
quiet_start(sys.argv[1:])

from runner.cli import main  # noqa: E402

sys.exit(main())
