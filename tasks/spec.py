"""What the task registry holds: task families, tasks, and deferred imports.

Nothing here imports Keras, so that `train.py --help` and the registry's own
users start fast: an entry names the code it runs as a `deferred` import
path, loaded on first use.
"""

import dataclasses
import importlib


def resolve(path):
    """The object at `"package.module:attribute"`, imported now."""
    module, _, attribute = deferred(path).path.partition(":")
    return getattr(importlib.import_module(module), attribute)


class deferred:  # noqa: N801 - used like a function, as functools.partial is
    """A callable standing for the callable at `"package.module:attribute"`.

    The module is imported on the first call, not when the registry entry
    is made: a registry line costs nothing until its cell or experiment is
    built.

    Args:
        path: Where the callable lives, `"package.module:attribute"`.

    Example:

    ```python
    make = tasks.spec.deferred("nalu_rnn:NACCell")
    cell = make(2)  # imports nalu_rnn now
    ```
    """

    def __init__(self, path):
        module, _, attribute = path.partition(":")
        if not module or not attribute:
            raise ValueError(f"expected 'package.module:attribute'; received {path!r}")
        self.path = path

    def __call__(self, *args, **kwargs):
        return resolve(self.path)(*args, **kwargs)

    def __repr__(self):
        return f"deferred({self.path!r})"

    def __eq__(self, other):
        return isinstance(other, deferred) and other.path == self.path

    def __hash__(self):
        return hash(self.path)


@dataclasses.dataclass(frozen=True)
class Family:
    """A family of tasks that share one experiment, its recipes and its flags.

    Args:
        name: The family's name (`"arithmetic"`, `"mnist"`).
        experiment: Callable taking a `RunConfig`, returning the
            `tasks.experiment.Experiment` of a run (usually a `deferred`).
        recipes: The family's `tasks.recipes.TaskRecipes`.
        flags: The `RunConfig` fields that only this family reads; a run of
            another family given one of them exits with status 2. Defaults
            to none.
        title: The family's name in messages. Defaults to `name`.
        check: Callable taking a resolved `RunConfig`, raising `ValueError`
            (one line for the user) when the family cannot run it, or
            `None`. Defaults to `None`.
        vectorizes: Whether `--seeds N --vectorize` can train the family's
            seeds as one model (`runner.vectorize`): its experiment feeds
            `fit` a `keras.utils.PyDataset` of batches that are a function
            of the seed, epoch and index alone, and its callbacks are the
            ones `runner.vectorize` reproduces per seed. Defaults to
            `False`.
    """

    name: str
    experiment: object
    recipes: object
    flags: tuple = ()
    title: str = ""
    check: object = None
    vectorizes: bool = False

    def __post_init__(self):
        if not self.title:
            object.__setattr__(self, "title", self.name)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A registered task: `train.py --task NAME`.

    Args:
        name: The `--task` name.
        family: The task's `Family`.
        variant: What sets this task apart within its family, for its
            experiment to read (the op of an arithmetic task, the target of
            a MNIST task); never a branch on `name`. Defaults to `None`.
        static: Whether the task has a `--static` variant. Defaults to
            `False`.
        default_cell: The `--cell` of a run without one, or `None` for
            `tasks.cells.DEFAULT_CELL`. Defaults to `None`.
        static_default_cell: The same for the `--static` variant, or `None`
            for `default_cell`. Defaults to `None`.
        recipe: The task's own `tasks.recipes.Recipe`, applied after its
            family's and its cell's (its lengths and budget hold for every
            cell), or `None`. Defaults to `None`.
    """

    name: str
    family: Family
    variant: object = None
    static: bool = False
    default_cell: str | None = None
    static_default_cell: str | None = None
    recipe: object = None

    def cell_for(self, static):
        """The cell of a run without `--cell`, or `None` for the global default."""
        return (self.static_default_cell if static else None) or self.default_cell
