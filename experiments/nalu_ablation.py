"""What each part of the NALU recipe buys: the recipe with one part undone.

The registry's NALU (`tasks.cells.CELLS["nalu"]`, docs/recipes.md) is the
paper's NALU with seven changes. Each variant below undoes one of them,
registers itself as a cell under its own name with the NALU's recipe
(`tasks.arithmetic.recipes.ARITHMETIC_CELL_RECIPES["nalu"]`: rate 0.1, batches
of 512; sparsity 0.05 from 30% of training, hardening), and trains on the
recurrent tasks in this process, for `--steps` (default 10^4, a third of
the recipe's budget so that the ablation fits a CPU; `--batch-size`
overrides the recipe's batch):

* `input_gate`: the paper's gate `sigmoid(x @ G)` in cell and read-out
  (started as the old registry's: the cell's gate matrix at 1, the
  read-out's at 0), instead of one learnt gate per unit;
* `no_gate_pull`: no pull of the unit gates towards 0 or 1
  (`nalu_rnn.regularizers.GatePenalty`);
* `no_gate_snap`: hardening leaves the gates as trained;
* `shared_cell`: the cell's two paths share their weights (the paper's);
* `cell_gate_half`: the cell's gates start undecided at 1/2, not at
  sigmoid(5), the accumulator start;
* `readout_gate_half`: the read-out's gates start undecided at 1/2 (the
  recipe before they started additive);
* `no_fold`: a linear read-out is not folded into the cell's running sums
  (`nalu_rnn.hardening.fold_linear_readout`);
* `rate_0.03`: the NALU's former rate, with the recipe otherwise whole.

`--variants recipe` trains the registry's NALU itself at the same budget,
the row the others compare with.

    python experiments/nalu_ablation.py --variants input_gate,no_gate_pull \\
        --ops add,mul --seeds 5 --out runs/nalu_ablation

writes `OUT/<variant>/<op>/summary.json` per pair (a finished pair is kept,
so a stopped run resumes) and `OUT/nalu_ablation.md`, the success counts.
On the JAX backend a pair's seeds train as one vectorised program
(`train.py --vectorize`, docs/vectorize.md) unless `--no-vectorize` is
given.
"""

import argparse
import functools
import json
import sys
from pathlib import Path

from runner.quiet import quiet_start

# Before Keras is imported: TensorFlow's start-up notices hidden, as train.py.
quiet_start(sys.argv[1:])

import keras  # noqa: E402

import nalu_rnn
from runner import cli
from runner.config import name_list, non_negative_int, positive_int
from runner.results import table
from runner.sweeps import add_vectorize_flag, vectorize_where_it_applies
from tasks.arithmetic.recipes import ARITHMETIC_CELL_RECIPES
from tasks.cell_builders import nalu_cell_arguments, nalu_readout_arguments
from tasks.cells import CellSpec, get_cell_spec, register_cell

RECIPE = get_cell_spec("nalu")
OPS = ("add", "sub", "mul", "square")


@keras.saving.register_keras_serializable(package="nalu_ablation")
class UnpulledNALU(nalu_rnn.NALU):
    """A NALU whose unit gate keeps only its plain regulariser."""

    def build(self, input_shape):
        super().build(input_shape)
        self.G.regularizer = self.gate_regularizer


@keras.saving.register_keras_serializable(package="nalu_ablation")
class UnpulledNALUCell(nalu_rnn.NALUCell):
    unit_class = UnpulledNALU


@keras.saving.register_keras_serializable(package="nalu_ablation")
class UnsnappedNALU(nalu_rnn.NALU):
    """A NALU whose hardening snaps the weights but not the gates."""

    def snap_unit_gate(self, tolerance):
        return None


@keras.saving.register_keras_serializable(package="nalu_ablation")
class UnsnappedNALUCell(nalu_rnn.NALUCell):
    unit_class = UnsnappedNALU


@keras.saving.register_keras_serializable(package="nalu_ablation")
class UnfoldedNALU(nalu_rnn.NALU):
    """A NALU that never reports itself linear, so no read-out is folded."""

    def exact_linear_weight(self):
        return None


def _cell(cell_class=nalu_rnn.NALUCell, **changes):
    # The registry's own cell arguments, so the recipe is written once.
    return functools.partial(cell_class, **{**nalu_cell_arguments(), **changes})


def _readout(unit_class=nalu_rnn.NALU, **changes):
    return functools.partial(unit_class, **{**nalu_readout_arguments(), **changes})


VARIANTS = {
    "input_gate": (
        _cell(gate="input", gate_initializer="ones"),
        _readout(gate="input", gate_initializer="zeros"),
    ),
    "no_gate_pull": (_cell(UnpulledNALUCell), _readout(UnpulledNALU)),
    "no_gate_snap": (_cell(UnsnappedNALUCell), _readout(UnsnappedNALU)),
    "shared_cell": (_cell(shared_weights=True), _readout()),
    "cell_gate_half": (_cell(gate_initializer="zeros"), _readout()),
    "rate_0.03": (_cell(), _readout()),
    "recipe": (_cell(), _readout()),
    "readout_gate_half": (_cell(), _readout(gate_initializer="zeros")),
    "no_fold": (_cell(), _readout(UnfoldedNALU)),
}
RATES = {"rate_0.03": 0.03}


def register(variant):
    """Registers `nalu_<variant>` as a cell, with the NALU's recipe, and
    returns that name."""
    make_cell, make_readout = VARIANTS[variant]
    name = f"nalu_{variant}"
    ARITHMETIC_CELL_RECIPES[name] = ARITHMETIC_CELL_RECIPES["nalu"]
    register_cell(
        CellSpec(
            name,
            make_cell=make_cell,
            make_static=RECIPE.make_static,
            make_readout=make_readout,
            arithmetic=True,
            description=f"the NALU recipe without one part ({variant})",
            identity_kwargs=RECIPE.identity_kwargs,
        )
    )
    return name


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--variants", type=name_list, default=tuple(VARIANTS))
    parser.add_argument("--ops", type=name_list, default=("add", "mul"))
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--steps", type=positive_int, default=10000)
    parser.add_argument("--batch-size", type=positive_int, help="default: the recipe's")
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parent / "runs/nalu_ablation")
    )
    add_vectorize_flag(parser)
    options = parser.parse_args(argv)
    unknown = [v for v in options.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    out = Path(options.out)
    for variant in options.variants:
        cell = register(variant)
        for op in options.ops:
            pair = out / variant / op
            if (pair / "summary.json").exists():
                continue
            flags = ["--task", op, "--cell", cell, "--quiet", "--out", str(pair)]
            flags += ["--seeds", str(options.seeds), "--seed", str(options.seed)]
            flags += ["--steps", str(options.steps)]
            if options.batch_size is not None:
                flags += ["--batch-size", str(options.batch_size)]
            if variant in RATES:
                flags += ["--learning-rate", str(RATES[variant])]
            flags = vectorize_where_it_applies(flags, options.vectorize)
            if cli.main(flags) != 0:
                raise SystemExit(f"failed: train.py {' '.join(flags)}")
    rows = []
    for summary_path in sorted(out.glob("*/*/summary.json")):
        summary = json.loads(summary_path.read_text())
        successes = summary["successes"]
        rows.append(
            [
                summary_path.parent.parent.name,
                summary["task"],
                f"{sum(successes)}/{len(successes)}",
            ]
        )
    text = table(["variant", "op", "success"], rows, markdown=True)
    (out / "nalu_ablation.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
