"""The MNIST sequence tasks: counting, adding and multiplying handwritten
digits over sequences of images.

`loading` reads MNIST (IDX files, tensorflow-datasets, or its download),
`sequences` says what each task's target is and which images a sequence
holds, `pipelines` feeds training and evaluation, `model` builds the
encoder and head, `experiment` trains and judges a run, `recipes` holds the
family's defaults and `thresholds` Madsen & Johansen's success criterion,
from the reference runs in `reference.json`.
"""

from tasks.mnist.loading import (
    DEFAULT_SPLIT_SEED,
    DEFAULT_TFDS_DIR,
    DEFAULT_VALIDATION_SIZE,
    ENV_VAR,
    IMAGE_SHAPE,
    MNIST_FILES,
    MNIST_URL,
    NUM_CLASSES,
    PROBE_TIMEOUT,
    TFDS_ENV_VAR,
    MNISTDataError,
    MNISTNotFoundError,
    load_mnist,
    split_validation,
    tfds_data_dir,
)
from tasks.mnist.pipelines import (
    evaluation_dataset,
    training_batches,
    training_dataset,
)
from tasks.mnist.recipes import MNIST_ENCODERS, RECIPES
from tasks.mnist.recipes import MNIST_PRODUCT_RECIPE as PRODUCT_RECIPE
from tasks.mnist.recipes import MNIST_SUM_RECIPE as SUM_RECIPE
from tasks.mnist.sequences import (
    COUNT,
    PRODUCT,
    PRODUCT_TASKS,
    SUM,
    TARGETS,
    TASKS,
    DigitTarget,
    evaluation_arrays,
    sample_indices,
    sequence_targets,
    target_of,
)
from tasks.spec import Family, deferred

# The `RunConfig` fields only the MNIST tasks read.
FLAGS = (
    "encoder",
    "supervision",
    "solved_head",
    "scale_targets",
    "curriculum",
    "data_dir",
    "tfds_dir",
    "head_init",
    "head_learning_rate",
    "head_rate_stop",
    "head_rate_after_stop",
    "class_balance",
    "class_confidence",
    "class_aids_stop",
)

FAMILY = Family(
    "mnist",
    experiment=deferred("tasks.mnist.experiment:MNISTExperiment"),
    recipes=RECIPES,
    flags=FLAGS,
    title="MNIST",
)

__all__ = [
    "COUNT",
    "DEFAULT_SPLIT_SEED",
    "DEFAULT_TFDS_DIR",
    "DEFAULT_VALIDATION_SIZE",
    "ENV_VAR",
    "FAMILY",
    "FLAGS",
    "IMAGE_SHAPE",
    "MNIST_ENCODERS",
    "MNIST_FILES",
    "MNIST_URL",
    "NUM_CLASSES",
    "PROBE_TIMEOUT",
    "PRODUCT",
    "PRODUCT_RECIPE",
    "PRODUCT_TASKS",
    "RECIPES",
    "SUM",
    "SUM_RECIPE",
    "TARGETS",
    "TASKS",
    "TFDS_ENV_VAR",
    "DigitTarget",
    "MNISTDataError",
    "MNISTNotFoundError",
    "evaluation_arrays",
    "evaluation_dataset",
    "load_mnist",
    "sample_indices",
    "sequence_targets",
    "split_validation",
    "target_of",
    "tfds_data_dir",
    "training_batches",
    "training_dataset",
]
