"""Probes of the NALU's `div` failures: one change the recipe does not make.

Each probe patches one thing in this process, then runs `train.py` with the
remaining arguments, so a probe is a run of the recipe with that one change
(docs/nalu.md, "The affine trap, traced"):

* `trace`: nothing changed; the model's formula and the running loss are
  printed every `--every` steps (how the first thousand steps decide);
* `curriculum`: the MNIST recipe's short-length stages for the recurrent
  task: the first 20% of the steps at lengths 1, 2 and 5 in turn
  (`tasks.mnist_experiment.curriculum_lengths`), then the training length;
* `nonnegative`: the NALU cell's input weights start non-negative: `W_hat`
  and `M_hat`'s input rows drawn from U[0, 0.65] (0.65: the Glorot limit
  of the recurrent task's (12, 2) kernels) instead of U[-0.65, 0.65], so
  each unit starts as a positively weighted running sum; the state block
  unchanged.

    KERAS_BACKEND=jax python experiments/div_probes.py curriculum \\
        --task div --seed 15 --out runs/div_probes/curriculum/seed_15

None of them became part of the recipe: each solved some failed seeds and
lost others (docs/nalu.md).
"""

import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBES = ("trace", "curriculum", "nonnegative")


def trace(every):
    """Prints the formula every `every` steps of every arithmetic run."""
    import keras

    import nalu_rnn
    from tasks.arithmetic_experiment import ArithmeticExperiment

    class PrintFormula(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step % every == 0:
                nalu_rnn.keras_internals.sync_training_state(self.model)
                print(f"--- step {self.step}, running loss {logs['loss']:.4g}")
                print(nalu_rnn.formula(self.model, precision=2), flush=True)

    callbacks = ArithmeticExperiment.callbacks
    ArithmeticExperiment.callbacks = lambda self, epochs: [
        PrintFormula(),
        *callbacks(self, epochs),
    ]


def curriculum_batches():
    """`ArithmeticBatches` whose first steps run the curriculum's lengths.

    Returns the class, whose constructor takes `stage_steps` (steps per
    stage, 0 for none) after `ArithmeticBatches`'s arguments.
    """
    from tasks import arithmetic, mnist_experiment

    class CurriculumBatches(arithmetic.ArithmeticBatches):
        def __init__(self, task, length, batch_size, steps_per_epoch, seed,
                     stage_steps, **kwargs):  # fmt: skip
            super().__init__(task, length, batch_size, steps_per_epoch, seed, **kwargs)
            self.stages = mnist_experiment.curriculum_lengths(length)
            self.stage_steps = stage_steps

        def length_at(self, step):
            if not self.stage_steps:  # a budget too short for any stage
                return self.length
            stage = step // self.stage_steps
            return self.stages[stage] if stage < len(self.stages) else self.length

    return CurriculumBatches


def curriculum():
    """Lengths 1, 2, 5 over the first 20% of the steps, then the task's."""
    import tasks.arithmetic_experiment as experiment
    from tasks import mnist_experiment

    batches_class = curriculum_batches()
    training_data = experiment.ArithmeticExperiment.training_data

    def staged(self):
        batches, epochs, steps_per_epoch = training_data(self)
        stages = mnist_experiment.curriculum_lengths(batches.length)
        stage_steps = round(
            mnist_experiment.CURRICULUM_FRACTION
            * self.config.steps
            / max(len(stages), 1)
        )
        staged = batches_class(
            self.task,
            batches.length,
            batches.batch_size,
            steps_per_epoch,
            batches.seed,
            stage_steps,
        )
        return staged, epochs, steps_per_epoch

    experiment.ArithmeticExperiment.training_data = staged


def nonnegative():
    """The registry's NALU cell with non-negative input weights at the start."""
    import keras

    import nalu_rnn
    from nalu_rnn import models

    def start(value):
        base = keras.initializers.RandomUniform(0.0, 0.65)
        return {"kernel_initializer": nalu_rnn.StateIdentity(value, base=base)}

    models.CELLS["nalu"] = dataclasses.replace(
        models.CELLS["nalu"], identity_kwargs=start
    )


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
    from runner.quiet import quiet_start

    quiet_start(rest)
    if probe == "trace":
        every = 1000
        if rest[:1] == ["--every"]:
            every, rest = int(rest[1]), rest[2:]
        trace(every)
    elif probe == "curriculum":
        curriculum()
    else:
        nonnegative()
    from runner.cli import main as train_main

    return train_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
