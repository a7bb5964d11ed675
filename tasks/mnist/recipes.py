"""The MNIST family's recipes, encoders and default cells.

The reason for each value is its recipe's one line; the measurements behind
it are in docs/recipes.md, under the section its `docs` names.
"""

from tasks.recipes import Recipe, TaskRecipes

MNIST_RECIPE = Recipe(
    "2000 steps of 64 x 10 images (about 300 s on one core), Adam with cosine "
    "decay, the paper's final-target supervision, the class-vector encoder, "
    "and a head from a random start found by its own learning rate, the class "
    "aids and a snap at half of training, after which the head is held where "
    "the snap left it.",
    {
        "steps": 2000,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "lr_decay": True,
        "eval_lengths": (1, 10, 100, 1000),
        # The final target only: every-step targets reveal each digit.
        "supervision": "final",
        "encoder": "classes",
        # No curriculum: its length-1 stage makes one image's count or
        # value a target, a digit label for every image, which a head at
        # the answer (the reference) learns from and a random one cannot.
        "curriculum": False,
        "head_init": "random",
        # At 1e-3 for 2000 steps, Adam cannot move a head weight or a class
        # value as far as an integer.
        "head_learning_rate": 1e-1,
        # The class aids, which know no label: every class in use (else the
        # softmax collapses onto one class) and every image decided (else a
        # head counts a digit as halves of two classes) ...
        "class_balance": 1.0,
        "class_confidence": 0.1,
        # ... until the head and the class values are snapped exact, after
        # which the encoder learns under the head it is evaluated with, on
        # the task's loss alone, and the head is held: even at the encoder's
        # rate, a snapped weight that the loss does not saturate (the NAU's,
        # the NMU's) drifts off its whole value while the encoder absorbs
        # the drift.
        "weight_snap": 0.5,
        "class_aids_stop": 0.5,
        "head_rate_stop": 0.5,
        "head_rate_after_stop": 0.0,
    },
    docs="mnist",
)

# Madsen & Johansen's encoder for a task whose target is one number: a
# ConvNet to one value per image. A softmax over classes followed by a value
# read-out from a random start learnt no digit value from a sum of ten under
# the class aids (docs/mnist.md, probes 4 and 5); counting's per-class
# target is what tells its classes apart.
ONE_VALUE_ENCODER = {"encoder": "linear"}

MNIST_SUM_RECIPE = Recipe(
    "Madsen & Johansen's sequential MNIST sum: the ConvNet gives each image "
    "one value, which the head adds up.",
    ONE_VALUE_ENCODER,
    docs="mnist",
)

MNIST_PRODUCT_RECIPE = Recipe(
    "Madsen & Johansen's sequential MNIST product: one value per image, "
    "trained on pairs of digits, evaluated at every length 1 to 20 (9^20 "
    "still fits float32); 5000 steps, the best of four one-seed probes.",
    {
        **ONE_VALUE_ENCODER,
        "train_length": 2,
        "eval_lengths": tuple(range(1, 21)),
        "steps": 5000,
    },
    docs="mnist_product",
)

MNIST_BASELINE_RECIPE = Recipe(
    "The recurrent baselines fitted at the training length, so that their "
    "failure beyond it is the paper's point: the paper's linear encoder, a "
    "read-out at the training targets' scale, no curriculum, 5000 steps.",
    {
        "encoder": "linear",
        "scale_targets": True,
        "curriculum": False,
        "steps": 5000,
        # The arithmetic heads' means of learning from a random start.
        "head_learning_rate": None,
        "head_rate_stop": None,
        "head_rate_after_stop": None,
        "class_balance": 0.0,
        "class_confidence": 0.0,
        "class_aids_stop": None,
        "weight_snap": 0.0,
    },
    docs="mnist-baselines",
)

MNIST_CELL_RECIPES = {
    "nalu": Recipe(
        "The NALU head's unit gates, decided early, are snapped exact at half "
        "of training, so the encoder learns under the head it is evaluated "
        "with.",
        {"gate_snap": 0.5},
        docs="the-nalu-head",
    ),
}

# The digit encoders (`--encoder`), with the prior each gives the head.
MNIST_ENCODERS = {
    "classes": "a softmax over 10 classes (the model is told there are ten "
    "symbols), then for addition a Dense(1), the value of each class, learnt",
    "linear": "the paper's: a linear read-out of the ConvNet's 500 units, "
    "no class structure and no digit-value start",
}

RECIPES = TaskRecipes(
    MNIST_RECIPE, cells=MNIST_CELL_RECIPES, baseline=MNIST_BASELINE_RECIPE
)
