"""Time one training step of `keras.layers.RNN(cell)` for each cell.

Rows named `*_arnn` run the same cell in `nalu_rnn.ArithmeticRNN` (weights
derived once per sequence), `*_scan` in `ArithmeticRNN(parallel=True)`.

For every (units, length) pair the cells are timed interleaved (one step of
each in turn, repeated), so that drift on a shared machine hits them alike;
the table reports the median step time and its ratio to `LSTMCell` measured
in the same run. Run once per backend:

    KERAS_BACKEND=tensorflow python bench/cells.py --jit both
    KERAS_BACKEND=jax python bench/cells.py

Writes `bench/results/cells-<backend>.json` (or `--out`).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from runner.quiet import quiet_start

# Before Keras is imported: TensorFlow's start-up notices hidden, as train.py.
quiet_start(sys.argv[1:])

import keras
import numpy as np

import nalu_rnn
from runner.results import command_line

CELL_FACTORIES = {
    "nac": nalu_rnn.NACCell,
    "nalu": nalu_rnn.NALUCell,
    "nau": nalu_rnn.NAUCell,
    "nmu": nalu_rnn.NMUCell,
    "lstm": keras.layers.LSTMCell,
    "gru": keras.layers.GRUCell,
    "simple_rnn": keras.layers.SimpleRNNCell,
}
DEFAULT_CELLS = "nac,nac_arnn,nac_scan,nalu,nalu_arnn,nau,nmu,lstm,gru,simple_rnn"


LOOPS = {
    "": lambda cell: keras.layers.RNN(cell),
    "_arnn": lambda cell: nalu_rnn.ArithmeticRNN(cell),
    "_scan": lambda cell: nalu_rnn.ArithmeticRNN(cell, parallel=True),
}


def recurrent_layer(name, units):
    """`name` is a cell name, optionally suffixed `_arnn` or `_scan`."""
    for suffix in ("_arnn", "_scan"):
        if name.endswith(suffix):
            return LOOPS[suffix](CELL_FACTORIES[name[: -len(suffix)]](units))
    return LOOPS[""](CELL_FACTORIES[name](units))


def _int_list(text):
    return [int(v) for v in text.split(",")]


def set_threads(threads):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def build(cell_name, units, length, input_dim, jit):
    model = keras.Sequential(
        [
            keras.Input((length, input_dim)),
            recurrent_layer(cell_name, units),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse", jit_compile=jit)
    return model


def time_cells(cells, units, length, args, jit):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.batch, length, args.input_dim)).astype("float32")
    y = rng.uniform(size=(args.batch, units)).astype("float32")
    models = {c: build(c, units, length, args.input_dim, jit) for c in cells}
    for model in models.values():
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
    times = {c: [] for c in cells}
    for _ in range(args.repeats):
        for cell, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[cell].append(time.perf_counter() - start)
    return {c: statistics.median(t) for c, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=DEFAULT_CELLS)
    parser.add_argument("--units", type=_int_list, default=[8, 64, 256])
    parser.add_argument("--lengths", type=_int_list, default=[10, 100, 1000])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input-dim", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--jit",
        choices=("off", "on", "both"),
        default="off",
        help="TensorFlow XLA; JAX always compiles",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    backend = keras.backend.backend()
    cells = args.cells.split(",")
    if "lstm" not in cells:
        cells.append("lstm")
    jits = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    if backend == "jax":
        jits = [True]
    rows = []
    for jit in jits:
        for units in args.units:
            for length in args.lengths:
                medians = time_cells(cells, units, length, args, jit)
                for cell in cells:
                    rows.append(
                        {
                            "backend": backend,
                            "jit": jit,
                            "units": units,
                            "length": length,
                            "cell": cell,
                            "median_ms": 1000 * medians[cell],
                            "ratio_to_lstm": medians[cell] / medians["lstm"],
                        }
                    )
                lstm = medians["lstm"]
                line = "  ".join(
                    f"{c}={1000 * medians[c]:.2f}ms ({medians[c] / lstm:.2f}x)"
                    for c in cells
                )
                print(f"jit={jit} units={units} length={length}: {line}", flush=True)
    result = {
        # tables.py lists it under the table it builds from this record.
        "command": command_line("bench/cells.py", argv, backend),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "python": sys.version.split()[0],
        },
        "versions": {"keras": keras.__version__, "nalu_rnn": nalu_rnn.__version__},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "rows": rows,
    }
    default = Path(__file__).resolve().parent / "results" / f"cells-{backend}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(rows, cells)
    print(f"Wrote {out}")


def print_table(rows, cells):
    keys = sorted({(r["jit"], r["units"], r["length"]) for r in rows})
    header = ["jit", "units", "length"] + [f"{c} ms (x LSTM)" for c in cells]
    print(" | ".join(header))
    for jit, units, length in keys:
        by_cell = {
            r["cell"]: r
            for r in rows
            if (r["jit"], r["units"], r["length"]) == (jit, units, length)
        }
        cols = [
            f"{by_cell[c]['median_ms']:.2f} ({by_cell[c]['ratio_to_lstm']:.2f})"
            for c in cells
        ]
        print(" | ".join([str(jit), str(units), str(length)] + cols))


if __name__ == "__main__":
    main()
