"""Train and evaluate a neural arithmetic model: `python train.py --task TASK`.

Tasks: the registered ones (`tasks.base.TASKS`): the arithmetic ops (add,
sub, mul, div, square, sqrt; recurrent by default, `--static` for one
vector) and the MNIST sequence tasks (mnist_count, mnist_add,
mnist_product). Without `--cell` a task runs its registered default cell
(nmu for mnist_product), else nac. The run
trains at `--train-length`, evaluates at every `--eval-lengths`, prints a
table, and writes `results.json`, `extrapolation.png` and `model.keras` to
`--out`. The flags and the run live in the `runner` package (`runner.cli`).
"""

import sys

from runner.quiet import quiet_start

if __name__ == "__main__":
    # Before Keras or TensorFlow is imported: their start-up notices are
    # printed by native code as they load (`--verbose` keeps them).
    quiet_start(sys.argv[1:])

from runner.cli import (  # noqa: E402, F401 - re-exported for scripts
    build_parser,
    main,
    name_list,
    non_negative_int,
    parse_args,
    positive_int,
    set_determinism,
)

if __name__ == "__main__":
    sys.exit(main())
