"""What a task gives the runner: the `Experiment` hooks and `ModelSignature`.

`runner.run` trains and records any registered task (`tasks.registry`)
through the hooks of `Experiment`, and nothing else. A probe or a new
variant extends an experiment by overriding hooks, never by replacing its
methods at run time.
"""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class ModelSignature:
    """The shapes of the models a task trains and evaluates.

    Args:
        input_shape: The shape of one example, `None` where any size fits
            (the time axis): `(None, 10)` for ten values per step.
        output_size: The size of the output's last axis.
    """

    input_shape: tuple
    output_size: int

    def accepts(self, other):
        """Whether a model of signature `other` fits where this one is asked."""
        if len(other.input_shape) != len(self.input_shape):
            return False
        dims = zip(self.input_shape, other.input_shape, strict=True)
        fits = all(a is None or b is None or a == b for a, b in dims)
        return fits and other.output_size == self.output_size

    def describe(self):
        shape = ", ".join("any" if d is None else str(d) for d in self.input_shape)
        outputs = "output" if self.output_size == 1 else "outputs"
        return f"inputs of shape ({shape}) and {self.output_size} {outputs}"

    def to_json(self):
        return {"input_shape": list(self.input_shape), "output_size": self.output_size}

    @classmethod
    def of_model(cls, model):
        """The signature of a built Keras model (batch axis left out)."""
        return cls(tuple(model.input_shape[1:]), int(model.output_shape[-1]))


class Experiment:
    """One task trained with one cell: the hooks `runner.run.run` calls.

    The runner calls, in order: `build_model`, `compile`, `training_data`
    and `callbacks` (for `fit`), `after_training`, `evaluate`, then
    `succeeded` and `success_measures` on the evaluation. Subclasses
    implement the first five hooks; the others have defaults.

    Args:
        config: The `runner.config.RunConfig` of the run.
        spec: The `tasks.spec.TaskSpec` of its task (`spec.variant` says what
            sets the task apart within its family).

    Attributes:
        shuffle_batches: Whether `fit` shuffles the batches of an epoch
            (`shuffle=`); `False` for a `tf.data` pipeline, which shuffles
            its own and for which Keras warns about the flag.
        max_steps_per_epoch: The longest epoch (`schedule`).
        checkpoint_dir: The folder `runner.run.fit` checkpoints this run in
            (set before it asks for `callbacks`), where a callback may keep
            state that a resumed run needs; `None` outside a fit.
    """

    shuffle_batches = False
    max_steps_per_epoch = 1000

    def __init__(self, config, spec):
        self.config = config
        self.spec = spec
        self.checkpoint_dir = None

    def schedule(self):
        """`(epochs, steps_per_epoch)` covering `--steps`: epochs of at most
        `max_steps_per_epoch` steps, the unit of checkpoints and resumption."""
        steps = self.config.optim.steps
        steps_per_epoch = min(steps, self.max_steps_per_epoch)
        return math.ceil(steps / steps_per_epoch), steps_per_epoch

    def build_model(self):
        """The untrained Keras model."""
        raise NotImplementedError(f"{type(self).__name__} must define build_model")

    def compile(self, model):
        """Compiles `model` (optimizer, loss); see `tasks.training.compile_model`."""
        raise NotImplementedError(f"{type(self).__name__} must define compile")

    def training_data(self):
        """`(data, epochs, steps_per_epoch)` for `model.fit`."""
        raise NotImplementedError(f"{type(self).__name__} must define training_data")

    def evaluate(self, model):
        """The list of results.json `eval` entries, one per evaluation set."""
        raise NotImplementedError(f"{type(self).__name__} must define evaluate")

    def callbacks(self, epochs):
        """Extra Keras callbacks of `fit` (schedules, monitors)."""
        return []

    def after_training(self, model):
        """Changes the trained model (hardening); returns results.json entries."""
        return {}

    def succeeded(self, entries):
        """Whether the run solved the task, or `None` without a criterion.

        When not `None` it is results.json's `success`, and `summary.json`
        reports a success rate.
        """
        return None

    def success_measures(self, model, entries, steps):
        """Further results.json entries of a finished run (`solved_step`)."""
        return {}

    def problem(self):
        """results.json's `problem`: the instance this run learns, or `None`
        where the task alone says it."""
        return None

    def evaluation_bytes(self):
        """About how many bytes the evaluation sets take at once, or 0.

        `runner.run` refuses `--eval-lengths` and `--eval-sequences` whose
        sets would not fit in memory, before anything is trained.
        """
        return 0

    def model_signature(self):
        """The `ModelSignature` this task's models have, or `None` (no check).

        `--evaluate` refuses a model whose signature does not fit, instead
        of evaluating it on data of another shape.
        """
        return None
