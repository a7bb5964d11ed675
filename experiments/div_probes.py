"""Probes of the NALU's `div` failures: one change the recipe does not make.

Each probe is a subclass of the arithmetic experiment that overrides one
hook, run by `train.py`'s own `main` with the remaining arguments, so a
probe is a run of the recipe with that one change (docs/nalu.md, "The
affine trap, traced"):

* `trace`: nothing changed; the model's formula and the running loss are
  printed every `--every` steps (how the first thousand steps decide);
* `curriculum`: the MNIST recipe's short-length stages for the recurrent
  task: the first 20% of the steps at lengths 1, 2 and 5 in turn
  (`tasks.curriculum`), then the training length;
* `nonnegative`: the NALU cell's input weights start non-negative: `W_hat`
  and `M_hat`'s input rows drawn from U[0, 0.65] (0.65: the Glorot limit
  of the recurrent task's (12, 2) kernels) instead of U[-0.65, 0.65], so
  each unit starts as a positively weighted running sum; the state block
  unchanged.

    KERAS_BACKEND=jax python experiments/div_probes.py curriculum \\
        --task div --seed 15 --out runs/div_probes/curriculum/seed_15

None of them became part of the recipe: each solved some failed seeds and
lost others (docs/nalu.md).

Not vectorised (`train.py --vectorize`): a probe is its own experiment
class, and `--vectorize` trains the task family's own experiment only (it
refuses a probe with exit status 2); a probe is also one seed's trace.
"""

import sys

from runner.quiet import quiet_start

# Before Keras is imported: TensorFlow's start-up notices hidden, as train.py.
quiet_start(sys.argv[1:])

import keras  # noqa: E402

import nalu_rnn
from runner.cli import main as train_main
from tasks import curriculum as curriculum_stages
from tasks.arithmetic.batches import ArithmeticBatches
from tasks.arithmetic.experiment import ArithmeticExperiment

PROBES = ("trace", "curriculum", "nonnegative")
# The Glorot limit of the recurrent task's (12, 2) kernels.
NONNEGATIVE_LIMIT = 0.65


class PrintFormula(keras.callbacks.Callback):
    """Prints the model's formula and the running loss every `every` steps."""

    def __init__(self, every):
        super().__init__()
        self.every = every
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            nalu_rnn.keras_internals.sync_training_state(self.model)
            print(f"--- step {self.step}, running loss {logs['loss']:.4g}")
            print(nalu_rnn.formula(self.model, precision=2), flush=True)


def tracing(every):
    """The experiment that also prints its formula every `every` steps."""

    class Trace(ArithmeticExperiment):
        def callbacks(self, epochs):
            return [PrintFormula(every), *super().callbacks(epochs)]

    return Trace


class CurriculumBatches(ArithmeticBatches):
    """`ArithmeticBatches` whose first steps run the curriculum's lengths.

    Args:
        stage_steps: Steps per stage, 0 for none; after `ArithmeticBatches`'s
            arguments.
    """

    def __init__(self, task, length, batch_size, steps_per_epoch, seed,
                 stage_steps, **kwargs):  # fmt: skip
        super().__init__(task, length, batch_size, steps_per_epoch, seed, **kwargs)
        self.stages = curriculum_stages.curriculum_lengths(length)
        self.stage_steps = stage_steps

    def length_at(self, step):
        if not self.stage_steps:  # a budget too short for any stage
            return self.length
        stage = step // self.stage_steps
        return self.stages[stage] if stage < len(self.stages) else self.length


class Curriculum(ArithmeticExperiment):
    """The recipe trained on the curriculum's lengths first."""

    def batches(self, steps_per_epoch):
        c = self.config
        return CurriculumBatches(
            self.task,
            c.data.train_length,
            c.optim.batch_size,
            steps_per_epoch,
            c.run.seed,
            curriculum_stages.stage_steps(c.data.train_length, c.optim.steps),
        )


class Nonnegative(ArithmeticExperiment):
    """The recipe with the cell's input weights started non-negative."""

    def cell_start(self):
        base = keras.initializers.RandomUniform(0.0, NONNEGATIVE_LIMIT)
        return {"kernel_initializer": nalu_rnn.StateIdentity(3.0, base=base)}


USAGE = f"usage: div_probes.py {{{','.join(PROBES)}}} [--every N] TRAIN_ARGS..."


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        print(__doc__)
        return 0
    if not argv or argv[0] not in PROBES:
        print(USAGE, file=sys.stderr)
        return 2
    probe, rest = argv[0], argv[1:]
    if probe == "trace":
        every = 1000
        if rest[:1] == ["--every"]:
            every, rest = int(rest[1]), rest[2:]
        experiment = tracing(every)
    else:
        experiment = {"curriculum": Curriculum, "nonnegative": Nonnegative}[probe]
    return train_main(rest, experiment=experiment)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
