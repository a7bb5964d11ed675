"""The task registry: every `train.py --task NAME`, one line each.

A task is a `tasks.spec.TaskSpec`: its family (the experiment, recipes and
flags it shares with its siblings), what sets it apart within the family
(`variant`), and its default cells. A new task is its variant in its
family's folder and one `register_task` line below.
"""

from tasks import arithmetic, mnist
from tasks.spec import TaskSpec

TASKS = {}


def register_task(spec):
    """Registers a `TaskSpec` for `train.py --task spec.name`; returns it."""
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task takes a TaskSpec; received {spec!r}")
    TASKS[spec.name] = spec
    return spec


def task_names():
    """Every registered task name, in registration order."""
    return tuple(TASKS)


def get_task(name):
    """The `TaskSpec` of `name`; `ValueError` listing the registry otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(TASKS)}")
    return TASKS[name]


def families():
    """The families of the registered tasks, each once, in order."""
    return tuple({id(spec.family): spec.family for spec in TASKS.values()}.values())


def make_experiment(config, experiment=None):
    """The `tasks.experiment.Experiment` of `config.run.task`.

    Args:
        config: The run's `RunConfig`.
        experiment: The `Experiment` class to make (a probe's subclass), or
            `None` for the task family's own. Defaults to `None`.
    """
    spec = get_task(config.run.task)
    return (experiment or spec.family.experiment)(config, spec)


for _op in arithmetic.OPS:
    register_task(
        TaskSpec(
            _op,
            arithmetic.FAMILY,
            variant=_op,
            static=True,
            default_cell=arithmetic.DEFAULT_CELLS.get(_op),
            static_default_cell=arithmetic.STATIC_DEFAULT_CELLS.get(_op),
        )
    )
register_task(TaskSpec("mnist_count", mnist.FAMILY, variant=mnist.COUNT))
register_task(
    TaskSpec(
        "mnist_add",
        mnist.FAMILY,
        variant=mnist.SUM,
        # Madsen & Johansen's head for the sum: with one value per image the
        # encoder and the head share a scale, and the NAU's pull towards
        # whole weights is what settles it at 1.
        default_cell="nau",
        recipe=mnist.SUM_RECIPE,
    )
)
register_task(
    TaskSpec(
        "mnist_product",
        mnist.FAMILY,
        variant=mnist.PRODUCT,
        default_cell="nmu",
        recipe=mnist.PRODUCT_RECIPE,
    )
)
