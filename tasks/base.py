"""What a task gives the runner: the `Experiment` protocol and the task registry.

`runner.run` trains and records any registered task through the hooks of
`Experiment`, and nothing else. A new task is one `Experiment` subclass and
one `register_task` line; its name then is a `train.py --task` choice.
"""

import dataclasses


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

    Attributes:
        shuffle_batches: Whether `fit` shuffles the batches of an epoch
            (`shuffle=`); `False` for a `tf.data` pipeline, which shuffles
            its own and for which Keras warns about the flag.
    """

    shuffle_batches = False

    def __init__(self, config):
        self.config = config

    def build_model(self):
        """The untrained Keras model."""
        raise NotImplementedError(f"{type(self).__name__} must define build_model")

    def compile(self, model):
        """Compiles `model` (optimizer, loss); see `runner.training.compile_model`."""
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


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A registered task.

    Args:
        name: The `--task` name.
        factory: Callable taking a `RunConfig`, returning an `Experiment`.
        recipe: The key of its defaults in `runner.config.TASK_RECIPES`, or
            `None` for the task-independent defaults only. Defaults to `None`.
        static: Whether the task has a `--static` variant. Defaults to
            `False`.
        default_cell: The `--cell` a run of this task gets when none is
            given, or `None` for `runner.config.DEFAULT_CELL`. Defaults to
            `None`.
        static_default_cell: The same for the `--static` variant, or `None`
            for `default_cell`. Defaults to `None`.
    """

    name: str
    factory: object
    recipe: str | None = None
    static: bool = False
    default_cell: str | None = None
    static_default_cell: str | None = None

    def cell_for(self, static):
        """The cell of a run without `--cell`, or `None` for the global default."""
        return (self.static_default_cell if static else None) or self.default_cell


TASKS = {}


def register_task(
    name,
    factory,
    recipe=None,
    static=False,
    default_cell=None,
    static_default_cell=None,
):
    """Registers a task for `train.py --task name`; returns its `TaskSpec`.

    Args:
        name: The task name.
        factory: Callable taking a `RunConfig`, returning an `Experiment`.
        recipe: Key of the task's defaults in `runner.config.TASK_RECIPES`.
            Defaults to `None`.
        static: Whether the task has a `--static` variant. Defaults to
            `False`.
        default_cell: The cell used when no `--cell` is given (a name in
            `nalu_rnn.models.CELLS`); `None` for `runner.config.DEFAULT_CELL`.
            Defaults to `None`.
        static_default_cell: The same with `--static`; `None` for
            `default_cell`. Defaults to `None`.
    """
    TASKS[name] = TaskSpec(
        name,
        factory,
        recipe=recipe,
        static=static,
        default_cell=default_cell,
        static_default_cell=static_default_cell,
    )
    return TASKS[name]


def task_names():
    """Every registered task name, in registration order."""
    _register_builtin_tasks()
    return tuple(TASKS)


def get_task(name):
    """The `TaskSpec` of `name`; `ValueError` listing the registry otherwise."""
    _register_builtin_tasks()
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(TASKS)}")
    return TASKS[name]


def make_experiment(config):
    """The `Experiment` of `config.task`."""
    return get_task(config.task).factory(config)


def _register_builtin_tasks():
    # The task modules register themselves on import; importing them here,
    # not at the top, keeps this module free of Keras for the registry's
    # own users and of an import cycle with them.
    import tasks.arithmetic_experiment  # noqa: F401
    import tasks.mnist_experiment  # noqa: F401
